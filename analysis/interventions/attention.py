"""Change the attention, keep the input: one adapter layer over both model families.

Every model-side test (permutation and adversarial attention, Jain & Wallace 2019;
uniform attention, Wiegreffe & Pinter 2019; zeroing, Serrano & Smith 2019) is written
once against :class:`AttentionAdapter`:

- :class:`RNNAttentionAdapter` replaces ``AttentionRNN``'s distribution over its hidden
  states: the hidden states are the model's own, only the weights that pool them change
  (the model's ``attention_override``; edited variants reuse the hidden states of their
  example, which attention cannot affect).
- :class:`TransformerAttentionAdapter` rewrites the attention probabilities of chosen
  layers and heads inside the probe attention (:mod:`analysis.models.attention_probe`),
  so the residual stream, the value vectors and every other computation stay untouched.

An edit (:class:`AttentionEdit`) acts on attention rows over the key axis, one row per
(example, variant): permute the weights among the real tokens, zero some tokens and
renormalise, or replace the row by a uniform distribution. The same edit therefore
means the same thing for an RNN's single distribution and for every query row of a
transformer layer.

Interventions that silently do nothing are the classic failure here: SDPA and flash
kernels never expose the probabilities, so a hook on them has no effect. Every
transformer control counts the layers it actually changed and raises
:class:`InterventionError` when a requested layer was never reached.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from analysis.attention.tracing import LayersBelow
from analysis.models.attention_probe import AttentionControl, attention_control
from analysis.models.base import Encoded, TextClassifier, batch_token_budget, length_sorted_chunks


class InterventionError(RuntimeError):
    """An intervention cannot be applied, or would silently do nothing; the message says how to fix it."""


# ----------------------------------------------------------------------- distances
def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Total-variation distance 0.5 * sum |p - q| over the last axis (Jain & Wallace 2019)."""
    return 0.5 * (p - q).abs().sum(dim=-1)


def _relative_entropy(a: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """sum a * log(a / m) over the last axis, with 0 log 0 = 0 and finite gradients."""
    positive = a > 0
    a_safe = torch.where(positive, a, torch.ones_like(a))
    m_safe = torch.where(positive, m, torch.ones_like(m))
    return torch.where(positive, a * (a_safe.log() - m_safe.log()), torch.zeros_like(a)).sum(dim=-1)


def jensen_shannon(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence in nats (natural log, at most ln 2 = 0.693) over the last axis.

    Jain & Wallace's unit, and the project's everywhere (:mod:`analysis.stats.divergence`).
    """
    m = 0.5 * (p + q)
    return (0.5 * _relative_entropy(p, m) + 0.5 * _relative_entropy(q, m)).clamp_min(0.0)


# -------------------------------------------------------------------------- edits
def random_permutations(real: torch.Tensor, draws: int, generator: torch.Generator) -> torch.Tensor:
    """``draws`` permutations [draws, T] that shuffle the positions where ``real`` is True.

    Other positions (special tokens, padding) map to themselves. Position ``t`` of an
    edited row receives the weight of position ``perm[t]``. The random keys are drawn for the
    real positions only, so an example's permutations depend on its generator and its own
    length, not on how far the batch around it is padded.
    """
    real = real.cpu()
    width = real.shape[0]
    keys = torch.full((draws, width), 2.0)  # non-real positions sort last, in order
    keys[:, real] = torch.rand((draws, int(real.sum())), generator=generator)
    shuffled = torch.argsort(keys, dim=1, stable=True)
    ordered = torch.argsort((~real).to(torch.int8).expand(draws, width), dim=1, stable=True)
    permutation = torch.empty((draws, width), dtype=torch.long)
    permutation.scatter_(1, ordered, shuffled)
    return permutation


def _renormalise(weights: torch.Tensor) -> torch.Tensor:
    total = weights.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, weights / total.clamp_min(torch.finfo(weights.dtype).tiny), weights)


@dataclass(frozen=True)
class AttentionEdit:
    """A change to attention rows over the key axis; tensors have one row per edited sequence.

    Applied in this order: ``permutation`` [N, T] (position t gets the weight of
    position ``permutation[t]``), ``keep`` [N, T] (weights where it is False become 0,
    then every row is renormalised to sum to one; a row with nothing left stays zero),
    ``uniform`` (every row becomes uniform over the non-padding keys).
    """

    permutation: torch.Tensor | None = None
    keep: torch.Tensor | None = None
    uniform: bool = False

    def rows(self, index: torch.Tensor | slice) -> AttentionEdit:
        return AttentionEdit(
            None if self.permutation is None else self.permutation[index],
            None if self.keep is None else self.keep[index],
            self.uniform,
        )

    def trim(self, width: int, device: torch.device) -> AttentionEdit:
        """Restrict to the first ``width`` keys (padding beyond maps to itself, so nothing is lost)."""
        return AttentionEdit(
            None if self.permutation is None else self.permutation[:, :width].to(device),
            None if self.keep is None else self.keep[:, :width].to(device),
            self.uniform,
        )

    def apply(self, weights: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Edited copy of ``weights`` [N, ..., T]; ``valid`` [N, T] marks non-padding keys."""
        shape = (weights.shape[0],) + (1,) * (weights.dim() - 2) + (weights.shape[-1],)
        out = weights
        if self.permutation is not None:
            out = out.gather(-1, self.permutation.view(shape).expand_as(out))
        if self.keep is not None:
            out = _renormalise(out * self.keep.view(shape).to(out.dtype))
        if self.uniform:
            uniform = valid.to(out.dtype)
            uniform = uniform / uniform.sum(dim=-1, keepdim=True).clamp_min(1.0)
            out = uniform.view(shape).expand_as(weights)
        return out


# ----------------------------------------------------------------------- adapters
@dataclass
class Reference:
    """The unedited model on a batch: output probabilities [B, C] and explanation attention [B, T].

    ``attention`` is the distribution a reader is shown: an RNN's attention, or a
    transformer's [CLS] row in the last intervened layer averaged over the intervened heads.
    """

    probs: torch.Tensor
    attention: torch.Tensor

    @property
    def predicted(self) -> torch.Tensor:
        return self.probs.argmax(dim=-1)


@contextlib.contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[None]:
    """Parameters stop requiring gradients inside the block, so only the edited path builds a graph."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


class AttentionAdapter(ABC):
    """Runs a model with edited attention; counts the forward passes it spends.

    ``forward_passes`` counts sequences run through the model (a backward pass through
    the edited path counts as one more), the cost unit every test reports per example.
    """

    kind: str

    def __init__(self, model: TextClassifier, *, batch_size: int = 256) -> None:
        self.model = model
        self.batch_size = int(batch_size)
        self.forward_passes = 0

    # -- what each family implements
    @abstractmethod
    def _reference_chunk(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [n, C], explanation attention [n, T]) of unedited sequences."""

    @abstractmethod
    def _edited_logits(self, ids: torch.Tensor, mask: torch.Tensor, edit: AttentionEdit,
                       layers: Sequence[int] | None) -> torch.Tensor:
        """Logits [n, C] with ``edit`` applied (in ``layers`` for a transformer; None = the scope)."""

    @abstractmethod
    def _distribution_chunk(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The distribution the adversarial search replaces: [n, T] (RNN) or [n, H, T] (transformer)."""

    @abstractmethod
    def logits_with_distribution(self, ids: torch.Tensor, mask: torch.Tensor, distribution: torch.Tensor) -> torch.Tensor:
        """Logits [n, C] with the adversarial distribution in place (differentiable w.r.t. it)."""

    def distribution_forward(self, ids: torch.Tensor, mask: torch.Tensor):
        """A function distribution -> logits for fixed sequences, for the many steps of the adversarial search.

        Families may precompute whatever does not depend on the distribution.
        """
        return lambda distribution: self.logits_with_distribution(ids, mask, distribution)

    def uniform_scopes(self) -> list[tuple[str, tuple[int, ...] | None]]:
        """(label, layers) of the uniform-attention replacements this model gets."""
        return [("attention", None)]

    def describe(self) -> dict[str, object]:
        """The intervention scope, recorded in the output tables."""
        return {"kind": self.kind}

    @staticmethod
    def explained(distribution: torch.Tensor) -> torch.Tensor:
        """[N, T] view of an adversarial distribution: the head mean for a transformer."""
        return distribution.mean(dim=1) if distribution.dim() == 3 else distribution

    # -- shared machinery
    def token_budget(self) -> int | None:
        """Padded tokens per chunk (None: only ``batch_size`` rows bound it)."""
        return None

    def chunks(self, encoded: Encoded, rows: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(positions in ``rows``, ids, mask) in chunks of at most ``batch_size`` rows and
        :meth:`token_budget` padded tokens, each trimmed to its longest sequence.

        Rows are taken in order of length, then example, so a chunk pads little and the
        variants of one example sit side by side (an RNN encodes each distinct example once
        per chunk).
        """
        rows = torch.as_tensor(rows, dtype=torch.long)
        lengths = encoded.attention_mask.sum(dim=1).cpu()[rows].numpy()
        by_length = torch.as_tensor(np.lexsort((rows.numpy(), lengths)), dtype=torch.long)
        device = self.model.device
        for chunk in length_sorted_chunks(lengths[by_length], cap=self.batch_size, max_tokens=self.token_budget()):
            part = by_length[torch.as_tensor(chunk, dtype=torch.long)]
            index = rows[part]
            width = max(1, int(lengths[part].max()))
            yield part, encoded.input_ids[index, :width].to(device), encoded.attention_mask[index, :width].to(device)

    @torch.no_grad()
    def reference(self, encoded: Encoded) -> Reference:
        """Probabilities and explanation attention of the unedited batch (padded to its full width)."""
        rows = torch.arange(len(encoded))
        probs = torch.empty((len(rows), self.model.num_labels), dtype=torch.float64)
        attention = torch.zeros(encoded.input_ids.shape, dtype=torch.float64)
        for part, ids, mask in self.chunks(encoded, rows):
            logits, weights = self._reference_chunk(ids, mask)
            probs[part] = torch.softmax(logits.double(), dim=-1).cpu()
            attention[part, : weights.shape[-1]] = weights.double().cpu()
        self.forward_passes += len(rows)
        return Reference(probs, attention)

    @torch.no_grad()
    def run(self, encoded: Encoded, rows: torch.Tensor, edit: AttentionEdit, *,
            layers: Sequence[int] | None = None) -> torch.Tensor:
        """Output probabilities [N, C] of example ``rows[i]`` under edit row ``i``, batched."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        out = torch.empty((len(rows), self.model.num_labels), dtype=torch.float64)
        for part, ids, mask in self.chunks(encoded, rows):
            chunk_edit = edit.rows(part).trim(ids.shape[1], ids.device)
            logits = self._edited_logits(ids, mask, chunk_edit, layers)
            out[part] = torch.softmax(logits.double(), dim=-1).cpu()
        self.forward_passes += len(rows)
        return out

    @torch.no_grad()
    def distribution(self, encoded: Encoded) -> torch.Tensor:
        """The distributions the adversarial search starts from, padded to the batch width."""
        rows = torch.arange(len(encoded))
        out = None
        for part, ids, mask in self.chunks(encoded, rows):
            chunk = self._distribution_chunk(ids, mask).double().cpu()
            if out is None:  # [N, T] (RNN) or [N, H, T] (transformer)
                out = torch.zeros((len(rows), *chunk.shape[1:-1], encoded.input_ids.shape[1]), dtype=torch.float64)
            out[part, ..., : chunk.shape[-1]] = chunk
        self.forward_passes += len(rows)
        return out


class RNNAttentionAdapter(AttentionAdapter):
    """Jain & Wallace RNNs: the new distribution replaces the attention over hidden states.

    An RNN's hidden states do not depend on its attention, so they are computed once per
    distinct example and every edited variant only re-runs the attention-weighted sum and
    the classifier (:meth:`head`); the model is in eval mode, so dropout is the identity.
    :meth:`logits_with_distribution` instead runs the model's own forward pass with
    ``attention_override``: the adversarial search re-checks its solutions through it,
    and a test checks that both paths agree.
    """

    kind = "rnn"

    def __init__(self, model: TextClassifier, *, batch_size: int = 256) -> None:
        super().__init__(model, batch_size=batch_size)
        if model.module.training:
            raise InterventionError("the RNN is in training mode (dropout on); interventions need model.module.eval()")

    def head(self, hidden: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Logits from hidden states [n, T, D] and attention [n, T]: the tail of ``AttentionRNN.forward``."""
        context = torch.einsum("bt,btd->bd", attention.to(hidden.dtype), hidden)
        return self.model.module.classifier(context)

    def _distinct(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(hidden states, attention) of each distinct consecutive sequence, and each row's index into them."""
        distinct, inverse = torch.unique_consecutive(ids, dim=0, return_inverse=True)
        first = torch.zeros(len(distinct), dtype=torch.long, device=ids.device).scatter_reduce(
            0, inverse, torch.arange(len(ids), device=ids.device), reduce="amin", include_self=False)
        network = self.model.module
        hidden = network.encode(self.model.embed(ids[first]), mask[first])
        return hidden, network.attend(hidden, mask[first]), inverse

    def _reference_chunk(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.module(self.model.embed(ids), mask)

    def _edited_logits(self, ids: torch.Tensor, mask: torch.Tensor, edit: AttentionEdit,
                       layers: Sequence[int] | None) -> torch.Tensor:
        hidden, attention, inverse = self._distinct(ids, mask)
        return self.head(hidden[inverse], edit.apply(attention[inverse], mask.bool()))

    def _distribution_chunk(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model.module(self.model.embed(ids), mask)[1]

    def distribution_forward(self, ids: torch.Tensor, mask: torch.Tensor):
        hidden, _, inverse = self._distinct(ids, mask)
        hidden = hidden[inverse].detach()
        return lambda distribution: self.head(hidden, distribution)

    def logits_with_distribution(self, ids: torch.Tensor, mask: torch.Tensor, distribution: torch.Tensor) -> torch.Tensor:
        embeddings = self.model.embed(ids).detach()
        return self.model.logits_from_embeddings(embeddings, mask, attention_override=distribution)


class _LayerControl(AttentionControl):
    """Acts on chosen layers and heads; remembers which layers it actually reached."""

    def __init__(self, layers: Sequence[int], heads: Sequence[int] | None) -> None:
        self.layers = frozenset(int(layer) for layer in layers)
        self.heads = None if heads is None else tuple(int(h) for h in heads)
        self.calls: Counter[int] = Counter()

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        if layer not in self.layers:
            return probs
        self.calls[layer] += 1
        return self.change(layer, probs)

    def change(self, layer: int, probs: torch.Tensor) -> torch.Tensor:
        return probs

    def head_index(self, n_heads: int) -> list[int]:
        if self.heads is None:
            return list(range(n_heads))
        bad = [h for h in self.heads if not 0 <= h < n_heads]
        if bad:
            raise InterventionError(
                f"interventions.heads: head(s) {bad} do not exist; the model has {n_heads} heads per layer "
                f"(0..{n_heads - 1}); set heads to null for all heads"
            )
        return list(self.heads)

    def only_heads(self, probs: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        if self.heads is None:
            return edited
        chosen = torch.zeros(probs.shape[1], dtype=torch.bool, device=probs.device)
        chosen[self.head_index(probs.shape[1])] = True
        return torch.where(chosen.view(1, -1, 1, 1), edited, probs)

    def verify(self, model: TextClassifier) -> None:
        """Raise when a requested layer never passed through the control (the edit did nothing)."""
        missing = sorted(self.layers - set(self.calls))
        if missing:
            implementation = getattr(getattr(model.module, "config", None), "_attn_implementation", "unknown")
            raise InterventionError(
                f"the attention intervention never reached layer(s) {missing}: the model runs attention "
                f"implementation {implementation!r}, which bypasses the probe attention, so the edit would silently "
                f"do nothing (as hooks do under SDPA or flash kernels). Load the model with "
                f"analysis.models.load_model, which switches it to the probe attention."
            )


class _EditControl(_LayerControl):
    def __init__(self, layers: Sequence[int], heads: Sequence[int] | None, edit: AttentionEdit,
                 valid: torch.Tensor) -> None:
        super().__init__(layers, heads)
        self.edit = edit
        self.valid = valid

    def change(self, layer: int, probs: torch.Tensor) -> torch.Tensor:
        return self.only_heads(probs, self.edit.apply(probs, self.valid))


class _RecordRow(_LayerControl):
    """Reads the attention row of one query position in one layer (chosen heads); changes nothing."""

    def __init__(self, layer: int, heads: Sequence[int] | None, position: int) -> None:
        super().__init__([layer], heads)
        self.position = position
        self.row: torch.Tensor | None = None

    def change(self, layer: int, probs: torch.Tensor) -> torch.Tensor:
        self.row = probs[:, self.head_index(probs.shape[1]), self.position, :]
        return probs


class _ReplaceRow(_LayerControl):
    """Puts a given distribution [n, H_chosen, T] into one query row of one layer."""

    def __init__(self, layer: int, heads: Sequence[int] | None, position: int, distribution: torch.Tensor) -> None:
        super().__init__([layer], heads)
        self.position = position
        self.distribution = distribution

    def change(self, layer: int, probs: torch.Tensor) -> torch.Tensor:
        heads = self.head_index(probs.shape[1])
        out = probs.clone()
        out[:, heads, self.position, :] = self.distribution.to(probs.dtype)
        return out


def resolve_layers(layers: Sequence[int] | None, n_layers: int, *, key: str = "interventions.layers") -> list[int]:
    """0-based layer indices (negative ones count from the last); None means every layer."""
    if layers is None:
        return list(range(n_layers))
    resolved = []
    for layer in layers:
        index = int(layer) + n_layers if int(layer) < 0 else int(layer)
        if not 0 <= index < n_layers:
            raise InterventionError(
                f"{key}: layer {layer} does not exist; the model has {n_layers} layers (0..{n_layers - 1}, "
                f"or -1..-{n_layers} from the last); set it to null for every layer"
            )
        resolved.append(index)
    if not resolved:
        raise InterventionError(f"{key} is empty; name at least one layer or set it to null for every layer")
    return sorted(set(resolved))


class TransformerAttentionAdapter(AttentionAdapter):
    """Transformers: edits replace the attention probabilities of chosen layers and heads (probe attention).

    ``layers`` (None = all) and ``heads`` (None = all) bound every edit; the explanation
    attention is the [CLS] row of the last of those layers, averaged over the heads. The
    adversarial search replaces the [CLS] row of ``adversarial_layer`` (default the last
    layer, whose other rows cannot reach the classifier).
    """

    kind = "transformer"

    def __init__(self, model: TextClassifier, *, layers: Sequence[int] | None = None,
                 heads: Sequence[int] | None = None, adversarial_layer: int = -1, batch_size: int = 256) -> None:
        super().__init__(model, batch_size=batch_size)
        n_layers = int(model.num_layers)
        self.layers = resolve_layers(layers, n_layers)
        self.heads = None if heads is None else [int(h) for h in heads]
        if self.heads is not None and not self.heads:
            raise InterventionError("interventions.heads is empty; name at least one head or set it to null")
        self.adversarial_layer = resolve_layers([adversarial_layer], n_layers,
                                                key="interventions.adversarial.layer")[0]
        self.explanation_layer = max(self.layers)
        self.position = int(model.classification_position)

    def token_budget(self) -> int | None:
        """A transformer's pass costs per padded token; on a CPU larger batches are also slower per token."""
        return batch_token_budget(self.model.device, "auto")

    def _forward(self, control: _LayerControl, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with attention_control(control):
            logits = self.model.logits(ids, mask)
        control.verify(self.model)
        return logits

    def _reference_chunk(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        record = _RecordRow(self.explanation_layer, self.heads, self.position)
        logits = self._forward(record, ids, mask)
        return logits, record.row.mean(dim=1)

    def _edited_logits(self, ids: torch.Tensor, mask: torch.Tensor, edit: AttentionEdit,
                       layers: Sequence[int] | None) -> torch.Tensor:
        control = _EditControl(self.layers if layers is None else layers, self.heads, edit, mask.bool())
        return self._forward(control, ids, mask)

    def _distribution_chunk(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        record = _RecordRow(self.adversarial_layer, self.heads, self.position)
        self._forward(record, ids, mask)
        return record.row

    def logits_with_distribution(self, ids: torch.Tensor, mask: torch.Tensor, distribution: torch.Tensor) -> torch.Tensor:
        control = _ReplaceRow(self.adversarial_layer, self.heads, self.position, distribution)
        return self._forward(control, ids, mask)

    def distribution_forward(self, ids: torch.Tensor, mask: torch.Tensor):
        """The layers below the adversarial layer run once; each call runs only it and the layers above.

        The same logits as :meth:`logits_with_distribution` (the layers that run get the
        same inputs), at a fraction of the cost when the adversarial layer is the last.
        """
        below = LayersBelow(self.model.module, ids, mask, self.adversarial_layer)

        def forward(distribution: torch.Tensor) -> torch.Tensor:
            with below.replay():
                return self.logits_with_distribution(ids, mask, distribution)

        return forward

    def uniform_scopes(self) -> list[tuple[str, tuple[int, ...] | None]]:
        scopes: list[tuple[str, tuple[int, ...] | None]] = [(f"layer {layer}", (layer,)) for layer in self.layers]
        if len(self.layers) > 1:
            scopes.append(("all intervened layers", None))
        return scopes

    def describe(self) -> dict[str, object]:
        """The intervention scope, recorded in the output tables; the report says the same in words
        (:func:`analysis.interventions.report_section.scope_sentences`, from the same settings)."""
        return {"kind": self.kind, "layers": self.layers, "heads": self.heads or "all",
                "explanation_layer": self.explanation_layer, "adversarial_layer": self.adversarial_layer,
                "query_rows": "all (adversarial: [CLS] row)"}


def make_adapter(model: TextClassifier, *, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                 adversarial_layer: int = -1, batch_size: int = 256) -> AttentionAdapter:
    """The adapter for ``model``'s kind (``layers`` and ``heads`` apply to transformers only)."""
    if model.kind == "rnn":
        return RNNAttentionAdapter(model, batch_size=batch_size)
    if model.kind == "transformer":
        return TransformerAttentionAdapter(model, layers=layers, heads=heads, adversarial_layer=adversarial_layer,
                                           batch_size=batch_size)
    raise InterventionError(f"no attention adapter for model kind {model.kind!r}; known kinds: rnn, transformer")
