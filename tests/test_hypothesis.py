"""Tests that decide claims: exact rates, paired sign-flip, non-inferiority and TOST, untestable n."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.stats.hypothesis import (
    AGREE,
    DIFFER,
    binomial_n_needed,
    central_binomial_p,
    combine_all,
    equivalence_test,
    noninferiority_test,
    paired_test,
    rate_test,
)


def test_zero_of_eight_cannot_support_below_ten_percent() -> None:
    decision = rate_test(np.zeros(8), 0.10, side="below")
    assert decision.estimate == 0 and decision.high > 0.10
    assert decision.untestable(0.05)  # even 0 flips of 8 has p = 2 * 0.9**8 > 0.05
    assert decision.min_p == pytest.approx(2 * 0.9**8)
    # the smallest n at which 0 flips could show "below 10%" at 5%: 2 * 0.9**n below 0.05 -> 36
    assert decision.n_min == 36 == min(n for n in range(1, 200) if 2 * 0.9**n < 0.05)
    assert not rate_test(np.zeros(60), 0.10, side="below").untestable(0.05)


def test_rate_test_directions_and_p_values() -> None:
    rare = rate_test(np.r_[np.ones(2), np.zeros(98)], 0.10, side="below")
    assert rare.direction == AGREE and rare.p_value < 0.01
    assert rare.p_value == pytest.approx(2 * stats.binom.cdf(2, 100, 0.1))
    frequent = rate_test(np.r_[np.ones(40), np.zeros(60)], 0.10, side="below")
    assert frequent.direction == DIFFER and frequent.p_value < 1e-6
    most = rate_test(np.r_[np.ones(8), np.zeros(2)], 0.5, side="above")
    assert most.direction == AGREE and most.n == 10 and most.estimate == 0.8


def test_paired_test_finds_a_shift_and_says_how_many_examples_a_small_one_needs() -> None:
    rng = np.random.default_rng(0)
    shifted = paired_test(0.3 + rng.normal(0, 0.2, size=50), published_sign=1)
    assert shifted.direction == AGREE and shifted.p_value < 0.001 and shifted.low > 0
    opposite = paired_test(-0.3 + rng.normal(0, 0.2, size=50), published_sign=1)
    assert opposite.direction == DIFFER and opposite.p_value < 0.001
    noise = rng.normal(size=30)
    small = paired_test(0.02 + 0.2 * (noise - noise.mean()) / noise.std(ddof=1))  # mean 0.02, SD 0.2 exactly
    # 80% power for a mean of 0.02 at SD 0.2 needs about ((1.96 + 0.84) * 10) ** 2 = 785 pairs
    assert 500 < small.n_needed < 1200
    few = paired_test(np.array([0.5, 0.4, 0.6, 0.5, 0.3]))
    assert few.untestable(0.05) and few.min_p == pytest.approx(2 / 2**5) and few.n_min == 6


def test_noninferiority_and_equivalence_need_evidence_not_just_overlap() -> None:
    rng = np.random.default_rng(1)
    # per-example accuracy differences (learned - uniform): the models disagree on 3% of examples, evenly
    differences = rng.choice([-1.0, 0.0, 1.0], p=[0.015, 0.97, 0.015], size=2000)
    close = noninferiority_test(differences, 0.02)
    assert close.direction == AGREE and close.p_value < 0.05
    # the same models on 20 examples cannot show it: "not distinguishable" is not parity
    short = noninferiority_test(np.r_[1.0, -1.0, np.zeros(18)], 0.02)
    assert short.direction == AGREE and short.p_value > 0.05
    better = noninferiority_test(np.r_[np.ones(200), np.zeros(800)], 0.02)  # learned 20 points better
    assert better.direction == DIFFER and better.p_value < 0.001
    inside = equivalence_test(rng.normal(0.0, 0.1, size=400), 0.05)
    assert inside.direction == AGREE and inside.p_value < 0.05
    wide = equivalence_test(rng.normal(0.0, 0.5, size=20), 0.05)
    assert wide.p_value > 0.05
    outside = equivalence_test(rng.normal(0.3, 0.1, size=100), 0.05)
    assert outside.direction == DIFFER and outside.p_value < 0.001


def test_intersection_union_needs_every_part() -> None:
    rng = np.random.default_rng(2)
    strong, weak = paired_test(0.3 + rng.normal(0, 0.1, 40)), paired_test(0.01 + rng.normal(0, 0.3, 40))
    both = combine_all([strong, weak])
    assert both.p_value == max(strong.p_value, weak.p_value)
    against = paired_test(-0.3 + rng.normal(0, 0.1, 40))
    mixed = combine_all([strong, against])
    # Bonferroni over both parts: which part points the other way is itself decided by the data
    assert mixed.direction == DIFFER and mixed.p_value == pytest.approx(min(1.0, 2 * against.p_value))
    # the estimate shown is the part that decides: the weaker agreeing part, or the part against
    assert (both.estimate, both.low, both.high) == (weak.estimate, weak.low, weak.high)
    assert mixed.estimate == against.estimate < 0


def test_power_table_matches_the_tests_it_plans_for() -> None:
    from analysis.stats.hypothesis import power_table

    rows = {(r["test"], r["effect"]): r for r in power_table(0.05)}
    small = rows[("paired sign-flip (agreement difference)", "Δτ = 0.05 (SD 0.2)")]
    assert 120 <= small["n_80"] <= 140  # ((1.96 + 0.84) * 0.2 / 0.05) ** 2 = 125, plus the t correction
    rare = rows[("exact binomial (rate below 10%)", "rate 5%")]
    # at the smallest n that can decide, 0 of n rejects "10%" and one fewer example cannot
    n = int(rare["n_min"])
    assert central_binomial_p(0, n, 0.1) < 0.05 <= central_binomial_p(0, n - 1, 0.1)
    # simulate the planned n: a true 5% rate is found below 10% in about 80% of studies
    rng = np.random.default_rng(0)
    found = np.mean([rate_test(rng.random(int(rare["n_80"])) < 0.05, 0.10, side="below").p_value < 0.05
                     for _ in range(400)])
    assert 0.7 <= found <= 0.92


def test_the_binomial_verdict_never_contradicts_the_clopper_pearson_interval() -> None:
    from analysis.stats.intervals import proportion_interval

    for n in range(1, 120):
        for k in range(n + 1):
            _, low, high = proportion_interval(k, n)
            assert (central_binomial_p(k, n, 0.1) < 0.05) == (not low <= 0.1 <= high), (k, n)


def test_zero_differences_count_towards_untestable() -> None:
    """Five ties and five positive differences: the most extreme data give p = 2 / 2**5, not 2 / 2**10."""
    decision = paired_test(np.r_[np.zeros(5), np.full(5, 0.2)])
    assert decision.min_p == pytest.approx(2 / 2**5) and decision.untestable(0.05)


def test_sign_flip_test_is_exact_over_its_non_zero_differences() -> None:
    """Zeros carry no sign: 40 pairs with 10 non-zero differences are enumerated exactly (2^10 patterns), the
    same p as the 10 alone, and the smallest p the test reports is 2 / 2^10."""
    from itertools import product

    from analysis.stats.paired import sign_flip_test

    rng = np.random.default_rng(4)
    nonzero = rng.normal(0.4, 1.0, 10)
    d = np.r_[nonzero, np.zeros(30)]
    brute = np.mean([abs(np.dot(s, nonzero)) >= abs(nonzero.sum()) - 1e-12 for s in product((-1, 1), repeat=10)])
    assert sign_flip_test(d, n_permutations=50, seed=1) == pytest.approx(brute)
    assert paired_test(d).min_p == pytest.approx(2 / 2**10)
    assert paired_test(rng.normal(1, 1, 40), n_permutations=999).min_p == pytest.approx(1 / 1000)


def test_a_test_without_spread_cannot_claim_parity_from_three_tied_pairs() -> None:
    """Three pairs with no discordance are no evidence of equal accuracy (an exact test could not reject with
    them); with no spread the t-based tests return p = 1, not 0."""
    assert equivalence_test(np.zeros(3), 0.02).p_value == 1.0
    assert noninferiority_test(np.zeros(3), 0.02).p_value == 1.0


def test_equivalence_tests_each_side_at_half_the_level() -> None:
    """TOST at 2.5% per side: equivalent at 5% exactly when the 95% t-interval lies inside the margin."""
    from scipy import stats

    rng = np.random.default_rng(5)
    d = rng.normal(0.01, 0.1, 200)
    half_width = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    for margin in (abs(d.mean()) + 0.9 * half_width, abs(d.mean()) + 1.1 * half_width):
        inside = abs(d.mean()) + half_width < margin
        assert (equivalence_test(d, margin).p_value < 0.05) == inside


def test_untestable_n_min_counts_the_family() -> None:
    """n_min_at: the fewest informative examples at which the test could reach a level, e.g. a Holm-divided one;
    it agrees with the single-test n_min at the level itself."""
    from analysis.stats.hypothesis import _binomial_n_min, sign_flip_n_min

    paired = paired_test(np.ones(8))
    assert paired.n_min_at(0.05) == paired.n_min == sign_flip_n_min(0.05) == 6
    assert paired.n_min_at(0.05 / 4) == sign_flip_n_min(0.05 / 4) == 8
    rate = rate_test(np.zeros(20), 0.10, side="below")
    assert rate.n_min_at(0.05) == rate.n_min == _binomial_n_min(0.10, "below", 0.05)
    assert rate.n_min_at(0.01) == _binomial_n_min(0.10, "below", 0.01)


def test_binomial_power_is_the_exact_tests() -> None:
    """The normal approximation's n for 0.65 against 0.5 (85) has 74% exact power; the planned n reaches 80%."""
    from scipy import stats

    from analysis.stats.hypothesis import central_binomial_p

    n = int(binomial_n_needed(0.65, 0.5, 0.05))
    power = sum(stats.binom.pmf(k, n, 0.65) for k in range(n + 1)
                if k > n / 2 and central_binomial_p(k, n, 0.5) < 0.05)
    assert n == 90 and power >= 0.8
