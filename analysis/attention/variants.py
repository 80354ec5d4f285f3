"""Attention-derived importance beyond raw weights, registered as importance methods.

Raw single-layer attention says little about the input of a transformer, because
information mixes across layers and attention ignores what is being moved. These
methods are the stronger attention-based explanations the study must test too:

- ``attention_flow``: maximum flow through the residual-adjusted attention graph
  (Abnar & Zuidema 2020), :mod:`analysis.attention.flow`;
- ``attention_norm_last`` / ``attention_norm_all``: norms of attention-weighted
  transformed value vectors ``||sum_h alpha_ij f_h(x_j)||`` (Kobayashi et al. 2020), in
  the last layer / averaged over layers, :mod:`analysis.attention.norms`;
- ``value_zeroing``: change of each layer's output when a token's value vector is
  zeroed, rolled out over layers (Mohebbi et al. 2023), :mod:`analysis.attention.value_zeroing`;
- ``attention_x_gradient``: attention times the gradient of the predicted-class
  probability w.r.t. it, [CLS] row summed over heads and layers,
  :mod:`analysis.attention.attention_gradient`;
- ``alti``: ALTI, the L1-distance decomposition of the attention block with residual
  and layer norm, rolled out (Ferrando et al. 2022), :mod:`analysis.attention.norms`.

All explain the model's predicted class where an output enters (value zeroing and
ALTI describe the [CLS] representation, as in their papers), work on every encoder
family declared in :mod:`analysis.models.families` (post-LN and pre-LN; see
:mod:`analysis.attention.norms` for what the pre-LN variants include) and read the
[CLS] row (``model.classification_position``). Each declares the requirements it makes
of a checkpoint (``requires``): a checkpoint that breaks one (e.g. a mean-pooling
classifier has no [CLS] row to read) is refused at config validation.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import torch

from analysis.attention.attention_gradient import attention_times_gradient
from analysis.attention.flow import FLOW_CACHE, MAX_RESOLUTION_BITS, WORD_POOLING, attention_flow
from analysis.attention.methods import attention_maps_cached
from analysis.attention.norms import alti, attention_norm_layers, normalise_rows
from analysis.attention.tracing import LayerTrace, trace_layers
from analysis.attention.value_zeroing import rollout_layers, value_zeroing_layers
from analysis.importance.base import (
    POOLED,
    WORDS_SHARE,
    Batch,
    ImportanceMethod,
    MethodOutput,
    MethodSettingsError,
    register_method,
)
from analysis.models.base import TextClassifier, batch_token_budget
from analysis.models.families import ATTENTION_ONLY_MIXING, CLASSIFICATION_POSITION, DECLARED_FAMILY

log = logging.getLogger(__name__)


class _AttentionVariant(ImportanceMethod):
    family = "attention"
    signed = False
    model_kinds: ClassVar[frozenset[str]] = frozenset({"transformer"})
    requires: ClassVar[frozenset[str]] = frozenset({DECLARED_FAMILY, CLASSIFICATION_POSITION})
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        for key, allowed in self.choices.items():
            if self.settings[key] not in allowed:
                raise MethodSettingsError(
                    f"method {self.name!r}: setting {key}={self.settings[key]!r} is not one of {list(allowed)}"
                )

    def _positive_int(self, key: str, minimum: int = 1, maximum: int | None = None) -> int:
        value = self.settings[key]
        if not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise MethodSettingsError(f"method {self.name!r}: setting {key} must be an integer of at least "
                                      f"{minimum}{upper}, got {value!r}")
        return value


def _trace(model: TextClassifier, batch: Batch) -> LayerTrace:
    """The batch's :class:`LayerTrace`, computed once per batch and shared by every method that reads it (a batch
    is encoded for one model: a batch reused with another model would get the first model's trace)."""
    if "layer_trace" not in batch.cache:
        with torch.no_grad():
            batch.cache["layer_trace"] = trace_layers(model.module, batch.encoded.input_ids,
                                                      batch.encoded.attention_mask)
    return batch.cache["layer_trace"]


@register_method
class AttentionFlow(_AttentionVariant):
    name = "attention_flow"
    label = "Attention flow"
    short_label = "Flow"
    order = 11
    description = ("maximum flow from each input word (all its subword tokens at once) to [CLS] through the layer "
                   "graph of residual-adjusted head-mean attention")
    citation = "Abnar & Zuidema 2020"
    unit = ("maximum flow from the word (all its subwords at once) to [CLS] through the residual-adjusted attention "
            "graph; each word at most 1, the words do not sum to 1")
    defaults: ClassVar[dict[str, Any]] = {"residual_weight": 0.5, "max_tokens": 128, "resolution_bits": 28,
                                          "cache": True}
    requires = _AttentionVariant.requires | {ATTENTION_ONLY_MIXING}

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._positive_int("max_tokens", 2)
        self._positive_int("resolution_bits", 8, MAX_RESOLUTION_BITS)
        if not 0.0 <= float(self.settings["residual_weight"]) < 1.0:
            raise MethodSettingsError(f"method {self.name!r}: residual_weight must lie in [0, 1), got "
                                      f"{self.settings['residual_weight']!r}")

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        maps = attention_maps_cached(model, batch)
        result = attention_flow(
            maps, batch.encoded.attention_mask, batch.encoded.word_index,
            residual_weight=float(self.settings["residual_weight"]),
            max_tokens=self.settings["max_tokens"], sink_position=model.classification_position,
            resolution_bits=self.settings["resolution_bits"], cache=FLOW_CACHE if self.settings["cache"] else None,
        )
        log.info("attention_flow: %d max-flow problems in %.2f s for %d examples (%d skipped as longer than "
                 "max_tokens=%d; flow cache %d hits, %d misses)", result.max_flow_calls, result.seconds, len(batch),
                 result.skipped, self.settings["max_tokens"], FLOW_CACHE.hits, FLOW_CACHE.misses)
        if result.skipped:
            log.warning("attention_flow: %d examples exceed max_tokens=%d and get NaN scores (left out of agreement); "
                        "raise importance.methods.attention_flow.max_tokens to include them", result.skipped,
                        self.settings["max_tokens"])
        return MethodOutput(token_scores=result.scores, forward_passes=1.0, pooling=WORD_POOLING)


@register_method
class AttentionNormLast(_AttentionVariant):
    name = "attention_norm_last"
    label = "Attention norm ‖αf(x)‖ (last layer)"
    short_label = "Norm last"
    order = 12
    description = ("norm of the attention-weighted transformed value vectors, ||sum_h a_h f_h(x_j)||, last layer, "
                   "[CLS] row (a word: the norm of its subwords' summed vectors)")
    citation = "Kobayashi et al. 2020"
    unit = ("norm of the weighted value vector, last layer, in the model's hidden-state units (a word: the norm of "
            "its subwords' summed vectors); not normalised")

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        with torch.no_grad():
            norms = attention_norm_layers(_trace(model, batch), position=model.classification_position,
                                          word_index=batch.encoded.word_index)
        # a word's norm sits on its first token (its other tokens 0): "first" reads it under any study pooling
        return MethodOutput(token_scores=norms[:, -1], forward_passes=1.0, pooling="first")


@register_method
class AttentionNormAll(_AttentionVariant):
    name = "attention_norm_all"
    label = "Attention norm ‖αf(x)‖ (all layers)"
    short_label = "Norm all"
    order = 13
    description = ("norm of the attention-weighted transformed value vectors (a word: of its subwords' summed "
                   "vectors), [CLS] row, each layer normalised to sum 1, averaged over layers")
    citation = "Kobayashi et al. 2020"
    unit = ("norm of the weighted value vector as a share of [CLS]'s row (each layer normalised to sum 1), averaged "
            f"over layers (a word: the norm of its subwords' summed vectors); {WORDS_SHARE}")

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        with torch.no_grad():
            norms = attention_norm_layers(_trace(model, batch), position=model.classification_position,
                                          word_index=batch.encoded.word_index)
        return MethodOutput(token_scores=normalise_rows(norms).mean(dim=1), forward_passes=1.0, pooling="first")


@register_method
class ValueZeroing(_AttentionVariant):
    name = "value_zeroing"
    label = "Value zeroing"
    short_label = "VZ"
    order = 14
    description = ("cosine distance of each layer's output when a token's value vectors are zeroed, rows normalised, "
                   "rolled out over layers, [CLS] row")
    citation = "Mohebbi et al. 2023"
    unit = ("[CLS]'s row of the value-zeroing cosine distances, rows normalised to sum 1 and rolled out (or the last "
            f"layer's): a share of [CLS]'s representation ({POOLED}); {WORDS_SHARE}")
    defaults: ClassVar[dict[str, Any]] = {"batch_size": 256, "max_batch_tokens": "auto", "aggregate": "rollout"}
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {"aggregate": ("rollout", "last")}

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._positive_int("batch_size")

    def requirements(self) -> frozenset[str]:
        rolled = self.settings["aggregate"] == "rollout"
        return self.requires | {ATTENTION_ONLY_MIXING} if rolled else self.requires

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        layers = value_zeroing_layers(model.module, enc.input_ids, enc.attention_mask,
                                      batch_size=self.settings["batch_size"],
                                      max_tokens=batch_token_budget(model.device, self.settings["max_batch_tokens"]))
        combined = rollout_layers(layers) if self.settings["aggregate"] == "rollout" else layers[:, -1]
        tokens = enc.attention_mask.sum(dim=1).double().cpu().numpy()
        return MethodOutput(token_scores=combined[:, model.classification_position], forward_passes=1.0 + tokens)


@register_method
class AttentionTimesGradient(_AttentionVariant):
    name = "attention_x_gradient"
    label = "Attention × gradient"
    short_label = "Attn × grad"
    order = 15
    signed = True
    needs_gradients = True
    description = ("attention times the gradient of the predicted-class probability w.r.t. the attention weight, "
                   "[CLS] row, signed, summed over heads and layers (Chefer et al. keep the positive part and roll "
                   "it out over layers)")
    citation = "Chefer et al. 2021; Hao et al. 2021"
    unit = ("attention weight · d p / d attention weight, [CLS] row, summed over heads and layers (or the last "
            f"layer's); a first-order change in p ({POOLED})")
    defaults: ClassVar[dict[str, Any]] = {"layers": "all"}
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {"layers": ("all", "last")}

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        products, _ = attention_times_gradient(model.module, model.embed(enc.input_ids), enc.attention_mask,
                                               batch.target)
        rows = products[:, :, :, model.classification_position, :]  # [B, L, H, T]
        if self.settings["layers"] == "last":
            rows = rows[:, -1:]
        return MethodOutput(token_scores=rows.sum(dim=(1, 2)), forward_passes=2.0)


@register_method
class ALTI(_AttentionVariant):
    name = "alti"
    label = "ALTI"
    short_label = "ALTI"
    order = 16
    description = ("ALTI: L1-distance contributions of each token to the attention block output (residual and layer "
                   "norm included), rolled out over layers, [CLS] row")
    citation = "Ferrando et al. 2022"
    unit = ("[CLS]'s row of the rolled-out ALTI contributions (rows normalised to sum 1): a share of [CLS]'s "
            f"representation ({POOLED}); {WORDS_SHARE}")
    defaults: ClassVar[dict[str, Any]] = {"max_elements": 2**25}
    requires = _AttentionVariant.requires | {ATTENTION_ONLY_MIXING}

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._positive_int("max_elements", 1024)

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        with torch.no_grad():
            contributions = alti(_trace(model, batch), batch.encoded.attention_mask,
                                 position=model.classification_position, max_elements=self.settings["max_elements"])
        return MethodOutput(token_scores=contributions, forward_passes=1.0)
