"""Bootstrap intervals: coverage, determinism, equality with plain resampling, summary table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.records import AGREEMENT_COLUMNS, SUMMARY_COLUMNS
from analysis.seeding import derive_seed
from analysis.stats.bootstrap import bootstrap_ci, summarize_agreement


def test_mean_interval_covers_true_mean_about_95_percent() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for simulation in range(200):
        sample = rng.normal(loc=2.0, scale=3.0, size=60)
        _, low, high = bootstrap_ci(sample, "mean", n_resamples=500, seed=simulation)
        covered += low <= 2.0 <= high
    assert 0.88 <= covered / 200 <= 0.99


@pytest.mark.parametrize("statistic, function", [("mean", np.mean), ("median", np.median)])
@pytest.mark.parametrize("n", [7, 40])  # odd and even lengths: the median averages two middle values
def test_interval_equals_plain_resampling(statistic: str, function, n: int) -> None:
    values = np.round(np.random.default_rng(n).normal(size=n), 1)  # rounding makes ties
    estimate, low, high = bootstrap_ci(values, statistic, n_resamples=300, level=0.9, seed=5, chunk_elements=64)
    picks = np.random.default_rng(5).integers(0, n, size=(300, n))
    expected_low, expected_high = np.quantile(function(values[picks], axis=1), [0.05, 0.95])
    assert estimate == pytest.approx(function(values))
    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)


def test_interval_is_deterministic_and_drops_nans() -> None:
    values = np.random.default_rng(1).exponential(size=50)
    first = bootstrap_ci(values, "median", seed=7)
    assert bootstrap_ci(values, "median", seed=7) == first
    assert bootstrap_ci(values, "median", seed=7, chunk_elements=100) == pytest.approx(first)
    assert bootstrap_ci(values, "median", seed=8) != first
    assert bootstrap_ci(np.r_[values, np.nan, np.nan], "median", seed=7) == first
    estimate, low, high = first
    assert low < estimate < high


def test_median_interval_of_skewed_data() -> None:
    values = np.random.default_rng(2).exponential(scale=1.0, size=400)  # true median ln 2
    estimate, low, high = bootstrap_ci(values, "median", n_resamples=1000, seed=0)
    assert low < np.log(2) < high
    assert estimate == pytest.approx(np.median(values))
    assert high - low < 0.3


def test_too_few_values_and_bad_arguments() -> None:
    assert np.isnan(bootstrap_ci([], "mean")).all()
    estimate, low, high = bootstrap_ci([np.nan, 3.0], "mean")
    assert estimate == 3.0 and np.isnan(low) and np.isnan(high)
    with pytest.raises(ValueError, match="mean, median"):
        bootstrap_ci([1.0, 2.0], "mode")
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0, 2.0], level=95)


def _agreement() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    rows = []
    for i in range(30):
        n_words = [5, 15, 50][i % 3]
        for method_a, method_b, kind in [("attention", "loo", "attention_vs_causal"),
                                         ("saliency", "loo", "causal_vs_causal")]:
            for metric, p_value in [("kendall_tau", 0.01 if i % 4 == 0 else 0.5), ("jsd", np.nan)]:
                rows.append({"example_id": f"ex{i:02d}", "method_a": method_a, "method_b": method_b,
                             "family_a": "attention" if method_a == "attention" else "gradient",
                             "family_b": "ablation", "pair_kind": kind, "variant": "abs", "metric": metric,
                             "value": np.nan if (metric == "kendall_tau" and i == 0) else rng.normal(),
                             "p_value": np.nan if i == 0 else p_value, "n_words": n_words,
                             "length_bucket": {5: "1-10", 15: "11-20", 50: ">40"}[n_words], "predicted": i % 2})
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def test_summarize_agreement_groups_and_counts() -> None:
    agreement = _agreement()
    summary = summarize_agreement(agreement, n_resamples=200, seed=3)
    assert list(summary.columns) == SUMMARY_COLUMNS
    # 2 pairs x 2 metrics x (1 + 2 predicted classes + 3 length buckets)
    assert len(summary) == 4 * 6
    one = summary[(summary.method_a == "attention") & (summary.metric == "kendall_tau")]
    assert list(zip(one.group_by, one.group)) == [
        ("all", "all"), ("predicted", "0"), ("predicted", "1"),
        ("length_bucket", "1-10"), ("length_bucket", "11-20"), ("length_bucket", ">40")]
    assert list(one.n) == [29, 14, 15, 9, 10, 10]  # example 0 has no tau
    # p < 0.05 on examples 4, 8, ..., 28 (7 of the 29 with a p-value)
    assert one.iloc[0].share_significant == pytest.approx(7 / 29)
    assert summary.loc[summary.metric == "jsd", "share_significant"].isna().all()
    assert (summary["mean_low"] <= summary["mean"]).all() and (summary["mean"] <= summary["mean_high"]).all()
    assert (summary["median_low"] <= summary["median_high"]).all()


def test_summary_rows_equal_bootstrap_ci_with_group_seed() -> None:
    agreement = _agreement()
    summary = summarize_agreement(agreement, n_resamples=200, level=0.9, seed=3)
    rows = agreement[(agreement.method_a == "saliency") & (agreement.metric == "jsd") & (agreement.predicted == 1)]
    values = rows.sort_values("example_id")["value"].to_numpy()
    seed = derive_seed(3, "predicted", "1")
    row = summary[(summary.method_a == "saliency") & (summary.metric == "jsd") & (summary.group == "1")].iloc[0]
    assert (row["mean"], row.mean_low, row.mean_high) == pytest.approx(
        bootstrap_ci(values, "mean", n_resamples=200, level=0.9, seed=seed))
    assert (row["median"], row.median_low, row.median_high) == pytest.approx(
        bootstrap_ci(values, "median", n_resamples=200, level=0.9, seed=seed))


def test_summary_does_not_depend_on_row_order_or_other_groups() -> None:
    agreement = _agreement()
    summary = summarize_agreement(agreement, n_resamples=200, seed=3)
    shuffled = summarize_agreement(agreement.sample(frac=1.0, random_state=1), n_resamples=200, seed=3)
    pd.testing.assert_frame_equal(summary, shuffled)
    only_attention = summarize_agreement(agreement[agreement.method_a == "attention"], n_resamples=200, seed=3)
    expected = summary[summary.method_a == "attention"].reset_index(drop=True)
    pd.testing.assert_frame_equal(only_attention, expected)
