"""Attention flow, attention norms, value zeroing, attention x gradient and ALTI.

Each method is checked against a property its paper states or an independent
computation, on every encoder family that has an adapter (BERT, RoBERTa, DistilBERT).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from conftest import make_batch
from torch import nn

from analysis.attention import rollout
from analysis.attention.attention_gradient import attention_times_gradient
from analysis.attention.flow import WORD_POOLING, FlowCache, attention_flow, residual_adjusted, token_flows, word_flows
from analysis.attention.norms import alti, alti_layer, attention_norm_rows, attention_vectors, normalise_rows
from analysis.attention.tracing import head_output_vectors, trace_layers
from analysis.attention.value_zeroing import cosine_distance, value_zeroing_layers
from analysis.importance import IMPORTANCE_METHODS, MethodSettingsError, compute_importance, make_method, pool_to_words
from analysis.models.attention_probe import PROBE_NAME, AttentionControl, attention_control
from analysis.models.family_adapters import FamilyAdapterError, adapter_for, encoder_layers
from analysis.models.transformer import TransformerClassifier

SENTENCES = ["the film was great", "a dull plot , not great at all"]
VARIANTS = ["attention_flow", "attention_norm_last", "attention_norm_all", "value_zeroing", "attention_x_gradient",
            "alti"]
FAMILIES = ["bert", "roberta", "distilbert"]


def build_encoder(family: str, tokenizer, *, layers: int = 2, heads: int = 2) -> TransformerClassifier:
    """A randomly initialised tiny classifier of one encoder family, with probe attention."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    torch.manual_seed(0)
    vocab = tokenizer.vocab_size
    if family == "bert":
        model = BertForSequenceClassification(BertConfig(
            vocab_size=vocab, hidden_size=32, num_hidden_layers=layers, num_attention_heads=heads,
            intermediate_size=64, max_position_embeddings=64, attn_implementation="eager"))
    elif family == "roberta":
        model = RobertaForSequenceClassification(RobertaConfig(
            vocab_size=vocab, hidden_size=32, num_hidden_layers=layers, num_attention_heads=heads,
            intermediate_size=64, max_position_embeddings=66, pad_token_id=tokenizer.pad_token_id,
            attn_implementation="eager"))
    else:
        model = DistilBertForSequenceClassification(DistilBertConfig(
            vocab_size=vocab, dim=32, n_layers=layers, n_heads=heads, hidden_dim=64, max_position_embeddings=64,
            attn_implementation="eager"))
    model.set_attn_implementation(PROBE_NAME)
    return TransformerClassifier(model, tokenizer, max_length=64)


@pytest.fixture(params=FAMILIES)
def encoder(request, minilm_tokenizer) -> TransformerClassifier:
    return build_encoder(request.param, minilm_tokenizer)


def value_module(parts) -> nn.Linear:
    """The value projection, named per family (only the test needs it: the methods read values via the probe)."""
    attention = parts.self_attention
    return attention.value if hasattr(attention, "value") else attention.v_lin


# ----------------------------------------------------------------------------- registry


def test_variants_are_registered_attention_methods_for_transformers_only(tiny_rnn):
    for name in VARIANTS:
        method = IMPORTANCE_METHODS.get(name)
        assert method.family == "attention"
        assert method.model_kinds == frozenset({"transformer"})
        assert method.citation
        assert not method().supports(tiny_rnn)
    assert IMPORTANCE_METHODS.get("attention_x_gradient").signed


@pytest.mark.parametrize(("name", "settings"), [
    ("value_zeroing", {"aggregate": "mean"}), ("attention_x_gradient", {"layers": "first"}),
    ("attention_flow", {"max_tokens": 1}), ("attention_flow", {"residual_weight": 1.0}),
    ("attention_flow", {"resolution_bits": 40}), ("alti", {"max_elements": 0}),
])
def test_bad_settings_name_the_setting(name, settings):
    key = next(iter(settings))
    with pytest.raises(MethodSettingsError, match=key):
        make_method(name, settings)


def test_every_variant_runs_on_every_family(encoder):
    batch = make_batch(encoder, SENTENCES)
    real = batch.encoded.attention_mask.bool()
    for name in VARIANTS:
        scores = make_method(name).explain(encoder, batch).token_scores.detach()
        assert scores.shape == batch.encoded.input_ids.shape, name
        assert torch.isfinite(scores[real]).all(), name
        if not IMPORTANCE_METHODS.get(name).signed:
            assert (scores[real] >= 0).all(), name
        assert scores[~real].abs().max() == 0, f"{name} gives padding a score"


@pytest.mark.parametrize("family", FAMILIES)
def test_attention_norm_all_is_the_mean_of_each_layers_normalised_norms(family, minilm_tokenizer):
    """Each layer's [CLS] norms are scaled to sum to one and averaged over layers. The first layer's norms are
    the last-layer norms of a one-layer model holding the same weights (the rest of the checkpoint ignored)."""
    two = build_encoder(family, minilm_tokenizer)
    one = build_encoder(family, minilm_tokenizer, layers=1)
    loaded = one.model.load_state_dict(two.model.state_dict(), strict=False)
    assert not loaded.missing_keys and all(".1." in key for key in loaded.unexpected_keys)  # all but layer 2

    def scores(name, model):  # a batch per call: a batch caches its model's layer trace
        return make_method(name).explain(model, make_batch(model, SENTENCES)).token_scores

    def normalised_last(model):
        norms = scores("attention_norm_last", model)
        return norms / norms.sum(-1, keepdim=True)

    mean = scores("attention_norm_all", two)
    assert torch.allclose(mean.sum(-1), torch.ones(len(SENTENCES)), atol=1e-6)
    assert torch.allclose(mean, (normalised_last(one) + normalised_last(two)) / 2, atol=1e-6)
    assert torch.allclose(scores("attention_norm_all", one), normalised_last(one), atol=1e-6)
    assert not torch.allclose(normalised_last(one), normalised_last(two), atol=1e-3)  # the layers differ


def test_engine_pools_variant_scores_to_words(tiny_bert):
    import pandas as pd

    words = [s.split() for s in SENTENCES]
    examples = pd.DataFrame({"example_id": ["a", "b"], "words": words, "label": [0, 1]})
    table, diagnostics = compute_importance(tiny_bert, examples, make_method("value_zeroing"), progress=False)
    assert table.groupby("example_id").size().to_dict() == {"a": 4, "b": 8}
    # one full forward plus one rerun of every layer per token
    tokens = tiny_bert.encode(words).attention_mask.sum(1).numpy()
    assert diagnostics.sort_values("example_id")["forward_passes"].tolist() == (1.0 + tokens).tolist()


# ------------------------------------------------------------------------------ adapters


def test_adapter_finds_the_probe_layers_in_order(encoder):
    parts = encoder_layers(encoder.model)
    assert [p.index for p in parts] == [0, 1]
    assert [p.self_attention._study_layer for p in parts] == [0, 1]
    assert all(p.num_heads == 2 for p in parts)


def test_bert_and_roberta_share_an_adapter_and_distilbert_has_its_own(minilm_tokenizer):
    bert, roberta, distil = (adapter_for(build_encoder(f, minilm_tokenizer).model) for f in FAMILIES)
    assert bert is roberta
    assert distil is not bert


def test_unknown_family_names_the_fix():
    class Other(nn.Module):
        class config:  # noqa: N801 (mimics a transformers config)
            model_type = "gpt2"

    with pytest.raises(FamilyAdapterError, match="no encoder family adapter for model_type 'gpt2'.*supported"):
        adapter_for(Other())


def test_trace_records_what_the_model_computes(encoder):
    enc = encoder.encode([s.split() for s in SENTENCES])
    with torch.no_grad():
        trace = trace_layers(encoder.model, enc.input_ids, enc.attention_mask)
        logits = encoder.logits(enc.input_ids, enc.attention_mask)
        maps = encoder.attention_maps(enc.input_ids, enc.attention_mask)
        for parts, x, value in zip(trace.parts, trace.inputs, trace.values):
            manual = value_module(parts)(x).view(*x.shape[:2], 2, -1).transpose(1, 2)
            assert torch.allclose(value, manual, atol=1e-6)
    assert torch.allclose(trace.logits, logits, atol=1e-6)
    assert torch.allclose(torch.stack(trace.probabilities, 1), maps, atol=1e-6)
    assert torch.allclose(trace.outputs[0], trace.inputs[1])


# ---------------------------------------------------------------------------------- flow


def test_rollout_and_flow_agree_on_a_one_layer_model(minilm_tokenizer):
    """With one layer both equal the residual-adjusted attention's [CLS] row (Abnar & Zuidema 2020); a word's flow
    is then the sum of its tokens' edges into [CLS], i.e. rollout summed over the word's subwords."""
    model = build_encoder("bert", minilm_tokenizer, layers=1, heads=2)
    batch = make_batch(model, ["the film was unforgettable", "a dull plot , not great at all"])
    enc = batch.encoded
    output = make_method("attention_flow", {"cache": False}).explain(model, batch)
    rolled = make_method("attention_rollout").explain(model, batch).token_scores
    with torch.no_grad():
        adjusted = residual_adjusted(model.attention_maps(enc.input_ids, enc.attention_mask))
    real = enc.attention_mask.bool()
    assert torch.allclose(rolled[real].float(), adjusted[:, 0, 0][real].float(), atol=1e-7)
    assert output.pooling == WORD_POOLING
    assert (enc.word_index[0] == 3).sum() > 1  # "unforgettable" is several subwords
    flow_words = pool_to_words(output.token_scores, enc.word_index, enc.n_words_kept, output.pooling)
    rolled_words = pool_to_words(rolled, enc.word_index, enc.n_words_kept, "sum")
    for flow, rolled_word in zip(flow_words, rolled_words):
        assert np.allclose(flow, rolled_word, atol=1e-7)
    assert (output.token_scores[enc.word_index < 0] == 0).all()  # special tokens and padding are no word


def test_flow_equals_networkx_max_flow_on_real_capacities():
    rng = np.random.default_rng(0)
    n_layers, n = 3, 6
    raw = torch.as_tensor(rng.random((1, n_layers, 2, n, n)) ** 3)
    capacities = residual_adjusted(raw / raw.sum(-1, keepdim=True))[0].numpy()
    graph = nx.DiGraph()
    for layer in range(n_layers):
        for i in range(n):
            for j in range(n):
                graph.add_edge((layer, j), (layer + 1, i), capacity=float(capacities[layer, i, j]))
    expected = np.array([nx.maximum_flow_value(graph, (0, j), (n_layers, 0)) for j in range(n)])
    flows = token_flows(capacities)
    assert np.abs(flows - expected).max() < 1e-6
    assert (flows <= expected + 1e-12).all()  # capacities are rounded down: never more than the true flow


def test_word_flow_is_the_max_flow_from_all_its_tokens_at_once():
    """A word of several tokens: the networkx max flow from a source feeding all of them (not the sum of their flows,
    which counts a shared cut once per token); a one-token word: its token's flow; special tokens: 0."""
    rng = np.random.default_rng(1)
    n_layers, n = 3, 7
    raw = torch.as_tensor(rng.random((1, n_layers, 2, n, n)) ** 3)
    capacities = residual_adjusted(raw / raw.sum(-1, keepdim=True))[0].numpy()
    words = np.array([-1, 0, 0, 0, 1, 2, -1])
    graph = nx.DiGraph()
    for layer in range(n_layers):
        for i in range(n):
            for j in range(n):
                graph.add_edge((layer, j), (layer + 1, i), capacity=float(capacities[layer, i, j]))
    for j in (1, 2, 3):
        graph.add_edge("word 0", (0, j))  # no capacity attribute: unbounded
    expected = nx.maximum_flow_value(graph, "word 0", (n_layers, 0))
    flows = word_flows(capacities, words)
    tokens = token_flows(capacities)
    assert np.abs(flows[1:4] - expected).max() < 1e-6 and (flows[1:4] <= expected + 1e-12).all()
    assert tokens[1:4].max() - 1e-9 <= flows[1] < tokens[1:4].sum() - 0.01  # shared cuts: less than the sum
    assert np.allclose(flows[4:6], tokens[4:6]) and (flows[[0, 6]] == 0).all()
    assert flows.max() <= 1.0 + 1e-9  # at most the unit inflow of [CLS]


def test_flow_is_bounded_by_the_cls_inflow_and_skips_long_examples(tiny_bert):
    batch = make_batch(tiny_bert, SENTENCES)
    enc = batch.encoded
    with torch.no_grad():
        maps = tiny_bert.attention_maps(enc.input_ids, enc.attention_mask)
    short = int(enc.attention_mask.sum(1).min())
    result = attention_flow(maps, enc.attention_mask, enc.word_index, max_tokens=short, cache=None)
    assert result.skipped == 1
    long_row = int(enc.attention_mask.sum(1).argmax())
    assert torch.isnan(result.scores[long_row]).all()
    kept = result.scores[1 - long_row][enc.word_index[1 - long_row] >= 0]
    assert (kept <= 1.0 + 1e-9).all() and (kept > 0).all()  # at most the unit inflow of [CLS]


def test_flow_cache_returns_the_same_flows_without_solving_again(tiny_bert):
    batch = make_batch(tiny_bert, SENTENCES)
    with torch.no_grad():
        maps = tiny_bert.attention_maps(batch.encoded.input_ids, batch.encoded.attention_mask)
    cache = FlowCache()
    first = attention_flow(maps, batch.encoded.attention_mask, batch.encoded.word_index, cache=cache)
    second = attention_flow(maps, batch.encoded.attention_mask, batch.encoded.word_index, cache=cache)
    assert first.max_flow_calls > 0 and second.max_flow_calls == 0
    assert cache.hits == 2
    assert torch.equal(first.scores, second.scores)


# --------------------------------------------------------------------------------- norms


def test_attention_norm_equals_raw_attention_when_transformed_values_have_equal_norm(minilm_tokenizer):
    """With W_V = 0 every token's f(x_j) = W_O b_V: the norm is attention times a constant (Kobayashi et al. 2020)."""
    model = build_encoder("bert", minilm_tokenizer, layers=2, heads=1)
    for parts in encoder_layers(model.model):
        nn.init.zeros_(value_module(parts).weight)
        nn.init.normal_(value_module(parts).bias)
    batch = make_batch(model, SENTENCES)
    norm = make_method("attention_norm_last").explain(model, batch).token_scores
    raw = make_method("attention_last_mean").explain(model, batch).token_scores
    assert torch.allclose(normalise_rows(norm), raw, atol=1e-6)


def test_attention_norm_word_scores_do_not_depend_on_the_study_pooling(minilm_tokenizer):
    """A word's norm sits on its first subword (the others 0): the methods read it with "first", so a study that
    pools subwords by their mean does not divide a long word's norm by its number of subwords."""
    from analysis.importance.pooling import pool_to_words

    model = build_encoder("bert", minilm_tokenizer, layers=2, heads=1)
    batch = make_batch(model, ["an unbelievably overwrought screenplay", "the film was great"])
    index = batch.encoded.word_index
    assert ((index[:, 1:] == index[:, :-1]) & (index[:, 1:] >= 0)).any()  # some word has 2+ subwords
    for name in ("attention_norm_last", "attention_norm_all"):
        output = make_method(name).explain(model, batch)
        assert output.pooling == "first"
        read = pool_to_words(output.token_scores, batch.encoded.word_index, batch.encoded.n_words_kept, output.pooling)
        summed = pool_to_words(output.token_scores, batch.encoded.word_index, batch.encoded.n_words_kept, "sum")
        assert all(np.allclose(a, b) for a, b in zip(read, summed))


def test_attention_norm_rows_with_equal_norm_vectors_are_scaled_attention():
    """One head, W_O orthogonal: ||alpha_j f(x_j)|| = alpha_j ||v_j||, so equal norms give c * alpha."""
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(2, 1, 5, 5), -1)
    directions = torch.randn(2, 1, 5, 8)
    value = 3.0 * directions / directions.norm(dim=-1, keepdim=True)
    projection = nn.Linear(8, 8)
    nn.init.orthogonal_(projection.weight)
    assert torch.allclose(attention_norm_rows(probs, value, projection), 3.0 * probs[:, 0, 0], atol=1e-6)


def test_attention_norm_of_a_word_is_the_norm_of_its_subwords_summed_vectors(tiny_bert):
    """A word's contribution to the [CLS] attention output is the sum of its tokens' vectors: its score is that sum's
    norm (on its first token, its other tokens 0), not the sum of the tokens' norms; one-token words and special
    tokens keep their own norms."""
    batch = make_batch(tiny_bert, ["the film was unforgettable"])
    enc = batch.encoded
    owner = enc.word_index[0]
    assert (owner == 3).sum() > 1  # "unforgettable" is several subwords
    scores = make_method("attention_norm_last").explain(tiny_bert, batch).token_scores[0]
    with torch.no_grad():
        trace = trace_layers(tiny_bert.module, enc.input_ids, enc.attention_mask)
        vectors = attention_vectors(trace.probabilities[-1], trace.values[-1], trace.parts[-1].output_projection)[0]
    tokens = torch.nonzero(owner == 3).flatten()
    assert torch.allclose(scores[tokens[0]], vectors[tokens].sum(0).norm(), atol=1e-6)
    assert (scores[tokens[1:]] == 0).all()
    assert scores[tokens[0]] < vectors[tokens].norm(dim=-1).sum() - 1e-4  # less than the sum of the subwords' norms
    single = (owner < 3) | (owner == -1)
    assert torch.allclose(scores[single], vectors[single].norm(dim=-1), atol=1e-6)
    pooled = pool_to_words(scores[None], enc.word_index, enc.n_words_kept, "sum")[0]
    assert np.isclose(pooled[3], float(vectors[tokens].sum(0).norm()), atol=1e-6)


def test_attention_norm_matches_a_manual_computation(encoder):
    batch = make_batch(encoder, SENTENCES)
    enc = batch.encoded
    scores = make_method("attention_norm_last").explain(encoder, batch).token_scores
    with torch.no_grad():
        trace = trace_layers(encoder.model, enc.input_ids, enc.attention_mask)
        parts = trace.parts[-1]
        x = trace.inputs[-1]
        value = value_module(parts)(x)  # [B, T, D]: heads side by side
        weight = parts.output_projection.weight
        manual = torch.zeros_like(scores)
        for b in range(2):
            for j in range(x.shape[1]):
                total = torch.zeros(weight.shape[0])
                for h in range(2):
                    block = slice(16 * h, 16 * (h + 1))
                    total += trace.probabilities[-1][b, h, 0, j] * (weight[:, block] @ value[b, j, block])
                manual[b, j] = total.norm()
    assert torch.allclose(scores, manual, atol=1e-6)


def test_alti_decomposition_reconstructs_the_attention_block_output(encoder):
    """The per-token vectors plus the bias terms sum to the model's own layer-norm output."""
    enc = encoder.encode([s.split() for s in SENTENCES])
    with torch.no_grad():
        trace = trace_layers(encoder.model, enc.input_ids, enc.attention_mask)
        for layer in range(trace.num_layers):
            contributions, reconstruction = alti_layer(trace, layer, enc.attention_mask)
            assert torch.allclose(reconstruction, trace.attention_outputs[layer], atol=1e-5)
            real = enc.attention_mask.bool()
            assert torch.allclose(contributions.sum(-1)[real], torch.tensor(1.0), atol=1e-5)
            row, _ = alti_layer(trace, layer, enc.attention_mask, outputs=torch.tensor([0]), max_elements=64)
            assert torch.allclose(row[:, 0], contributions[:, 0], atol=1e-6)


def test_alti_of_a_one_layer_model_is_the_cls_row_of_its_contributions(minilm_tokenizer):
    model = build_encoder("distilbert", minilm_tokenizer, layers=1)
    enc = model.encode([s.split() for s in SENTENCES])
    with torch.no_grad():
        trace = trace_layers(model.model, enc.input_ids, enc.attention_mask)
        full, _ = alti_layer(trace, 0, enc.attention_mask)
        assert torch.allclose(alti(trace, enc.attention_mask), full[:, 0], atol=1e-6)


# --------------------------------------------------------------------------- value zeroing


class IgnoreToken(AttentionControl):
    """Attention that never looks at token ``position`` (its column zeroed, rows renormalised)."""

    def __init__(self, position: int) -> None:
        self.position = position

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        probs = probs.clone()
        probs[..., self.position] = 0.0
        return probs / probs.sum(-1, keepdim=True)


def test_value_zeroing_of_an_ignored_token_changes_nothing(encoder):
    enc = encoder.encode([SENTENCES[1].split()])
    ignored = 3
    layers = value_zeroing_layers(encoder.model, enc.input_ids, enc.attention_mask, control=IgnoreToken(ignored))
    assert layers[..., ignored].abs().max() < 1e-6  # zero change in every layer, for every output token
    others = torch.ones(layers.shape[-1], dtype=torch.bool)
    others[ignored] = False
    assert (layers[0, :, :, others].sum(-1) > 0.99).all()  # the other tokens carry all of it
    plain = value_zeroing_layers(encoder.model, enc.input_ids, enc.attention_mask)
    assert plain[..., ignored].abs().max() > 1e-4  # without the intervention the token matters


def test_value_zeroing_equals_full_model_reruns(tiny_bert):
    """Batched one-layer reruns = zeroing the value in a full forward pass and reading that layer's output."""
    enc = tiny_bert.encode([SENTENCES[0].split()])
    length = enc.input_ids.shape[1]
    with torch.no_grad():
        original = trace_layers(tiny_bert.model, enc.input_ids, enc.attention_mask).outputs
    batched = value_zeroing_layers(tiny_bert.model, enc.input_ids, enc.attention_mask, batch_size=3)

    class ZeroOne(AttentionControl):
        def __init__(self, layer: int, position: int) -> None:
            self.layer, self.position = layer, position

        def values(self, layer: int, value: torch.Tensor, module: nn.Module) -> torch.Tensor:
            if layer == self.layer:
                value = value.clone()
                value[:, :, self.position] = 0.0
            return value

    manual = torch.zeros(2, length, length, dtype=torch.float64)
    for layer in range(2):
        for j in range(length):
            with torch.no_grad():
                changed = trace_layers(tiny_bert.model, enc.input_ids, enc.attention_mask,
                                       control=ZeroOne(layer, j)).outputs[layer]
            manual[layer, :, j] = 1 - torch.nn.functional.cosine_similarity(changed[0].double(),
                                                                            original[layer][0].double(), dim=-1)
    assert torch.allclose(batched[0].double(), normalise_rows(manual), atol=1e-4)
    # a token budget of one row per pass gives the same matrices
    one_row = value_zeroing_layers(tiny_bert.model, enc.input_ids, enc.attention_mask, max_tokens=1)
    # the same up to float32 rounding of the hidden states, which passes of other shapes may sum in another order;
    # 1 - cosine of nearly parallel states cancels, and normalising the rows scales that up
    assert torch.allclose(one_row, batched, atol=1e-4)


# ---------------------------------------------------------------------- attention x gradient


class FreeAttention(AttentionControl):
    """Replaces layer ``layer``'s probabilities by a leaf tensor holding the same values."""

    def __init__(self, layer: int, leaf: torch.Tensor) -> None:
        self.layer, self.leaf = layer, leaf

    def probabilities(self, layer: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
        return self.leaf if layer == self.layer else probs


def test_attention_x_gradient_matches_a_manual_autograd_computation(encoder):
    batch = make_batch(encoder, SENTENCES)
    enc = batch.encoded
    embeddings = encoder.embed(enc.input_ids).detach()
    products, probability = attention_times_gradient(encoder.model, embeddings, enc.attention_mask, batch.target)
    with torch.no_grad():
        maps = encoder.attention_maps(enc.input_ids, enc.attention_mask)
    for layer in range(2):
        leaf = maps[:, layer].clone().requires_grad_()
        with attention_control(FreeAttention(layer, leaf)):
            logits = encoder.model(inputs_embeds=embeddings, attention_mask=enc.attention_mask).logits
        p = torch.softmax(logits, -1).gather(1, batch.target.view(-1, 1)).sum()
        (gradient,) = torch.autograd.grad(p, leaf)
        assert torch.allclose(products[:, layer], maps[:, layer] * gradient, atol=1e-7)
    assert all(param.grad is None for param in encoder.model.parameters())  # no parameter gradients left behind
    scores = make_method("attention_x_gradient").explain(encoder, batch).token_scores
    assert torch.allclose(scores, products[:, :, :, 0].sum(dim=(1, 2)), atol=1e-7)


def test_attention_x_gradient_is_a_first_order_estimate_of_removing_an_edge(tiny_bert):
    """Scaling one [CLS]-row edge by (1 - eps) changes the output by about -eps * alpha * grad."""
    batch = make_batch(tiny_bert, SENTENCES[:1])
    enc = batch.encoded
    embeddings = tiny_bert.embed(enc.input_ids).detach()
    products, probability = attention_times_gradient(tiny_bert.model, embeddings, enc.attention_mask, batch.target)
    layer, head, j, eps = 1, 0, 2, 1e-3

    class Scale(AttentionControl):
        def probabilities(self, index: int, probs: torch.Tensor, module: nn.Module) -> torch.Tensor:
            if index == layer:
                probs = probs.clone()
                probs[:, head, 0, j] *= 1 - eps
            return probs

    with torch.no_grad(), attention_control(Scale()):
        logits = tiny_bert.model(inputs_embeds=embeddings, attention_mask=enc.attention_mask).logits
    changed = torch.softmax(logits.double(), -1)[0, batch.target[0]]  # p in float64, as the method takes it
    expected = -eps * products[0, layer, head, 0, j].double()
    assert torch.isclose(changed - probability[0], expected, rtol=1e-2, atol=1e-9)


def test_cosine_distance_keeps_precision_for_nearly_parallel_vectors():
    a = torch.tensor([[1.0, 2.0, 3.0]])
    b = a + torch.tensor([[0.0, 1e-4, 0.0]])
    exact = 1 - torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)
    assert torch.allclose(cosine_distance(a, b).double(), exact, rtol=1e-3)
    assert torch.allclose(cosine_distance(a, 2 * a), torch.zeros(1), atol=1e-12)


def test_head_output_vectors_split_the_projection_by_head():
    projection = nn.Linear(6, 4)
    value = torch.randn(1, 2, 3, 3)  # [B, H, T, Dh]
    vectors = head_output_vectors(value, projection)
    joined = value.transpose(1, 2).reshape(1, 3, 6)  # heads side by side, as the encoders concatenate them
    assert torch.allclose(vectors.sum(1), joined @ projection.weight.T, atol=1e-6)


def test_rollout_helper_and_flow_share_the_residual_adjustment():
    torch.manual_seed(1)
    maps = torch.softmax(torch.randn(1, 3, 2, 4, 4), -1)
    adjusted = residual_adjusted(maps)
    manual = adjusted[:, 2] @ adjusted[:, 1] @ adjusted[:, 0]
    assert torch.allclose(rollout(maps), manual, atol=1e-6)
