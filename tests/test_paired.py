"""Paired tests and multiple-comparison corrections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.stats.paired import adjust_p_values, paired_comparison, ratio_interval, sign_flip_test


def test_holm_and_bh_match_reference_computation():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan, 0.5])
    # reference: Holm 1979 by hand on the 5 valid p-values sorted 0.005, 0.01, 0.03, 0.04, 0.5
    holm = {0.005: 0.025, 0.01: 0.04, 0.03: 0.09, 0.04: 0.09, 0.5: 0.5}
    got = adjust_p_values(p, "holm")
    assert np.isnan(got[4])
    for value, adjusted in zip(p[[0, 1, 2, 3, 5]], got[[0, 1, 2, 3, 5]]):
        assert adjusted == pytest.approx(holm[value])
    # Benjamini-Hochberg: m/rank * p with monotone step-up; scipy implements the same procedure
    bh = adjust_p_values(p, "bh")
    reference = stats.false_discovery_control(p[np.isfinite(p)], method="bh")
    assert np.allclose(bh[np.isfinite(p)], reference)


def test_sign_flip_test_is_exact_for_small_samples():
    d = np.array([1.0, 2.0, 3.0])
    # all 8 sign patterns; |mean| >= 2 only for +++ and ---
    assert sign_flip_test(d) == pytest.approx(2 / 8)
    assert sign_flip_test(np.zeros(5)) == 1.0


def test_paired_test_keeps_its_level_under_the_null():
    rng = np.random.default_rng(0)
    rejections = [paired_comparison(rng.normal(size=40), rng.normal(size=40), n_permutations=999,
                                    n_resamples=200, seed=i).p_value < 0.05 for i in range(200)]
    assert 0.01 <= np.mean(rejections) <= 0.10


def test_paired_test_detects_a_real_difference_with_interval_and_effect_size():
    rng = np.random.default_rng(1)
    base = rng.normal(size=60)
    result = paired_comparison(base + 0.5 + rng.normal(scale=0.3, size=60), base, seed=0)
    assert result.p_value < 0.001 and result.low > 0.3 and result.high < 0.7
    assert result.effect_size == pytest.approx(result.mean_difference / 0.3, rel=0.3)


def test_ratio_interval():
    rng = np.random.default_rng(2)
    b = rng.normal(0.5, 0.1, size=100)
    ratio, low, high = ratio_interval(0.25 * b / 0.5 + rng.normal(0, 0.01, 100), b)
    assert low < ratio < high and ratio == pytest.approx(0.5, abs=0.02)
    assert np.isnan(ratio_interval(b, -b)[0])


def _agreement_table(values: dict[str, np.ndarray]) -> pd.DataFrame:
    families = {"attn_good": "attention", "attn_bad": "attention", "ig": "gradient", "random": "random"}
    rows = []
    for method, vals in values.items():
        for i, v in enumerate(vals):
            rows.append({"example_id": f"e{i}", "method_a": method, "method_b": "loo", "family_a": families[method],
                         "family_b": "ablation", "metric": "kendall_tau", "variant": "abs", "value": v})
    return pd.DataFrame(rows)


def test_compare_methods_supports_only_real_differences():
    from analysis.stats.comparisons import compare_methods

    rng = np.random.default_rng(3)
    n = 50
    ig = rng.normal(0.5, 0.1, n)
    table = _agreement_table({
        "ig": ig, "attn_good": ig + rng.normal(0, 0.05, n),  # as good as the ceiling
        "attn_bad": ig - 0.3 + rng.normal(0, 0.05, n),  # clearly below
        "random": rng.normal(0, 0.1, n),
    })
    out = compare_methods(table, reference="loo", ceiling="ig", n_permutations=2000, n_resamples=500).set_index(
        ["method_a", "comparison"])
    assert bool(out.loc[("attn_bad", "attention_vs_ceiling"), "significant"])
    assert out.loc[("attn_bad", "attention_vs_ceiling"), "high"] < 0
    assert not bool(out.loc[("attn_good", "attention_vs_ceiling"), "significant"])
    assert bool(out.loc[("attn_good", "attention_vs_floor"), "significant"])
    assert out.loc[("attn_bad", "attention_vs_ceiling"), "normalised"] == pytest.approx(0.4, abs=0.05)
    assert (out["p_adjusted"] >= out["p_value"]).all()
    # parity by an equivalence test, never by a non-significant difference
    assert out.loc[("attn_good", "attention_vs_ceiling"), "equivalence"] == "equivalent"
    assert out.loc[("attn_good", "attention_vs_ceiling"), "p_equivalence"] < 0.05
    assert out.loc[("attn_bad", "attention_vs_ceiling"), "equivalence"] == "not shown"
    few = compare_methods(table[table["example_id"].isin(["e0", "e1", "e2"])], reference="loo", ceiling="ig",
                          n_permutations=200, n_resamples=100, margin=0.01).set_index(["method_a", "comparison"])
    assert few.loc[("attn_good", "attention_vs_ceiling"), "equivalence"] == "untestable"
    # Holm within each kind of comparison, not over the run's whole family
    for _, part in out.groupby("comparison"):
        assert np.allclose(part["p_adjusted"], adjust_p_values(part["p_value"].to_numpy(), "holm"))


def test_method_families_reads_both_sides_of_the_pairs():
    """A method that appears only as ``method_b`` (the reference's partner) still gets its family."""
    from analysis.stats.comparisons import method_families

    agreement = pd.DataFrame({"method_a": ["attention", "attention", "loo"], "family_a": ["attention"] * 2 + ["ablation"],
                              "method_b": ["loo", "random", "random"], "family_b": ["ablation", "random", "random"]})
    assert method_families(agreement) == {"attention": "attention", "loo": "ablation", "random": "random"}
