"""Gradient-based attributions with Captum, on the word embeddings.

All explain the probability of the predicted class. Attributing to the word-embedding
output is what ``LayerIntegratedGradients`` around the embedding layer computes: position
and segment embeddings are added inside the model and stay fixed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency

from analysis.importance.base import Batch, ImportanceMethod, MethodOutput, MethodSettingsError, register_method
from analysis.models.base import TextClassifier


def probability_function(model: TextClassifier, **forward_options: Any):
    """f(embeddings, mask) -> class probabilities [B, C], the function Captum differentiates."""

    def forward(embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = model.logits_from_embeddings(embeddings, attention_mask, **forward_options)
        return torch.softmax(logits, dim=-1)

    return forward


def baseline_ids(model: TextClassifier, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 token: str) -> torch.Tensor:
    """IG baseline: every real token replaced by [PAD] (or [MASK]); special tokens kept."""
    replacement = {"pad": model.pad_token_id, "mask": model.mask_token_id}.get(token)
    if replacement is None:
        raise MethodSettingsError(f"integrated_gradients baseline must be 'pad' or 'mask', not {token!r}")
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    for sid in model.special_token_ids:
        special |= input_ids == sid
    keep = special | (attention_mask == 0)
    return torch.where(keep, input_ids, torch.full_like(input_ids, replacement))


class _GradientMethod(ImportanceMethod):
    family = "gradient"
    needs_gradients = True


@register_method
class SaliencyMethod(_GradientMethod):
    name = "saliency"
    signed = False
    description = "L2 norm of the gradient of the predicted-class probability w.r.t. each word embedding"
    citation = "Simonyan et al. 2014; Li et al. 2016"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        embeddings = model.embed(enc.input_ids).detach().requires_grad_()
        grads = Saliency(probability_function(model)).attribute(
            embeddings, target=batch.target, additional_forward_args=(enc.attention_mask,), abs=False
        )
        return MethodOutput(token_scores=grads.norm(dim=-1), forward_passes=2.0)


@register_method
class GradientXInput(_GradientMethod):
    name = "grad_x_input"
    signed = True
    description = "gradient times input, summed over the embedding dimension"
    citation = "Shrikumar et al. 2017; Denil et al. 2014"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        embeddings = model.embed(enc.input_ids).detach().requires_grad_()
        attr = InputXGradient(probability_function(model)).attribute(
            embeddings, target=batch.target, additional_forward_args=(enc.attention_mask,)
        )
        return MethodOutput(token_scores=attr.sum(dim=-1), forward_passes=2.0)


@register_method
class JainWallaceGradient(_GradientMethod):
    name = "jw_gradient"
    signed = False
    model_kinds: ClassVar[frozenset[str]] = frozenset({"rnn"})
    description = ("|gradient x input| with the attention weights held fixed (detached), the gradient "
                   "importance of Jain & Wallace 2019")
    citation = "Jain & Wallace 2019"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        embeddings = model.embed(enc.input_ids).detach().requires_grad_()
        attr = InputXGradient(probability_function(model, detach_attention=True)).attribute(
            embeddings, target=batch.target, additional_forward_args=(enc.attention_mask,)
        )
        return MethodOutput(token_scores=attr.sum(dim=-1).abs(), forward_passes=2.0)


@register_method
class IntegratedGradientsMethod(_GradientMethod):
    """Integrated gradients with a completeness check and adaptive steps.

    Completeness: sum of attributions = f(x) - f(baseline). Captum returns the gap as the
    convergence delta; examples whose |gap| exceeds ``tolerance`` are recomputed with
    twice the steps until it is small or ``max_steps`` is reached. The final gap and step
    count are recorded per example.
    """

    name = "integrated_gradients"
    signed = True
    description = "integrated gradients from a [PAD] baseline (special tokens kept), Gauss-Legendre steps"
    citation = "Sundararajan et al. 2017"
    defaults: ClassVar[dict[str, Any]] = {
        "n_steps": 32, "max_steps": 256, "tolerance": 0.01, "baseline": "pad", "method": "gausslegendre",
        "internal_batch_size": 512,
    }

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        forward = probability_function(model)
        ig = IntegratedGradients(forward)
        embeddings = model.embed(enc.input_ids).detach().requires_grad_()
        baselines = model.embed(baseline_ids(model, enc.input_ids, enc.attention_mask, self.settings["baseline"])).detach()
        n = len(batch)
        scores = torch.zeros(enc.input_ids.shape, dtype=torch.float64)
        gaps = np.full(n, np.nan)
        steps_used = np.zeros(n, dtype=int)
        passes = np.zeros(n)
        todo = torch.arange(n)
        steps = int(self.settings["n_steps"])
        while len(todo):
            attr, delta = ig.attribute(
                embeddings[todo], baselines=baselines[todo], target=batch.target[todo],
                additional_forward_args=(enc.attention_mask[todo],), n_steps=steps,
                method=self.settings["method"], internal_batch_size=self.settings["internal_batch_size"],
                return_convergence_delta=True,
            )
            rows = todo.numpy()
            scores[todo] = attr.sum(dim=-1).detach().double().cpu()
            gaps[rows] = delta.detach().double().cpu().numpy()
            steps_used[rows] = steps
            passes[rows] += 2 * steps + 2  # forward+backward per step, plus the two end points
            if steps * 2 > self.settings["max_steps"]:
                break
            todo = todo[torch.as_tensor(np.abs(gaps[rows]) > self.settings["tolerance"])]
            steps *= 2
        converged = np.abs(gaps) <= self.settings["tolerance"]
        return MethodOutput(token_scores=scores, completeness_gap=gaps, n_steps=steps_used, forward_passes=passes,
                            converged=converged)
