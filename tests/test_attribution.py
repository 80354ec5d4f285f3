"""Attribution methods compute what their papers define."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_batch

from analysis.importance import MethodSettingsError, compute_importance, make_method, pool_to_words, target_probability
from analysis.models.base import length_sorted_chunks, pad_sequences

SENTENCES = ["the film was great", "a dull plot , not great at all", "awful"]


def sharpen(model, sentences: list[str], *, gap: float = 5.0) -> None:
    """Scale a random model's classifier so the widest logit gap over ``sentences`` is about ``gap``.

    Small changes inside then move the output visibly, without the float32 saturation
    (p == 1 exactly) that a fixed large factor gives for some random draws.
    """
    enc = model.encode([s.split() for s in sentences])
    head = model.module.classifier
    with torch.no_grad():
        logits = model.logits(enc.input_ids, enc.attention_mask) - head.bias
        head.weight *= gap / float((logits.max(-1).values - logits.min(-1).values).max())


@pytest.mark.parametrize("model_name", ["tiny_bert", "tiny_rnn"])
def test_integrated_gradients_completeness(model_name, request):
    """sum(attr) = f(x) - f(baseline) within the tolerance, and the recorded gap is that difference."""
    model = request.getfixturevalue(model_name)
    method = make_method("integrated_gradients", {"n_steps": 16, "max_steps": 512, "tolerance": 1e-3})
    batch = make_batch(model, SENTENCES)
    out = method.explain(model, batch)
    enc = batch.encoded
    from analysis.attribution.gradient import baseline_ids

    with torch.no_grad():
        fx = target_probability(model.logits(enc.input_ids, enc.attention_mask), batch.target)
        base = baseline_ids(model, enc, "pad")
        fb = target_probability(model.logits(base, enc.attention_mask), batch.target)
    total = out.token_scores.sum(dim=1).numpy()
    expected = (fx - fb).double().numpy()
    assert np.all(np.abs(total - expected) < 2e-3)
    assert np.allclose(out.completeness_gap, total - expected, atol=1e-5)
    # pooling by sum keeps completeness at the word level up to the special-token share
    words = pool_to_words(out.token_scores, enc.word_index, enc.n_words_kept, "sum")
    assert [len(w) for w in words] == [len(s.split()) for s in SENTENCES]


@pytest.mark.parametrize("model_name", ["tiny_bert", "tiny_rnn"])
def test_adaptive_integrated_gradients_keeps_its_most_complete_round(model_name, request):
    """Refining never ends further from completeness than the first 32-step round: every example's |gap| is at most
    the fixed 32-step |gap|, and its scores are those of the round whose gap it reports."""
    model = request.getfixturevalue(model_name)
    sharpen(model, SENTENCES)
    batch = make_batch(model, SENTENCES)
    fixed = make_method("integrated_gradients", {"n_steps": 32, "max_steps": 32, "tolerance": 1e-9}).explain(model, batch)
    adaptive = make_method("integrated_gradients", {"n_steps": 32, "max_steps": 256, "tolerance": 1e-9}).explain(
        model, batch)
    assert (np.abs(adaptive.completeness_gap) <= np.abs(fixed.completeness_gap) + 1e-12).all()
    with torch.no_grad():
        enc = batch.encoded
        from analysis.attribution.gradient import baseline_ids

        fx = target_probability(model.logits(enc.input_ids, enc.attention_mask), batch.target)
        fb = target_probability(model.logits(baseline_ids(model, enc, "pad"), enc.attention_mask), batch.target)
    total = adaptive.token_scores.sum(dim=1).double().numpy()
    assert np.allclose(total - (fx - fb).numpy(), adaptive.completeness_gap, atol=1e-5)


@pytest.mark.parametrize("model_name", ["tiny_bert", "tiny_rnn"])
def test_integrated_gradients_token_budget_chunks_the_path_without_changing_scores(model_name, request):
    """A token budget of one sequence per forward pass gives the same scores, gaps and steps as one big batch."""
    model = request.getfixturevalue(model_name)
    settings = {"n_steps": 8, "max_steps": 64, "tolerance": 1e-3}
    batch = make_batch(model, SENTENCES)
    whole = make_method("integrated_gradients", settings).explain(model, batch)
    chunked = make_method("integrated_gradients", {**settings, "max_batch_tokens": 1}).explain(model, batch)
    assert np.allclose(chunked.token_scores.numpy(), whole.token_scores.numpy(), atol=1e-6)
    assert np.allclose(chunked.completeness_gap, whole.completeness_gap, atol=1e-6)
    assert np.array_equal(chunked.n_steps, whole.n_steps)


def test_ig_baseline_keeps_special_tokens(tiny_bert):
    from analysis.attribution.gradient import baseline_ids

    enc = tiny_bert.encode([["the", "film"]])
    base = baseline_ids(tiny_bert, enc, "mask")
    tok = tiny_bert.tokenizer
    assert base[0, 0] == tok.cls_token_id and base[0, -1] == tok.sep_token_id
    assert torch.all(base[0, 1:-1] == tok.mask_token_id)


@pytest.mark.parametrize("method", ["integrated_gradients", "shapley_sampling"])
def test_a_word_the_tokenizer_maps_to_unk_is_replaced_in_the_baseline_and_scored(tiny_bert, method):
    """[UNK] is among the tokenizer's special ids, but a word that becomes [UNK] (an emoji) is a word: kept in the
    baseline it would get exactly zero by construction (x - x' = 0), as the RNNs' <unk> once did."""
    from analysis.attribution.gradient import baseline_ids

    tok = tiny_bert.tokenizer
    enc = tiny_bert.encode([["the", "\U0001F600", "film"]])
    assert enc.input_ids[0, 2] == tok.unk_token_id  # the emoji is [UNK]
    base = baseline_ids(tiny_bert, enc, "mask")
    assert base[0, 0] == tok.cls_token_id and base[0, -1] == tok.sep_token_id
    assert torch.all(base[0, 1:-1] == tok.mask_token_id)  # every word's token masked, [UNK] included
    with torch.no_grad():
        tiny_bert.module.classifier.weight *= 500  # make the output depend visibly on every input
    batch = make_batch(tiny_bert, ["the \U0001F600 film"])
    out = make_method(method, {"n_samples": 3} if method == "shapley_sampling" else {}).explain(tiny_bert, batch)
    words = pool_to_words(out.token_scores, batch.encoded.word_index, batch.encoded.n_words_kept, "sum")
    assert abs(words[0][1]) > 1e-6


@pytest.mark.parametrize("model_name", ["tiny_bert", "tiny_rnn"])
def test_leave_one_out_equals_manual_deletion(model_name, request):
    model = request.getfixturevalue(model_name)
    sharpen(model, SENTENCES)  # so that deletions move the output visibly
    batch = make_batch(model, SENTENCES)
    out = make_method("loo_delete").explain(model, batch)
    for row, sentence in enumerate(SENTENCES):
        words = sentence.split()
        target = batch.target[row : row + 1]
        with torch.no_grad():
            full = model.encode([words])
            p_full = target_probability(model.logits(full.input_ids, full.attention_mask), target)
            for j in range(len(words)):
                reduced = words[:j] + words[j + 1 :]
                if reduced:
                    enc = model.encode([reduced])
                    ids, mask = enc.input_ids, enc.attention_mask
                else:  # deleting the only word leaves the special tokens (or nothing for an RNN)
                    ids, mask = pad_sequences([[t for t, w in zip(full.input_ids[0].tolist(),
                                                                  full.word_index[0].tolist()) if w < 0]],
                                              model.pad_token_id)
                p = target_probability(model.logits(ids, mask), target)
                assert out.word_scores[row][j] == pytest.approx(float(p_full - p), abs=1e-4)
        assert np.abs(out.word_scores[row]).max() > 1e-3  # the comparison is not between zeros


@pytest.mark.parametrize("method", ["loo_delete", "loo_mask"])
def test_leave_one_out_on_a_confident_prediction_is_not_float32_rounding(tiny_rnn, method):
    """With p(predicted) within ~1e-7 of 1, float32 probabilities would round every word's drop to a few multiples of
    6e-8 (ties broken by word order downstream); the drops are taken in float64 from the logits, so each word keeps
    its own value, equal to softmax(logits) in float64."""
    with torch.no_grad():
        tiny_rnn.module.classifier.weight *= 60.0  # saturate the prediction
        tiny_rnn.module.classifier.bias += torch.tensor([8.0, -8.0])
    sentence = "the film was great but the plot was dull and the ending was not good at all"
    batch = make_batch(tiny_rnn, [sentence])
    with torch.no_grad():
        logits = tiny_rnn.logits(batch.encoded.input_ids, batch.encoded.attention_mask)
    assert 1 - float(torch.softmax(logits.double(), -1).max()) < 1e-6  # a float32 probability would be 1.0 or 1 - 6e-8
    out = make_method(method).explain(tiny_rnn, batch)
    words = (out.word_scores[0] if out.word_scores is not None else
             pool_to_words(out.token_scores, batch.encoded.word_index, batch.encoded.n_words_kept, out.pooling)[0])
    n_words = len(sentence.split())
    assert len(np.unique(words)) >= n_words - 4  # only the repeated words ("the", "was") may share a value
    assert np.abs(words).max() < 1e-5 and np.abs(words).max() > 0  # all drops tiny, but resolved
    word = int(np.argmax(np.abs(words)))
    tokens = tiny_rnn.encode([sentence.split()])
    ids = (tokens.input_ids.clone() if method == "loo_mask" else None)
    with torch.no_grad():
        if method == "loo_mask":
            ids[0, word] = tiny_rnn.mask_token_id
            reduced = tiny_rnn.logits(ids, tokens.attention_mask)
        else:
            kept = tiny_rnn.encode([sentence.split()[:word] + sentence.split()[word + 1:]])
            reduced = tiny_rnn.logits(kept.input_ids, kept.attention_mask)
    target = int(batch.target[0])
    expected = float(torch.softmax(logits.double(), -1)[0, target] - torch.softmax(reduced.double(), -1)[0, target])
    assert words[word] == pytest.approx(expected, rel=1e-6)


def test_leave_one_out_mask_uses_mask_token(tiny_bert):
    batch = make_batch(tiny_bert, ["the film was great"])
    out = make_method("loo_mask").explain(tiny_bert, batch)
    scores = pool_to_words(out.token_scores, batch.encoded.word_index, batch.encoded.n_words_kept, out.pooling)[0]
    ids = batch.encoded.input_ids.clone()
    ids[0, 2] = tiny_bert.mask_token_id  # token of word 1 ("film")
    with torch.no_grad():
        p0 = target_probability(tiny_bert.logits(batch.encoded.input_ids, batch.encoded.attention_mask), batch.target)
        p1 = target_probability(tiny_bert.logits(ids, batch.encoded.attention_mask), batch.target)
    assert scores[1] == pytest.approx(float(p0 - p1), abs=1e-5)


@pytest.mark.parametrize("model_name", ["tiny_bert", "tiny_rnn"])
def test_leave_one_out_mask_equals_manual_masking_in_a_mixed_length_batch(model_name, request):
    """Every word of every row (4, 8 and 1 words in one batch), with a token budget that splits each
    example's perturbations over several passes: p(y|x) minus p(y|x with the word's tokens masked)."""
    model = request.getfixturevalue(model_name)
    sharpen(model, SENTENCES)
    batch = make_batch(model, SENTENCES)
    out = make_method("loo_mask", {"max_batch_tokens": 8}).explain(model, batch)
    scores = pool_to_words(out.token_scores, batch.encoded.word_index, batch.encoded.n_words_kept, out.pooling)
    for row, sentence in enumerate(SENTENCES):
        enc = model.encode([sentence.split()])
        target = batch.target[row : row + 1]
        with torch.no_grad():
            p_full = target_probability(model.logits(enc.input_ids, enc.attention_mask), target)
            for word in range(len(sentence.split())):
                ids = torch.where(enc.word_index == word, model.mask_token_id, enc.input_ids)
                p = target_probability(model.logits(ids, enc.attention_mask), target)
                assert scores[row][word] == pytest.approx(float(p_full - p), abs=1e-5)
        assert np.abs(scores[row]).max() > 1e-3
    assert out.forward_passes.tolist() == [n + 2.0 for n in batch.encoded.n_words_kept]


def test_length_sorted_chunks_cover_every_row_within_the_budget():
    lengths = np.random.default_rng(0).integers(1, 60, 300)
    chunks = length_sorted_chunks(lengths, cap=16, max_tokens=100)
    flat = np.concatenate(chunks)
    assert sorted(flat.tolist()) == list(range(300)) and np.all(np.diff(lengths[flat]) >= 0)
    for chunk, following in zip(chunks, [*chunks[1:], None]):
        assert len(chunk) <= 16 and (len(chunk) == 1 or len(chunk) * lengths[chunk].max() <= 100)
        if following is not None:  # as full as the budget allows: one more row would not fit
            assert len(chunk) == 16 or (len(chunk) + 1) * lengths[following[0]] > 100
    assert [len(c) for c in length_sorted_chunks([5, 500, 7], cap=8, max_tokens=None)] == [3]


def test_token_budget_does_not_change_leave_one_out(tiny_bert):
    sharpen(tiny_bert, SENTENCES)
    batch = make_batch(tiny_bert, SENTENCES)
    default = make_method("loo_delete").explain(tiny_bert, batch).word_scores
    budgeted = make_method("loo_delete", {"max_batch_tokens": 1, "batch_size": 3}).explain(tiny_bert, batch).word_scores
    for a, b in zip(default, budgeted):
        np.testing.assert_allclose(a, b, atol=1e-5)  # float32 sums over different padding


def test_batching_settings_do_not_key_a_result():
    """What a cached result is keyed by: settings that change the scores, not how work is batched."""
    from analysis.importance.base import BATCHING_SETTINGS

    for name in ("loo_delete", "loo_mask", "value_zeroing", "integrated_gradients"):
        method = make_method(name)
        batching = {k: 7 for k in method.settings if k in BATCHING_SETTINGS}
        assert batching and make_method(name, batching).result_settings() == method.result_settings()
    ig = make_method("integrated_gradients")
    assert make_method("integrated_gradients", {"tolerance": 0.1}).result_settings() != ig.result_settings()


@pytest.mark.parametrize("value", [0, -5, "many", True, 2.5])
def test_token_budget_setting_is_auto_or_a_positive_whole_number(value):
    assert make_method("loo_delete", {"max_batch_tokens": "4096"}).settings["max_batch_tokens"] == 4096
    with pytest.raises(MethodSettingsError, match="'auto' or a positive whole number"):
        make_method("value_zeroing", {"max_batch_tokens": value})


def _embedding_gradient(model, batch, **forward_options) -> tuple[torch.Tensor, torch.Tensor]:
    """The word embeddings and the gradient of the explained class's probability w.r.t. them, by plain autograd."""
    emb = model.embed(batch.encoded.input_ids).detach().requires_grad_()
    p = target_probability(model.logits_from_embeddings(emb, batch.encoded.attention_mask, **forward_options),
                           batch.target)
    (grad,) = torch.autograd.grad(p.sum(), emb)
    return emb.detach(), grad


def test_saliency_is_gradient_norm(tiny_rnn):
    batch = make_batch(tiny_rnn, ["the film was great"])
    out = make_method("saliency").explain(tiny_rnn, batch)
    _, grad = _embedding_gradient(tiny_rnn, batch)
    assert torch.allclose(out.token_scores, grad.norm(dim=-1), atol=1e-6)


def test_saliency_of_a_word_is_the_gradient_norm_over_all_its_subword_embeddings(tiny_bert):
    """Not the sum of its subwords' norms, which grows with their number: sqrt of the sum of squares, on every token."""
    batch = make_batch(tiny_bert, ["the film was unforgettable"])
    enc = batch.encoded
    out = make_method("saliency").explain(tiny_bert, batch)
    words = pool_to_words(out.token_scores, enc.word_index, enc.n_words_kept, out.pooling)[0]
    _, grad = _embedding_gradient(tiny_bert, batch)
    owner = enc.word_index[0]
    assert (owner == 3).sum() > 1  # "unforgettable" is several subwords
    expected = [float(grad[0, owner == w].norm()) for w in range(4)]  # the norm of the stacked gradient
    assert np.allclose(words, expected, rtol=1e-5)
    summed = float(grad[0, owner == 3].norm(dim=-1).sum())
    assert words[3] < summed * 0.99  # strictly less than the sum of the subwords' norms


@pytest.mark.parametrize("model_name", ["tiny_bert", "tiny_rnn"])
def test_grad_x_input_is_the_gradient_times_the_embedding(model_name, request):
    """Summed over the embedding dimension, one signed score per token."""
    model = request.getfixturevalue(model_name)
    batch = make_batch(model, SENTENCES)
    out = make_method("grad_x_input").explain(model, batch).token_scores
    emb, grad = _embedding_gradient(model, batch)
    expected = (grad * emb).sum(-1)
    assert torch.allclose(out, expected, atol=1e-7)
    assert expected.abs().max() > 1e-4 and (expected < 0).any() and (expected > 0).any()


def test_jw_gradient_holds_attention_fixed(tiny_rnn):
    """With attention detached the gradient differs from the ordinary one (attention depends on input)."""
    batch = make_batch(tiny_rnn, ["the film was great"])
    fixed = make_method("jw_gradient").explain(tiny_rnn, batch).token_scores
    emb, grad = _embedding_gradient(tiny_rnn, batch, detach_attention=True)
    assert torch.allclose(fixed, (grad * emb).sum(-1).abs(), atol=1e-6)
    ordinary = make_method("grad_x_input").explain(tiny_rnn, batch).token_scores.abs()
    assert not torch.allclose(fixed, ordinary, atol=1e-6)


@pytest.mark.parametrize("method", ["saliency", "grad_x_input", "jw_gradient"])
def test_gradient_methods_on_a_saturated_prediction_are_not_float32_rounding(tiny_rnn, method):
    """With 1 - p within ~1e-8 of 0, a float32 softmax rounds p to 1.0 and its backward pass keeps only the other
    class's term; the gradient must be the exact one, p_t p_o grad(z_t - z_o) for two classes, with p in float64."""
    with torch.no_grad():
        tiny_rnn.module.classifier.weight *= 60.0  # saturate the prediction
        tiny_rnn.module.classifier.bias += torch.tensor([8.0, -8.0])
    batch = make_batch(tiny_rnn, ["the film was great but the plot was dull and the ending was not good at all"])
    detach = {"detach_attention": True} if method == "jw_gradient" else {}
    emb = tiny_rnn.embed(batch.encoded.input_ids).detach().requires_grad_()
    logits = tiny_rnn.logits_from_embeddings(emb, batch.encoded.attention_mask, **detach)
    target = int(batch.target[0])
    p = torch.softmax(logits.detach().double(), -1)[0]
    assert float(1 - p[target]) < 1e-7 and float(torch.softmax(logits.detach(), -1)[0, target]) == 1.0
    (margin,) = torch.autograd.grad(logits[0, target] - logits[0, 1 - target], emb)
    exact = (p[target] * p[1 - target]) * margin[0].double()  # d p_t / d embeddings [T, D]
    expected = {"saliency": exact.norm(dim=-1), "grad_x_input": (exact * emb[0].double()).sum(-1),
                "jw_gradient": (exact * emb[0].double()).sum(-1).abs()}[method]
    got = make_method(method).explain(tiny_rnn, batch).token_scores[0].double()
    assert torch.allclose(got, expected, rtol=1e-3, atol=0)
    assert expected.abs().max() > 0


def test_lime_weights_samples_with_lime_bases_kernel():
    """lime_base.py: kernel(d) = sqrt(exp(-d^2 / width^2)), d the cosine distance (x 100) to the full input; a sample
    keeping 1 of 4 words is at cosine distance 1 - 1/2."""
    method = make_method("lime", {"n_samples": 50})
    z, weights = method.coalitions(4, np.random.default_rng(0))
    kept = z.sum(1)
    distance = np.where(kept > 0, 1 - kept / (np.sqrt(np.maximum(kept, 1)) * 2.0), 1.0) * 100
    assert np.allclose(weights, np.sqrt(np.exp(-distance**2 / 25.0**2)))
    one = np.flatnonzero(kept == 1)[0]
    assert weights[one] == pytest.approx(np.exp(-0.5 * 50.0**2 / 25.0**2))


def test_a_word_without_tokens_scores_zero_under_every_pooling():
    """A word the tokenizer drops entirely (a lone U+200D) owns no token: it gets 0, never another column's score
    (under "first" it once read the last padded column, the special tokens' score)."""
    from analysis.importance.pooling import POOLINGS, word_sums_on_tokens

    word_index = torch.tensor([[-1, 0, 0, 2, -1, -1]])  # [CLS] w0 w0 w2 [SEP] [PAD]; word 1 has no token
    scores = torch.tensor([[9.0, 1.0, 2.0, 3.0, 7.0, 5.0]])
    for how in POOLINGS:
        pooled = pool_to_words(scores, word_index, [3], how)[0]
        assert pooled[1] == 0.0 and pooled[2] == 3.0, how
    assert pool_to_words(scores, word_index, [3], "first")[0][0] == 1.0
    # word ids beyond the sequence length (many tokenless words before them) stay in range
    sums = word_sums_on_tokens(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([[-1, 0, 9, -1]]))
    assert sums.tolist() == [[0.0, 2.0, 3.0, 0.0]]


def test_pooling_maps_subwords_to_words(minilm_tokenizer, tiny_bert):
    words = ["unbelievably", "good", "tokenization"]
    enc = tiny_bert.encode([words])
    pieces = minilm_tokenizer.convert_ids_to_tokens(enc.input_ids[0].tolist())
    # every token belongs to the word it was cut from; [CLS] and [SEP] to none
    owners = enc.word_index[0].tolist()
    assert owners[0] == -1 and owners[-1] == -1
    for word_index, word in enumerate(words):
        rebuilt = "".join(p.removeprefix("##") for p, o in zip(pieces, owners) if o == word_index)
        assert rebuilt == word
    scores = torch.arange(enc.input_ids.shape[1], dtype=torch.float64)[None]
    pooled = pool_to_words(scores, enc.word_index, enc.n_words_kept, "sum")[0]
    expected = [sum(i for i, o in enumerate(owners) if o == w) for w in range(3)]
    assert pooled.tolist() == expected
    first = pool_to_words(scores, enc.word_index, enc.n_words_kept, "first")[0]
    assert first.tolist() == [owners.index(w) for w in range(3)]
    assert pool_to_words(scores, enc.word_index, enc.n_words_kept, "max")[0].tolist() == [
        max(i for i, o in enumerate(owners) if o == w) for w in range(3)]


def test_engine_explains_predicted_class_and_records_gap(tiny_rnn):
    import pandas as pd

    examples = pd.DataFrame({"example_id": ["a", "b"], "words": [["the", "film"], ["awful", "plot", "a"]],
                             "label": [1, 0]})
    table, diag = compute_importance(tiny_rnn, examples, make_method("integrated_gradients"), progress=False)
    assert set(table["method"]) == {"integrated_gradients"}
    assert table.groupby("example_id").size().to_dict() == {"a": 2, "b": 3}
    enc = tiny_rnn.encode([["the", "film"], ["awful", "plot", "a"]])
    predicted = tiny_rnn.logits(enc.input_ids, enc.attention_mask).argmax(-1).tolist()
    assert table.drop_duplicates("example_id")["predicted"].tolist() == predicted
    assert diag["completeness_gap"].abs().max() < 0.01 and (diag["n_steps"] >= 32).all()


def test_method_rejects_wrong_model_kind_and_settings(tiny_bert):
    from analysis.importance import MethodSettingsError

    with pytest.raises(MethodSettingsError, match="rnn"):
        make_method("jw_gradient").check_model(tiny_bert)
    with pytest.raises(MethodSettingsError, match="n_steps"):
        make_method("integrated_gradients", {"steps": 3})


def test_gradient_method_needs_gradients(tiny_rnn, monkeypatch):
    from analysis.importance import MethodSettingsError

    monkeypatch.setattr(type(tiny_rnn), "gradient_capable", property(lambda self: False))
    with pytest.raises(MethodSettingsError, match="needs gradients"):
        make_method("saliency").check_model(tiny_rnn)


def test_path_adaptive_nodes_integrate_a_steep_step():
    """Nodes placed where the output changes integrate a near-step path far better than uniform ones."""
    from analysis.attribution.gradient import path_adaptive_nodes

    def f(a):
        return 1 / (1 + np.exp(-(a - 0.431) / 0.002))

    def df(a):
        return f(a) * (1 - f(a)) / 0.002

    grid = f(np.linspace(0, 1, 129))
    nodes, weights = path_adaptive_nodes(grid, 64, 16)
    assert weights.sum() == pytest.approx(1.0) and nodes.min() > 0 and nodes.max() < 1
    exact = f(1.0) - f(0.0)
    adaptive = float((weights * df(nodes)).sum())
    x, w = np.polynomial.legendre.leggauss(64)
    uniform = float((w / 2 * df((x + 1) / 2)).sum())
    assert abs(adaptive - exact) < 0.01 < abs(uniform - exact)


@pytest.mark.parametrize("model_name", ["tiny_bert", "tiny_rnn"])
def test_shapley_sampling_is_efficient(model_name, request):
    """Shapley values sum to f(x) - f(every word [MASK]ed), special tokens kept."""
    from analysis.attribution.gradient import baseline_ids

    model = request.getfixturevalue(model_name)
    with torch.no_grad():
        model.module.classifier.weight *= 500
    batch = make_batch(model, SENTENCES[:2])
    out = make_method("shapley_sampling", {"n_samples": 3}).explain(model, batch)
    words = pool_to_words(out.token_scores, batch.encoded.word_index, batch.encoded.n_words_kept, out.pooling)
    enc = batch.encoded
    with torch.no_grad():
        fx = target_probability(model.logits(enc.input_ids, enc.attention_mask), batch.target)
        masked = baseline_ids(model, enc, "mask")
        fb = target_probability(model.logits(masked, enc.attention_mask), batch.target)
    for row in range(2):
        assert words[row].sum() == pytest.approx(float(fx[row] - fb[row]), abs=1e-5)
    assert max(np.abs(w).max() for w in words) > 1e-3


def _exact_shapley(model, words, target):
    """Brute-force Shapley values of the words ([MASK] for absent ones) from every coalition."""
    import itertools
    import math

    from analysis.attribution.sampling import coalition_outputs

    enc = model.encode([words])
    n = len(words)
    z = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int8)
    values = dict(zip(map(tuple, z), coalition_outputs(model, enc.input_ids[0], enc.attention_mask[0],
                                                        enc.word_index[0], z, target, batch_size=64)))
    phi = np.zeros(n)
    for i in range(n):
        for coalition in z:
            if coalition[i]:
                continue
            s = int(coalition.sum())
            with_i = coalition.copy()
            with_i[i] = 1
            phi[i] += math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) * (
                values[tuple(with_i)] - values[tuple(coalition)])
    return phi


@pytest.mark.parametrize("model_name", ["tiny_bert", "tiny_rnn"])
def test_kernel_shap_with_every_coalition_is_the_exact_shapley_value(model_name, request):
    model = request.getfixturevalue(model_name)
    sharpen(model, ["a dull plot not great"])
    batch = make_batch(model, ["a dull plot not great"])
    out = make_method("kernel_shap", {"n_samples": 64}).explain(model, batch)  # 2^5 - 2 = 30 coalitions: all
    exact = _exact_shapley(model, "a dull plot not great".split(), int(batch.target[0]))
    assert np.abs(exact).max() > 1e-3
    assert np.allclose(out.word_scores[0], exact, atol=1e-6)


def test_sampled_kernel_shap_is_efficient_and_close_to_exact(tiny_rnn):
    sentence = "the film was great not awful a dull plot"
    sharpen(tiny_rnn, [sentence])
    batch = make_batch(tiny_rnn, [sentence])
    out = make_method("kernel_shap", {"n_samples": 400}).explain(tiny_rnn, batch)
    exact = _exact_shapley(tiny_rnn, sentence.split(), int(batch.target[0]))
    assert out.word_scores[0].sum() == pytest.approx(exact.sum(), abs=1e-6)  # efficiency holds exactly
    assert np.corrcoef(out.word_scores[0], exact)[0, 1] > 0.9


def test_kernel_shap_draws_enough_coalitions_to_determine_every_word(tiny_rnn):
    """With fewer coalitions than words the regression is underdetermined and lstsq's minimum-norm answer
    spreads the output over words it never saw apart; KernelSHAP draws at least 2n coalitions for n words,
    and its estimate then follows the exact Shapley values (a planted word ranked first)."""
    sentence = "the film was great not awful a dull plot but fine"
    sharpen(tiny_rnn, [sentence])
    batch = make_batch(tiny_rnn, [sentence])
    n = len(sentence.split())
    out = make_method("kernel_shap", {"n_samples": 4}).explain(tiny_rnn, batch)
    assert out.forward_passes.tolist() == [2.0 * n + 2]
    exact = _exact_shapley(tiny_rnn, sentence.split(), int(batch.target[0]))
    assert out.word_scores[0].sum() == pytest.approx(exact.sum(), abs=1e-6)
    assert np.argmax(np.abs(out.word_scores[0])) == np.argmax(np.abs(exact))


@pytest.mark.parametrize("name", ["kernel_shap", "lime"])
def test_sampling_explainers_give_one_score_per_word(tiny_rnn, name):
    """One score per word from n_samples coalitions plus the full and empty input. KernelSHAP enumerates the
    2^4 - 2 coalitions of 4 words (the exact Shapley values), samples 50 of 8 words' 254, gives one word
    f(x) - f(empty), and its values sum to f(x) - f(every word [MASK]ed) on every row."""
    from analysis.attribution.gradient import baseline_ids

    batch = make_batch(tiny_rnn, SENTENCES)
    out = make_method(name, {"n_samples": 50}).explain(tiny_rnn, batch)
    assert [len(w) for w in out.word_scores] == [len(s.split()) for s in SENTENCES]
    assert all(np.isfinite(w).all() for w in out.word_scores)
    if name == "lime":
        assert out.forward_passes.tolist() == [52.0, 52.0, 52.0]  # n_samples + full + empty, whatever the length
        return
    assert out.forward_passes.tolist() == [16.0, 52.0, 2.0]
    exact = _exact_shapley(tiny_rnn, SENTENCES[0].split(), int(batch.target[0]))
    assert np.allclose(out.word_scores[0], exact, atol=1e-9)
    enc = batch.encoded
    with torch.no_grad():
        full = target_probability(tiny_rnn.logits(enc.input_ids, enc.attention_mask), batch.target)
        empty = target_probability(tiny_rnn.logits(baseline_ids(tiny_rnn, enc, "mask"), enc.attention_mask),
                                   batch.target)
    for row, words in enumerate(out.word_scores):
        assert words.sum() == pytest.approx(float(full[row] - empty[row]), abs=1e-7)
    assert np.abs(exact).max() > 1e-3  # the comparisons are not between zeros


def test_lime_recovers_the_word_that_drives_a_linear_output(tiny_rnn):
    """Where only one word matters, LIME's largest coefficient is on it."""
    from analysis.attribution.sampling import LimeMethod

    lime = LimeMethod(n_samples=300)
    rng = np.random.default_rng(0)
    z, w = lime.coalitions(6, rng)
    y = 0.2 + 0.7 * z[:, 3]
    coef = lime.fit(z, w, y, full=0.9, empty=0.2)
    assert int(np.argmax(coef)) == 3 and coef[3] == pytest.approx(0.7, abs=0.05)


def test_a_jump_within_a_sliver_of_the_path_is_found_and_integrated():
    """An output that jumps inside one interval of the even scan (IMDB BiLSTM reviews: within the first 0.3% of
    the path) defeats panels of even width; bisecting the scan isolates the jump in a panel of its own."""
    from analysis.attribution.gradient import panel_nodes, path_adaptive_nodes, refine_profile

    centre, scale = 0.0021, 5e-6

    def f(a):
        return 0.16 + 0.45 / (1 + np.exp(-(np.asarray(a) - centre) / scale))

    def df(a):
        s = 1 / (1 + np.exp(-(np.asarray(a) - centre) / scale))
        return 0.45 * s * (1 - s) / scale

    grid = np.linspace(0, 1, 129)
    exact = f(1.0) - f(0.0)
    nodes, weights = path_adaptive_nodes(f(grid), 256, 16)
    assert abs(float((weights * df(nodes)).sum()) - exact) > 0.01  # the even panels miss it (tolerance 0.01)
    calls = []
    alphas, values = refine_profile(lambda a: calls.append(len(a)) or f(a), grid, f(grid))
    assert sum(calls) == len(alphas) - len(grid) <= 12 * 16 and np.all(np.diff(alphas) > 0)
    nodes, weights = panel_nodes(alphas, values, 256, 16)
    assert weights.sum() == pytest.approx(1.0) and np.all((nodes > 0) & (nodes < 1))
    assert abs(float((weights * df(nodes)).sum()) - exact) < 0.005
    # a smooth path is integrated well within the tolerance too
    smooth = lambda a: np.sin(3 * np.asarray(a))  # noqa: E731
    nodes, weights = panel_nodes(grid, smooth(grid), 64, 16)
    assert float((weights * 3 * np.cos(3 * nodes)).sum()) == pytest.approx(np.sin(3.0), abs=1e-4)
