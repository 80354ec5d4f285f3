"""One attention function for every Hugging Face encoder family, with a control point.

Transformers (>= 4.48) look attention up by name in ``AttentionInterface``; we register
``"study_probe"``, the eager computation (scaled dot product, additive mask, softmax,
dropout, weighted sum of values) with two hooks: an :class:`AttentionControl` may read or
replace the attention probabilities and the value vectors of any layer. Attention
collection, interventions (permutation, zeroing, uniform), attention x gradient and value
zeroing all go through it, for BERT, RoBERTa, DistilBERT and every other family that
uses the interface, so no family needs its own copy of the attention code.

Because the probe is the eager path, interventions cannot silently do nothing the way
forward hooks do under SDPA or flash kernels, which return no weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import torch
from torch import nn

PROBE_NAME = "study_probe"

_ACTIVE: ContextVar[AttentionControl | None] = ContextVar("attention_control", default=None)


class AttentionControl:
    """Base control: sees every layer's probabilities and values; changes nothing.

    Subclasses override :meth:`probabilities` and/or :meth:`values`. ``layer`` is the
    0-based index of the attention module in forward order (set by :func:`index_layers`).
    """

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        return probs

    def values(self, layer: int, value: torch.Tensor, module: nn.Module) -> torch.Tensor:
        return value


@contextlib.contextmanager
def attention_control(control: AttentionControl) -> Iterator[AttentionControl]:
    """Apply ``control`` to every probe-attention call made inside the block."""
    token = _ACTIVE.set(control)
    try:
        yield control
    finally:
        _ACTIVE.reset(token)


def probe_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention with the active control applied; returns (output, probabilities)."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    probs = torch.softmax(scores, dim=-1)
    control = _ACTIVE.get()
    if control is not None:
        layer = getattr(module, "_study_layer", -1)
        probs = control.probabilities(layer, probs, module)
        value = control.values(layer, value, module)
    weights = nn.functional.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, probs


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


class _CallOrder(AttentionControl):
    def __init__(self) -> None:
        self.modules: list[nn.Module] = []

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        self.modules.append(module)
        return probs


def index_layers(model: nn.Module, sample: dict[str, torch.Tensor]) -> int:
    """Number the attention modules in forward order (``module._study_layer``).

    Runs ``model`` once on ``sample`` and records which modules call the probe, so the
    numbering needs no knowledge of the family's module names. Returns the layer count.
    """
    order = _CallOrder()
    with torch.no_grad(), attention_control(order):
        model(**sample)
    if not order.modules:
        raise RuntimeError(
            f"{type(model).__name__} never called the probe attention: this model family does not use "
            "transformers' AttentionInterface, so its attention cannot be read or intervened on"
        )
    for index, module in enumerate(order.modules):
        module._study_layer = index
    return len(order.modules)


register_probe()
