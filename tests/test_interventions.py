"""Causal tests of attention: properties the interventions and ablations must have.

Model side: permuting a uniform distribution changes nothing; an edit that keeps one
token's attention really changes the output (and an edit that cannot reach the attention
raises instead of silently doing nothing); the adversarial search never reports a
solution that violates its constraint. Input side: comprehensiveness at 100% is
p(y|x) - p(y|empty input), sufficiency at 100% is zero, and a random ranking's AOPC lies
between the best and the worst ordering on a model whose cause is known.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import build_tiny_bert, make_batch

from analysis.attribution.ablation import batched_probability
from analysis.importance import make_method
from analysis.interventions.ablation import (
    AblationSettings,
    bin_sizes,
    input_ablation,
    per_example_scores,
    rank_words,
    rankings_from_importance,
)
from analysis.interventions.adversarial import AdversarialSettings, adversarial_search, search_budget, verify_solutions
from analysis.interventions.attention import (
    AttentionEdit,
    InterventionError,
    TransformerAttentionAdapter,
    jensen_shannon,
    make_adapter,
    random_permutations,
    total_variation,
)
from analysis.interventions.model_side import (
    _doubling_blocks,
    permutation_test,
    prefix_sizes,
    removal_test,
    uniform_test,
    zeroing_test,
)
from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary
from analysis.published.claims import PUBLISHED_CLAIMS
from analysis.published.directions import ADVERSARIAL_JSD
from analysis.seeding import derive_seed
from analysis.stats.divergence import JSD_MAX, JSD_UNIT

SENTENCES = ["the film was great", "a dull plot", "not awful at all the film", "great", "the plot was not dull"]


def uniform_rnn() -> RNNClassifier:
    """A BiLSTM whose attention is frozen to uniform (the Wiegreffe & Pinter control)."""
    torch.manual_seed(1)
    vocab = Vocabulary.build([s.split() for s in SENTENCES])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, attention="uniform", embed_dim=16,
                                     hidden_dim=8, attention_dim=8, dropout=0.0))
    return RNNClassifier(network, vocab, max_length=32)


def make_uniform_bert(bert, *, layer: int | None = None, head: int | None = None):
    """Zero query and key projections (of every layer and head, or only ``layer`` / ``head``): the attention
    rows there become uniform over the non-padding keys."""
    config = bert.model.config
    size = config.hidden_size // config.num_attention_heads
    rows = slice(None) if head is None else slice(head * size, (head + 1) * size)  # the head's output features
    where = ".attention.self." if layer is None else f".layer.{layer}.attention.self."
    with torch.no_grad():
        for name, parameter in bert.model.named_parameters():
            if f"{where}query." in name or f"{where}key." in name:
                parameter[rows] = 0
    return bert


def sensitive(model):
    """Scale a tiny random model's classifier so small changes inside show in the output probabilities."""
    if model.kind == "transformer":
        with torch.no_grad():
            model.model.classifier.weight.mul_(1000.0)
    return model


def probabilities(model, enc, *, rows=None, attention=None) -> torch.Tensor:
    """The model's own output probabilities (float64) for ``rows`` of ``enc``; an RNN's attention replaced by
    ``attention`` when given (the model's override, independent of the adapters under test)."""
    ids, mask = (enc.input_ids, enc.attention_mask) if rows is None else (enc.input_ids[rows], enc.attention_mask[rows])
    with torch.no_grad():
        if attention is None:
            logits = model.logits(ids, mask)
        else:
            logits = model.logits_from_embeddings(model.embed(ids), mask, attention_override=attention.float())
    return torch.softmax(logits.double(), dim=-1)


def planted_cause_model() -> RNNClassifier:
    """A model whose decision rests on one known word, ``cause``.

    Uniform attention over tanh(projected embeddings): fillers (and [UNK]) embed to zero,
    ``cause`` to a large value in one dimension, which the classifier reads. Removing
    ``cause`` drops p(class 1) to sigmoid(-2); removing fillers raises it.
    """
    vocab = Vocabulary.build([["cause", "the", "a", "of", "and", "to", "in", "it", "is", "was"]])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, encoder="average", attention="uniform",
                                     embed_dim=4, hidden_dim=2, attention_dim=2, dropout=0.0))
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        network.embedding.weight[vocab.index["cause"], 0] = 10.0
        network.projection.weight[0, 0] = 1.0
        network.classifier.weight[1, 0] = 40.0
        network.classifier.bias[1] = -2.0
    return RNNClassifier(network, vocab, max_length=64)


def planted_examples(n: int = 40, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    fillers = ["the", "a", "of", "and", "to", "in", "it", "is", "was"]
    out = []
    for _ in range(n):
        words = list(rng.choice(fillers, size=int(rng.integers(5, 12))))
        words.insert(int(rng.integers(0, len(words) + 1)), "cause")
        out.append(words)
    return out


# ------------------------------------------------------------------ model side
def test_random_permutations_shuffle_only_real_positions():
    real = torch.tensor([False, True, True, True, False, True, False, False])
    perms = random_permutations(real, 50, torch.Generator().manual_seed(0))
    assert perms.shape == (50, 8)
    for perm in perms:
        assert sorted(perm.tolist()) == list(range(8))  # a permutation
        assert (perm[~real] == torch.arange(8)[~real]).all()  # specials and padding stay
        assert set(perm[real].tolist()) == set(torch.arange(8)[real].tolist())
    assert len({tuple(p.tolist()) for p in perms}) > 5  # and it really shuffles


def test_permuting_uniform_rnn_attention_changes_nothing():
    model = uniform_rnn()
    batch = make_batch(model, SENTENCES)
    table = permutation_test(make_adapter(model), batch.encoded, batch.example_ids, draws=30, seed=0)
    assert table["max_tvd"].max() < 1e-6
    assert (table["flip_rate"] == 0).all()


def test_permuting_uniform_transformer_attention_changes_nothing(tiny_bert):
    model = make_uniform_bert(tiny_bert)
    batch = make_batch(model, SENTENCES)
    with torch.no_grad():
        maps = model.attention_maps(batch.encoded.input_ids, batch.encoded.attention_mask)
    valid = batch.encoded.attention_mask.bool()
    expected = valid.double() / valid.sum(1, keepdim=True)
    assert torch.allclose(maps[:, 0, 0, 0].double(), expected, atol=1e-6)  # really uniform
    table = permutation_test(make_adapter(model), batch.encoded, batch.example_ids, draws=20, seed=0)
    assert table["max_tvd"].max() < 1e-5


def test_permutation_changes_a_learned_distribution(tiny_rnn):
    """Each row's TVDs are those of the model's own forward with its attention permuted by the draws seeded from
    (seed, "permutation", example id)."""
    batch = make_batch(tiny_rnn, SENTENCES)
    enc = batch.encoded
    table = permutation_test(make_adapter(tiny_rnn), enc, batch.example_ids, draws=30, seed=0)
    multi = table[table["n_words"] > 1]
    assert (multi["max_tvd"] > 0).all()
    assert (table.loc[table["n_words"] == 1, "max_tvd"] == 0).all()  # nothing to permute
    again = permutation_test(make_adapter(tiny_rnn), enc, batch.example_ids, draws=30, seed=0)
    pd.testing.assert_frame_equal(table, again)  # seeded
    attention = make_method("rnn_attention").explain(tiny_rnn, batch).token_scores.double()
    reference = probabilities(tiny_rnn, enc)
    for b, example_id in enumerate(batch.example_ids):
        permutations = random_permutations(enc.word_index[b] >= 0, 30,
                                           torch.Generator().manual_seed(derive_seed(0, "permutation", example_id)))
        permuted = attention[b].expand(30, -1).gather(1, permutations)
        tvd = total_variation(reference[b : b + 1], probabilities(tiny_rnn, enc, rows=torch.full((30,), b),
                                                                   attention=permuted))
        row = table.iloc[b]
        assert row["max_tvd"] == pytest.approx(tvd.max().item(), abs=1e-6)
        assert row["median_tvd"] == pytest.approx(float(np.median(tvd.numpy())), abs=1e-6)  # J&W: np.median
        assert row["mean_tvd"] == pytest.approx(tvd.mean().item(), abs=1e-6)
        assert row["max_attention"] == pytest.approx(attention[b].max().item())


@pytest.mark.parametrize("fixture", ["tiny_rnn", "tiny_bert"])
def test_keeping_one_token_really_changes_the_output(fixture, request):
    model = sensitive(request.getfixturevalue(fixture))
    batch = make_batch(model, SENTENCES[:3])
    enc = batch.encoded
    adapter = make_adapter(model)
    reference = adapter.reference(enc)
    keep = torch.zeros_like(enc.attention_mask, dtype=torch.bool)
    first_word = (enc.word_index >= 0).int().argmax(dim=1)
    keep[torch.arange(len(enc)), first_word] = True
    if model.kind == "transformer":
        keep |= (enc.word_index < 0) & enc.attention_mask.bool()  # specials keep theirs: only words are zeroed
    edited = adapter.run(enc, torch.arange(len(enc)), AttentionEdit(keep=keep))
    assert (total_variation(reference.probs, edited) > 1e-3).all()
    unchanged = adapter.run(enc, torch.arange(len(enc)), AttentionEdit(keep=enc.attention_mask.bool()))
    assert torch.allclose(unchanged, reference.probs, atol=1e-6)  # keeping everything is the identity


@pytest.mark.parametrize("fixture", ["tiny_rnn", "tiny_bert"])
def test_chunks_by_length_and_token_budget_do_not_change_the_outputs(fixture, request, monkeypatch):
    """Rows in any order, cut into chunks of at most two rows and 16 padded tokens: every row once, in
    ascending length, and the same edited outputs and reference as one chunk of everything."""
    model = sensitive(request.getfixturevalue(fixture))
    enc = make_batch(model, SENTENCES).encoded
    rows = torch.tensor([4, 0, 2, 2, 1, 3, 0, 4])
    generator = torch.Generator().manual_seed(0)
    permutations = torch.stack([random_permutations((enc.word_index[r] >= 0) & enc.attention_mask[r].bool(), 1,
                                                    generator)[0] for r in rows])
    whole = make_adapter(model)
    monkeypatch.setattr(whole, "token_budget", lambda: None)
    edited = whole.run(enc, rows, AttentionEdit(permutation=permutations))
    small = make_adapter(model, batch_size=2)
    monkeypatch.setattr(small, "token_budget", lambda: 16)
    parts = [part for part, _, _ in small.chunks(enc, rows)]
    lengths = enc.attention_mask.sum(dim=1)[rows]
    assert sorted(torch.cat(parts).tolist()) == list(range(len(rows)))
    assert all(len(p) <= 2 and (len(p) == 1 or len(p) * lengths[p].max() <= 16) for p in parts)
    assert (torch.diff(lengths[torch.cat(parts)]) >= 0).all()
    assert torch.allclose(small.run(enc, rows, AttentionEdit(permutation=permutations)), edited, atol=1e-6)
    reference, again = whole.reference(enc), small.reference(enc)
    assert torch.allclose(again.probs, reference.probs, atol=1e-6)
    assert torch.allclose(again.attention, reference.attention, atol=1e-6)
    assert torch.allclose(small.distribution(enc), whole.distribution(enc), atol=1e-6)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_an_edit_that_cannot_reach_the_attention_raises(tiny_bert, implementation):
    """Under SDPA or plain eager attention the probe is bypassed: the edit must fail loudly."""
    batch = make_batch(tiny_bert, SENTENCES[:2])
    adapter = make_adapter(tiny_bert)
    try:
        tiny_bert.model.set_attn_implementation(implementation)
    except (ValueError, ImportError) as error:  # pragma: no cover - depends on the transformers build
        pytest.skip(f"{implementation} attention unavailable: {error}")
    with pytest.raises(InterventionError, match="never reached layer"):
        adapter.run(batch.encoded, torch.arange(2), AttentionEdit(uniform=True))


def test_transformer_scope_is_checked_and_respected(tiny_bert, minilm_tokenizer):
    """Out-of-range layers and heads are refused; a uniform edit of head 0 of the last layer is exactly a model
    whose head 0 there has zero query and key projections."""
    sensitive(tiny_bert)
    with pytest.raises(InterventionError, match="interventions.layers"):
        make_adapter(tiny_bert, layers=[5])
    batch = make_batch(tiny_bert, SENTENCES[:3])
    with pytest.raises(InterventionError, match="interventions.heads"):
        make_adapter(tiny_bert, heads=[7]).run(batch.encoded, torch.arange(3), AttentionEdit(uniform=True))
    adapter = make_adapter(tiny_bert, layers=[-1], heads=[0])
    assert isinstance(adapter, TransformerAttentionAdapter) and adapter.layers == [1]
    reference = adapter.reference(batch.encoded)
    one_head = adapter.run(batch.encoded, torch.arange(3), AttentionEdit(uniform=True))
    all_heads = make_adapter(tiny_bert, layers=[-1]).run(batch.encoded, torch.arange(3), AttentionEdit(uniform=True))
    assert not torch.allclose(one_head, all_heads)
    assert (total_variation(reference.probs, one_head) > 0).all()
    uniform_head = make_uniform_bert(sensitive(build_tiny_bert(minilm_tokenizer)), layer=1, head=0)
    assert torch.allclose(one_head, probabilities(uniform_head, batch.encoded), atol=1e-6)


def test_rnn_fast_path_equals_the_models_attention_override(tiny_rnn):
    """Edited variants reuse hidden states; the result must equal the model's own forward with the override."""
    batch = make_batch(tiny_rnn, SENTENCES)
    enc = batch.encoded
    adapter = make_adapter(tiny_rnn)
    rows = torch.arange(len(enc)).repeat_interleave(3)
    permutations = torch.cat([random_permutations(enc.word_index[b] >= 0, 3, torch.Generator().manual_seed(b))
                              for b in range(len(enc))])
    fast = adapter.run(enc, rows, AttentionEdit(permutation=permutations))
    with torch.no_grad():
        attention = adapter.reference(enc).attention[rows].float()
        edited = attention.gather(1, permutations)
        slow = torch.softmax(adapter.logits_with_distribution(enc.input_ids[rows], enc.attention_mask[rows],
                                                              edited).double(), -1)
        forward = adapter.distribution_forward(enc.input_ids[rows], enc.attention_mask[rows])
        assert torch.allclose(torch.softmax(forward(edited).double(), -1), slow, atol=1e-6)
    assert torch.allclose(fast, slow, atol=1e-6)


def test_uniform_test_scopes(tiny_bert, tiny_rnn, minilm_tokenizer):
    """Each scope's TVD and JSD are those of a model whose attention there really is uniform: zero query and key
    projections for BERT (built afresh: a TransformerClassifier cannot be deep-copied), the RNN's own override."""
    bert = sensitive(tiny_bert)
    batch = make_batch(bert, SENTENCES)
    enc = batch.encoded
    table = uniform_test(make_adapter(bert), enc, batch.example_ids)
    assert set(table["scope"]) == {"layer 0", "layer 1", "all intervened layers"}
    reference = probabilities(bert, enc)
    for scope, layer in (("layer 0", 0), ("layer 1", 1), ("all intervened layers", None)):
        uniform = probabilities(make_uniform_bert(sensitive(build_tiny_bert(minilm_tokenizer)), layer=layer), enc)
        rows = table[table["scope"] == scope]
        assert np.allclose(rows["tvd"], total_variation(reference, uniform).numpy(), atol=1e-6), scope
        assert np.allclose(rows["output_jsd"], jensen_shannon(reference, uniform).numpy(), atol=1e-6), scope
        assert rows["tvd"].max() > 1e-4, scope  # the comparison is not between zeros
    batch = make_batch(tiny_rnn, SENTENCES)
    enc = batch.encoded
    table = uniform_test(make_adapter(tiny_rnn), enc, batch.example_ids)
    assert set(table["scope"]) == {"attention"} and len(table) == len(SENTENCES)
    valid = enc.attention_mask.double()
    reference = probabilities(tiny_rnn, enc)
    uniform = probabilities(tiny_rnn, enc, attention=valid / valid.sum(1, keepdim=True))
    assert np.allclose(table["tvd"], total_variation(reference, uniform).numpy(), atol=1e-6)
    assert np.allclose(table["output_jsd"], jensen_shannon(reference, uniform).numpy(), atol=1e-6)
    assert table["tvd"].max() > 1e-4


def test_uniform_replacement_of_a_uniform_model_changes_nothing():
    model = uniform_rnn()
    batch = make_batch(model, SENTENCES)
    table = uniform_test(make_adapter(model), batch.encoded, batch.example_ids)
    assert table["tvd"].max() < 1e-6


def test_zeroing_compares_top_word_with_a_random_other(tiny_rnn):
    """The top word's JSD is the model's own output with that word's attention zeroed and the rest renormalised."""
    batch = make_batch(tiny_rnn, SENTENCES)
    enc = batch.encoded
    table = zeroing_test(make_adapter(tiny_rnn), enc, batch.example_ids, seed=0)
    multi = table[table["n_words"] > 1]
    assert (multi["attention_max"] >= multi["attention_random"]).all()
    assert table.loc[table["n_words"] == 1, "output_jsd_random"].isna().all()
    attention = make_method("rnn_attention").explain(tiny_rnn, batch).token_scores.double()
    edited = attention.clone()
    edited[torch.arange(len(enc)), attention.argmax(1)] = 0
    edited = edited / edited.sum(1, keepdim=True).clamp_min(1e-300)  # a one-word row stays all zero
    expected = jensen_shannon(probabilities(tiny_rnn, enc), probabilities(tiny_rnn, enc, attention=edited))
    assert np.allclose(table["output_jsd_max"], expected.numpy(), atol=1e-8)
    assert table["output_jsd_max"].max() > 1e-4
    assert np.allclose(table["attention_max"], attention.max(1).values.numpy(), atol=1e-6)


def test_doubling_blocks_cover_every_prefix_once():
    for longest in [0, 1, 2, 3, 7, 8, 9, 40]:
        blocks = _doubling_blocks(longest)
        covered = [k for low, high in blocks for k in range(low, high + 1)]
        assert covered == list(range(1, longest + 1))


def test_removal_flips_at_the_planted_cause():
    model = planted_cause_model()
    words = planted_examples(12)
    enc = model.encode(words)
    ids = [f"p{i}" for i in range(len(words))]
    cause_first = [np.array([w.index("cause")] + [j for j in range(len(w)) if w[j] != "cause"]) for w in words]
    cause_last = [np.array([j for j in range(len(w)) if w[j] != "cause"] + [w.index("cause")]) for w in words]
    table = removal_test(make_adapter(model), enc, ids, {"best": cause_first, "worst": cause_last})
    best, worst = table[table["method"] == "best"], table[table["method"] == "worst"]
    assert best["flipped"].all() and (best["items_removed"] == 1).all()
    assert worst["flipped"].all() and (worst["fraction_items"] == 1.0).all()  # only the last removal flips it
    assert np.allclose(worst["fraction_attention"], 1.0)



def test_prefix_sizes_are_every_count_or_an_even_grid_ending_at_n():
    assert prefix_sizes(7, None).tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert prefix_sizes(7, 7).tolist() == [1, 2, 3, 4, 5, 6, 7]
    grid = prefix_sizes(230, 32)
    assert len(grid) == 32 and grid[-1] == 230 and (np.diff(grid) > 0).all()
    assert np.diff(grid, prepend=0).max() == -(-230 // 32)


def test_removal_with_few_steps_brackets_the_flip_and_bounds_the_cost():
    """With max_steps the first flip is reported at the first tried size that flips, and fewer rows run."""
    model = planted_cause_model()
    words = planted_examples(12)
    enc = model.encode(words)
    ids = [f"p{i}" for i in range(len(words))]
    cause_at = [np.array([j for j in range(len(w)) if w[j] != "cause"][:2] + [w.index("cause")]
                         + [j for j in range(len(w)) if w[j] != "cause"][2:]) for w in words]
    adapter = make_adapter(model)
    rows_run = []
    original_run = adapter.run

    def counting_run(encoded, rows, edit):
        rows_run.append(len(rows))
        return original_run(encoded, rows, edit)

    adapter.run = counting_run
    exact = removal_test(adapter, enc, ids, {"third": cause_at})
    exact_rows = sum(rows_run)
    rows_run.clear()
    coarse = removal_test(adapter, enc, ids, {"third": cause_at}, max_steps=2)
    assert (exact["items_removed"] == 3).all() and (exact["resolution_items"] == 1).all()
    n = coarse["n_words"].to_numpy()
    half = -(-n // 2)
    assert coarse["flipped"].all()
    assert (coarse["items_removed"].to_numpy() == np.where(half >= 3, half, n)).all()
    assert (coarse["resolution_items"].to_numpy() == np.maximum(half, n - half)).all()
    assert sum(rows_run) <= 2 * len(words) < exact_rows
    same = removal_test(make_adapter(model), enc, ids, {"third": cause_at}, max_steps=100)
    pd.testing.assert_frame_equal(same, exact)


def test_search_budget_reduces_only_a_transformer_and_a_null_keeps_the_full_value():
    block = {"steps": 500, "restarts": 5, "transformer": {"steps": 100, "restarts": None}}
    assert search_budget(block, transformer=False) == (500, 5)
    assert search_budget(block, transformer=True) == (100, 5)
    assert search_budget({"steps": 500, "restarts": 5}, transformer=True) == (500, 5)


def test_adversarial_restarts_start_from_the_uniform_distribution_as_jain_and_wallace():
    """Their restarts start at log(uniform) + noise (successar/AttentionExplanation), not at the original attention,
    where the JSD objective has zero gradient: without noise the start is uniform over the real positions whatever
    the original, and the noise of a restart is drawn from its example's seed."""
    from analysis.interventions.adversarial import _initial_logits, _masked_softmax

    original = torch.tensor([[0.9, 0.05, 0.05, 0.0], [0.7, 0.3, 0.0, 0.0]], dtype=torch.float64)
    valid = original > 0
    quiet = _initial_logits(original, valid, ["a", "b"], AdversarialSettings(restarts=2, init_noise=0.0), seed=0)
    start = _masked_softmax(quiet, valid.repeat_interleave(2, dim=0))
    assert torch.allclose(start[0], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0], dtype=start.dtype))
    assert torch.allclose(start[2], torch.tensor([0.5, 0.5, 0, 0], dtype=start.dtype))
    noisy = _initial_logits(original, valid, ["a", "b"], AdversarialSettings(restarts=2, init_noise=3.0), seed=0)
    again = _initial_logits(original[1:], valid[1:], ["b"], AdversarialSettings(restarts=2, init_noise=3.0), seed=0)
    assert torch.equal(noisy[2:], again) and not torch.equal(noisy[0], noisy[1])
    # the start of an example does not depend on the width of the chunk it is searched in; padding gets no noise
    alone = _initial_logits(original[1:, :2], valid[1:, :2], ["b"], AdversarialSettings(restarts=2, init_noise=3.0),
                            seed=0)
    assert torch.equal(noisy[2:, :2], alone) and (noisy[2:, 2:] == 0).all()
    # the same holds with head axes (a transformer's [b, heads, T] distribution)
    heads = original[:, None, :].expand(2, 3, 4)
    wide = _initial_logits(heads, valid, ["a", "b"], AdversarialSettings(restarts=2, init_noise=3.0), seed=0)
    narrow = _initial_logits(heads[1:, :, :2], valid[1:, :2], ["b"], AdversarialSettings(restarts=2, init_noise=3.0),
                             seed=0)
    assert torch.equal(wide[2:, :, :2], narrow) and (wide[2:, :, 2:] == 0).all()


@pytest.mark.parametrize("fixture", ["tiny_rnn", "tiny_bert"])
def test_random_draws_of_an_example_do_not_depend_on_the_batch_around_it(fixture, request):
    """Permutations and adversarial starts are drawn per example at its own length: an example searched or
    permuted alone gets the same result as inside a batch padded to a longer example."""
    model = sensitive(request.getfixturevalue(fixture))
    both = make_batch(model, ["the film was great", "not awful at all the film was a dull plot"])
    alone = make_batch(model, ["the film was great"])
    assert both.encoded.input_ids.shape[1] > alone.encoded.input_ids.shape[1]
    adapter = make_adapter(model)
    permuted = [permutation_test(adapter, batch.encoded, ["e0", "e1"][:len(batch.encoded)], draws=20, seed=3)
                for batch in (both, alone)]
    assert permuted[0].iloc[0]["median_tvd"] == pytest.approx(permuted[1].iloc[0]["median_tvd"], abs=1e-6)
    settings = AdversarialSettings(epsilon=0.01, steps=10, restarts=2)
    searched = [adversarial_search(adapter, batch.encoded, ["e0", "e1"][:len(batch.encoded)], settings,
                                   seed=3).table() for batch in (both, alone)]
    for column in ("jsd", "tvd"):
        assert searched[0].iloc[0][column] == pytest.approx(searched[1].iloc[0][column], abs=1e-5, nan_ok=True)


@pytest.mark.parametrize("fixture", ["tiny_rnn", "tiny_bert"])
def test_adversarial_search_never_reports_a_violating_solution(fixture, request):
    model = sensitive(request.getfixturevalue(fixture))
    batch = make_batch(model, SENTENCES)
    adapter = make_adapter(model)
    settings = AdversarialSettings(epsilon=0.01, steps=25, restarts=2)
    result = adversarial_search(adapter, batch.encoded, batch.example_ids, settings, seed=0)
    table = result.table()
    assert table["feasible"].any()
    rows = torch.arange(len(batch.encoded))
    original = adapter.distribution(batch.encoded)
    reference = adapter.reference(batch.encoded)
    tvd, jsd = verify_solutions(adapter, batch.encoded, rows, result.distribution, original, reference.probs)
    feasible = table["feasible"].to_numpy()
    assert (tvd.numpy()[feasible] <= settings.epsilon).all()
    # the same float32 passes over a differently composed batch (one row per example here, one per restart there)
    assert np.allclose(tvd.numpy()[feasible], table.loc[feasible, "tvd"], atol=1e-6)
    assert np.allclose(jsd.numpy()[feasible], table.loc[feasible, "jsd"], atol=1e-6)
    assert table.loc[~feasible, "jsd"].isna().all()
    sums = result.distribution.sum(dim=-1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
    pads = ~batch.encoded.attention_mask.bool()
    pads = pads[:, None, :].expand_as(result.distribution) if result.distribution.dim() == 3 else pads
    assert (result.distribution[pads] == 0).all()
    assert table.loc[feasible, "jsd"].max() > 0.05  # it did move the attention


def test_adversarial_search_moves_only_the_words_attention(tiny_bert):
    """[CLS] and [SEP] keep their original weights (moving weight onto [SEP], a near no-op sink, would pass for a
    different explanation), and the JSD compares the words' weights renormalised over the words."""
    model = sensitive(tiny_bert)
    batch = make_batch(model, SENTENCES)
    adapter = make_adapter(model)
    settings = AdversarialSettings(epsilon=0.05, steps=25, restarts=2)
    result = adversarial_search(adapter, batch.encoded, batch.example_ids, settings, seed=0)
    table = result.table()
    assert table["feasible"].any()
    original = adapter.distribution(batch.encoded)
    words = batch.encoded.word_index >= 0
    special = batch.encoded.attention_mask.bool() & ~words
    assert special.any()
    heads = special[:, None, :].expand_as(original)
    assert torch.allclose(result.distribution[heads], original[heads], atol=1e-6)
    assert torch.allclose(result.distribution.sum(dim=-1), original.sum(dim=-1), atol=1e-5)

    def over_words(distribution):
        share = distribution.mean(dim=1) * words
        return share / share.sum(dim=-1, keepdim=True)

    expected = jensen_shannon(over_words(original), over_words(result.distribution)).numpy()
    feasible = table["feasible"].to_numpy()
    assert np.allclose(table.loc[feasible, "jsd"], expected[feasible], atol=1e-5)


def test_adversarial_search_drops_solutions_that_fail_verification(tiny_rnn, monkeypatch):
    """A candidate the search believed feasible but which violates the constraint is never reported."""
    import analysis.interventions.adversarial as adversarial

    def overconfident(adapter, ids, mask, words, original, probs, example_ids, settings, seed):
        rows = len(example_ids) * settings.restarts
        one_hot = torch.zeros((rows, ids.shape[1]), dtype=torch.float64)
        one_hot[:, 0] = 1.0  # all attention on the first word: far from the original output
        return one_hot, torch.full((rows,), 0.9, dtype=torch.float64)

    monkeypatch.setattr(adversarial, "_search_chunk", overconfident)
    batch = make_batch(tiny_rnn, SENTENCES[:3])
    adapter = make_adapter(tiny_rnn)
    reference = adapter.reference(batch.encoded)
    one_hot = torch.zeros_like(reference.attention)
    one_hot[:, 0] = 1.0
    probs = probabilities(tiny_rnn, batch.encoded, attention=one_hot)
    violating = total_variation(reference.probs, probs) > 1e-3
    assert violating.any()
    settings = AdversarialSettings(epsilon=1e-3, steps=1, restarts=2)
    table = adversarial.adversarial_search(adapter, batch.encoded, batch.example_ids, settings, seed=0).table()
    assert not table.loc[violating.numpy(), "feasible"].any()
    assert table.loc[violating.numpy(), "jsd"].isna().all()


def test_distances():
    p = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    # nats end to end: disjoint supports reach ln 2, the maximum the adversarial threshold (0.3) is stated against
    assert torch.allclose(jensen_shannon(p, q), torch.tensor([0.0, math.log(2)], dtype=torch.float64))
    assert JSD_UNIT == "nats" and JSD_MAX == pytest.approx(math.log(2))
    assert ADVERSARIAL_JSD < JSD_MAX
    claim = PUBLISHED_CLAIMS.get("jw_adversarial_attention_exists")
    assert f"{ADVERSARIAL_JSD} nats" in claim.test and "ln 2 = 0.69" in claim.test
    assert torch.allclose(total_variation(p, q), torch.tensor([0.0, 1.0], dtype=torch.float64))


# ------------------------------------------------------------------- input side
def _importance(words: list[list[str]], ids: list[str], scores: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    frames = []
    for method, per_example in scores.items():
        for example_id, w, s in zip(ids, words, per_example):
            frames.append(pd.DataFrame({"example_id": example_id, "method": method, "word_index": np.arange(len(w)),
                                        "word": w, "score": s}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("fixture", ["tiny_rnn", "tiny_bert"])
@pytest.mark.parametrize("removal", ["delete", "mask"])
def test_comprehensiveness_and_sufficiency_at_100_percent(fixture, removal, request):
    model = request.getfixturevalue(fixture)
    batch = make_batch(model, SENTENCES)
    enc = batch.encoded
    targets = batch.target.numpy()
    rankings = {"order": [np.arange(n) for n in enc.n_words_kept], "reverse": [np.arange(n)[::-1] for n in enc.n_words_kept]}
    eraser, _, _ = input_ablation(model, enc, batch.example_ids, targets, rankings,
                                  AblationSettings(percents=(50, 100), curve_points=3, removal=(removal,)))
    at_full = eraser[eraser["percent"] == 100]
    with torch.no_grad():
        full = torch.softmax(model.logits(enc.input_ids, enc.attention_mask).double(), -1)[torch.arange(len(enc)), batch.target]
        if removal == "delete":  # the empty input: every word removed, special tokens kept
            specials = [[t for t, w in zip(i.tolist(), wi.tolist()) if w < 0 and t != model.pad_token_id]
                        for i, wi in zip(enc.input_ids, enc.word_index)]
            from analysis.models.base import pad_sequences

            ids, mask = pad_sequences(specials, model.pad_token_id)
        else:
            ids = torch.where(enc.word_index >= 0, torch.full_like(enc.input_ids, model.mask_token_id), enc.input_ids)
            mask = enc.attention_mask
        empty = torch.softmax(model.logits(ids, mask).double(), -1)[torch.arange(len(enc)), batch.target]
    for method in rankings:
        rows = at_full[at_full["method"] == method].set_index("example_id").loc[batch.example_ids]
        comp = rows[rows["measure"] == "comprehensiveness"]["value"].to_numpy()
        suff = rows[rows["measure"] == "sufficiency"]["value"].to_numpy()
        assert np.allclose(comp, (full - empty).numpy(), atol=1e-6)
        assert np.allclose(suff, 0.0, atol=1e-12)
    if model.kind == "rnn" and removal == "delete":  # an RNN with no tokens outputs its classifier bias
        bias = torch.softmax(model.network.classifier.bias.detach().double(), -1)[batch.target]
        assert np.allclose(empty.numpy(), bias.numpy(), atol=1e-6)


@pytest.mark.parametrize("removal", ["delete", "mask"])
def test_random_aopc_lies_between_best_and_worst_orderings(removal):
    model = planted_cause_model()
    words = planted_examples(40)
    ids = [f"p{i}" for i in range(len(words))]
    enc = model.encode(words)
    with torch.no_grad():
        targets = model.logits(enc.input_ids, enc.attention_mask).argmax(-1).numpy()
    assert (targets == 1).all()  # the cause decides every example
    best = [np.array([1.0 if w == "cause" else 0.0 for w in ws]) for ws in words]
    worst = [1.0 - b for b in best]
    importance = _importance(words, ids, {"best": best, "worst": worst})
    rankings = rankings_from_importance(importance, ids, enc.n_words_kept, methods=None, ranking="signed", seed=0)
    assert set(rankings) == {"best", "worst", "random"}
    eraser, curves, n_sequences = input_ablation(model, enc, ids, targets, rankings,
                                                 AblationSettings(removal=(removal,)))
    scores = per_example_scores(eraser, curves).groupby(["method", "measure"])["value"].mean()
    comp = scores.xs("aopc_comprehensiveness", level="measure")
    suff = scores.xs("aopc_sufficiency", level="measure")
    assert comp["worst"] < comp["random"] < comp["best"]
    assert suff["best"] < suff["random"] < suff["worst"]
    deletion = scores.xs("deletion_auc", level="measure")
    insertion = scores.xs("insertion_auc", level="measure")
    assert deletion["best"] < deletion["random"] < deletion["worst"]
    assert insertion["worst"] < insertion["random"] < insertion["best"]
    naive = len(rankings) * len(words) * 2 * 11  # what an undeduplicated pass would run
    assert n_sequences < naive


def test_bins_and_ranking_rules():
    assert list(bin_sizes(np.array([1, 10, 20, 200]), 1)) == [1, 1, 1, 2]
    assert list(bin_sizes(np.array([1, 10, 20]), 50)) == [1, 5, 10]
    assert list(bin_sizes(np.array([7]), 100)) == [7]
    scores = np.array([0.2, -0.9, 0.2, 0.5])
    assert list(rank_words(scores, ranking="signed", seed=0, example_id="e", method="m"))[0] == 3
    assert list(rank_words(scores, ranking="abs", seed=0, example_id="e", method="m"))[0] == 1
    ties = [tuple(rank_words(np.zeros(6), ranking="signed", seed=0, example_id=f"e{i}", method="m")) for i in range(20)]
    assert len(set(ties)) > 1  # ties are broken at random, not by position


def test_rankings_reject_a_stale_importance_table_and_skip_missing_examples():
    words = [["a", "b", "c"], ["d", "e"]]
    importance = _importance(words, ["x", "y"], {"m": [np.array([1.0, 0.0, 2.0]), np.array([0.0, 1.0])]})
    with pytest.raises(ValueError, match="stale"):
        rankings_from_importance(importance, ["x", "y"], [3, 3], methods=None, ranking="signed", seed=0)
    with pytest.raises(ValueError, match="interventions.methods"):
        rankings_from_importance(importance, ["x", "y"], [3, 2], methods=["m", "nope"], ranking="signed", seed=0)
    partial = importance[importance["example_id"] == "x"]
    rankings = rankings_from_importance(partial, ["x", "y"], [3, 2], methods=None, ranking="signed", seed=0)
    assert list(rankings["m"][0]) == [2, 0, 1] and rankings["m"][1] is None
    assert rankings["random"][1] is not None


def test_keep_masks_hide_exactly_the_removed_words_tokens():
    """The removal test's key mask, against its definition: False where a token's word is among those removed."""
    from analysis.interventions.model_side import _keep_without
    from analysis.models.base import Encoded

    generator = torch.Generator().manual_seed(0)
    word_index = torch.randint(-1, 12, (5, 20), generator=generator)  # -1: special tokens and padding
    encoded = Encoded(input_ids=torch.zeros_like(word_index), attention_mask=torch.ones_like(word_index),
                      word_index=word_index, n_words=[12] * 5, n_words_kept=[12] * 5)
    rows = torch.tensor([0, 0, 3, 4, 2, 1])
    removed = [np.array([0, 5]), np.array([], dtype=int), np.array([11]), np.arange(12), np.array([3, 3]),
               np.array([30])]  # a word past the example's tokens masks nothing
    keep = _keep_without(encoded, rows, removed)
    expected = torch.stack([~torch.isin(word_index[r], torch.as_tensor(w, dtype=torch.long))
                            for r, w in zip(rows.tolist(), removed)])
    assert torch.equal(keep, expected)
    assert keep[3][word_index[4] == -1].all() and not keep[3][word_index[4] >= 0].any()


def test_an_interrupted_input_ablation_resumes_with_the_same_values(tmp_path, monkeypatch):
    """A kill part-way keeps the finished batches; the rerun runs only the rest and equals an uninterrupted run."""
    model = planted_cause_model()
    words = planted_examples(30)
    enc = model.encode(words)
    sequences = [enc.input_ids[b, : int(enc.attention_mask[b].sum())].numpy() for b in range(len(enc))]
    targets = [1] * len(sequences)
    expected = batched_probability(model, sequences, targets, batch_size=4)
    original, calls = model.logits, []

    def killed_after_five(*args, **kwargs):
        if len(calls) == 5:
            raise KeyboardInterrupt  # the session ends
        calls.append(1)
        return original(*args, **kwargs)

    checkpoint = tmp_path / "input_ablation.partial.npz"
    monkeypatch.setattr(model, "logits", killed_after_five)
    with pytest.raises(KeyboardInterrupt):
        batched_probability(model, sequences, targets, batch_size=4, checkpoint=checkpoint, save_every=0)
    assert checkpoint.exists()

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    calls.clear()
    monkeypatch.setattr(model, "logits", counted)
    other = batched_probability(model, sequences, [0] * len(sequences), batch_size=4, checkpoint=checkpoint)
    np.testing.assert_allclose(other, 1 - expected, atol=1e-6)  # other targets: the saved values are not used
    assert len(calls) == math.ceil(len(sequences) / 4) and not checkpoint.exists()

    monkeypatch.setattr(model, "logits", killed_after_five)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        batched_probability(model, sequences, targets, batch_size=4, checkpoint=checkpoint, save_every=0)
    calls.clear()
    monkeypatch.setattr(model, "logits", counted)
    resumed = batched_probability(model, sequences, targets, batch_size=4, checkpoint=checkpoint, save_every=0)
    np.testing.assert_array_equal(resumed, expected)  # value for value: each batch is the same batch
    assert len(calls) == math.ceil(len(sequences) / 4) - 5  # only the batches the kill left
    assert not checkpoint.exists()  # removed once every value is in
