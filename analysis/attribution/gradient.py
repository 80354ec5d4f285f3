"""Gradient-based attributions with Captum, on the word embeddings.

All explain the probability of the predicted class. Attributing to the word-embedding
output is what ``LayerIntegratedGradients`` around the embedding layer computes: position
and segment embeddings are added inside the model and stay fixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency

from analysis.importance.base import (
    POOLED,
    Batch,
    ImportanceMethod,
    MethodOutput,
    MethodSettingsError,
    class_probabilities,
    register_method,
)
from analysis.importance.pooling import word_sums_on_tokens
from analysis.models.base import CPU_GRADIENT_BATCH_TOKENS, Encoded, TextClassifier, batch_token_budget, rows_per_batch


def probability_function(model: TextClassifier, **forward_options: Any):
    """f(embeddings, mask) -> class probabilities [B, C] in float64, the function Captum differentiates.

    Float64 because the softmax's gradient holds ``p_c (1 - p_c)``: in float32 a confident
    prediction (``1 - p_c`` below ~1e-5, common for RNNs on IMDB and the shortcut data) loses
    most of ``1 - p_c`` to rounding, and at ``p_c`` = 1.0 only the other classes' term is left,
    which can turn the gradient's direction (saliency ~50% off a float64 reference there).
    """

    def forward(embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return class_probabilities(model.logits_from_embeddings(embeddings, attention_mask, **forward_options))

    return forward


def baseline_ids(model: TextClassifier, encoded: Encoded, token: str) -> torch.Tensor:
    """IG baseline: every token of a word replaced by [PAD] (or [MASK]); special tokens and padding kept.

    What counts as a word's token is ``encoded.word_index >= 0``, not a list of special token
    ids: a word that tokenizes to [UNK] (an emoji, a rare script) is a word, and keeping it in
    the baseline would give it an attribution of exactly zero by construction.
    For an RNN both baselines are the zero embedding at every real position (its ``<pad>`` row
    and its ``<mask>`` input are both zero), so the two coincide there.
    """
    replacement = {"pad": model.pad_token_id, "mask": model.mask_token_id}.get(token)
    if replacement is None:
        raise MethodSettingsError(f"integrated_gradients baseline must be 'pad' or 'mask', not {token!r}")
    word = encoded.word_index.to(encoded.input_ids.device) >= 0
    return torch.where(word, torch.full_like(encoded.input_ids, replacement), encoded.input_ids)


def integrate_on_nodes(ig: IntegratedGradients, inputs: torch.Tensor, baselines: torch.Tensor, *,
                       target: torch.Tensor, additional_forward_args: tuple, step_sizes: list[float],
                       alphas: list[float]) -> torch.Tensor:
    """Integrated gradients on given path points ``alphas`` with quadrature weights ``step_sizes``.

    Captum's public ``attribute`` takes only a named rule (``method``) for its points; only
    the private ``IntegratedGradients._attribute`` takes explicit ones
    (``step_sizes_and_alphas``), which the adaptive refinement needs. Checked against captum
    0.8.0 and 0.9.0 (the same ``_attribute`` in both); pyproject.toml pins ``captum<0.10``
    so that a release that changes it is tested before it is used.
    """
    return ig._attribute((inputs,), (baselines,), target=target, additional_forward_args=additional_forward_args,
                         n_steps=len(alphas), step_sizes_and_alphas=(step_sizes, alphas))[0]


class _GradientMethod(ImportanceMethod):
    family = "gradient"
    needs_gradients = True
    version = 2  # 2: the differentiated softmax is float64 (probability_function)


@register_method
class SaliencyMethod(_GradientMethod):
    name = "saliency"
    label = "Saliency (‖∇‖)"
    short_label = "Saliency"
    order = 4
    signed = False
    description = ("L2 norm of the gradient of the predicted-class probability w.r.t. each word embedding (a word of "
                   "several subwords: the norm over all their embeddings)")
    citation = "Simonyan et al. 2014; Li et al. 2016"
    unit = "L2 norm of d p / d embedding (a word: over all its subwords' embeddings together)"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        """A word's score is the L2 norm of the gradient w.r.t. all its subword embeddings together, sqrt of the
        sum of their squared norms (a sum of the subwords' norms would grow with the number of subwords)."""
        enc = batch.encoded
        embeddings = model.embed(enc.input_ids).detach().requires_grad_()
        grads = Saliency(probability_function(model)).attribute(
            embeddings, target=batch.target, additional_forward_args=(enc.attention_mask,), abs=False
        )
        norms = grads.norm(dim=-1)
        word_index = enc.word_index.to(norms.device)
        subwords = word_sums_on_tokens(torch.ones_like(norms), word_index)
        words = torch.where(subwords > 1, word_sums_on_tokens(norms.square(), word_index).sqrt(), norms)
        return MethodOutput(token_scores=words, forward_passes=2.0, pooling="first")


@register_method
class GradientXInput(_GradientMethod):
    name = "grad_x_input"
    label = "Gradient × input"
    short_label = "G×I"
    order = 5
    signed = True
    description = "gradient times input, summed over the embedding dimension"
    citation = "Shrikumar et al. 2017; Denil et al. 2014"
    unit = f"d p / d embedding · embedding, summed over dimensions ({POOLED})"

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
    label = "Gradient, attention fixed (J&W)"
    short_label = "Grad (J&W)"
    order = 7
    signed = False
    model_kinds: ClassVar[frozenset[str]] = frozenset({"rnn"})
    description = ("|gradient x input| with the attention weights held fixed (detached), the gradient "
                   "importance of Jain & Wallace 2019")
    citation = "Jain & Wallace 2019"
    unit = "|d p / d embedding · embedding| (summed over dimensions, then absolute), attention held fixed"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        embeddings = model.embed(enc.input_ids).detach().requires_grad_()
        attr = InputXGradient(probability_function(model, detach_attention=True)).attribute(
            embeddings, target=batch.target, additional_forward_args=(enc.attention_mask,)
        )
        return MethodOutput(token_scores=attr.sum(dim=-1).abs(), forward_passes=2.0)


def path_adaptive_nodes(values: np.ndarray, n_nodes: int, n_panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights on [0, 1] that follow where the output changes.

    ``values`` is the model output on a uniform grid of the path (alpha = 0..1). The path
    is cut into ``n_panels`` panels; each gets one Gauss-Legendre node plus a share of
    the remaining ``n_nodes - n_panels`` proportional to the output's variation inside
    it. A fine-tuned classifier often flips its decision within a few percent of the
    path; uniform nodes step over that flip, these do not.
    """
    fine = len(values) - 1
    if fine % n_panels:
        raise ValueError("the grid must split evenly into panels")
    variation = np.abs(np.diff(values)).reshape(n_panels, -1).sum(axis=1)
    return _gauss_legendre_panels(np.linspace(0.0, 1.0, n_panels + 1), variation, max(0, n_nodes - n_panels))


def _gauss_legendre_panels(edges: np.ndarray, variation: np.ndarray, extra: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on the panels between ``edges``: one node each plus a share of ``extra``
    proportional to the panel's ``variation`` and half its neighbours' (a flip near a panel edge spills into the
    neighbour, which a coarse scan under-counts)."""
    variation = variation + 0.5 * (np.r_[variation[1:], 0.0] + np.r_[0.0, variation[:-1]])
    share = variation / variation.sum() if variation.sum() > 0 else np.full(len(variation), 1 / len(variation))
    counts = 1 + np.floor(extra * share).astype(int)
    nodes, weights = [], []
    for low, high, count in zip(edges[:-1], edges[1:], counts):
        x, w = np.polynomial.legendre.leggauss(int(count))
        nodes.append(low + (high - low) * (x + 1) / 2)
        weights.append(w * (high - low) / 2)
    return np.concatenate(nodes), np.concatenate(weights)


def refine_profile(evaluate, alphas: np.ndarray, values: np.ndarray, *, rounds: int = 12, per_round: int = 16,
                   min_width: float = 2.0**-24) -> tuple[np.ndarray, np.ndarray]:
    """Bisect a path scan where the output changes most: ``rounds`` times, the ``per_round`` intervals with the
    largest change (and wider than ``min_width``) get their midpoints evaluated (``evaluate(alphas) -> values``).

    A scan of even steps cannot see a jump inside one of its intervals; after r rounds such a jump sits in an
    interval 2^-r as wide, which :func:`panel_nodes` then integrates as a panel of its own.
    """
    alphas, values = np.asarray(alphas, dtype=float), np.asarray(values, dtype=float)
    for _ in range(rounds):
        change = np.abs(np.diff(values))
        wide = np.diff(alphas) > min_width
        candidates = np.flatnonzero(wide & (change > 0))
        if not len(candidates):
            break
        chosen = candidates[np.argsort(change[candidates])[::-1][:per_round]]
        midpoints = (alphas[chosen] + alphas[chosen + 1]) / 2
        alphas = np.concatenate([alphas, midpoints])
        values = np.concatenate([values, np.asarray(evaluate(midpoints), dtype=float)])
        order = np.argsort(alphas, kind="stable")
        alphas, values = alphas[order], values[order]
    return alphas, values


def panel_nodes(alphas: np.ndarray, values: np.ndarray, n_nodes: int, n_panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights on [0, 1] from a scan at arbitrary ``alphas`` (e.g. :func:`refine_profile`'s).

    The scan's intervals are merged into panels no wider than ``1 / n_panels`` and holding at most
    ``1 / n_panels**2`` of the output's total variation, so the intervals where the output changes keep the width
    the bisection gave them; each panel gets one Gauss-Legendre node plus a share of the other nodes proportional
    to its variation (with half its neighbours', as :func:`path_adaptive_nodes`), at least two per panel in all
    (``max(n_nodes, 2 * panels)`` nodes).
    """
    alphas, values = np.asarray(alphas, dtype=float), np.asarray(values, dtype=float)
    change = np.abs(np.diff(values))
    cap = change.sum() / n_panels**2
    edges, variation, width, held = [alphas[0]], [], 0.0, 0.0
    for step, (left, right) in enumerate(zip(alphas[:-1], alphas[1:])):
        if width and (width + right - left > 1 / n_panels + 1e-12 or held + change[step] > cap):
            edges.append(left)
            variation.append(held)
            width, held = 0.0, 0.0
        width += right - left
        held += change[step]
    edges.append(alphas[-1])
    variation.append(held)
    return _gauss_legendre_panels(np.asarray(edges), np.asarray(variation), max(n_nodes - len(variation), len(variation)))


#: Tokens per pass of integrated gradients off a CPU: bounds the activations its backward pass keeps.
GRADIENT_BATCH_TOKENS = 16384


@register_method
class IntegratedGradientsMethod(_GradientMethod):
    """Integrated gradients with a completeness check and adaptive steps.

    Completeness: sum of attributions = f(x) - f(baseline). Captum returns the gap as the
    convergence delta. Every example starts with ``n_steps`` Gauss-Legendre steps; an
    example whose |gap| exceeds ``tolerance`` is recomputed with twice the steps, placed
    where its output changes along the path (:func:`path_adaptive_nodes`, from a
    forward-only scan of ``scan_points`` alphas: two per panel place the nodes as a 128-point
    scan does, at a quarter of its cost; benchmarks/ig_steps.py), until the gap is small or
    ``max_steps`` is reached. An example still off then has its output jump within a sliver of the path
    the even scan cannot see (on IMDB BiLSTM reviews, within the first 0.3% of it): the scan
    is bisected where the output changes (:func:`refine_profile`) and ``max_steps`` nodes (at
    least two per panel) are placed on panels that isolate the jump (:func:`panel_nodes`). Of the rounds an example
    ran, the one with the smallest |gap| is kept; its gap and step count and whether it met
    the tolerance are recorded.

    The path runs in word-embedding space: the baseline is the [PAD] (or [MASK]) embedding at
    each word token's position, and the model adds its position embeddings to every point as
    to the input. For RoBERTa-style models that is not the model run on [PAD] ids, which would
    also give those tokens the padding position.
    """

    name = "integrated_gradients"
    label = "Integrated gradients"
    short_label = "IG"
    order = 6
    signed = True
    description = "integrated gradients from a [PAD] baseline (special tokens kept), Gauss-Legendre steps"
    citation = "Sundararajan et al. 2017"
    unit = ("path-integrated d p / d embedding · (embedding − baseline embedding), summed over dimensions "
            f"({POOLED}); summed, the words add up to p(input) − p(baseline) within the completeness gap")
    defaults: ClassVar[dict[str, Any]] = {
        "n_steps": 32, "max_steps": 256, "tolerance": 0.01, "baseline": "pad", "method": "gausslegendre",
        "internal_batch_size": 512, "max_batch_tokens": "auto", "scan_points": 32, "panels": 16,
    }

    def points_per_chunk(self, length: int, device: torch.device) -> int:
        """Path points run through the model at once: ``internal_batch_size``, capped so that
        points x ``length`` tokens stays within ``max_batch_tokens``: activation memory for the
        backward pass grows with tokens (on a CPU running out of it kills the process), and on a
        CPU larger batches are also slower per token. ``auto``: 2,048 tokens on a CPU (1.6x faster
        than 16,384 on IMDB reviews; benchmarks/token_budget.py), 16,384 elsewhere."""
        budget = batch_token_budget(device, self.settings["max_batch_tokens"], cpu=CPU_GRADIENT_BATCH_TOKENS,
                                    accelerator=GRADIENT_BATCH_TOKENS)
        return rows_per_batch(length, cap=self.settings["internal_batch_size"], max_tokens=budget)

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        forward = probability_function(model)
        ig = IntegratedGradients(forward)
        embeddings = model.embed(enc.input_ids).detach().requires_grad_()
        baselines = model.embed(baseline_ids(model, enc, self.settings["baseline"])).detach()
        n = len(batch)
        steps = int(self.settings["n_steps"])
        chunk = self.points_per_chunk(enc.input_ids.shape[1], model.device)
        attr, delta = ig.attribute(
            embeddings, baselines=baselines, target=batch.target, additional_forward_args=(enc.attention_mask,),
            n_steps=steps, method=self.settings["method"], internal_batch_size=max(chunk, n),
            return_convergence_delta=True,
        )
        scores = attr.sum(dim=-1).detach().double().cpu()
        gaps = delta.detach().double().cpu().numpy()
        steps_used = np.full(n, steps)
        passes = np.full(n, 2.0 * steps + 2)  # forward+backward per step, plus the two end points
        tolerance = self.settings["tolerance"]
        for row in np.flatnonzero(np.abs(gaps) > tolerance):
            sl = slice(int(row), int(row) + 1)
            scan = partial(self._path_values, forward, embeddings[sl].detach(), baselines[sl], enc.attention_mask[sl],
                           batch.target[sl])
            profile = scan(torch.linspace(0, 1, int(self.settings["scan_points"]) + 1, device=embeddings.device))
            passes[row] += len(profile)
            for nodes, weights, scanned in self._node_rounds(profile, scan):
                passes[row] += scanned
                # IG is a weighted sum over the nodes: chunks of nodes add up to the whole
                refined = sum(
                    integrate_on_nodes(ig, embeddings[sl], baselines[sl], target=batch.target[sl],
                                       additional_forward_args=(enc.attention_mask[sl],),
                                       step_sizes=weights[part].tolist(), alphas=nodes[part].tolist())
                    for part in np.array_split(np.arange(len(nodes)), -(-len(nodes) // chunk))
                )
                gap = ig.compute_convergence_delta(
                    (refined,), (baselines[sl],), (embeddings[sl],), target=batch.target[sl],
                    additional_forward_args=(enc.attention_mask[sl],),
                )
                passes[row] += 2 * len(nodes) + 2
                if abs(float(gap[0])) < abs(gaps[row]):  # keep the most complete round, not merely the last
                    scores[row] = refined.sum(dim=-1)[0].detach().double().cpu()
                    gaps[row] = float(gap[0])
                    steps_used[row] = len(nodes)
                if abs(gaps[row]) <= tolerance:
                    break
        converged = np.abs(gaps) <= tolerance
        return MethodOutput(token_scores=scores, completeness_gap=gaps, n_steps=steps_used, forward_passes=passes,
                            converged=converged)

    def _node_rounds(self, profile: np.ndarray, scan) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """One example's refinement rounds, as ``(nodes, weights, extra scan points)``: twice the steps per round,
        placed from the even scan ``profile`` (:func:`path_adaptive_nodes`), up to ``max_steps``; then, only if the
        caller asks for more, ``max_steps`` nodes on the panels of the scan bisected with ``scan(alphas)``
        (:func:`refine_profile`, :func:`panel_nodes`)."""
        n_nodes = 2 * int(self.settings["n_steps"])
        while n_nodes <= self.settings["max_steps"]:
            yield (*path_adaptive_nodes(profile, n_nodes, self.settings["panels"]), 0)
            n_nodes *= 2
        # still off: the output jumps within a sliver of the path the even scan cannot see
        alphas, values = refine_profile(scan, np.linspace(0, 1, len(profile)), profile)
        yield (*panel_nodes(alphas, values, int(self.settings["max_steps"]), self.settings["panels"]),
               len(alphas) - len(profile))

    @torch.no_grad()
    def _path_values(self, forward, embedding: torch.Tensor, baseline: torch.Tensor, mask: torch.Tensor,
                     target: torch.Tensor, alphas: np.ndarray | torch.Tensor) -> np.ndarray:
        """The explained probability at the points ``alphas`` of the path."""
        alphas = torch.as_tensor(alphas, dtype=embedding.dtype, device=embedding.device)
        values = []
        for part in alphas.split(self.points_per_chunk(embedding.shape[1], embedding.device)):
            path = baseline + part[:, None, None] * (embedding - baseline)
            probs = forward(path, mask.expand(len(part), -1))
            values.append(probs[:, int(target)].double().cpu())
        return torch.cat(values).numpy()
