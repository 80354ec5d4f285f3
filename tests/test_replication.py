"""The replication table: published numbers beside ours, our model picked by its declared properties (not its
name), the seed mean with the range of the seeds' intervals, `within`, no row (and no error) where a dataset is
missing, and a report section that shows each published value with its source."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from analysis.published.replication import (
    PUBLISHED_NUMBERS,
    ModelProperties,
    replication_table,
)
from analysis.published.replication_section import replication_section
from analysis.report.sections import REPORT_SECTIONS, load_section_modules

# names say nothing: the table must match by family / encoder / attention
CONFIG = {
    "agreement": {"level": 0.95},
    "datasets": {"sst2": {}, "imdb": {}, "ag_news_binary": {"base": "ag_news", "labels": {"World": 0, "Business": 1}}},
    "models": {
        "alpha": {"family": "rnn", "encoder": "lstm", "attention": "dot"},
        "beta": {"family": "rnn", "encoder": "lstm", "attention": "tanh"},
        "gamma": {"family": "rnn", "encoder": "lstm", "attention": "uniform"},
        "delta": {"family": "rnn", "encoder": "average", "attention": "tanh"},
        "epsilon": {"family": "transformer", "checkpoint": "minilm-package"},
    },
}


def summary_row(dataset, model, seed, a, b, mean, low, high, *, group_by="predicted", group="0", n=20,
                metric="kendall_tau", share=0.5):
    return {"dataset": dataset, "model": model, "seed": seed, "method_a": a, "method_b": b, "pair_kind": "x",
            "variant": "abs", "metric": metric, "group_by": group_by, "group": group, "n": n, "mean": mean,
            "mean_low": low, "mean_high": high, "median": mean, "share_significant": share}


def synthetic_summary(dataset: str = "sst2") -> pd.DataFrame:
    rows = []
    for seed, (mean, low, high) in enumerate([(0.30, 0.20, 0.42), (0.36, 0.25, 0.47)]):
        # the J&W BiLSTM (tanh attention): published 0.40 lies in [0.20, 0.47]
        rows.append(summary_row(dataset, "beta", seed, "rnn_attention", "jw_gradient", mean, low, high))
        # same pair in the other order, leave-one-out: published 0.34 lies above [0.05, 0.25]
        rows.append(summary_row(dataset, "beta", seed, "loo_delete", "rnn_attention", 0.15, 0.05, 0.25))
        # models J&W's Table 2 does not describe (dot or uniform attention) and the all-examples grouping:
        # never picked
        rows.append(summary_row(dataset, "alpha", seed, "rnn_attention", "jw_gradient", 0.9, 0.85, 0.95))
        rows.append(summary_row(dataset, "gamma", seed, "rnn_attention", "jw_gradient", 0.9, 0.85, 0.95))
        rows.append(summary_row(dataset, "beta", seed, "rnn_attention", "jw_gradient", 0.8, 0.75, 0.85,
                                group_by="all", group="all"))
        # examples predicted positive: J&W's class-1 row only
        rows.append(summary_row(dataset, "beta", seed, "rnn_attention", "jw_gradient", 0.9, 0.85, 0.95, group="1"))
    return pd.DataFrame(rows)


def row(table: pd.DataFrame, key: str) -> pd.Series:
    rows = table[table["key"] == key]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_table_picks_our_number_by_model_properties_and_decides_within():
    table = replication_table({"agreement_summary": synthetic_summary()}, CONFIG)
    gradient = row(table, "jw2019_t2_sst_0_gradient_bilstm")
    assert gradient["model"] == "beta" and gradient["dataset"] == "sst2" and gradient["group"] == "0"
    assert gradient["ours"] == pytest.approx(0.33) and gradient["seeds"] == 2
    assert (gradient["low"], gradient["high"]) == (0.20, 0.47)
    assert gradient["published"] == 0.40 and gradient["published_spread"] == 0.21
    assert gradient["published_sig_frac"] == 0.59 and gradient["ours_sig_frac"] == pytest.approx(0.5)
    assert gradient["within"] is True
    assert gradient["margin"] == 0.05 and gradient["close"] is False  # [0.20, 0.47] is wider than 0.40 ± 0.05
    loo = row(table, "jw2019_t2_sst_0_loo_bilstm")  # found with the pair in either order
    assert loo["ours"] == pytest.approx(0.15) and loo["within"] is False and loo["close"] is False
    assert loo["difference"] == pytest.approx(0.15 - 0.34)
    assert "GLUE SST-2" in loo["note"]  # the fallback dataset says what it changes
    positive = row(table, "jw2019_t2_sst_1_gradient_bilstm")
    assert positive["group"] == "1" and positive["ours"] == pytest.approx(0.9) and positive["within"] is False
    assert set(table["model"]) == {"beta"} and len(table) == 3


def test_preferred_dataset_wins_and_missing_datasets_give_no_row():
    both = pd.concat([synthetic_summary("sst2"), synthetic_summary("sst2_sentences")], ignore_index=True)
    config = {**CONFIG, "datasets": {**CONFIG["datasets"], "sst2_sentences": {}}}
    table = replication_table({"agreement_summary": both}, config)
    assert set(table["dataset"]) == {"sst2_sentences"}
    assert not table["key"].str.contains("imdb|agnews|az2020|_t1_").any()
    assert replication_table({}, CONFIG).empty
    assert replication_table({"agreement_summary": synthetic_summary("hatexplain")}, CONFIG).empty
    assert replication_section(CONFIG, {}, {}) is None


def test_classes_map_to_our_label_ids_by_name():
    rows = [summary_row(d, "beta", 0, "rnn_attention", "jw_gradient", 0.35, 0.2, 0.5, group=g)
            for d, g in (("ag_news_binary", "1"), ("ag_news", "2"))]
    binary = replication_table({"agreement_summary": pd.DataFrame(rows[:1])}, CONFIG)
    assert row(binary, "jw2019_t2_agnews_1_gradient_bilstm")["group"] == "1"  # Business is 1 in the binary task
    config = {**CONFIG, "datasets": {"ag_news": {}}}
    four = replication_table({"agreement_summary": pd.DataFrame(rows[1:])}, config)
    business = row(four, "jw2019_t2_agnews_1_gradient_bilstm")
    assert business["group"] == "2" and "four AG News classes" in business["note"]


def test_accuracy_rows_use_exact_binomial_intervals():
    evaluation = pd.DataFrame([{"dataset": "sst2", "model": "beta", "seed": 0, "accuracy": 0.80, "n_eval": 1000},
                               {"dataset": "imdb", "model": "beta", "seed": 0, "accuracy": 0.60, "n_eval": 200},
                               {"dataset": "imdb", "model": "alpha", "seed": 0, "accuracy": 0.88, "n_eval": 200}])
    table = replication_table({"evaluation": evaluation}, CONFIG)
    sst = row(table, "jw2019_t1_sst_performance")
    assert sst["low"] < 0.80 < sst["high"] and sst["within"] is True  # 0.81 within Clopper-Pearson of 800/1000
    # close: the whole Clopper-Pearson interval of 800/1000 ([0.774, 0.824]) lies within 0.81 ± 0.04, not ± 0.02
    assert sst["margin"] == 0.02 and sst["close"] is False
    wide = replication_table({"evaluation": evaluation}, {**CONFIG, "claims": {"accuracy_margin": 0.04}})
    assert row(wide, "jw2019_t1_sst_performance")["close"] is True
    imdb = row(table, "jw2019_t1_imdb_performance")
    assert imdb["model"] == "beta" and imdb["within"] is False
    assert set(table["measure"]) == {"accuracy"}


def test_transformer_rows_match_any_transformer_and_mark_other_tasks():
    rows = [summary_row("sst2", "epsilon", 0, a, b, 0.1, 0.0, 0.2, group_by="all", group="all", metric="spearman")
            for a, b in (("attention_last_mean", "saliency"), ("attention_rollout", "loo_mask"))]
    table = replication_table({"agreement_summary": pd.DataFrame(rows)}, CONFIG)
    raw = row(table, "az2020_t3_sst2_raw_l6")
    assert raw["within"] is True  # published 0.09
    # their SST-2 gradient is |Σ_d ∂logit/∂e_d|, ours the L2 norm of the probability's gradient: for scale only
    assert raw["scope"] == "different measure" and "∂logit" in raw["note"]
    other = row(table, "az2020_t1_sva_rollout_l6")
    assert other["scope"] == "different task" and other["within"] is False


def test_rows_shown_for_scale_are_not_counted_among_the_differences():
    from analysis.published.replication_section import _finding

    rows = [summary_row("sst2", "epsilon", 0, "attention_last_mean", "saliency", 0.66, 0.64, 0.69, group_by="all",
                        group="all", metric="spearman")]
    table = replication_table({"agreement_summary": pd.DataFrame(rows)}, CONFIG)
    text = _finding(table)
    assert "no published number here was measured on the same task" in text and "largest differences" not in text


def test_a_seed_without_an_interval_is_left_out_of_the_range():
    rows = [summary_row("sst2", "beta", 0, "rnn_attention", "jw_gradient", 0.35, 0.2, 0.5),
            summary_row("sst2", "beta", 1, "rnn_attention", "jw_gradient", 0.9, float("nan"), float("nan"), n=1)]
    gradient = row(replication_table({"agreement_summary": pd.DataFrame(rows)}, CONFIG),
                   "jw2019_t2_sst_0_gradient_bilstm")
    assert gradient["ours"] == pytest.approx(0.625) and (gradient["low"], gradient["high"]) == (0.2, 0.5)
    assert "without an interval" in gradient["note"]


def test_section_renders_published_values_with_their_sources():
    load_section_modules()
    assert REPORT_SECTIONS.get("replication") is replication_section
    section = replication_section(CONFIG, {"agreement_summary": synthetic_summary()}, {})
    assert section.title == "Replication table" and section.order == 11
    for text in (section.markdown, section.html):
        assert "Jain &amp; Wallace 2019" in text or "Jain & Wallace 2019" in text
        assert "0.40 ± 0.21 (sig. 0.59)" in text and "Gradient (BiLSTM) τg" in text
        assert "successar/AttentionExplanation" in text  # where the numbers were read
        assert "0.33 [0.20, 0.47]" in text
    assert "Abnar" not in section.markdown  # sources without a row here are not listed
    assert section.findings and "1 of 3 agreement values" in section.findings[0]
    assert list(section.tables) == ["replication_table"]


def test_declarations_are_frozen_unique_and_in_range():
    keys = [n.key for n in PUBLISHED_NUMBERS]
    assert len(keys) == len(set(keys))
    assert all(-1.0 <= n.value <= 1.0 and n.source.citation and n.source.evidence for n in PUBLISHED_NUMBERS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        PUBLISHED_NUMBERS[0].value = 0.5  # type: ignore[misc]
    assert ModelProperties("rnn", encoder="lstm", attention="tanh").matches({"family": "rnn"})  # schema defaults
    assert not ModelProperties("rnn", encoder="lstm", attention="tanh").matches({"family": "transformer"})


def test_accuracies_are_counted_apart_from_agreement_values():
    """Their F1 beside our accuracy is not 'measured the same way' as a Kendall τ: the finding counts each apart."""
    from analysis.published.replication_section import _finding

    rows = [{"measure": measure, "scope": "same task", "within": within, "close": close, "difference": 0.01,
             "source": "J&W", "table": "T", "row": "r", "column": "c", "published": 0.5, "ours": 0.5}
            for measure, within, close in (("agreement", True, True), ("agreement", False, False),
                                           ("accuracy", True, False))]
    text = _finding(pd.DataFrame(rows))
    assert "1 of 2 agreement values lie within" in text and "1 of 1 accuracies" in text and "0 are close" in text
