"""Intervals: coverage at small n on skewed data, exact rates, order-statistic medians, the summary table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.records import AGREEMENT_COLUMNS, SUMMARY_COLUMNS
from analysis.seeding import derive_seed
from analysis.stats.intervals import (
    interval,
    mean_interval,
    median_interval,
    median_ranks,
    proportion_interval,
    summarize_agreement,
    within_range,
)


def test_studentized_mean_interval_covers_at_least_93_percent_at_n30_on_skewed_data() -> None:
    """Nominal 95% intervals of an exponential mean (skewness 2) at n = 30; the percentile bootstrap
    covers about 92% here (and 88% at n = 8)."""
    rng = np.random.default_rng(0)
    simulations = 1500
    covered = sum(low <= 1.0 <= high for low, high in (
        mean_interval(rng.exponential(1.0, size=30), n_resamples=999, seed=i)[1:] for i in range(simulations)))
    # 1,500 draws: the coverage estimate has a standard error of about 0.6 points
    assert covered / simulations >= 0.93


def test_zero_successes_never_collapse_to_zero_width() -> None:
    share, low, high = proportion_interval(0, 30)
    assert share == 0 and low == 0 and high >= 0.11  # Clopper-Pearson: 1 - 0.025 ** (1 / 30) = 0.116
    assert high == pytest.approx(1 - 0.025 ** (1 / 30))
    _, _, high_8 = proportion_interval(0, 8)
    assert high_8 > 0.10  # 0 of 8 cannot support "below 10%"
    share, low, high = proportion_interval(30, 30)
    assert (share, high) == (1.0, 1.0) and low == pytest.approx(0.025 ** (1 / 30))


def test_proportion_interval_matches_the_beta_quantiles() -> None:
    share, low, high = proportion_interval(7, 20, level=0.9)
    assert share == 0.35
    assert low == pytest.approx(stats.beta.ppf(0.05, 7, 14))
    assert high == pytest.approx(stats.beta.ppf(0.95, 8, 13))
    assert interval([1, 0, 0, 1, 1, 0, 1], binary=True) == proportion_interval(4, 7)
    with pytest.raises(ValueError, match="0 or 1"):
        interval([0.5, 1.0], binary=True)


def test_median_interval_is_the_order_statistic_interval() -> None:
    assert median_ranks(5) is None  # 2 / 2**5 > 0.05: no pair of order statistics reaches 95%
    assert median_ranks(30) == (9, 20)  # the textbook ranks 10 and 21 (1-based)
    for n in (6, 11, 40, 101):
        k, upper = median_ranks(n)
        assert upper == n - 1 - k
        assert 1 - 2 * stats.binom.cdf(k, n, 0.5) >= 0.95 > 1 - 2 * stats.binom.cdf(k + 1, n, 0.5)
    values = np.random.default_rng(2).exponential(size=400)  # true median ln 2
    estimate, low, high = median_interval(values)
    assert low < np.log(2) < high and estimate == pytest.approx(np.median(values))
    assert np.isnan(median_interval([1.0, 2.0, 3.0])[1])


def test_mean_interval_is_deterministic_and_drops_nans() -> None:
    values = np.random.default_rng(1).exponential(size=50)
    first = mean_interval(values, seed=7)
    assert mean_interval(values, seed=7) == first
    assert mean_interval(values, seed=7, chunk_elements=100) == pytest.approx(first)
    assert mean_interval(np.r_[values, np.nan, np.nan], seed=7) == first
    estimate, low, high = first
    assert low < estimate < high
    assert mean_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)  # no spread: the point


def test_too_few_values_and_bad_arguments() -> None:
    assert np.isnan(mean_interval([])).all()
    estimate, low, high = mean_interval([np.nan, 3.0])
    assert estimate == 3.0 and np.isnan(low) and np.isnan(high)
    with pytest.raises(ValueError, match="mean, median"):
        interval([1.0, 2.0], "mode")
    with pytest.raises(ValueError, match="level"):
        mean_interval([1.0, 2.0], level=95)


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


def test_summary_rows_equal_the_interval_functions_with_group_seed() -> None:
    agreement = _agreement()
    summary = summarize_agreement(agreement, n_resamples=200, level=0.9, seed=3)
    rows = agreement[(agreement.method_a == "saliency") & (agreement.metric == "jsd") & (agreement.predicted == 1)]
    values = rows.sort_values("example_id")["value"].to_numpy()
    seed = derive_seed(3, "predicted", "1")
    row = summary[(summary.method_a == "saliency") & (summary.metric == "jsd") & (summary.group == "1")].iloc[0]
    assert (row["mean"], row.mean_low, row.mean_high) == pytest.approx(
        mean_interval(values, n_resamples=200, level=0.9, seed=seed))
    assert (row["median"], row.median_low, row.median_high) == pytest.approx(
        median_interval(values, level=0.9), nan_ok=True)


def test_summary_does_not_depend_on_row_order_or_other_groups() -> None:
    agreement = _agreement()
    summary = summarize_agreement(agreement, n_resamples=200, seed=3)
    shuffled = summarize_agreement(agreement.sample(frac=1.0, random_state=1), n_resamples=200, seed=3)
    pd.testing.assert_frame_equal(summary, shuffled)
    only_attention = summarize_agreement(agreement[agreement.method_a == "attention"], n_resamples=200, seed=3)
    expected = summary[summary.method_a == "attention"].reset_index(drop=True)
    pd.testing.assert_frame_equal(only_attention, expected)


def test_few_distinct_values_get_the_t_interval_not_a_runaway_bootstrap():
    import numpy as np
    from scipy import stats

    from analysis.stats.intervals import mean_interval

    # four examples' values repeated (as when a summary pools rows of few examples), one far from the rest
    values = np.repeat([0.70, 0.71, 0.72, 5.0], 5)
    mean, low, high = mean_interval(values, n_resamples=2000, seed=0)
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    assert np.isclose(low, mean - half) and np.isclose(high, mean + half)
    spread = np.ptp(values)
    assert values.min() - spread < low < high < values.max() + spread


def test_intervals_of_a_bounded_quantity_stay_in_its_range_and_other_rows_are_untouched() -> None:
    """Four TVDs near 0 and 1: the studentised bootstrap reaches below 0 and above 1; the intersected interval
    is within [0, 1] and still contains the mean; a difference (unbounded here) keeps its bounds."""
    values = np.array([0.0, 0.02, 0.01, 0.97])
    mean, low, high = interval(values, "mean", n_resamples=999, seed=0)
    assert low < 0.0
    summary = pd.DataFrame({"measure": ["median_tvd", "tvd_difference"], "mean": [mean, mean],
                            "mean_low": [low, low], "mean_high": [max(high, 1.2), max(high, 1.2)]})
    clipped = within_range(summary, {"median_tvd": (0.0, 1.0)}, key="measure")
    tvd, difference = clipped.iloc[0], clipped.iloc[1]
    assert tvd["mean_low"] == 0.0 and tvd["mean_high"] == 1.0 and tvd["mean_low"] <= tvd["mean"] <= tvd["mean_high"]
    assert difference["mean_low"] == low and difference["mean_high"] == max(high, 1.2)
