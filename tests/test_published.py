"""Published directions checked against study tables: verdicts follow the intervals, reasons only where we differ."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.published.claims import AGREES, DIFFERS, MIXED, PUBLISHED_CLAIMS, UNRESOLVED, Outcome
from analysis.published.report_section import published_section

CONFIG = {"models": {
    "bilstm_tanh": {"family": "rnn", "encoder": "lstm", "attention": "tanh"},
    "average_tanh": {"family": "rnn", "encoder": "average", "attention": "tanh"},
    "bilstm_uniform": {"family": "rnn", "encoder": "lstm", "attention": "uniform"},
}}


def agreement_rows(model: str, seed: int, values: dict[tuple[str, str], tuple[float, float, float]]) -> list[dict]:
    return [{"method_a": a, "method_b": b, "metric": "kendall_tau", "variant": "abs", "group_by": "all",
             "group": "all", "mean": m, "mean_low": lo, "mean_high": hi, "dataset": "sst2", "model": model,
             "seed": seed} for (a, b), (m, lo, hi) in values.items()]


def tables_with(causal: tuple, with_gradient: tuple, with_loo: tuple, seeds=(0, 1, 2)) -> dict[str, pd.DataFrame]:
    rows = []
    for seed in seeds:
        rows += agreement_rows("bilstm_tanh", seed, {("jw_gradient", "loo_delete"): causal,
                                                     ("rnn_attention", "jw_gradient"): with_gradient,
                                                     ("loo_delete", "rnn_attention"): with_loo})
    return {"agreement_summary": pd.DataFrame(rows)}


def verdict(tables: dict[str, pd.DataFrame], claim: str = "jw_causal_methods_agree_more") -> str:
    import analysis.published.directions  # noqa: F401

    outcomes = PUBLISHED_CLAIMS.get(claim).evaluate(tables, CONFIG)
    assert len(outcomes) == 1
    return outcomes[0].verdict


def test_causal_agreement_above_attention_agrees():
    assert verdict(tables_with((0.6, 0.5, 0.7), (0.2, 0.1, 0.3), (0.25, 0.15, 0.35))) == AGREES


def test_attention_above_causal_agreement_differs():
    assert verdict(tables_with((0.2, 0.1, 0.3), (0.6, 0.5, 0.7), (0.25, 0.15, 0.35))) == DIFFERS


def test_overlapping_intervals_are_unresolved():
    assert verdict(tables_with((0.4, 0.2, 0.6), (0.3, 0.1, 0.5), (0.3, 0.1, 0.5))) == UNRESOLVED


@pytest.mark.parametrize("seeds, expected", [
    ((AGREES, AGREES, UNRESOLVED), AGREES),
    ((AGREES, DIFFERS, AGREES), MIXED),
    ((DIFFERS, DIFFERS, DIFFERS), DIFFERS),
    ((UNRESOLVED, UNRESOLVED), UNRESOLVED),
    ((AGREES, UNRESOLVED, UNRESOLVED), MIXED),
])
def test_seed_majority(seeds, expected):
    assert Outcome("d", "m", "", seeds).verdict == expected


def test_uniform_control_within_two_points_agrees():
    comparison = pd.DataFrame([{"dataset": "sst2", "seed": s, "uniform_model": "bilstm_uniform",
                                "learned_model": "bilstm_tanh", "accuracy_uniform": 0.80, "accuracy_learned": 0.805,
                                "difference": 0.005, "difference_low": -0.01, "difference_high": 0.015}
                               for s in (0, 1)])
    assert verdict({"interventions_uniform_training": comparison}, "wp_uniform_attention_suffices") == AGREES
    clearly_better = comparison.assign(difference=0.08, difference_low=0.05, difference_high=0.11)
    assert verdict({"interventions_uniform_training": clearly_better}, "wp_uniform_attention_suffices") == DIFFERS


def test_section_gives_reasons_only_where_we_differ():
    agreeing = published_section(CONFIG, tables_with((0.6, 0.5, 0.7), (0.2, 0.1, 0.3), (0.25, 0.15, 0.35)), {})
    assert "**Where we differ" not in agreeing.markdown
    assert "agrees on 1 of 1" in agreeing.findings[0]
    differing = published_section(CONFIG, tables_with((0.2, 0.1, 0.3), (0.6, 0.5, 0.7), (0.25, 0.15, 0.35)), {})
    assert "**Where we differ" in differing.markdown and "sst2 / bilstm_tanh" in differing.markdown
    assert set(differing.tables["published_comparison"]["verdict"]) == {DIFFERS}


def test_no_section_without_tables():
    assert published_section(CONFIG, {}, {}) is None
