"""The gradient of the output w.r.t. an attention RNN's weights, and attention x that gradient.

Serrano & Smith (2019, *Is Attention Interpretable?*) remove attention weights until the
decision flips in three orders: by the weights alpha_i, by the gradient of the output
w.r.t. each weight, ``d p_c / d alpha_i``, and by their product
``alpha_i * d p_c / d alpha_i``. The last two are these methods, for the Jain & Wallace
RNNs of :mod:`analysis.models.rnn`, whose single attention distribution alpha pools the
hidden states: ``p_c = softmax(W sum_i alpha_i h_i + b)_c``, with ``p_c`` the probability
of the explained (predicted) class, as for every method.

The independent variable is alpha as it enters the weighted sum. The model's own
distribution is read in one forward pass, detached and made a leaf, and put back through
the model's forward with ``attention_override`` (the path the interventions use to inject
attention, :class:`analysis.interventions.attention.RNNAttentionAdapter`): the hidden
states are the model's own and fixed (they do not depend on alpha), and the path
alpha -> context -> classifier -> softmax is intact. A leaf, rather than the gradient
w.r.t. the attention tensor inside the graph (as the transformers'
``attention_x_gradient`` does), because the frozen "uniform" attention is a constant
outside the graph. No renormalisation: ``alpha + h e_i`` changes only the i-th weight,
so ``d p_c / d alpha_i = p_c (W_c - sum_k p_k W_k) . h_i``. This is not the gradient
w.r.t. the input embeddings with attention detached (``jw_gradient``).

An RNN position is a word (no special tokens), so the token scores are the word scores;
padding gets 0 and is dropped by the pooling like every other method's.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from analysis.importance.base import Batch, ImportanceMethod, MethodOutput, register_method, target_probability
from analysis.models.base import Encoded, TextClassifier


def rnn_attention_gradient(model: TextClassifier, encoded: Encoded,
                           target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(alpha, d p_target / d alpha, p_target)``: [B, T], [B, T], [B] for an attention RNN.

    Two forward passes (read alpha; run with alpha as a leaf) and one backward pass. Each
    example's output depends only on its own attention, so the gradient of the summed
    outputs is every example's gradient.
    """
    with torch.no_grad():
        embeddings = model.embed(encoded.input_ids)
        _, attention = model.module(embeddings, encoded.attention_mask)
    alpha = attention.detach().clone().requires_grad_()
    with torch.enable_grad():
        logits = model.logits_from_embeddings(embeddings, encoded.attention_mask, attention_override=alpha)
        probability = target_probability(logits, target)
        (gradient,) = torch.autograd.grad(probability.sum(), alpha)
    return alpha.detach(), gradient, probability.detach()


def _cached(model: TextClassifier, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, gradient) of the batch, computed once and shared by both methods."""
    if "rnn_attention_gradient" not in batch.cache:
        alpha, gradient, _ = rnn_attention_gradient(model, batch.encoded, batch.target)
        batch.cache["rnn_attention_gradient"] = (alpha, gradient)
    return batch.cache["rnn_attention_gradient"]


class _RNNAttentionGradient(ImportanceMethod):
    family = "attention"
    signed = True
    needs_gradients = True
    model_kinds: ClassVar[frozenset[str]] = frozenset({"rnn"})
    citation = "Serrano & Smith 2019"


@register_method
class RNNAttentionGradient(_RNNAttentionGradient):
    name = "rnn_attention_gradient"
    label = "RNN attention gradient"
    short_label = "RNN attn grad"
    order = 19
    description = ("gradient of the predicted-class probability w.r.t. each attention weight of an attention RNN "
                   "(as it enters the weighted sum, not renormalised), the ordering of Serrano & Smith 2019")
    unit = "d p / d attention weight: change in the predicted class's probability per unit of the word's weight"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        _, gradient = _cached(model, batch)
        return MethodOutput(token_scores=gradient, forward_passes=3.0)


@register_method
class RNNAttentionTimesGradient(_RNNAttentionGradient):
    name = "rnn_attention_x_gradient"
    label = "RNN attention × gradient"
    short_label = "RNN attn × grad"
    order = 20
    description = ("attention weight times the gradient of the predicted-class probability w.r.t. it, for an "
                   "attention RNN (Serrano & Smith 2019)")
    unit = "attention weight · d p / d attention weight: a first-order change in the predicted class's probability"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        alpha, gradient = _cached(model, batch)
        return MethodOutput(token_scores=alpha * gradient, forward_passes=3.0)
