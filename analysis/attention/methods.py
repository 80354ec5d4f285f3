"""Raw attention, its summaries, and attention rollout.

Raw attention is the row of the classification position ([CLS]) per layer and head;
its summaries are the last layer's head mean and the mean over all layers and heads
(as read in Jain & Wallace 2019 and Serrano & Smith 2019). Rollout (Abnar & Zuidema
2020) propagates attention through the layers with the residual connection modelled
as identity: A' = 0.5 * mean_heads(A) + 0.5 * I, rows renormalised, multiplied from
the first layer up, and the [CLS] row read off.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from analysis.importance.base import POOLED, WORDS_SHARE, Batch, ImportanceMethod, MethodOutput, register_method
from analysis.models.base import TextClassifier
from analysis.models.families import ATTENTION_ONLY_MIXING, CLASSIFICATION_POSITION, DECLARED_FAMILY


def attention_maps_cached(model: TextClassifier, batch: Batch) -> torch.Tensor:
    """[B, L, H, T, T] attention of the batch, computed once and shared by all methods."""
    if "attention_maps" not in batch.cache:
        with torch.no_grad():
            batch.cache["attention_maps"] = model.attention_maps(batch.encoded.input_ids, batch.encoded.attention_mask)
    return batch.cache["attention_maps"]


def cls_attention_cached(model: TextClassifier, batch: Batch) -> torch.Tensor:
    """[B, L, H, T] attention from the classification position, computed once per batch."""
    if "cls_attention" not in batch.cache:
        if model.kind == "transformer":
            maps = attention_maps_cached(model, batch)
            batch.cache["cls_attention"] = maps[..., model.classification_position, :]
        else:
            with torch.no_grad():
                batch.cache["cls_attention"] = model.cls_attention(batch.encoded.input_ids, batch.encoded.attention_mask)
    return batch.cache["cls_attention"]


def residual_adjusted(maps: torch.Tensor, *, residual_weight: float = 0.5) -> torch.Tensor:
    """``(1 - w) * mean_heads(A) + w * I`` with rows renormalised: [B, L, H, T, T] -> [B, L, T, T].

    The residual connection modelled as identity (Abnar & Zuidema 2020); shared by rollout
    and attention flow.
    """
    mean = maps.mean(dim=2)
    eye = torch.eye(mean.shape[-1], dtype=mean.dtype, device=mean.device)
    adjusted = (1 - residual_weight) * mean + residual_weight * eye
    return adjusted / adjusted.sum(dim=-1, keepdim=True)


def rollout(maps: torch.Tensor, *, residual_weight: float = 0.5) -> torch.Tensor:
    """Attention rollout of maps [B, L, H, T, T] -> [B, T, T] (Abnar & Zuidema 2020).

    Each layer's head-mean attention is mixed with the identity (the residual stream),
    rows are renormalised (:func:`residual_adjusted`), and layers are multiplied from the
    bottom up: R = A'_L ... A'_2 A'_1.
    """
    adjusted = residual_adjusted(maps, residual_weight=residual_weight)
    result = adjusted[:, 0]
    for layer in range(1, adjusted.shape[1]):
        result = adjusted[:, layer] @ result
    return result


class _TransformerAttention(ImportanceMethod):
    family = "attention"
    signed = False
    model_kinds: ClassVar[frozenset[str]] = frozenset({"transformer"})
    requires: ClassVar[frozenset[str]] = frozenset({DECLARED_FAMILY, CLASSIFICATION_POSITION})


@register_method
class AttentionLastMean(_TransformerAttention):
    name = "attention_last_mean"
    label = "Attention (last layer, head mean)"
    short_label = "Attn last"
    order = 0
    description = "[CLS]-row attention of the last layer, averaged over heads"
    unit = f"weight of [CLS]'s attention, last layer, head mean ({POOLED}); {WORDS_SHARE}"
    citation = "Jain & Wallace 2019; Serrano & Smith 2019"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        return MethodOutput(token_scores=cls_attention_cached(model, batch)[:, -1].mean(dim=1))


@register_method
class AttentionAllMean(_TransformerAttention):
    name = "attention_all_mean"
    label = "Attention (all layers mean)"
    short_label = "Attn all"
    order = 1
    description = "[CLS]-row attention averaged over all layers and heads"
    unit = f"weight of [CLS]'s attention, mean over layers and heads ({POOLED}); {WORDS_SHARE}"
    citation = "Jain & Wallace 2019"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        return MethodOutput(token_scores=cls_attention_cached(model, batch).mean(dim=(1, 2)))


@register_method
class AttentionRollout(_TransformerAttention):
    name = "attention_rollout"
    label = "Attention rollout"
    short_label = "Rollout"
    order = 2
    description = "attention rollout: residual-adjusted head-mean attention multiplied through the layers, [CLS] row"
    citation = "Abnar & Zuidema 2020"
    unit = f"[CLS]'s row of the rolled-out attention, a share of [CLS]'s representation ({POOLED}); {WORDS_SHARE}"
    defaults: ClassVar[dict[str, float]] = {"residual_weight": 0.5}
    requires = _TransformerAttention.requires | {ATTENTION_ONLY_MIXING}

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        rolled = rollout(attention_maps_cached(model, batch), residual_weight=self.settings["residual_weight"])
        return MethodOutput(token_scores=rolled[:, model.classification_position, :])


@register_method
class RNNAttention(ImportanceMethod):
    name = "rnn_attention"
    label = "Attention"
    short_label = "Attn"
    order = 3
    family = "attention"
    signed = False
    model_kinds: ClassVar[frozenset[str]] = frozenset({"rnn"})
    description = "the attention distribution over hidden states of an attention RNN"
    unit = "weight; sums to 1 over the words"
    citation = "Bahdanau et al. 2015; Jain & Wallace 2019"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        return MethodOutput(token_scores=cls_attention_cached(model, batch)[:, 0, 0])
