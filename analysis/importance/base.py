"""Importance methods: one interface for attention-derived and causal scores.

As in Inseq, attention is "just another method": every method turns a batch of encoded
examples into one score per token (pooled to words by the engine) or per word, and
declares its family, whether its scores are signed, what unit they are in (``unit``),
whether it needs gradients, which model kinds it supports and what it costs, and how
readers see it (``label``,
``short_label``, display ``order``; figures and reports read these, see
:mod:`analysis.plots.style`). Adding a method is one registered class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from analysis.models.base import Encoded, TextClassifier
from analysis.records import CAUSAL_FAMILIES, FAMILIES  # noqa: F401  (declared with the tables, re-exported)
from analysis.registry import Registry


@dataclass
class Batch:
    """A length-bucketed batch: encoded inputs on the model's device and the class to explain."""

    encoded: Encoded
    target: torch.Tensor
    example_ids: list[str]
    words: list[list[str]]
    seed: int = 0
    cache: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.example_ids)


@dataclass
class MethodOutput:
    """Scores for a batch: token-level (pooled by the engine) or already word-level.

    ``forward_passes`` counts forward-pass equivalents per example (a backward pass counts
    as one more), so costs compare across methods.
    """

    token_scores: torch.Tensor | None = None
    word_scores: list[np.ndarray] | None = None
    forward_passes: np.ndarray | float = 1.0
    completeness_gap: np.ndarray | None = None
    n_steps: np.ndarray | None = None
    converged: np.ndarray | None = None  # IG: |completeness gap| within the method's tolerance
    pooling: str | None = None  # overrides the study's pooling (e.g. "first" when all subwords share a score)


class MethodSettingsError(ValueError):
    """A method got a setting it does not know or a value it cannot use."""


#: How a method that scores subword tokens gets a word's score (part of its :attr:`ImportanceMethod.unit`).
POOLED = "a word: its subwords pooled by importance.pooling"
#: The part of a [CLS]-row share that the words hold (part of a :attr:`ImportanceMethod.unit`).
WORDS_SHARE = "the words' share, [CLS]/[SEP] excluded, sums to at most 1"

#: Settings that decide only how much work goes through the model at once, not the scores (float rounding
#: aside): a finished result stays valid when they change (:meth:`ImportanceMethod.result_settings`).
BATCHING_SETTINGS = frozenset({"batch_size", "max_batch_tokens", "perturbations_per_eval", "internal_batch_size",
                               "max_elements"})


class ImportanceMethod(ABC):
    """Base class; subclasses set the class attributes and implement :meth:`explain`."""

    name: ClassVar[str]
    label: ClassVar[str]  # the name readers of the literature know, e.g. "Leave-one-out ([MASK])"
    short_label: ClassVar[str]  # a compact form for narrow places, e.g. "LOO [MASK]"
    order: ClassVar[int]  # position in figures and tables (attention, gradients, ablations, random, variants)
    family: ClassVar[str]
    signed: ClassVar[bool]
    unit: ClassVar[str]
    """What a word's score is, in a few words a reader can normalise or compare by (``p`` is the probability of
    the explained class), e.g. "weight; sums to 1 over the words" or "change in the predicted class's
    probability"; where the method scores subword tokens, how they become the word's score."""
    needs_gradients: ClassVar[bool] = False
    model_kinds: ClassVar[frozenset[str]] = frozenset({"transformer", "rnn"})
    defaults: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    version: ClassVar[int] = 1
    """Bump when a fix changes the scores the method computes from the same settings and model: finished results
    of an earlier version (``importance_cache/``) are then recomputed instead of reused. Version 1 is not part of
    the cache key, so results cached before versions existed stay valid."""
    # what the method assumes of a transformer checkpoint (names in analysis.models.families.REQUIREMENTS)
    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **settings: Any) -> None:
        unknown = sorted(set(settings) - set(self.defaults))
        if unknown:
            raise MethodSettingsError(
                f"method {self.name!r} has no setting(s) {unknown}; its settings are {sorted(self.defaults)}"
            )
        self.settings = {**self.defaults, **{k: _like(self.defaults[k], v, self.name, k) for k, v in settings.items()}}

    def result_settings(self) -> dict[str, Any]:
        """The settings that decide the scores: :attr:`settings` without :data:`BATCHING_SETTINGS`."""
        return {key: value for key, value in self.settings.items() if key not in BATCHING_SETTINGS}

    def cache_decides(self) -> dict[str, Any]:
        """What decides a cached result besides the model, the examples, the seed and the pooling: the
        :meth:`result_settings` and, from version 2 on, the :attr:`version`."""
        return {"settings": self.result_settings(), **({"version": self.version} if self.version > 1 else {})}

    def requirements(self) -> frozenset[str]:
        """The requirements of :attr:`requires`, plus any the settings add (e.g. a rollout over layers)."""
        return self.requires

    def refusal(self, model: TextClassifier) -> str | None:
        """Why the method is refused for ``model``'s checkpoint (an unmet requirement), or None.

        The reasons come from the checkpoint's family declaration
        (:func:`analysis.models.families.unmet_requirements`), as at validate time.
        """
        unmet = getattr(model, "unmet_requirements", None) or {}
        reasons = [unmet[r] for r in sorted(self.requirements()) if r in unmet]
        if not reasons or model.kind not in self.model_kinds:
            return None
        from analysis.models.families import refusal_message

        return refusal_message(self.name, getattr(model, "checkpoint", "?"), model.module.config, reasons)

    def supports(self, model: TextClassifier) -> bool:
        return (model.kind in self.model_kinds and (model.gradient_capable or not self.needs_gradients)
                and self.refusal(model) is None)

    def check_model(self, model: TextClassifier) -> None:
        if model.kind not in self.model_kinds:
            raise MethodSettingsError(
                f"method {self.name!r} works on {sorted(self.model_kinds)} models, not on a {model.kind} model"
            )
        if self.needs_gradients and not model.gradient_capable:
            raise MethodSettingsError(f"method {self.name!r} needs gradients, which this model does not provide")
        refusal = self.refusal(model)
        if refusal is not None:
            raise MethodSettingsError(refusal)

    @abstractmethod
    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        """Scores explaining ``batch.target`` (the predicted class) for every example."""


def _like(default: Any, value: Any, method: str, key: str) -> Any:
    """``value`` converted to the type of ``default`` (command-line configs pass strings); a setting
    whose default is ``"auto"`` takes ``"auto"`` or a positive whole number."""
    if default == "auto":
        if value == "auto":
            return value
        if not isinstance(value, bool) and str(value).isdigit() and int(value) > 0:
            return int(value)
        raise MethodSettingsError(f"method {method!r}: setting {key!r} must be 'auto' or a positive whole number, "
                                  f"not {value!r}")
    if isinstance(value, str) and isinstance(default, bool):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif isinstance(value, str) and isinstance(default, int | float) and not isinstance(default, bool):
        try:
            return type(default)(float(value)) if isinstance(default, float) else int(value)
        except ValueError:
            pass
    else:
        return value
    raise MethodSettingsError(f"method {method!r}: setting {key!r} must be like {default!r}, not {value!r}")


IMPORTANCE_METHODS: Registry[type[ImportanceMethod]] = Registry("importance method")


def register_method(cls: type[ImportanceMethod]) -> type[ImportanceMethod]:
    """Class decorator: register ``cls`` under ``cls.name`` after checking its declarations."""
    if cls.family not in FAMILIES:
        raise ValueError(f"method {cls.name!r}: family must be one of {FAMILIES}, not {cls.family!r}")
    for attribute in ("label", "short_label", "unit"):
        if not isinstance(getattr(cls, attribute, None), str) or not getattr(cls, attribute):
            raise ValueError(f"method {cls.name!r}: declare a non-empty class attribute {attribute!r}")
    order = getattr(cls, "order", None)
    if isinstance(order, bool) or not isinstance(order, int):
        raise ValueError(f"method {cls.name!r}: declare an int class attribute 'order' (display position)")
    taken = [name for name, other in IMPORTANCE_METHODS.items() if other.order == order and name != cls.name]
    if taken:
        raise ValueError(f"method {cls.name!r}: order {order} is already taken by {taken[0]!r}; choose a free position")
    IMPORTANCE_METHODS.add(cls.name, cls)
    return cls


def make_method(name: str, settings: dict[str, Any] | None = None, *, where: str = "") -> ImportanceMethod:
    return IMPORTANCE_METHODS.get(name, where=where)(**(settings or {}))


def target_probability(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Probability of the explained class, the output every method explains, in float64.

    Float64 because the perturbation methods difference it: in float32 a probability within
    ~1e-5 of 1 has steps of 6e-8, so on a confident prediction most words' leave-one-out
    drops would round to the same few values and tie.
    """
    return class_probabilities(logits).gather(1, target.view(-1, 1)).squeeze(1)


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Every class's probability in float64 (:func:`target_probability`), for functions Captum perturbs."""
    return torch.softmax(logits.double(), dim=-1)
