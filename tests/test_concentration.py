"""Attention concentration: the measures hit their known extremes, the distance from uniform bounds any
permutation, near-uniform runs are flagged, and the published permutation claim marks them vacuous."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.attention.concentration import (
    NEAR_UNIFORM_TVD,
    concentration,
    near_uniform_runs,
    summarise_concentration,
)


def importance_rows(weights: dict[str, list[float]], *, method: str = "rnn_attention", family: str = "attention",
                    signed: bool = False, **keys) -> pd.DataFrame:
    rows = [{"example_id": example, "method": method, "family": family, "signed": signed, "word_index": i,
             "word": f"w{i}", "score": w, "predicted": 1, "label": 1, "n_words": len(ws), **keys}
            for example, ws in weights.items() for i, w in enumerate(ws)]
    return pd.DataFrame(rows)


def test_uniform_and_one_hot_hit_the_extremes():
    n = 8
    per = concentration(importance_rows({"uniform": [1 / n] * n, "one_hot": [1.0] + [0.0] * (n - 1)}))
    uniform, one_hot = per.set_index("example_id").loc["uniform"], per.set_index("example_id").loc["one_hot"]
    assert uniform["tvd_from_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert uniform["normalised_entropy"] == pytest.approx(1.0)
    assert uniform["max_ratio"] == pytest.approx(1.0)
    assert one_hot["tvd_from_uniform"] == pytest.approx(1 - 1 / n)
    assert one_hot["normalised_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert one_hot["max_ratio"] == pytest.approx(n)
    assert one_hot["uniform_weight"] == pytest.approx(1 / n)


def test_distance_from_uniform_bounds_every_permutation():
    """TVD(p, pi(p)) <= 2 TVD(p, uniform): the reason near-uniform attention makes permutation vacuous."""
    rng = np.random.default_rng(0)
    weights = {f"ex{i}": list(rng.dirichlet(np.full(int(rng.integers(2, 30)), float(rng.choice([0.1, 1.0, 50.0])))))
               for i in range(200)}
    per = concentration(importance_rows(weights)).set_index("example_id")
    for example, ws in weights.items():
        p = np.asarray(ws)
        bound = 2 * per.loc[example, "tvd_from_uniform"]
        worst = max(0.5 * np.abs(p - p[rng.permutation(len(p))]).sum() for _ in range(50))
        assert worst <= bound + 1e-12
    assert per["tvd_from_uniform"].between(0, 1).all()


def test_scores_are_renormalised_over_the_words():
    """Word-level attention omits [CLS]/[SEP], so its weights sum to less than one; the shape is what counts."""
    weights = [0.1, 0.3, 0.2, 0.4]
    full = concentration(importance_rows({"a": weights}))
    scaled = concentration(importance_rows({"a": [0.7 * w for w in weights]}))
    pd.testing.assert_frame_equal(full, scaled)


def test_only_unsigned_attention_methods_are_measured():
    table = pd.concat([
        importance_rows({"a": [0.5, 0.5]}),
        importance_rows({"a": [0.3, -0.7]}, method="attention_gradient", signed=True),
        importance_rows({"a": [0.3, 0.7]}, method="saliency", family="gradient"),
        importance_rows({"b": [1.0]}),  # one word: no distribution to compare
    ])
    per = concentration(table)
    assert per["method"].tolist() == ["rnn_attention"] and per["example_id"].tolist() == ["a"]


def test_summary_flags_near_uniform_runs_only():
    rng = np.random.default_rng(1)
    flat = {f"e{i}": list(1 / 10 + rng.uniform(-0.005, 0.005, 10)) for i in range(20)}
    peaked = {f"e{i}": list(rng.dirichlet(np.full(10, 0.3))) for i in range(20)}
    per = concentration(pd.concat([importance_rows(flat, dataset="sst2", model="bilstm_dot", seed=0),
                                   importance_rows(peaked, dataset="sst2", model="bilstm_tanh", seed=0)]))
    summary = summarise_concentration(per, n_resamples=200).set_index("model")
    assert summary.loc["bilstm_dot", "near_uniform"]
    assert summary.loc["bilstm_dot", "mean_tvd_from_uniform"] < NEAR_UNIFORM_TVD
    assert not summary.loc["bilstm_tanh", "near_uniform"]
    low, high = summary.loc["bilstm_tanh", ["mean_tvd_from_uniform_low", "mean_tvd_from_uniform_high"]]
    assert low <= summary.loc["bilstm_tanh", "mean_tvd_from_uniform"] <= high
    assert near_uniform_runs(summary.reset_index()) == {("sst2", "bilstm_dot", 0)}
    assert near_uniform_runs(summary.reset_index(), ["attention_rollout"]) == set()


def test_frozen_uniform_rnn_measures_exactly_uniform():
    """A real model: the Wiegreffe & Pinter control's attention, through the engine, is uniform over the words."""
    import torch

    from analysis.importance import make_method
    from analysis.importance.engine import compute_importance
    from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary

    sentences = ["the film was great", "a dull plot", "not awful at all the film"]
    torch.manual_seed(0)
    vocab = Vocabulary.build([s.split() for s in sentences])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, attention="uniform", embed_dim=16,
                                     hidden_dim=8, attention_dim=8, dropout=0.0))
    model = RNNClassifier(network, vocab, max_length=32)
    examples = pd.DataFrame({"example_id": [f"ex{i}" for i in range(3)], "words": [s.split() for s in sentences],
                             "label": [1, 0, 1]})
    table, _ = compute_importance(model, examples, make_method("rnn_attention"), progress=False)
    per = concentration(table)
    assert len(per) == 3
    assert np.allclose(per["tvd_from_uniform"], 0.0, atol=1e-6)
    assert np.allclose(per["normalised_entropy"], 1.0, atol=1e-6)


CONFIG = {"models": {
    "bilstm_dot": {"family": "rnn", "encoder": "lstm", "attention": "dot"},
    "bilstm_tanh": {"family": "rnn", "encoder": "lstm", "attention": "tanh"},
    "bilstm_uniform": {"family": "rnn", "encoder": "lstm", "attention": "uniform"},
}}


def concentration_summary(values: dict[str, float], seeds=(0, 1)) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "sst2", "model": model, "seed": seed, "method": "rnn_attention", "n": 30,
                          "mean_max_weight": 0.07 + tvd, "mean_uniform_weight": 0.069, "mean_max_ratio": 1 + tvd * 10,
                          "mean_normalised_entropy": 1 - tvd, "mean_tvd_from_uniform": tvd,
                          "mean_tvd_from_uniform_low": tvd, "mean_tvd_from_uniform_high": tvd,
                          "near_uniform": tvd <= NEAR_UNIFORM_TVD}
                         for model, tvd in values.items() for seed in seeds])


def test_section_names_learned_near_uniform_attention_and_checks_the_controls():
    from analysis.attention.report_section import concentration_section

    summary = concentration_summary({"bilstm_dot": 0.01, "bilstm_tanh": 0.3, "bilstm_uniform": 0.0})
    section = concentration_section(CONFIG, {"attention_concentration": summary}, {})
    learned, controls = section.findings
    assert "sst2 / bilstm_dot" in learned and "bilstm_tanh" not in learned and "bilstm_uniform" not in learned
    assert "2 of 2 seeds" in learned
    assert "distance from uniform of 0, as they must" in controls
    assert concentration_section(CONFIG, {}, {}) is None


def test_section_names_runs_whose_interval_straddles_the_threshold():
    """A run at 0.0499 [0.0490, 0.0511] is marked near uniform by its point estimate alone: the reader is told."""
    from analysis.attention.report_section import concentration_section

    summary = concentration_summary({"bilstm_dot": 0.0499, "bilstm_tanh": 0.3, "bilstm_uniform": 0.0}, seeds=(0,))
    summary.loc[summary["model"] == "bilstm_dot", ["mean_tvd_from_uniform_low", "mean_tvd_from_uniform_high"]] = (
        0.0490, 0.0511)
    section = concentration_section(CONFIG, {"attention_concentration": summary}, {})
    (borderline,) = [f for f in section.findings if f.startswith("At the threshold")]
    assert "sst2 / bilstm_dot / seed 0" in borderline and "(marked near uniform)" in borderline
    assert "bilstm_tanh" not in borderline


def test_figure_has_a_panel_per_dataset_and_the_threshold_line():
    from analysis.plots.figures import attention_concentration

    per = concentration(pd.concat([
        importance_rows({"a": [0.5, 0.3, 0.2]}, dataset="sst2", model="bilstm_tanh", seed=0),
        importance_rows({"b": [0.25, 0.25, 0.25, 0.25]}, dataset="imdb", model="bilstm_dot", seed=0)]))
    figure = attention_concentration(per, threshold=NEAR_UNIFORM_TVD)
    axes = [ax for ax in figure.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in axes) == ["imdb", "sst2"]
    for ax in axes:
        assert any(list(line.get_xdata()) == [NEAR_UNIFORM_TVD] * 2 for line in ax.get_lines())
    empty = attention_concentration(per.iloc[0:0], threshold=NEAR_UNIFORM_TVD)
    assert "no data" in [t.get_text() for ax in empty.axes for t in ax.texts]
