"""The RNN attention gradient and attention x gradient (Serrano & Smith 2019) compute what they define."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, make_batch

from analysis.attention.rnn_gradient import rnn_attention_gradient
from analysis.config import load_config, methods_for
from analysis.importance import IMPORTANCE_METHODS, MethodSettingsError, compute_importance, make_method
from analysis.importance.base import target_probability
from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary

SENTENCES = ["the film was great", "a dull plot , not great at all", "awful", "not a great film but not awful"]
METHODS = ("rnn_attention_gradient", "rnn_attention_x_gradient")


def random_rnn(encoder: str = "lstm", attention: str = "tanh") -> RNNClassifier:
    """A random-weights attention RNN in float64 (finite differences need the precision)."""
    torch.manual_seed(3)
    vocab = Vocabulary.build([s.split() for s in SENTENCES])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=3, encoder=encoder, attention=attention,
                                     embed_dim=12, hidden_dim=6, attention_dim=5, dropout=0.0))
    return RNNClassifier(network.double(), vocab, max_length=32)


def probability_with_weights(model: RNNClassifier, batch, alpha: torch.Tensor) -> torch.Tensor:
    """p_target with ``alpha`` pooling the model's hidden states, written out by hand (no renormalisation)."""
    network = model.network
    enc = batch.encoded
    with torch.no_grad():
        hidden = network.encode(model.embed(enc.input_ids), enc.attention_mask)
        logits = network.classifier(torch.einsum("bt,btd->bd", alpha, hidden))
        return target_probability(logits, batch.target)


@pytest.mark.parametrize("encoder,attention", [("lstm", "tanh"), ("lstm", "dot"), ("lstm", "uniform"),
                                               ("cnn", "tanh"), ("average", "dot")])
def test_gradient_matches_central_finite_differences_of_the_weighted_sum(encoder, attention):
    """(p(alpha + h e_i) - p(alpha - h e_i)) / 2h, alpha perturbed in the weighted sum only, equals the score."""
    model = random_rnn(encoder, attention)
    batch = make_batch(model, SENTENCES)
    scores = make_method("rnn_attention_gradient").explain(model, batch).token_scores
    alpha, _, probability = rnn_attention_gradient(model, batch.encoded, batch.target)
    assert torch.allclose(probability_with_weights(model, batch, alpha), probability, atol=1e-12)
    h = 1e-5
    mask = batch.encoded.attention_mask.bool()
    estimate = torch.zeros_like(alpha)
    for i in range(alpha.shape[1]):
        step = torch.zeros_like(alpha)
        step[:, i] = h
        estimate[:, i] = (probability_with_weights(model, batch, alpha + step)
                          - probability_with_weights(model, batch, alpha - step)) / (2 * h)
    assert scores.dtype == torch.float64
    assert torch.allclose(scores[mask], estimate[mask], rtol=1e-6, atol=1e-9)
    assert torch.all(scores[~mask] == 0)  # padding: no hidden state, no gradient
    assert scores[mask].abs().max() > 1e-3  # not trivially zero


@pytest.mark.parametrize("attention", ["tanh", "dot"])
def test_gradient_equals_the_gradient_wrt_the_attention_tensor_inside_the_models_graph(attention):
    """The leaf put back through ``attention_override`` gives the partial derivative w.r.t. the model's own
    attention tensor as its forward pass uses it (uniform attention is a constant, outside any graph)."""
    model = random_rnn(attention=attention)
    batch = make_batch(model, SENTENCES)
    enc = batch.encoded
    _, gradient, _ = rnn_attention_gradient(model, enc, batch.target)
    logits, weights = model.network(model.embed(enc.input_ids), enc.attention_mask)
    (expected,) = torch.autograd.grad(target_probability(logits, batch.target).sum(), weights)
    assert torch.allclose(gradient, expected, rtol=1e-12, atol=1e-15)


def test_attention_x_gradient_is_attention_times_the_gradient():
    model = random_rnn()
    batch = make_batch(model, SENTENCES)
    gradient = make_method("rnn_attention_gradient").explain(model, batch).token_scores
    product = make_method("rnn_attention_x_gradient").explain(model, batch).token_scores
    attention = make_method("rnn_attention").explain(model, batch).token_scores
    assert torch.allclose(product, attention * gradient, rtol=1e-12, atol=1e-15)
    assert not torch.allclose(product, gradient)


def test_methods_explain_the_predicted_class_by_default_and_pool_one_score_per_word():
    """Through the engine: one score per word, for the predicted class, equal to the raw position scores."""
    model = random_rnn()
    examples = pd.DataFrame({"example_id": [f"e{i}" for i in range(len(SENTENCES))],
                             "words": [s.split() for s in SENTENCES], "label": [0] * len(SENTENCES)})
    batch = make_batch(model, SENTENCES)
    _, gradient, _ = rnn_attention_gradient(model, batch.encoded, batch.target)
    table, _ = compute_importance(model, examples, make_method("rnn_attention_gradient"), progress=False)
    assert table["family"].unique().tolist() == ["attention"] and table["signed"].all()
    for i, sentence in enumerate(SENTENCES):
        rows = table[table["example_id"] == f"e{i}"].sort_values("word_index")
        assert rows["word"].tolist() == sentence.split()
        assert (rows["predicted"] == int(batch.target[i])).all()
        assert np.allclose(rows["score"].to_numpy(), gradient[i, : len(sentence.split())].numpy(), atol=1e-12)


def planted_rnn() -> RNNClassifier:
    """The output reads one position's hidden state only, and that position gets the least attention.

    No encoder (each hidden state is tanh of its own word's embedding), dot attention. The
    word ``key`` alone has a non-zero first hidden coordinate, the only one the classifier
    reads; every other word has a large second coordinate, which the attention query
    favours. So p depends on alpha_key alone, while raw attention puts ``key`` last.
    """
    vocab = Vocabulary.build([["key", "a", "b", "c"]])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, encoder="average", attention="dot",
                                     embed_dim=4, hidden_dim=2, dropout=0.0)).double()
    with torch.no_grad():
        network.embedding.weight[vocab.ids(["key"])[0]] = torch.tensor([2.0, 0.0, 0.0, 0.0])
        for word, third in zip("abc", (0.5, -0.5, 1.0)):
            network.embedding.weight[vocab.ids([word])[0]] = torch.tensor([0.0, 2.0, third, 0.0])
        network.projection.weight.copy_(torch.eye(4))
        network.projection.bias.zero_()
        network.attn_query.copy_(torch.tensor([0.0, 6.0, 0.0, 0.0]))
        network.classifier.weight.zero_()
        network.classifier.weight[:, 0] = torch.tensor([3.0, -3.0])
        network.classifier.bias.zero_()
    return RNNClassifier(network, vocab, max_length=16)


def test_the_only_position_the_output_reads_has_the_largest_gradient():
    model = planted_rnn()
    sentences = ["a b key c", "key a a b c", "c b a c key", "b key"]
    batch = make_batch(model, sentences)
    key = [s.split().index("key") for s in sentences]
    attention = make_method("rnn_attention").explain(model, batch).token_scores
    gradient = make_method("rnn_attention_gradient").explain(model, batch).token_scores
    product = make_method("rnn_attention_x_gradient").explain(model, batch).token_scores
    mask = batch.encoded.attention_mask.bool()
    for row, k in enumerate(key):
        real = mask[row]
        assert int(attention[row][real].argmin()) == k  # raw attention ranks the planted word last
        assert int(gradient[row][real].abs().argmax()) == k
        assert int(product[row][real].abs().argmax()) == k
        others = torch.ones_like(real)
        others[k] = False
        assert torch.all(gradient[row][real & others] == 0)  # the output reads no other position
        assert gradient[row, k] > 0  # more weight on key raises the predicted class's probability


def test_removal_test_picks_the_new_rankings_up_when_no_methods_are_named():
    """``interventions.methods: null``: every method of the importance table is ranked and removed in order."""
    from analysis.interventions.ablation import rankings_from_importance
    from analysis.interventions.attention import make_adapter
    from analysis.interventions.model_side import removal_test

    model = random_rnn()
    examples = pd.DataFrame({"example_id": [f"e{i}" for i in range(len(SENTENCES))],
                             "words": [s.split() for s in SENTENCES], "label": [0] * len(SENTENCES)})
    importance = pd.concat([compute_importance(model, examples, make_method(name), progress=False)[0]
                            for name in ("rnn_attention", *METHODS)], ignore_index=True)
    enc = model.encode(list(examples["words"]))
    ids = examples["example_id"].tolist()
    rankings = rankings_from_importance(importance, ids, enc.n_words_kept, methods=None, ranking="signed", seed=0)
    assert set(rankings) == {"rnn_attention", *METHODS, "random"}
    table = removal_test(make_adapter(model), enc, ids, rankings)
    assert set(table["method"]) == {"rnn_attention", *METHODS, "random"}
    assert len(table) == 4 * len(SENTENCES)


@pytest.mark.parametrize("name", METHODS)
def test_methods_refuse_transformers_and_are_filtered_out_for_them(name, tiny_bert):
    method = make_method(name)
    assert IMPORTANCE_METHODS.get(name).family == "attention" and method.signed
    assert "Serrano & Smith 2019" in method.citation
    assert not method.supports(tiny_bert)
    with pytest.raises(MethodSettingsError, match=r"works on \['rnn'\] models, not on a transformer"):
        method.check_model(tiny_bert)
    config = load_config(ROOT / "config" / "tiny.yaml")
    assert name in methods_for(config, "bilstm_tanh")
    assert name not in methods_for(config, "minilm")
