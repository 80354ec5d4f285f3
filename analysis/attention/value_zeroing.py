"""Value zeroing (Mohebbi, Zuidema, Chrupała & Alishahi 2023, EACL).

To measure how much token ``j`` contributes to the representation of token ``i`` in
layer ``l``, rerun layer ``l`` on its original input with ``j``'s value vector set to
zero in every head (so ``j`` can still be attended to, keys and queries unchanged, but
carries no information), and take the cosine distance between the new and the
original output of ``i``:

    VZ_l[i, j] = 1 - cos(x_i^{l, -j}, x_i^l)

The rerun is the whole layer (attention, residual, layer norms, feed-forward), as in
the paper. Rows are normalised to sum to one and the layer matrices are multiplied
through the layers as in rollout (without adding the identity, which the layer output
already contains); the [CLS] row of the product is the importance of each input token.

Cost: one rerun of layer ``l`` per (token, layer), i.e. as many full forward passes as
the example has tokens. The reruns of all tokens of a batch are stacked into one call
of the layer (``batch_size`` reruns at a time) and zeroed through the probe attention's
value hook, so no family needs its own code.

The definition needs only that a layer can be rerun on its recorded input, so it is the
same for post-LN and pre-LN families (ModernBERT: the rerun includes the layer's own
pre-attention and pre-MLP norms and both residual additions; the model's final norm,
after the last layer, is not part of any layer). A layer shared by several layers
(ALBERT) is rerun as the layer being measured (the probe is told which one).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from analysis.attention.norms import normalise_rows
from analysis.attention.tracing import LayerTrace, first_tensor, trace_layers
from analysis.models.attention_probe import AttentionControl, attention_control
from analysis.models.base import rows_per_batch


class ZeroValues(AttentionControl):
    """In layer ``layer``, row ``r`` of the batch gets the value vector of token ``positions[r]`` zeroed.

    ``inner`` (optional) is another control applied first, for value zeroing of a model
    whose attention is itself intervened on.
    """

    def __init__(self, layer: int, positions: torch.Tensor, inner: AttentionControl | None = None) -> None:
        self.layer = layer
        self.positions = positions
        self.inner = inner

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        return self.inner.probabilities(layer, probs, module) if self.inner is not None else probs

    def values(self, layer: int, value: torch.Tensor, module: nn.Module) -> torch.Tensor:
        if self.inner is not None:
            value = self.inner.values(layer, value, module)
        if layer != self.layer:
            return value
        keep = torch.ones(value.shape[0], value.shape[2], dtype=value.dtype, device=value.device)
        keep[torch.arange(value.shape[0], device=value.device), self.positions] = 0.0
        return value * keep[:, None, :, None]


def _take_rows(item: Any, rows: torch.Tensor, batch: int) -> Any:
    """Select ``rows`` of the batch dimension of every per-example tensor in a layer's arguments.

    A tensor counts as per-example when its first axis has the batch's size; arguments
    that are shared by all rows whatever their shape are passed over by the caller.
    """
    if isinstance(item, torch.Tensor):
        return item.index_select(0, rows) if item.dim() and item.shape[0] == batch else item
    if isinstance(item, tuple):
        return tuple(_take_rows(x, rows, batch) for x in item)
    if isinstance(item, list):
        return [_take_rows(x, rows, batch) for x in item]
    if isinstance(item, dict):
        return {k: _take_rows(v, rows, batch) for k, v in item.items()}
    return item


def rerun_layer(trace: LayerTrace, layer: int, rows: torch.Tensor, control: AttentionControl) -> torch.Tensor:
    """Layer ``layer`` rerun on the recorded input of batch rows ``rows`` under ``control``: [R, T, D]."""
    args, kwargs = trace.calls[layer]
    parts = trace.parts[layer]
    batch = trace.inputs[layer].shape[0]
    args = _take_rows(args, rows, batch)
    kwargs = {k: v if k in parts.shared_layer_arguments else _take_rows(v, rows, batch) for k, v in kwargs.items()}
    with attention_control(control, layer=layer):
        return first_tensor(parts.layer(*args, **kwargs))


def value_zeroing_layers(network: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                         batch_size: int = 256, max_tokens: int | None = None,
                         control: AttentionControl | None = None) -> torch.Tensor:
    """Row-normalised value-zeroing matrices of every layer: [B, L, T, T] (rows i, columns j).

    Only real tokens are zeroed and scored; padding rows and columns are zero. Each layer is
    rerun for every (example, token) pair, at most ``batch_size`` pairs and ``max_tokens``
    padded tokens at once.
    ``control`` (optional) intervenes on the model's attention in the original pass and
    in every rerun.
    """
    with torch.no_grad():
        trace = trace_layers(network, input_ids, attention_mask, keep_calls=True, control=control)
        batch, length = input_ids.shape
        example, token = attention_mask.nonzero(as_tuple=True)  # every real (example, token) pair
        real = attention_mask.to(trace.outputs[0].dtype)
        scores = torch.zeros(batch, trace.num_layers, length, length, dtype=real.dtype, device=real.device)
        chunk = rows_per_batch(length, cap=batch_size, max_tokens=max_tokens)
        for layer in range(trace.num_layers):
            original = trace.outputs[layer]
            for start in range(0, len(example), chunk):
                rows, zeroed = example[start:start + chunk], token[start:start + chunk]
                changed = rerun_layer(trace, layer, rows, ZeroValues(layer, zeroed, inner=control))
                scores[rows, layer, :, zeroed] = cosine_distance(changed, original[rows]) * real[rows]
        return normalise_rows(scores)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - cos(a, b)`` along the last axis, as ``||a/|a| - b/|b|||^2 / 2``.

    The two are equal, but the second keeps its precision when ``a`` and ``b`` are
    nearly parallel (``1 - cos`` would cancel to float rounding noise, ~1e-7), which
    is the usual case: zeroing one value vector moves a layer's output only a little.
    """
    unit_a = torch.nn.functional.normalize(a, dim=-1)
    unit_b = torch.nn.functional.normalize(b, dim=-1)
    return 0.5 * (unit_a - unit_b).square().sum(dim=-1)


def rollout_layers(matrices: torch.Tensor) -> torch.Tensor:
    """``M_L ... M_1`` of per-layer matrices [B, L, T, T] (Abnar & Zuidema's rollout, no residual term)."""
    result = matrices[:, 0]
    for layer in range(1, matrices.shape[1]):
        result = matrices[:, layer] @ result
    return result
