"""Cascading model randomisation (Adebayo et al. 2018): the cascade, re-initialisation, the scores."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from analysis.groundtruth.sanity import (
    cascade_steps,
    rank_correlation,
    recorded_steps,
    reinitialise,
    sanity_scores,
    summarize_sanity,
)
from analysis.importance import compute_importance, make_method
from analysis.models.training import predict

SENTENCES = ["the film was great", "the plot was not dull", "a awful film", "the film was dull and the plot awful",
             "great great plot", "not a great film"]


def _examples() -> pd.DataFrame:
    words = [s.split() for s in SENTENCES]
    return pd.DataFrame({"example_id": [f"e{i}" for i in range(len(words))], "words": words,
                         "label": [1, 1, 0, 0, 1, 0], "n_words": [len(w) for w in words]})


def test_transformer_cascade_goes_from_the_head_down_and_covers_every_parameter(tiny_bert):
    steps = cascade_steps(tiny_bert)
    assert [s.name for s in steps] == ["head", "layer 2", "layer 1", "embeddings"]
    names = [n for s in steps for n in s.parameters]
    assert sorted(names) == sorted(n for n, _ in tiny_bert.module.named_parameters())  # each exactly once
    assert any(n.startswith("classifier.") for n in steps[0].parameters)
    assert all(".layer.1." in n for n in steps[1].parameters)
    assert any("word_embeddings" in n for n in steps[-1].parameters)


def test_rnn_cascade(tiny_rnn):
    steps = cascade_steps(tiny_rnn)
    assert [s.name for s in steps] == ["head", "attention", "encoder", "embeddings"]
    assert steps[0].parameters == ["classifier.weight", "classifier.bias"]


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_rnn"])
def test_reinitialise_changes_exactly_the_step_parameters(fixture, request):
    model = request.getfixturevalue(fixture)
    before = {n: p.detach().clone() for n, p in model.module.named_parameters()}
    step = cascade_steps(model)[1]
    reinitialise(model, step, seed=1)
    for name, parameter in model.module.named_parameters():
        changed = not torch.equal(parameter, before[name])
        if name in step.parameters and "LayerNorm" not in name and not name.endswith("bias"):
            assert changed, name  # a fresh model's biases and norms already sit at their initial values
        elif name not in step.parameters:
            assert not changed, name


def test_recorded_steps_keep_head_and_full_randomisation():
    assert recorded_steps(8, 3) == [1, 4, 7, 8]  # with the last step before the embeddings, where the verdict is
    assert recorded_steps(4, None) == [1, 2, 3, 4]
    assert recorded_steps(4, 10) == [1, 2, 3, 4]


def test_rank_correlation_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.random(12), rng.random(12)
    b[3] = b[5]  # a tie
    frame = pd.DataFrame({"g": ["x"] * 6 + ["y"] * 6, "a": a, "b": b})
    rho = rank_correlation(frame, "a", "b", "g")
    for group, part in frame.groupby("g"):
        assert rho[group] == pytest.approx(spearmanr(part["a"], part["b"]).statistic)
    constant = frame.assign(b=1.0)
    assert rank_correlation(constant, "a", "b", "g").isna().all()


def _trained_predictions(trained: pd.DataFrame, examples: pd.DataFrame) -> np.ndarray:
    """The trained model's predicted class per example, in the examples' order (what sanity_scores explains)."""
    return trained.groupby("example_id")["predicted"].first().reindex(examples["example_id"]).to_numpy()


def test_randomising_the_weights_changes_the_gradient_scores_of_a_tiny_model(tiny_rnn):
    examples = _examples()
    methods = {name: make_method(name) for name in ("saliency", "rnn_attention", "random")}
    trained = pd.concat([compute_importance(tiny_rnn, examples, m, progress=False)[0] for m in methods.values()])
    randomised = copy.deepcopy(tiny_rnn)
    scores = sanity_scores(randomised, examples, methods, trained, variants=["abs"])
    summary = summarize_sanity(scores, threshold=0.5, n_resamples=200).set_index(["method", "step"])
    # the head alone: attention is computed below it and cannot change; the gradient can
    assert summary.loc[("rnn_attention", "head"), "mean"] == pytest.approx(1.0)
    assert summary.loc[("saliency", "head"), "mean"] < 0.999
    # every weight random: the gradient no longer ranks words as it did
    full = scores.loc[(scores["method"] == "saliency") & (scores["step"] == "embeddings"), "spearman"]
    assert full.mean() < 0.5
    assert summary.loc[("random", "embeddings"), "verdict"] == "fails"  # reads no model: the check flags it
    assert summary.loc[("saliency", "embeddings"), "verdict"] in {"passes", "inconclusive"}
    assert set(scores["step_index"]) == {1, 2, 3, 4}  # every step recorded
    # the model ends fully randomised: at the last step, its prediction against the trained one, for every method
    now, _ = predict(randomised, list(map(list, examples["words"])))
    changed = dict(zip(examples["example_id"], now != _trained_predictions(trained, examples)))
    last = scores[scores["step"] == "embeddings"]
    assert len(last) == len(methods) * len(examples)
    assert (last["prediction_changed"] == last["example_id"].map(changed)).all()


def test_randomised_scores_explain_the_trained_models_prediction(tiny_rnn):
    """The explained class stays the trained model's prediction. With two classes a signed gradient for the other
    class is the negation, so each rho equals a recomputation for the trained prediction, not for the new one."""
    examples = _examples()
    method = make_method("grad_x_input")
    trained, _ = compute_importance(tiny_rnn, examples, method, progress=False)
    randomised = copy.deepcopy(tiny_rnn)
    scores = sanity_scores(randomised, examples, {"grad_x_input": method}, trained, variants=["signed"])
    last = scores[scores["step"] == "embeddings"].set_index("example_id")["spearman"]
    was = _trained_predictions(trained, examples)
    now, _ = predict(randomised, list(map(list, examples["words"])))
    assert (now != was).any()  # else the class explained would not matter

    def rho(targets) -> dict[str, float]:
        again, _ = compute_importance(randomised, examples, method, targets=targets, progress=False)
        pairs = trained.merge(again, on=["example_id", "word_index"], suffixes=("", "_again"))
        return {e: spearmanr(part["score"], part["score_again"]).statistic for e, part in pairs.groupby("example_id")}

    for_trained, for_new = rho(was), rho(now)
    for example_id, changed in zip(examples["example_id"], now != was):
        assert last[example_id] == pytest.approx(for_trained[example_id]), example_id
        if changed:
            assert last[example_id] != pytest.approx(for_new[example_id]), example_id


def test_transformer_gradients_change_when_the_model_is_randomised(tiny_bert):
    examples = _examples()
    methods = {"grad_x_input": make_method("grad_x_input")}
    trained = compute_importance(tiny_bert, examples, methods["grad_x_input"], progress=False)[0]
    scores = sanity_scores(tiny_bert, examples, methods, trained, max_steps=2)
    assert sorted(scores["step"].unique()) == ["embeddings", "head", "layer 1"]  # layer 1: the verdict's step
    assert scores.loc[scores["step"] == "layer 1", "spearman"].mean() < 0.9
    assert scores.loc[scores["step"] == "embeddings", "spearman"].mean() < 0.9


def test_the_verdict_is_read_with_every_layer_random_and_the_embeddings_kept():
    """Re-initialising the embeddings replaces the input itself, so the verdict is read one step before: a method
    that keeps its ranking there fails even though the last step (embeddings random too) decorrelates it."""
    from analysis.groundtruth.sanity import summarize_sanity, verdict_step

    rng = np.random.default_rng(0)
    rows = []
    for step, (name, level) in enumerate((("head", 0.95), ("encoder", 0.9), ("embeddings", 0.0)), start=1):
        for i in range(30):
            rows.append({"step_index": step, "step": name, "n_steps": 3, "method": "saliency", "family": "gradient",
                         "example_id": f"e{i}", "variant": "abs", "spearman": level + rng.normal(0, 0.02),
                         "n_words": 10, "prediction_changed": step > 1})
    summary = summarize_sanity(pd.DataFrame(rows), threshold=0.5, n_resamples=200)
    assert verdict_step(3) == 2 and (summary["verdict_step"] == 2).all()
    assert set(summary["verdict"]) == {"fails"}

