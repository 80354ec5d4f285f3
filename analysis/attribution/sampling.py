"""Sampling-based perturbation attributions with Captum: Shapley sampling, KernelSHAP, LIME.

Every word is one feature (Captum ``feature_mask`` from the token -> word map); a word
is "absent" when its tokens are replaced by [MASK] ([UNK] for an RNN). Special and
padding tokens form one extra feature whose baseline is the token itself, so removing
it is a no-op: special tokens never leave the input. All explain the predicted-class
probability. Captum's sampling explainers take one example at a time; perturbations of
that example are batched (``perturbations_per_eval``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from analysis.attribution.gradient import baseline_ids
from analysis.importance.base import Batch, ImportanceMethod, MethodOutput, register_method
from analysis.models.base import TextClassifier


class _CaptumSampling(ImportanceMethod):
    family = "ablation"
    signed = True
    defaults: ClassVar[dict[str, Any]] = {"n_samples": 200, "perturbations_per_eval": 64}

    def make(self, forward):  # pragma: no cover - abstract hook
        raise NotImplementedError

    def cost(self, n_words: int) -> float:
        return float(self.settings["n_samples"])

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        width = max(enc.n_words_kept, default=0)
        feature_mask = torch.where(enc.word_index >= 0, enc.word_index, torch.full_like(enc.word_index, width))
        baselines = baseline_ids(model, enc.input_ids, enc.attention_mask, "mask")

        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return torch.softmax(model.logits(input_ids, attention_mask), dim=-1)

        explainer = self.make(forward)
        scores = torch.zeros(enc.input_ids.shape, dtype=torch.float64)
        for row in range(len(batch)):
            sl = slice(row, row + 1)
            n = enc.n_words_kept[row]
            # renumber features 0..n so the special-token feature is the last one
            mask = torch.where(feature_mask[sl] >= n, torch.full_like(feature_mask[sl], n), feature_mask[sl])
            with torch.no_grad():
                attr = explainer.attribute(
                    enc.input_ids[sl], baselines=baselines[sl], target=batch.target[sl],
                    additional_forward_args=(enc.attention_mask[sl],), feature_mask=mask,
                    perturbations_per_eval=self.settings["perturbations_per_eval"],
                    **self.sample_options(n),
                )
            scores[row] = attr[0].double().cpu()
        passes = np.asarray([self.cost(n) for n in enc.n_words_kept])
        return MethodOutput(token_scores=scores, pooling="first", forward_passes=passes)

    def sample_options(self, n_words: int) -> dict[str, Any]:
        return {"n_samples": self.settings["n_samples"]}


@register_method
class ShapleySampling(_CaptumSampling):
    name = "shapley_sampling"
    description = "Shapley values of words estimated from random permutations ([MASK] for absent words)"
    citation = "Strumbelj & Kononenko 2010; Castro et al. 2009"
    defaults: ClassVar[dict[str, Any]] = {"n_samples": 10, "perturbations_per_eval": 64}

    def make(self, forward):
        from captum.attr import ShapleyValueSampling

        return ShapleyValueSampling(forward)

    def cost(self, n_words: int) -> float:
        return float(self.settings["n_samples"] * (n_words + 1))


@register_method
class KernelShapMethod(_CaptumSampling):
    name = "kernel_shap"
    description = "KernelSHAP: a Shapley-kernel-weighted linear model over sampled word coalitions"
    citation = "Lundberg & Lee 2017"

    def make(self, forward):
        from captum.attr import KernelShap

        return KernelShap(forward)


@register_method
class LimeMethod(_CaptumSampling):
    name = "lime"
    description = "LIME: a locally weighted sparse linear model over sampled word subsets"
    citation = "Ribeiro et al. 2016"

    def make(self, forward):
        from captum.attr import Lime

        return Lime(forward)
