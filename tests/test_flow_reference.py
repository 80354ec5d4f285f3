"""Attention flow and rollout, end to end, against independent references (Abnar & Zuidema 2020).

The references are written from the paper and its public code (``get_adjmat``,
``compute_flows`` and ``compute_joint_attention`` in samiraabnar/attention_flow) and share
nothing with :mod:`analysis.attention`: head means and the residual adjustment in NumPy
(the reference code's ``A + I`` with rows renormalised, which is ``0.5 A + 0.5 I`` for
row-stochastic ``A``), the layered
graph in networkx with real-valued capacities and every edge kept, and the [CLS] node of
the last layer as the sink. A word's flow is the maximum flow from a source feeding all of
its subword tokens (flows share cuts: they do not add up over subwords). The project's
methods are run as the engine runs them: from a padded attention tensor [B, L, H, T, T]
with [CLS], [SEP] and padding, through ``explain`` and the engine's subword -> word pooling.

Tolerance: flow.py scales capacities by ``2**resolution_bits`` and rounds down, so its
flow is never above the true one and short of it by at most ``(edges in the minimum cut)
* 2**-resolution_bits``; no cut has more edges than the graph, ``L * n**2``, which bounds
the error of a word's flow (one maximum flow, whatever its number of tokens).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from conftest import make_batch

from analysis.attention.flow import token_flows
from analysis.importance import Batch, compute_importance, make_method
from analysis.importance.engine import pooled_word_scores
from analysis.models.base import Encoded

CLS = 0  # the classification position of every encoder family in the study


# ---------------------------------------------------------------------------- references


def reference_adjusted(maps: np.ndarray) -> np.ndarray:
    """Head-mean attention plus identity, rows renormalised: [L, H, n, n] -> [L, n, n]."""
    mean = maps.astype(np.float64).mean(axis=1)
    augmented = mean + np.eye(mean.shape[-1])[None]
    return augmented / augmented.sum(axis=-1, keepdims=True)


def reference_graph(adjusted: np.ndarray) -> nx.DiGraph:
    """The layered graph with every edge: ``(l - 1, j) -> (l, i)`` of capacity ``A'_l[i, j]``."""
    n_layers, n, _ = adjusted.shape
    graph = nx.DiGraph()
    for layer in range(1, n_layers + 1):
        for i in range(n):
            for j in range(n):
                graph.add_edge((layer - 1, j), (layer, i), capacity=float(adjusted[layer - 1, i, j]))
    return graph


def reference_flow(adjusted: np.ndarray, *, sink: int = CLS) -> np.ndarray:
    """Max flow from every input node ``(0, j)`` to ``(L, sink)`` in the full layered graph.

    Edge ``(l - 1, j) -> (l, i)`` has capacity ``A'_l[i, j]``: token ``i`` of layer ``l``
    attends to (reads from) token ``j`` of the layer below.
    """
    n_layers, n, _ = adjusted.shape
    graph = reference_graph(adjusted)
    return np.array([nx.maximum_flow_value(graph, (0, j), (n_layers, sink)) for j in range(n)])


def reference_word_flows(adjusted: np.ndarray, owners: list[int], n_words: int, *, sink: int = CLS) -> np.ndarray:
    """Max flow from a source feeding every token of a word (edges without capacity: unbounded) to ``(L, sink)``."""
    graph = reference_graph(adjusted)
    for j, owner in enumerate(owners):
        if owner >= 0:
            graph.add_edge(("word", owner), (0, j))
    return np.array([nx.maximum_flow_value(graph, ("word", word), (adjusted.shape[0], sink)) for word in range(n_words)])


def reference_code_flow(adjusted: np.ndarray, *, sink: int = CLS) -> np.ndarray:
    """The reference code's own orientation: edges point down (``get_adjmat``), flow runs from the
    output node to each input node with Edmonds-Karp, and each output node's flows are
    normalised to sum 1 (``compute_flows``)."""
    n_layers, n, _ = adjusted.shape
    adjacency = np.zeros(((n_layers + 1) * n, (n_layers + 1) * n))
    for layer in range(1, n_layers + 1):
        for i in range(n):
            for j in range(n):
                adjacency[layer * n + i, (layer - 1) * n + j] = adjusted[layer - 1, i, j]
    graph = nx.DiGraph()
    for u, v in zip(*np.nonzero(adjacency)):
        graph.add_edge(int(u), int(v), capacity=float(adjacency[u, v]))
    flows = np.array([nx.maximum_flow_value(graph, n_layers * n + sink, j,
                                            flow_func=nx.algorithms.flow.edmonds_karp) for j in range(n)])
    return flows / flows.sum()


def reference_rollout(adjusted: np.ndarray, *, sink: int = CLS) -> np.ndarray:
    """The sink's row of ``A'_L ... A'_2 A'_1`` (``compute_joint_attention``, last layer)."""
    joint = adjusted[0]
    for layer in range(1, adjusted.shape[0]):
        joint = adjusted[layer] @ joint
    return joint[sink]


def reference_words(token_scores: np.ndarray, owners: list[int], n_words: int) -> np.ndarray:
    """Sum the scores of each word's subwords; specials (owner -1) are left out."""
    words = np.zeros(n_words)
    for score, owner in zip(token_scores, owners):
        if owner >= 0:
            words[owner] += score
    return words


def quantisation_bound(n_layers: int, n: int, resolution_bits: int) -> float:
    """Largest flow error of one token (see the module docstring), plus float rounding."""
    return n_layers * n * n * 2.0**-resolution_bits + 1e-12


# ---------------------------------------------------------------------- random examples


class AttentionOnly:
    """What the attention methods read from a transformer when the batch carries its maps."""

    kind = "transformer"
    classification_position = CLS


def random_batch(rng: np.random.Generator, *, n_layers: int, n_heads: int, lengths: list[int],
                 concentration: float) -> tuple[Batch, list[np.ndarray], list[list[int]]]:
    """A padded batch: [CLS] words... [SEP] [PAD]..., words of 1-3 subwords, random row-stochastic attention.

    Returns the batch (attention maps in its cache, as the engine leaves them) and, per
    example, the unpadded maps [L, H, n, n] and the token -> word map the references use.
    """
    width = max(lengths)
    maps = torch.zeros(len(lengths), n_layers, n_heads, width, width, dtype=torch.float32)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    word_index = torch.full((len(lengths), width), -1, dtype=torch.long)
    real_maps, owners, n_words = [], [], []
    for row, n in enumerate(lengths):
        attention = rng.dirichlet(np.full(n, concentration), size=(n_layers, n_heads, n))
        maps[row, :, :, :n, :n] = torch.as_tensor(attention, dtype=torch.float32)
        maps[row, :, :, n:, :n] = 1.0 / n  # padding queries attend to real keys, as in Hugging Face models
        mask[row, :n] = 1
        owner, word = [-1], 0
        while len(owner) < n - 1:
            owner += [word] * int(min(rng.integers(1, 4), n - 1 - len(owner)))
            word += 1
        owner += [-1]  # [SEP]
        word_index[row, :n] = torch.as_tensor(owner)
        real_maps.append(maps[row, :, :, :n, :n].double().numpy())
        owners.append(owner)
        n_words.append(word)
    encoded = Encoded(torch.zeros_like(mask), mask, word_index, n_words, n_words)
    batch = Batch(encoded=encoded, target=torch.zeros(len(lengths), dtype=torch.long),
                  example_ids=[f"ex{i}" for i in range(len(lengths))], words=[["w"] * k for k in n_words])
    batch.cache["attention_maps"] = maps
    return batch, real_maps, owners


CASES = [(n_layers, seed) for n_layers in (1, 2, 3, 6) for seed in range(3)]


@pytest.mark.parametrize(("n_layers", "seed"), CASES)
def test_attention_flow_matches_the_networkx_reference_from_maps_to_words(n_layers, seed):
    rng = np.random.default_rng(100 * n_layers + seed)
    lengths = [3, int(rng.integers(4, 13)), 12]
    concentration = [0.2, 1.0, 5.0][seed]  # peaked, flat and near-uniform attention
    batch, real_maps, owners = random_batch(rng, n_layers=n_layers, n_heads=int(rng.integers(1, 5)),
                                            lengths=lengths, concentration=concentration)
    method = make_method("attention_flow", {"cache": False})
    output = method.explain(AttentionOnly(), batch)
    words = pooled_word_scores(output, batch, "sum")  # the study's pooling: flow overrides it
    for row, n in enumerate(lengths):
        owner = np.array(owners[row])
        expected = reference_word_flows(reference_adjusted(real_maps[row]), owners[row], batch.encoded.n_words_kept[row])
        bound = quantisation_bound(n_layers, n, method.settings["resolution_bits"])
        assert np.abs(words[row] - expected).max() <= bound
        assert (words[row] <= expected + 1e-12).all()  # rounded down: never above the true flow
        got_tokens = output.token_scores[row].numpy()
        assert np.array_equal(got_tokens[:n][owner >= 0], words[row][owner[owner >= 0]])  # each token: its word's
        assert (got_tokens[:n][owner < 0] == 0).all() and (got_tokens[n:] == 0).all()  # specials, padding: no word


def test_coarse_quantisation_stays_within_the_documented_bound():
    """At 10 bits the rounding error is visible, one-sided, and inside ``L * n**2 * 2**-bits``."""
    rng = np.random.default_rng(7)
    lengths = [12, 9]
    batch, real_maps, owners = random_batch(rng, n_layers=4, n_heads=3, lengths=lengths, concentration=0.5)
    output = make_method("attention_flow", {"cache": False, "resolution_bits": 10}).explain(AttentionOnly(), batch)
    words = pooled_word_scores(output, batch, "sum")
    errors = []
    for row, n in enumerate(lengths):
        expected = reference_word_flows(reference_adjusted(real_maps[row]), owners[row], len(words[row]))
        error = expected - words[row]
        assert (error >= -1e-12).all() and error.max() <= quantisation_bound(4, n, 10)
        errors.append(error.max())
    assert max(errors) > 2.0**-10  # the check above is not vacuous


def test_reference_orientations_agree_and_normalising_keeps_the_ranking():
    """Upward edges and source-to-sink flows (ours) equal the reference code's downward graph;
    the reference code's per-output normalisation only rescales an example's flows."""
    rng = np.random.default_rng(3)
    _, real_maps, _ = random_batch(rng, n_layers=3, n_heads=2, lengths=[8], concentration=0.5)
    adjusted = reference_adjusted(real_maps[0])
    upward = reference_flow(adjusted)
    assert np.allclose(upward / upward.sum(), reference_code_flow(adjusted), atol=1e-12)
    ours = token_flows(adjusted)
    assert np.allclose(ours / ours.sum(), upward / upward.sum(), atol=1e-6)


def test_flow_of_a_hand_built_two_layer_graph():
    """Three tokens, two layers: token 2 reads token 1 in layer 1, [CLS] reads token 2 in layer 2.

    With A' = 0.5 A + 0.5 I the edges are (0,0)->(1,0): 1, (0,1)->(1,2): 0.5, (0,2)->(1,2): 0.5
    and, into the sink, (1,0)->(2,0): 0.5, (1,2)->(2,0): 0.5. Each token alone saturates a
    0.5 edge, so every flow is 0.5 (flows are not shares of one unit); rollout multiplies
    along the paths and gives 0.5, 0.25, 0.25.
    """
    identity = np.eye(3)
    layer1 = identity.copy()
    layer1[2] = [0.0, 1.0, 0.0]  # token 2 attends to token 1
    layer2 = identity.copy()
    layer2[0] = [0.0, 0.0, 1.0]  # [CLS] attends to token 2
    maps = torch.as_tensor(np.stack([layer1, layer2])[None, :, None], dtype=torch.float32)
    mask = torch.ones(1, 3, dtype=torch.long)
    batch = Batch(encoded=Encoded(torch.zeros_like(mask), mask, torch.tensor([[-1, 0, 1]]), [2], [2]),
                  target=torch.zeros(1, dtype=torch.long), example_ids=["ex0"], words=[["a", "b"]])
    batch.cache["attention_maps"] = maps
    flows = make_method("attention_flow", {"cache": False}).explain(AttentionOnly(), batch).token_scores[0].numpy()
    assert np.allclose(flows, [0.0, 0.5, 0.5], atol=1e-8)  # [CLS] is no word
    assert np.allclose(flows[1:], reference_flow(reference_adjusted(maps[0].double().numpy()))[1:], atol=1e-8)
    rolled = make_method("attention_rollout").explain(AttentionOnly(), batch).token_scores[0].numpy()
    assert np.allclose(rolled, [0.5, 0.25, 0.25], atol=1e-7)


def test_a_self_attending_cls_column_is_the_cut_that_ranks_tokens_by_first_layer_cls_attention():
    """Why flow can disagree with causal importance: when [CLS] attends mostly to itself above layer 1
    (as in MiniLM on SST-2) and every token reaches every node of the layers below, each token's min cut is the
    [CLS] column, so flow_j = A'_1[CLS, j] + sum_{l >= 2} sum_{i != CLS} A'_l[CLS, i]: a constant
    shared by all tokens plus the first layer's [CLS] attention to j."""
    rng = np.random.default_rng(11)
    n_layers, n = 4, 8
    maps = np.zeros((n_layers, 1, n, n))
    maps[0, 0] = 0.5 / n + 0.5 * rng.dirichlet(np.full(n, 0.5), size=n)  # every token reads every other a little
    maps[1:, 0] = 1.0 / n  # upper layers mix all tokens ...
    maps[1:, 0, CLS] = 0.2 / n
    maps[1:, 0, CLS, CLS] += 0.8  # ... while [CLS] mostly reads itself
    adjusted = reference_adjusted(maps)
    column_cut = adjusted[0, CLS] + sum(np.delete(adjusted[layer, CLS], CLS).sum() for layer in range(1, n_layers))
    mask = torch.ones(1, n, dtype=torch.long)
    batch = Batch(encoded=Encoded(torch.zeros_like(mask), mask, torch.tensor([[-1, *range(n - 2), -1]]), [n - 2],
                                  [n - 2]), target=torch.zeros(1, dtype=torch.long), example_ids=["ex0"],
                  words=[["w"] * (n - 2)])
    batch.cache["attention_maps"] = torch.as_tensor(maps[None])
    flows = make_method("attention_flow", {"cache": False}).explain(AttentionOnly(), batch).token_scores[0].numpy()
    words = slice(1, n - 1)  # one token each
    bound = quantisation_bound(n_layers, n, 28)
    assert np.abs(flows[words] - reference_flow(adjusted)[words]).max() <= bound
    assert np.abs(flows[words] - column_cut[words]).max() <= bound


@pytest.mark.parametrize(("n_layers", "seed"), CASES)
def test_attention_rollout_matches_the_matrix_product_reference(n_layers, seed):
    rng = np.random.default_rng(1000 + 100 * n_layers + seed)
    lengths = [3, int(rng.integers(4, 13)), 12]
    batch, real_maps, owners = random_batch(rng, n_layers=n_layers, n_heads=int(rng.integers(1, 5)),
                                            lengths=lengths, concentration=[0.2, 1.0, 5.0][seed])
    output = make_method("attention_rollout").explain(AttentionOnly(), batch)
    words = pooled_word_scores(output, batch, "sum")
    for row, n in enumerate(lengths):
        expected = reference_rollout(reference_adjusted(real_maps[row]))
        got = output.token_scores[row].double().numpy()
        assert np.abs(got[:n] - expected).max() <= 1e-6  # float32 maps: the method keeps their dtype
        assert np.abs(got[n:]).max(initial=0.0) <= 1e-7  # padding receives nothing from [CLS]
        assert np.abs(words[row] - reference_words(expected, owners[row], len(words[row]))).max() <= 1e-6


# ------------------------------------------------------------------ a real model, end to end


def test_engine_flow_and_rollout_of_a_model_match_the_references(tiny_bert):
    """compute_importance on a tiny BERT (padding, length bucketing, [CLS]/[SEP], subwords) versus the
    references on each sentence's own unpadded attention."""
    import pandas as pd

    sentences = ["the film was great", "an unbelievably overwrought , joyless plot", "dull", "not bad at all , really"]
    examples = pd.DataFrame({"example_id": [f"ex{i}" for i in range(len(sentences))],
                             "words": [s.split() for s in sentences], "label": [1, 0, 0, 1]})
    flow_table, _ = compute_importance(tiny_bert, examples, make_method("attention_flow", {"cache": False}),
                                       batch_size=4, progress=False, auto_batch=False)
    rollout_table, _ = compute_importance(tiny_bert, examples, make_method("attention_rollout"),
                                          batch_size=4, progress=False, auto_batch=False)
    subwords = 0
    for example_id, words in zip(examples["example_id"], examples["words"]):
        enc = tiny_bert.tokenizer([words], is_split_into_words=True, return_tensors="pt")
        owners = [-1 if w is None else w for w in enc.word_ids(0)]
        subwords += len(owners) - 2 - len(words)
        with torch.no_grad():
            maps = tiny_bert.attention_maps(enc["input_ids"], enc["attention_mask"])[0].double().numpy()
        adjusted = reference_adjusted(maps)
        # float32 attention of a padded and an unpadded forward pass differ by ~1e-7
        got_flow = flow_table.loc[flow_table["example_id"] == example_id, "score"].to_numpy()
        assert np.abs(got_flow - reference_word_flows(adjusted, owners, len(words))).max() <= 1e-5
        got_rollout = rollout_table.loc[rollout_table["example_id"] == example_id, "score"].to_numpy()
        assert np.abs(got_rollout - reference_words(reference_rollout(adjusted), owners, len(words))).max() <= 1e-5
    assert subwords > 0  # the pooling of subwords was exercised


def test_flow_explains_the_cls_of_the_model_output_not_another_position(tiny_bert):
    """Sink check: on real attention, the flows equal the reference with [CLS] as sink and differ from
    the references with [SEP] or a word as sink."""
    batch = make_batch(tiny_bert, ["a dull plot , not great at all"])
    enc = batch.encoded
    with torch.no_grad():
        maps = tiny_bert.attention_maps(enc.input_ids, enc.attention_mask)[0].double().numpy()
    adjusted = reference_adjusted(maps)
    flows = make_method("attention_flow", {"cache": False}).explain(tiny_bert, batch).token_scores[0].numpy()
    n = adjusted.shape[-1]
    single = enc.word_index[0, :n].numpy() >= 0
    assert n == len("a dull plot , not great at all".split()) + 2  # one token per word
    assert np.abs(flows[single] - reference_flow(adjusted, sink=CLS)[single]).max() <= quantisation_bound(2, n, 28)
    for other in (n - 1, 3):
        assert np.abs(flows[single] - reference_flow(adjusted, sink=other)[single]).max() > 1e-3
