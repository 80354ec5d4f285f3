"""Attention flow (Abnar & Zuidema 2020, *Quantifying Attention Flow in Transformers*).

The layers form a graph: node ``(l, i)`` is token ``i`` after layer ``l`` (``l = 0`` is the
input), and an edge ``(l-1, j) -> (l, i)`` has capacity ``A'_l[i, j]``, the
residual-adjusted head-mean attention of rollout (``0.5 * A + 0.5 * I``, rows
renormalised). The flow of input token ``j`` is the maximum flow from ``(0, j)`` to the
classification node ``(L, [CLS])``. Unlike rollout, which multiplies attention along
every path, flow is limited by the narrowest cut, so it spreads importance more evenly.
When [CLS] attends mostly to itself above the first layer (MiniLM on SST-2: 0.82-0.97 in
layers 2-5) the narrowest cut is the edges into the [CLS] column, the same for every
token but for its first-layer edge, so flow is a per-example constant plus
``A'_1[CLS, j]`` and ranks tokens as the first layer's [CLS] attention does
(``tests/test_flow_reference.py``).

Words: the flow of a word split into several subword tokens is the maximum flow from all of
its tokens at once (a source feeding ``(0, j)`` for each of its tokens ``j``) to the
classification node, not the sum of its tokens' flows: flows share the cuts they pass, so
their sum counts the same capacity once per subword (in MiniLM, whose token flows are
nearly equal, a sum ranks words by their number of subwords). :func:`attention_flow`
returns each word's flow on every one of its tokens, to be pooled with
:data:`WORD_POOLING`; special tokens get 0 (they are no word and are never ranked).

Implementation (the reference code calls networkx once per token and is slow): the
graph of an example is built once as a sparse matrix, only the top layer's edges into
[CLS] are kept (no other top-layer edge can carry flow to it), and each token's flow
is one call of SciPy's Dinic solver (C code); a word of several tokens adds a source node
with an edge of capacity 1 (never binding: at most 1 reaches [CLS]) to each of its tokens.
SciPy needs integer capacities of at most 32 bits, so capacities are scaled by
``2**resolution_bits`` and rounded down; the
computed flow is then at most the true one and short of it by at most
``(edges in the minimum cut) * 2**-resolution_bits`` (about 1e-8 per cut edge by default;
the tests compare with networkx on real-valued capacities). Examples longer than
``max_tokens`` get NaN scores (counted and logged as skipped, never approximated), and
flows are memoised by the quantised graph, so the same example under the same model
is solved once per process.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import maximum_flow

from analysis.attention.methods import residual_adjusted

log = logging.getLogger(__name__)

MAX_RESOLUTION_BITS = 30  # capacities and flows (at most 1 after scaling by 2**bits) must fit in int32
WORD_POOLING = "first"
"""How :func:`attention_flow`'s token scores become word scores: every token of a word carries the word's flow."""


def flow_graph(capacities: np.ndarray, *, sink_position: int = 0, resolution_bits: int = 28) -> sp.csr_array:
    """The layered graph of one example as an integer CSR matrix.

    ``capacities`` [L, n, n] (row i, column j: into ``(l+1, i)`` from ``(l, j)``) over the
    example's ``n`` real tokens. Node ``l * n + i`` is ``(l, i)``. In the top layer only
    the edges into ``(L, sink_position)`` are kept.
    """
    n_layers, n, _ = capacities.shape
    scaled = np.floor(np.asarray(capacities, dtype=np.float64) * 2.0**resolution_bits).astype(np.int64)
    scaled[-1, np.arange(n) != sink_position, :] = 0
    if scaled.max(initial=0) > np.iinfo(np.int32).max:
        raise ValueError(f"capacities above 1 do not fit resolution_bits={resolution_bits}; lower it")
    layer, target, source = np.nonzero(scaled)
    rows = layer * n + source
    cols = (layer + 1) * n + target
    size = (n_layers + 1) * n
    return sp.csr_array((scaled[layer, target, source].astype(np.int32), (rows, cols)), shape=(size, size))


def token_flows(capacities: np.ndarray, *, sink_position: int = 0, resolution_bits: int = 28) -> np.ndarray:
    """Maximum flow from every input token to ``(L, sink_position)``: [n]."""
    n_layers, n, _ = capacities.shape
    graph = flow_graph(capacities, sink_position=sink_position, resolution_bits=resolution_bits)
    sink = n_layers * n + sink_position
    flows = np.array([maximum_flow(graph, j, sink, method="dinic").flow_value for j in range(n)], dtype=np.float64)
    return flows / 2.0**resolution_bits


def word_flows(capacities: np.ndarray, words: np.ndarray, *, sink_position: int = 0,
               resolution_bits: int = 28) -> np.ndarray:
    """Maximum flow from all tokens of each word at once to ``(L, sink_position)``, on each of its tokens: [n].

    ``words`` [n]: the word of each token (``-1``: a special token, which gets 0). A one-token
    word's flow is its token's flow; a word of several tokens gets a source node with an edge to
    each of its tokens (capacity 1, which never binds: at most 1 reaches the sink).
    """
    n_layers, n, _ = capacities.shape
    graph = flow_graph(capacities, sink_position=sink_position, resolution_bits=resolution_bits)
    sink, source = n_layers * n + sink_position, (n_layers + 1) * n
    edges = graph.tocoo()
    flows = np.zeros(n, dtype=np.float64)
    for word in np.unique(words[words >= 0]):
        tokens = np.flatnonzero(words == word)
        if len(tokens) == 1:
            value = maximum_flow(graph, int(tokens[0]), sink, method="dinic").flow_value
        else:  # the same graph with a source node feeding the word's tokens
            with_source = sp.csr_array((
                np.concatenate([edges.data, np.full(len(tokens), 2**resolution_bits, dtype=np.int32)]),
                (np.concatenate([edges.row, np.full(len(tokens), source)]), np.concatenate([edges.col, tokens]))),
                shape=(source + 1, source + 1))
            value = maximum_flow(with_source, source, sink, method="dinic").flow_value
        flows[tokens] = value
    return flows / 2.0**resolution_bits


@dataclass
class FlowCache:
    """Flows memoised by the quantised capacities of an example (bounded, least recently used first out)."""

    max_entries: int = 4096
    hits: int = 0
    misses: int = 0
    _entries: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict)

    @staticmethod
    def key(capacities: np.ndarray, sink_position: int, resolution_bits: int, words: np.ndarray) -> str:
        quantised = np.floor(capacities * 2.0**resolution_bits).astype(np.int64)
        digest = hashlib.sha1(quantised.tobytes())
        digest.update(np.asarray(words, dtype=np.int64).tobytes())
        digest.update(repr((quantised.shape, sink_position, resolution_bits)).encode())
        return digest.hexdigest()

    def get(self, key: str) -> np.ndarray | None:
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: np.ndarray) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


FLOW_CACHE = FlowCache()


@dataclass
class FlowResult:
    """Flows of a batch [B, T] (NaN rows: skipped), and what they cost."""

    scores: torch.Tensor
    skipped: int
    seconds: float
    max_flow_calls: int


def attention_flow(maps: torch.Tensor, attention_mask: torch.Tensor, word_index: torch.Tensor, *,
                   residual_weight: float = 0.5, max_tokens: int = 128, sink_position: int = 0,
                   resolution_bits: int = 28, cache: FlowCache | None = FLOW_CACHE) -> FlowResult:
    """Attention flow of every word of a padded batch, from attention maps [B, L, H, T, T].

    Scores [B, T]: each word's flow on every one of its tokens (``word_index``, pooled with
    :data:`WORD_POOLING`); special tokens and padding get 0. Rows of examples with more than
    ``max_tokens`` real tokens are NaN.
    """
    if not 1 <= resolution_bits <= MAX_RESOLUTION_BITS:
        raise ValueError(f"resolution_bits must lie in [1, {MAX_RESOLUTION_BITS}], got {resolution_bits}")
    start = time.perf_counter()
    adjusted = residual_adjusted(maps.double(), residual_weight=residual_weight).cpu().numpy()
    mask = attention_mask.bool().cpu().numpy()
    word_of = word_index.cpu().numpy()
    scores = np.zeros(mask.shape, dtype=np.float64)
    skipped = calls = 0
    for row in range(mask.shape[0]):
        real = np.flatnonzero(mask[row])
        if len(real) > max_tokens:
            scores[row] = np.nan
            skipped += 1
            continue
        capacities = adjusted[row][:, real][:, :, real]
        words = word_of[row, real]
        sink = int(np.searchsorted(real, sink_position))
        key = FlowCache.key(capacities, sink, resolution_bits, words) if cache is not None else ""
        flows = cache.get(key) if cache is not None else None
        if flows is None:
            flows = word_flows(capacities, words, sink_position=sink, resolution_bits=resolution_bits)
            calls += len(np.unique(words[words >= 0]))
            if cache is not None:
                cache.put(key, flows)
        scores[row, real] = flows
    return FlowResult(torch.as_tensor(scores), skipped, time.perf_counter() - start, calls)
