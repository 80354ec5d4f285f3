"""Sampling-based perturbation attributions: Shapley sampling (Captum), KernelSHAP and LIME.

Every word is one feature (Captum ``feature_mask`` from the token -> word map); a word
is "absent" when its tokens are replaced by [MASK] (for an RNN its reserved ``<mask>``
input, a zero embedding, not ``<unk>``, which out-of-vocabulary words are already). Special and
padding tokens form one extra feature whose baseline is the token itself, so removing
it is a no-op: special tokens never leave the input. All explain the predicted-class
probability. Captum's sampling explainers take one example at a time; perturbations of
that example are batched (``perturbations_per_eval``). KernelSHAP and LIME are
implemented here, vectorised: Captum builds and fits their samples one at a time in
Python, which made them the slowest methods of the suite by far.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from analysis.attribution.gradient import baseline_ids
from analysis.importance.base import Batch, ImportanceMethod, MethodOutput, class_probabilities, register_method
from analysis.models.base import TextClassifier
from analysis.seeding import derive_seed


class _CaptumSampling(ImportanceMethod):
    family = "ablation"
    signed = True
    defaults: ClassVar[dict[str, Any]] = {"n_samples": 200, "perturbations_per_eval": 64}

    def make(self, forward):  # pragma: no cover - abstract hook
        raise NotImplementedError

    def cost(self, n_features: int) -> float:
        """Forward passes (sequences run) for one example with ``n_features`` features."""
        return float(self.settings["n_samples"])

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        baselines = baseline_ids(model, enc, "mask")

        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return class_probabilities(model.logits(input_ids, attention_mask))

        explainer = self.make(forward)
        scores = torch.zeros(enc.input_ids.shape, dtype=torch.float64)
        passes = np.zeros(len(batch))
        for row in range(len(batch)):
            n, length = enc.n_words_kept[row], int(enc.attention_mask[row].sum())
            if n == 0:
                continue  # no word to attribute: the scores stay zero
            # each example on its own tokens: the batch's padding would add a no-op feature to an RNN's input,
            # which costs passes and changes the permutations drawn
            sl = (slice(row, row + 1), slice(0, length))
            owners = enc.word_index[sl]
            # words are features 0..n-1; special tokens (if any) one more, whose baseline is themselves
            mask = torch.where(owners >= 0, owners, torch.full_like(owners, n))
            # Captum draws permutations from the global generator: seed it per example (in a fork, so the
            # caller's stream is untouched) so that scores do not depend on batching, sharding or order
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(derive_seed(batch.seed, self.name, batch.example_ids[row]))
                attr = explainer.attribute(
                    enc.input_ids[sl], baselines=baselines[sl], target=batch.target[row : row + 1],
                    additional_forward_args=(enc.attention_mask[sl],), feature_mask=mask,
                    perturbations_per_eval=self.settings["perturbations_per_eval"],
                    **self.sample_options(n),
                )
            scores[row, :length] = attr[0].double().cpu()
            passes[row] = self.cost(int(mask.max()) + 1)
        return MethodOutput(token_scores=scores, pooling="first", forward_passes=passes)

    def sample_options(self, n_words: int) -> dict[str, Any]:
        return {"n_samples": self.settings["n_samples"]}


@register_method
class ShapleySampling(_CaptumSampling):
    name = "shapley_sampling"
    label = "Shapley sampling"
    short_label = "Shapley"
    order = 21
    description = "Shapley values of words estimated from random permutations ([MASK] for absent words)"
    citation = "Strumbelj & Kononenko 2010; Castro et al. 2009"
    unit = ("Shapley value for the predicted class's probability (absent words [MASK]ed); the words add up to "
            "p(input) − p(every word masked)")
    defaults: ClassVar[dict[str, Any]] = {"n_samples": 10, "perturbations_per_eval": 64}

    def make(self, forward):
        from captum.attr import ShapleyValueSampling

        return ShapleyValueSampling(forward)

    def cost(self, n_features: int) -> float:
        return 1.0 + self.settings["n_samples"] * n_features  # the baseline, then each feature once per permutation


def coalition_outputs(model: TextClassifier, ids: torch.Tensor, mask: torch.Tensor, owners: torch.Tensor,
                      coalitions: np.ndarray, target: int, *, batch_size: int) -> np.ndarray:
    """p(target) for each coalition (1 = word present, 0 = its tokens replaced by ``model.mask_token_id``)."""
    present = torch.as_tensor(coalitions, dtype=torch.bool)
    word_of_token = owners.clamp(min=0)
    keep = torch.where(owners[None] >= 0, present[:, word_of_token], torch.ones(1, dtype=torch.bool))
    out = np.empty(len(coalitions))
    with torch.no_grad():
        for start in range(0, len(coalitions), batch_size):
            rows = keep[start : start + batch_size]
            batch_ids = torch.where(rows, ids[None], torch.full_like(ids[None], model.mask_token_id))
            logits = model.logits(batch_ids.to(model.device), mask[None].expand(len(rows), -1).to(model.device))
            out[start : start + len(rows)] = class_probabilities(logits)[:, target].cpu().numpy()
    return out


def _all_coalitions(n: int) -> np.ndarray:
    return ((np.arange(1, 2**n - 1)[:, None] >> np.arange(n)) & 1).astype(np.int8)


def shapley_kernel(sizes: np.ndarray, n: int) -> np.ndarray:
    """The Shapley kernel (n - 1) / (C(n, s) s (n - s)) of coalitions of size s (Lundberg & Lee 2017)."""
    from scipy.special import comb

    return (n - 1) / (comb(n, sizes) * sizes * (n - sizes))


class _VectorisedSampling(ImportanceMethod):
    """Shared machinery: sample word coalitions, run them in batches, fit a local model."""

    family = "ablation"
    signed = True
    defaults: ClassVar[dict[str, Any]] = {"n_samples": 200, "batch_size": 256}

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        words, passes = [], []
        for row in range(len(batch)):
            n = enc.n_words_kept[row]
            length = int(enc.attention_mask[row].sum())
            ids, mask, owners = enc.input_ids[row, :length].cpu(), enc.attention_mask[row, :length].cpu(), \
                enc.word_index[row, :length].cpu()
            rng = np.random.default_rng(derive_seed(batch.seed, self.name, batch.example_ids[row]))
            if n == 0:
                words.append(np.zeros(0))
                passes.append(0.0)
                continue
            coalitions, weights = self.coalitions(n, rng)
            ends = np.vstack([np.ones(n, dtype=np.int8), np.zeros(n, dtype=np.int8)])
            outputs = coalition_outputs(model, ids, mask, owners, np.vstack([ends, coalitions]),
                                        int(batch.target[row]), batch_size=self.settings["batch_size"])
            words.append(self.fit(coalitions, weights, outputs[2:], full=outputs[0], empty=outputs[1]))
            passes.append(float(len(coalitions) + 2))
        return MethodOutput(word_scores=words, forward_passes=np.asarray(passes))

    def coalitions(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fit(self, z: np.ndarray, weights: np.ndarray, y: np.ndarray, *, full: float, empty: float) -> np.ndarray:
        raise NotImplementedError


@register_method
class KernelShapMethod(_VectorisedSampling):
    """KernelSHAP over words, vectorised: every coalition of an example runs in one batched pass.

    Coalitions are enumerated when there are at most ``n_samples`` of them (then the
    estimate is the exact Shapley value); otherwise their sizes are drawn in proportion to
    the Shapley kernel and members uniformly, so the regression weights are equal. A text of
    n words draws at least 2n coalitions, whatever ``n_samples`` says, so that the regression
    over its n values is determined (fewer rows than unknowns would give lstsq's minimum-norm
    solution, which spreads the output evenly over unseen words; shap's KernelExplainer draws
    2n + 2048 by default). The weighted least-squares fit is constrained so that the values
    sum to f(x) - f(all words masked) (efficiency).
    """

    name = "kernel_shap"
    label = "Kernel SHAP"
    short_label = "KernelSHAP"
    order = 17
    description = "KernelSHAP: Shapley-kernel weighted regression over word coalitions ([MASK] for absent words)"
    citation = "Lundberg & Lee 2017"
    unit = ("Shapley value for the predicted class's probability, fitted (absent words [MASK]ed); the words add up "
            "to p(input) − p(every word masked)")

    def coalitions(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if n == 1:
            return np.zeros((0, 1), dtype=np.int8), np.zeros(0)
        if 2**n - 2 <= self.settings["n_samples"]:
            z = _all_coalitions(n)
            return z, shapley_kernel(z.sum(1), n)
        sizes = np.arange(1, n)
        p = shapley_kernel(sizes, n) * np.array([float(math.comb(n, int(k))) for k in sizes])
        drawn = rng.choice(sizes, size=max(self.settings["n_samples"], 2 * n), p=p / p.sum())
        order = np.argsort(rng.random((len(drawn), n)), axis=1)
        z = (np.argsort(order, axis=1) < drawn[:, None]).astype(np.int8)
        return z, np.ones(len(z))

    def fit(self, z: np.ndarray, weights: np.ndarray, y: np.ndarray, *, full: float, empty: float) -> np.ndarray:
        n = z.shape[1]
        total = full - empty
        if n == 1 or len(z) == 0:
            return np.full(n, total / n)
        # eliminate the last value with the efficiency constraint: phi_n = total - sum(phi_1..n-1)
        x = z[:, :-1] - z[:, -1:]
        target = y - empty - z[:, -1] * total
        sw = np.sqrt(weights)
        head, *_ = np.linalg.lstsq(x * sw[:, None], target * sw, rcond=None)
        return np.append(head, total - head.sum())


@register_method
class LimeMethod(_VectorisedSampling):
    """LIME over words, vectorised (Ribeiro et al. 2016, its text explainer's defaults).

    Each sample removes a uniformly drawn number of words chosen at random; samples are
    weighted by sqrt(exp(-d^2 / width^2)) (lime_base's kernel) with d the cosine distance
    (x 100) between the sample's word-presence vector and the full input, and a weighted ridge regression (alpha 1)
    with intercept gives one coefficient per word.
    """

    name = "lime"
    label = "LIME"
    short_label = "LIME"
    order = 18
    description = "LIME: a locally weighted ridge model over sampled word subsets ([MASK] for absent words)"
    citation = "Ribeiro et al. 2016"
    unit = ("coefficient of a locally weighted ridge model of the predicted class's probability on word presence: "
            "change in p per word present")
    defaults: ClassVar[dict[str, Any]] = {"n_samples": 200, "batch_size": 256, "kernel_width": 25.0, "alpha": 1.0}

    def coalitions(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        removed = rng.integers(1, n + 1, size=self.settings["n_samples"])
        order = np.argsort(rng.random((len(removed), n)), axis=1)
        z = (np.argsort(order, axis=1) >= removed[:, None]).astype(np.int8)
        cosine = 1 - z.sum(1) / (np.sqrt(np.maximum(z.sum(1), 1)) * np.sqrt(n))
        distance = np.where(z.sum(1) > 0, cosine, 1.0) * 100
        return z, np.sqrt(np.exp(-(distance**2) / self.settings["kernel_width"] ** 2))  # lime_base.py's kernel

    def fit(self, z: np.ndarray, weights: np.ndarray, y: np.ndarray, *, full: float, empty: float) -> np.ndarray:
        # LIME's own samples include the unperturbed input with weight 1
        x = np.vstack([np.ones((1, z.shape[1])), z]).astype(float)
        y = np.append(full, y)
        w = np.append(1.0, weights)
        xm = np.average(x, axis=0, weights=w)
        ym = np.average(y, weights=w)
        xc, yc = (x - xm) * np.sqrt(w)[:, None], (y - ym) * np.sqrt(w)
        return np.linalg.solve(xc.T @ xc + self.settings["alpha"] * np.eye(x.shape[1]), xc.T @ yc)
