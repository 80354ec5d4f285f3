"""Attention-derived importance methods (registered in :mod:`analysis.importance`)."""

from analysis.attention import variants  # noqa: F401  (registers flow, norms, value zeroing, attention x gradient, ALTI)
from analysis.attention.methods import (
    AttentionAllMean,
    AttentionLastMean,
    AttentionRollout,
    RNNAttention,
    cls_attention_cached,
    rollout,
)

__all__ = ["AttentionAllMean", "AttentionLastMean", "AttentionRollout", "RNNAttention", "cls_attention_cached", "rollout"]
