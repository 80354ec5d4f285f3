"""One forward pass that records what attention decompositions need, layer by layer.

Probabilities and value vectors come from the probe attention (an
:class:`~analysis.models.attention_probe.AttentionControl`), which works for every
encoder family; layer inputs and outputs, the output projection's output and the
attention block's output come from forward hooks on the modules that the family adapter
(:mod:`analysis.models.family_adapters`) names. A module that runs as several layers
(ALBERT's shared layer) is hooked once, and its calls are assigned to its layers in
forward order. The trace can also keep each layer's call arguments, so value zeroing can
rerun one layer on its recorded input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from analysis.models.attention_probe import AttentionControl, attention_control, skip_call
from analysis.models.family_adapters import LayerParts, encoder_layers


@dataclass
class LayerTrace:
    """Per-layer tensors of one forward pass over a padded batch (lists indexed by layer).

    ``inputs[l]`` / ``outputs[l]``: hidden states entering / leaving layer ``l`` [B, T, D];
    ``probabilities[l]``: attention [B, H, T, T]; ``values[l]``: value vectors
    ``x' W_V + b_V`` per head [B, H, T, Dh] (``x' = x``, or ``LN(x)`` in a pre-LN family);
    ``updates[l]``: the output projection's output ``W_O attention + b_O`` [B, T, D];
    ``attention_outputs[l]``: the attention block's output with the residual, post-LN
    ``LN(x + W_O attention(x) + b_O)``, pre-LN ``x + W_O attention(LN(x)) + b_O`` [B, T, D];
    ``calls[l]``: the positional and keyword arguments layer ``l`` was called with (when kept).
    """

    parts: list[LayerParts]
    logits: torch.Tensor
    inputs: list[torch.Tensor] = field(default_factory=list)
    outputs: list[torch.Tensor] = field(default_factory=list)
    probabilities: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    updates: list[torch.Tensor] = field(default_factory=list)
    attention_outputs: list[torch.Tensor] = field(default_factory=list)
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        return len(self.parts)


class _Recorder(AttentionControl):
    """Keeps every layer's probabilities and values as ``inner`` (if any) leaves them."""

    def __init__(self, inner: AttentionControl | None = None) -> None:
        self.inner = inner
        self.probs_by_layer: dict[int, torch.Tensor] = {}
        self.values_by_layer: dict[int, torch.Tensor] = {}

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        if self.inner is not None:
            probs = self.inner.probabilities(layer, probs, module)
        self.probs_by_layer[layer] = probs
        return probs

    def values(self, layer: int, value: torch.Tensor, module: nn.Module) -> torch.Tensor:
        if self.inner is not None:
            value = self.inner.values(layer, value, module)
        self.values_by_layer[layer] = value
        return value


def first_tensor(output: Any) -> torch.Tensor:
    """A module's main output: the tensor itself, or the first element of a tuple."""
    return output if isinstance(output, torch.Tensor) else output[0]


def _by_module(parts: list[LayerParts], attribute: str) -> list[tuple[nn.Module, list[int]]]:
    """Each distinct module named ``attribute`` in ``parts``, with the layers it runs as (in forward order)."""
    found: dict[int, tuple[nn.Module, list[int]]] = {}
    for p in parts:
        module = getattr(p, attribute)
        found.setdefault(id(module), (module, []))[1].append(p.index)
    return list(found.values())


class _Layers:
    """Which layer the next call of a hooked module runs as (its calls are counted in forward order)."""

    def __init__(self, module: nn.Module, layers: list[int]) -> None:
        self.module, self.layers, self.calls = module, layers, 0

    def next(self) -> int:
        if self.calls >= len(self.layers):
            raise RuntimeError(f"{type(self.module).__name__} ran more often than the {len(self.layers)} layer(s) the "
                               "family's layout lists for it; the layout's layer order is wrong")
        self.calls += 1
        return self.layers[self.calls - 1]


@contextlib.contextmanager
def _hooks(parts: list[LayerParts], trace: LayerTrace, keep_calls: bool) -> Iterator[None]:
    handles = []
    pre_ln = {p.index: p.layer_norm == "pre" for p in parts}

    def before(counter: _Layers):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            index = counter.next()
            trace.inputs[index] = args[0] if args else kwargs["hidden_states"]
            if keep_calls:
                trace.calls[index] = (args, dict(kwargs))
        return hook

    def after(counter: _Layers, target: list):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            target[counter.next()] = first_tensor(output)
        return hook

    def update(counter: _Layers):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            index = counter.next()
            trace.updates[index] = output
            if pre_ln[index]:  # the block's output is the residual stream after the attention update
                trace.attention_outputs[index] = trace.inputs[index] + output
        return hook

    try:
        for module, layers in _by_module(parts, "layer"):
            handles.append(module.register_forward_pre_hook(before(_Layers(module, layers)), with_kwargs=True))
            handles.append(module.register_forward_hook(after(_Layers(module, layers), trace.outputs)))
        for module, layers in _by_module(parts, "output_projection"):
            handles.append(module.register_forward_hook(update(_Layers(module, layers))))
        post = [p for p in parts if p.layer_norm == "post"]
        for module, layers in _by_module(post, "attention_layer_norm"):
            handles.append(module.register_forward_hook(after(_Layers(module, layers), trace.attention_outputs)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def trace_layers(network: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                 keep_calls: bool = False, inputs_embeds: torch.Tensor | None = None,
                 control: AttentionControl | None = None) -> LayerTrace:
    """Run ``network`` (a Hugging Face encoder classifier) once and record every layer.

    ``control`` (optional) intervenes on attention during the pass (e.g. a permutation
    from the causal tests); the trace records the attention as changed by it.
    Gradients flow only if the caller enables them; usually wrap the call in
    ``torch.no_grad()``.
    """
    parts = encoder_layers(network)
    n = len(parts)
    trace = LayerTrace(parts=parts, logits=torch.empty(0), inputs=[None] * n, outputs=[None] * n,
                       updates=[None] * n, attention_outputs=[None] * n, calls=[None] * n if keep_calls else [])
    recorder = _Recorder(control)
    with _hooks(parts, trace, keep_calls), attention_control(recorder):
        if inputs_embeds is not None:
            out = network(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        else:
            out = network(input_ids=input_ids, attention_mask=attention_mask)
    trace.logits = out.logits
    missing = [i for i in range(n) if trace.inputs[i] is None or trace.attention_outputs[i] is None
               or i not in recorder.probs_by_layer or i not in recorder.values_by_layer]
    if missing:
        raise RuntimeError(f"layers {missing} of {type(network).__name__} were not traced; the family adapter's "
                           "modules are not the ones the forward pass runs")
    trace.probabilities = [recorder.probs_by_layer[i] for i in range(n)]
    trace.values = [recorder.values_by_layer[i] for i in range(n)]
    return trace


def head_output_vectors(value: torch.Tensor, projection: nn.Linear) -> torch.Tensor:
    """``f_h(x_j) = W_O^h (x_j W_V^h + b_V^h)`` for every head and token: [B, H, T, D].

    ``value`` is [B, H, T, Dh]; heads are concatenated head-major before ``W_O`` (as
    every supported family does), so head ``h`` owns input columns ``h*Dh:(h+1)*Dh``.
    The output bias ``b_O`` belongs to no token and is left out (Kobayashi et al. 2020).
    """
    _, heads, _, head_dim = value.shape
    weight = projection.weight.view(projection.weight.shape[0], heads, head_dim)  # [D, H, Dh]
    return torch.einsum("bhtd,ehd->bhte", value, weight)


class LayersBelow:
    """The outputs of the layers below ``layer`` for a fixed batch, recorded once and replayed.

    Many passes that change attention only in layer ``layer`` and above (the adversarial
    search's steps) compute the same layers below it every time. :meth:`replay` runs the
    model with those layers answering from the recording: their modules return what they
    returned in the recorded pass, without computing, and every other layer runs. The
    embeddings and the classifier head still run, so the model's own forward is used
    unchanged; the layers that run see exactly the inputs they see in a full pass, so the
    outputs are the same. A module that runs as several layers (ALBERT's shared layer)
    answers from the recording for its calls below ``layer`` only.
    """

    def __init__(self, network: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int) -> None:
        self.layer = int(layer)
        self.parts = encoder_layers(network)
        self.recorded: dict[int, Any] = {}
        handles = []

        def record(counter: _Layers):
            def hook(module: nn.Module, args: tuple, output: Any) -> None:
                index = counter.next()
                if index < self.layer:
                    self.recorded[index] = output
            return hook

        try:
            for module, layers in _by_module(self.parts, "layer"):
                handles.append(module.register_forward_hook(record(_Layers(module, layers))))
            # recorded on the eager path (a no-op control), the path of the passes it stands in for, which
            # change attention: the replay then gives their outputs exactly, not up to the fused kernel's rounding
            with torch.no_grad(), attention_control(AttentionControl()):
                network(input_ids=input_ids, attention_mask=attention_mask)
        finally:
            for handle in handles:
                handle.remove()
        missing = sorted(set(range(self.layer)) - set(self.recorded))
        if missing:
            raise RuntimeError(f"layers {missing} of {type(network).__name__} were not recorded; the family adapter's "
                               "modules are not the ones the forward pass runs")

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        """Within the block, the layers below ``layer`` return their recorded outputs instead of running."""
        patched = []
        for module, layers in _by_module(self.parts, "layer"):
            if min(layers) >= self.layer:
                continue
            counter, run = _Layers(module, layers), module.forward

            def forward(*args: Any, _counter: _Layers = counter, _run: Any = run, **kwargs: Any) -> Any:
                index = _counter.next()
                if index >= self.layer:
                    return _run(*args, **kwargs)
                skip_call(self.parts[index].self_attention)
                return self.recorded[index]

            patched.append((module, module.__dict__.get("forward")))
            module.forward = forward
        try:
            yield
        finally:
            for module, own in patched:
                if own is None:
                    del module.forward  # the class's forward again
                else:
                    module.forward = own
