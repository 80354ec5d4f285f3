"""One attention function for every Hugging Face encoder family, with a control point.

Transformers (>= 4.48) look attention up by name in ``AttentionInterface``; we register
``"study_probe"``, the eager computation (scaled dot product, additive mask, softmax,
dropout, weighted sum of values) with two hooks: an :class:`AttentionControl` may read or
replace the attention probabilities and the value vectors of any layer. Attention
collection, interventions (permutation, zeroing, uniform), attention x gradient and value
zeroing all go through it, for BERT, RoBERTa, DistilBERT and every other family that
uses the interface, so no family needs its own copy of the attention code.

A family whose attention does not go through the interface (DeBERTa-v2/v3: disentangled
attention computes its own scores) gets the same two hooks on its own attention module
(:func:`install_module_probe`): the value projection's output is handed to the control,
and the probabilities are handed over where the family applies attention dropout, just
before they weight the values, so a replacement really changes the output.

Because the probe is the eager path, interventions cannot silently do nothing the way
forward hooks do under SDPA or flash kernels, which return no weights. A pass that nobody
reads the probabilities of and that computes no gradient (no control active, the model in
eval mode, no attention output requested, autograd off) on a text of at least
:data:`FUSED_MIN_TOKENS` tokens runs PyTorch's fused ``scaled_dot_product_attention``
instead: the same function of the same inputs (equal up to float rounding; in bfloat16 its
softmax runs in float32), 1.2-1.5x faster for a 6-layer MiniLM at 256 tokens on one CPU
thread, 1.1-1.2x at 128, and no faster (up to 5% slower) at 24-64
(``benchmarks/probe_attention.py``). Leave-one-out and the input ablations spend their time
on such passes. Passes with gradients (training, integrated gradients, saliency) stay eager:
the fused kernel's backward on a CPU gives gradients that differ in the last bits between
thread counts (the eager path's do not, and the study promises the same numbers for the same
config), on CUDA it has no deterministic variant, and it supports neither double backward
nor forward-mode gradients. In training it would not help anyway: with dropout on the
probabilities it falls back to the explicit computation (one attention layer, forward and
backward at 256 tokens: 334 ms eager, 322 ms fused with dropout, 57 ms fused without).

Layers are numbered by forward order (:func:`index_layers`). A module that runs as several
layers (ALBERT shares one layer's weights across all layers) is numbered once per call:
its calls are counted within each forward pass of the model.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn

PROBE_NAME = "study_probe"

FUSED_MIN_TOKENS = 96
"""Shortest (padded) text for the fused attention kernel: below it, the kernel saved nothing on a CPU."""

# the active control, and the layer every probe call in the block counts as (None: by forward order)
_ACTIVE: ContextVar[tuple[AttentionControl, int | None] | None] = ContextVar("attention_control", default=None)


class AttentionControl:
    """Base control: sees every layer's probabilities and values; changes nothing.

    Subclasses override :meth:`probabilities` and/or :meth:`values`. ``layer`` is the
    0-based index of the layer in forward order (numbered by :func:`index_layers`).
    ``values`` of a layer is called before or after its ``probabilities``, by family;
    both get the same ``layer``.
    """

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        return probs

    def values(self, layer: int, value: torch.Tensor, module: nn.Module) -> torch.Tensor:
        return value


@contextlib.contextmanager
def attention_control(control: AttentionControl, *, layer: int | None = None) -> Iterator[AttentionControl]:
    """Apply ``control`` to every probe-attention call made inside the block.

    ``layer`` (optional) makes every call in the block count as that layer: for rerunning
    one layer on its own (value zeroing), where a module shared by several layers (ALBERT)
    does not tell which of them is running.
    """
    token = _ACTIVE.set((control, layer))
    try:
        yield control
    finally:
        _ACTIVE.reset(token)


def _active() -> tuple[AttentionControl | None, int | None]:
    active = _ACTIVE.get()
    return (None, None) if active is None else active


def _layer_of(module: nn.Module, override: int | None) -> int:
    """The layer a call of ``module`` runs as (-1 before :func:`index_layers` numbered it)."""
    if override is not None:
        return override
    layers = getattr(module, "_study_layers", None)
    if not layers:
        return getattr(module, "_study_layer", -1)
    return layers[getattr(module, "_study_calls", 0) % len(layers)] if len(layers) > 1 else layers[0]


def _finish_call(module: nn.Module, override: int | None) -> None:
    """Count a finished call of a module that runs as several layers."""
    if override is None and len(getattr(module, "_study_layers", ())) > 1:
        module._study_calls = getattr(module, "_study_calls", 0) + 1


def skip_call(module: nn.Module) -> None:
    """Count a call of attention ``module`` that was answered without running (a replayed layer), as
    :func:`probe_attention_forward` would have, so a module shared by several layers keeps its numbering."""
    control, override = _active()
    if control is not None:
        _finish_call(module, override)


def probe_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: object,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eager attention with the active control applied; returns (output, probabilities).

    On texts of at least :data:`FUSED_MIN_TOKENS` tokens where nothing reads the probabilities
    (:func:`_fused_allowed`), it returns (output, None) from the fused kernel.
    """
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    if key.size(-2) >= FUSED_MIN_TOKENS and _fused_allowed(module):
        output = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, scale=scaling)
        return output.transpose(1, 2).contiguous(), None
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    probs = torch.softmax(scores, dim=-1)
    control, override = _active()
    if control is not None:
        layer = _layer_of(module, override)
        probs = control.probabilities(layer, probs, module)
        value = control.values(layer, value, module)
        _finish_call(module, override)
    weights = nn.functional.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, probs


def _fused_allowed(module: nn.Module) -> bool:
    """Whether a call may skip the explicit probabilities: no control is active, ``module`` is in
    eval mode (no dropout on the probabilities), autograd is off (gradients stay on the eager
    path: see the module's notes) and transformers is not collecting attentions
    (``output_attentions=True``). Where this cannot be told (transformers moved its output
    collector), every call stays eager."""
    if _ACTIVE.get() is not None or module.training or torch.is_grad_enabled():
        return False
    collector = _attention_collector()
    if collector is None:
        return False
    collecting = collector.get()
    return not (collecting and "attentions" in collecting)


@functools.cache
def _attention_collector() -> Any:
    """Transformers' context variable (``.get()``: a dict keyed by output name, or None) of the outputs
    its forward pass collects; None where this transformers has none."""
    try:
        from transformers.utils import output_capturing
    except ImportError:
        return None
    collector = getattr(output_capturing, "_active_collector", None)
    return collector if callable(getattr(collector, "get", None)) else None


def register_probe() -> None:
    """Register the probe as an attention implementation, with eager attention's mask.

    Transformers 5 builds the attention mask per implementation name; an implementation
    registered without a mask function receives ``None`` and silently attends to padding.
    """
    from transformers import AttentionInterface

    AttentionInterface.register(PROBE_NAME, probe_attention_forward)
    try:
        from transformers.masking_utils import AttentionMaskInterface, eager_mask
    except ImportError:  # older transformers build the eager mask for every implementation
        return
    AttentionMaskInterface.register(PROBE_NAME, eager_mask)


# ------------------------------------------------------------------------------------- module probe


class _ProbabilitySite(nn.Module):
    """Stands in for the dropout a family applies to its attention probabilities [B*H or B, H, T, T].

    Hands the probabilities to the active control (as [B, H, T, T]) and applies the
    original dropout to what it returns. ``owner`` (the attention module) is kept out of
    the module tree, so it is not registered twice.
    """

    def __init__(self, dropout: nn.Module, owner: nn.Module, heads: int) -> None:
        super().__init__()
        self.dropout = dropout
        self.heads = heads
        object.__setattr__(self, "_owner", owner)

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        control, override = _active()
        if control is not None:
            owner = self._owner
            shape = probs.shape
            full = probs.view(-1, self.heads, shape[-2], shape[-1])
            changed = control.probabilities(_layer_of(owner, override), full, owner)
            probs = changed.reshape(shape)
            _finish_call(owner, override)
        return self.dropout(probs).contiguous()


def _value_hook(owner: nn.Module, heads: int):
    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        control, override = _active()
        if control is None:
            return None
        batch, length, width = output.shape
        value = output.view(batch, length, heads, width // heads).transpose(1, 2)  # [B, H, T, Dh], heads side by side
        changed = control.values(_layer_of(owner, override), value, owner)
        return changed.transpose(1, 2).reshape(batch, length, width)
    return hook


def install_module_probe(attention: nn.Module, *, value_projection: nn.Linear, probability_parent: nn.Module,
                         probability_name: str, heads: int) -> None:
    """Give a family's own attention module the probe's two hooks (idempotent).

    ``value_projection`` computes the values of all heads side by side (its output is
    handed to :meth:`AttentionControl.values`); ``probability_parent.<probability_name>``
    is the dropout module applied to the attention probabilities before they weight the
    values; it is replaced by a module that hands them to
    :meth:`AttentionControl.probabilities` first.
    """
    site = getattr(probability_parent, probability_name)
    if isinstance(site, _ProbabilitySite):
        return
    setattr(probability_parent, probability_name, _ProbabilitySite(site, attention, heads))
    value_projection.register_forward_hook(_value_hook(attention, heads))


# ------------------------------------------------------------------------------------- layer numbering


class _CallOrder(AttentionControl):
    def __init__(self) -> None:
        self.modules: list[nn.Module] = []

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        self.modules.append(module)
        return probs


def _reset_calls(modules: list[nn.Module]):
    def hook(model: nn.Module, args: tuple) -> None:
        for module in modules:
            module._study_calls = 0
    return hook


def index_layers(model: nn.Module, sample: dict[str, torch.Tensor]) -> int:
    """Number the attention modules in forward order (``module._study_layers``).

    Runs ``model`` once on ``sample`` and records which modules call the probe, so the
    numbering needs no knowledge of the family's module names. A module called ``k`` times
    per pass runs as ``k`` layers; its calls are counted from each pass of ``model``.
    ``module._study_layer`` is a module's first layer. Returns the layer count.
    """
    order = _CallOrder()
    with torch.no_grad(), attention_control(order):
        model(**sample)
    if not order.modules:
        raise RuntimeError(
            f"{type(model).__name__} never called the probe attention: this model family does not use "
            "transformers' AttentionInterface, so its attention cannot be read or intervened on; declare its "
            "family in analysis/models/families.py with probe='module' and where its attention dropout lives"
        )
    layers: dict[int, list[int]] = {}
    modules: dict[int, nn.Module] = {}
    for index, module in enumerate(order.modules):
        layers.setdefault(id(module), []).append(index)
        modules[id(module)] = module
    for key, module in modules.items():
        module._study_layers = tuple(layers[key])
        module._study_layer = layers[key][0]
        module._study_calls = 0
    shared = [m for m in modules.values() if len(m._study_layers) > 1]
    if shared and getattr(model, "_study_reset_hook", None) is None:
        model._study_reset_hook = model.register_forward_pre_hook(_reset_calls(shared))
    return len(order.modules)


register_probe()
