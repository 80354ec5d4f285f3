"""Attention-derived importance methods (registered in :mod:`analysis.importance`)."""

# importing registers flow, norms, value zeroing, attention x gradient and ALTI (variants) and the RNN attention
# gradient and attention x gradient (rnn_gradient)
from analysis.attention import rnn_gradient, variants  # noqa: F401
from analysis.attention.methods import (
    AttentionAllMean,
    AttentionLastMean,
    AttentionRollout,
    RNNAttention,
    cls_attention_cached,
    rollout,
)

__all__ = ["AttentionAllMean", "AttentionLastMean", "AttentionRollout", "RNNAttention", "cls_attention_cached", "rollout"]
