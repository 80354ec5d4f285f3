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
    assert recorded_steps(8, 3) == [1, 4, 8] or recorded_steps(8, 3) == [1, 5, 8]
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


def test_randomising_the_weights_changes_the_gradient_scores_of_a_tiny_model(tiny_rnn):
    examples = _examples()
    methods = {name: make_method(name) for name in ("saliency", "rnn_attention", "random")}
    trained = pd.concat([compute_importance(tiny_rnn, examples, m, progress=False)[0] for m in methods.values()])
    scores = sanity_scores(copy.deepcopy(tiny_rnn), examples, methods, trained, variants=["abs"])
    summary = summarize_sanity(scores, threshold=0.5, n_resamples=200).set_index(["method", "step"])
    # the head alone: attention is computed below it and cannot change; the gradient can
    assert summary.loc[("rnn_attention", "head"), "mean"] == pytest.approx(1.0)
    assert summary.loc[("saliency", "head"), "mean"] < 0.999
    # every weight random: the gradient no longer ranks words as it did
    full = scores.loc[(scores["method"] == "saliency") & (scores["step"] == "embeddings"), "spearman"]
    assert full.mean() < 0.5
    assert summary.loc[("random", "embeddings"), "verdict"] == "fails"  # reads no model: the check flags it
    assert summary.loc[("saliency", "embeddings"), "verdict"] in {"passes", "inconclusive"}
    # the explained class stays the trained model's prediction
    assert set(scores["step_index"]) == {1, 2, 3, 4}


def test_transformer_gradients_change_when_the_model_is_randomised(tiny_bert):
    examples = _examples()
    methods = {"grad_x_input": make_method("grad_x_input")}
    trained = compute_importance(tiny_bert, examples, methods["grad_x_input"], progress=False)[0]
    scores = sanity_scores(tiny_bert, examples, methods, trained, max_steps=2)
    assert sorted(scores["step"].unique()) == ["embeddings", "head"]
    assert scores.loc[scores["step"] == "embeddings", "spearman"].mean() < 0.9
