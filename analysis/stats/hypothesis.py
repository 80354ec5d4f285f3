"""Tests that decide a published claim on one run: exact, paired and equivalence tests, with power.

Every test returns a :class:`Decision`: the estimate with its interval, the two-sided
p-value of "no difference from the published threshold" (or of "outside the
equivalence margin"), the direction the data point to, the smallest p-value the test
could reach at this n (when even that is above the level, the claim is *untestable at
this n*), the smallest n at which it could reach the level, and the n a test would
need for 80% power at the observed effect. Which claim uses which test is declared
with the claim (:mod:`analysis.published`).

- :func:`rate_test`: a share of 0/1 outcomes against a threshold (exact binomial test,
  Clopper-Pearson interval). "Most examples" is a share against 1/2 (the sign test).
- :func:`paired_test`: the mean of paired differences against zero (sign-flip
  permutation test, exact up to 16 non-zero pairs; studentised-bootstrap interval).
- :func:`noninferiority_test` and :func:`equivalence_test`: a mean paired difference
  within a declared margin (one-sided t-tests; TOST is both sides, Schuirmann 1987).
  "Not distinguishable" is not parity: only these tests support "as good as".

Every test is two-sided at the claim's level (5%): a one-sided test runs at 2.5%, and
so does each side of the TOST (equivalent exactly when the 95% t-interval lies inside
the margin), so a verdict never contradicts the 95% interval printed beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from analysis.stats.intervals import mean_interval, proportion_interval
from analysis.stats.paired import sign_flip_min_p, sign_flip_test

AGREE, DIFFER, NEITHER = "published", "opposite", "none"
POWER = 0.8


@dataclass(frozen=True)
class Decision:
    """One run's test of one claim (before correction for the claim's family)."""

    test: str
    n: int
    estimate: float
    low: float
    high: float
    p_value: float       # two-sided (or the equivalence p-value): small means "not the null"
    direction: str       # AGREE, DIFFER or NEITHER: the side the estimate lies on
    min_p: float         # the smallest p-value this test can give at this n
    n_min: float         # the smallest n at which this test can reach the level (NaN: any n)
    n_needed: float      # n for 80% power at the observed effect (inf when the effect is nil)
    # the null probability of the most extreme outcome per informative example: the smallest attainable p is
    # min(1, 2 extreme^m) for m of them (non-zero differences for the sign-flip test); NaN for t-tests
    extreme: float = math.nan

    def untestable(self, alpha: float) -> bool:
        return not self.min_p < alpha

    def n_min_at(self, level: float) -> float:
        """The fewest informative examples (non-zero differences for the sign-flip test) at which this test
        could reach ``level`` (e.g. a level already divided by a multiplicity correction); ``n_min`` where
        the test's smallest p does not shrink geometrically."""
        if not np.isfinite(self.extreme) or not 0 < self.extreme < 1 or not level > 0:
            return self.n_min
        return float(max(1, math.floor(math.log(level / 2) / math.log(self.extreme) + 1e-9) + 1))


def _z(q: float) -> float:
    return float(stats.norm.ppf(q))


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def _undecidable(test: str, n: int, estimate: float = math.nan, n_min: float = math.nan) -> Decision:
    """The decision of a test that has too few values to run at all."""
    return Decision(test, n, estimate, math.nan, math.nan, math.nan, NEITHER, 1.0, n_min, math.inf)


def _direction(difference: float, published_sign: int) -> str:
    if not np.isfinite(difference) or difference == 0:
        return NEITHER
    return AGREE if np.sign(difference) == published_sign else DIFFER


def rate_test(outcomes: np.ndarray, threshold: float, *, side: str, alpha: float = 0.05,
              level: float = 0.95) -> Decision:
    """Is the share of successes (0/1 per example) below (``side="below"``) or above ``threshold``?

    Exact two-sided binomial test of ``p = threshold`` (the central test, dual of the
    Clopper-Pearson interval: :func:`central_binomial_p`);
    the direction is where the observed share lies. ``min_p`` is the p-value of the most
    extreme outcome on the published side (0 successes for "below", all for "above").
    """
    values = _finite(outcomes)
    n, k = int(values.size), int(values.sum())
    sign = -1 if side == "below" else 1
    if n == 0:
        return _undecidable("exact binomial", 0)
    share, low, high = proportion_interval(k, n, level=level)
    p = central_binomial_p(k, n, threshold)
    extreme = 0 if side == "below" else n
    min_p = central_binomial_p(extreme, n, threshold)
    n_min = _binomial_n_min(threshold, side, alpha)
    return Decision("exact binomial", n, share, low, high, p, _direction(share - threshold, sign), min_p, n_min,
                    binomial_n_needed(share, threshold, alpha), 1 - threshold if side == "below" else threshold)


def central_binomial_p(k: int, n: int, threshold: float) -> float:
    """Two-sided exact binomial p-value of ``p = threshold``: twice the smaller tail (the central test).

    It is the dual of the Clopper-Pearson interval: p < alpha exactly when the ``1 - alpha``
    interval excludes ``threshold``, so a verdict never contradicts the interval printed
    beside it (scipy's default "minlike" two-sided p is not).
    """
    return float(_central_binomial_p_values(np.asarray(k), n, threshold))


def _central_binomial_p_values(k: np.ndarray, n: int, threshold: float) -> np.ndarray:
    """:func:`central_binomial_p` of every count in ``k`` at once."""
    lower = stats.binom.cdf(k, n, threshold)
    upper = stats.binom.sf(k - 1, n, threshold)
    return np.minimum(1.0, 2.0 * np.minimum(lower, upper))


@lru_cache(maxsize=256)
def _binomial_n_min(threshold: float, side: str, alpha: float) -> float:
    """Smallest n at which the most extreme outcome on the published side rejects at ``alpha``."""
    for n in range(1, 100_000):
        extreme = 0 if side == "below" else n
        if central_binomial_p(extreme, n, threshold) < alpha:
            return float(n)
    return math.inf


EXACT_POWER_UP_TO = 500
"""Below this normal-approximation n, :func:`binomial_n_needed` searches the exact test's power instead."""


def binomial_n_needed(share: float, threshold: float, alpha: float) -> float:
    """n for 80% power of the two-sided exact test of ``threshold`` (:func:`rate_test`) when the true share is
    ``share``: the first n whose exact power, on the side ``share`` lies, reaches 80%, where the normal
    approximation is below :data:`EXACT_POWER_UP_TO` (there the test's discreteness matters: at 0.65 vs
    0.5 the approximation's 85 has 74% power); the normal approximation beyond."""
    if share == threshold or not np.isfinite(share):
        return math.inf
    # a share of exactly 0 or 1 has no spread: plan for one success (or failure) in a hundred
    p1 = min(max(share, 0.01), 0.99)
    numerator = _z(1 - alpha / 2) * math.sqrt(threshold * (1 - threshold)) + _z(POWER) * math.sqrt(p1 * (1 - p1))
    approximate = math.ceil((numerator / abs(p1 - threshold)) ** 2)
    if approximate >= EXACT_POWER_UP_TO:
        return float(approximate)
    return _exact_binomial_n(round(p1, 6), threshold, alpha, approximate)


@lru_cache(maxsize=4096)
def _exact_binomial_n(share: float, threshold: float, alpha: float, approximate: int) -> float:
    """The first n from half the normal approximation up whose exact power reaches :data:`POWER`."""
    for n in range(max(1, approximate // 2), 3 * approximate + 50):
        k = np.arange(n + 1)
        p = _central_binomial_p_values(k, n, threshold)
        on_side = k < n * threshold if share < threshold else k > n * threshold
        if stats.binom.pmf(k, n, share)[(p < alpha) & on_side].sum() >= POWER:
            return float(n)
    return float(approximate)


def paired_n_needed(mean: float, sd: float, alpha: float, *, sides: int = 2) -> float:
    """n for 80% power of a t-test of a mean paired difference ``mean`` with spread ``sd`` (the sign-flip
    test has nearly the same power as the t-test at these n)."""
    if not np.isfinite(mean) or mean == 0 or not np.isfinite(sd):
        return math.inf
    if sd == 0:
        return 2.0
    critical = _z(1 - alpha / sides)
    z = critical + _z(POWER)
    return float(math.ceil((z * sd / abs(mean)) ** 2 + critical**2 / 2))  # Guenther's (1981) t correction


def paired_test(differences: np.ndarray, *, published_sign: int = 1, alpha: float = 0.05, level: float = 0.95,
                n_permutations: int = 10000, n_resamples: int = 1000, seed: int = 0) -> Decision:
    """Is the mean of paired differences (same examples) on the published side of zero?

    Two-sided sign-flip permutation test (exact up to 16 non-zero differences);
    ``published_sign`` is +1 when the paper's direction is a positive difference. ``min_p``
    is ``2 / 2^m`` for the ``m`` non-zero differences (all signs one way; zeros carry no
    sign) where the test is exact, ``1 / (N + 1)`` for N random sign patterns beyond; so
    fewer than :func:`sign_flip_n_min` non-zero differences are untestable. ``n_min`` counts
    non-zero differences.
    """
    d = _finite(differences)
    n = int(d.size)
    if n < 2:
        return _undecidable("paired sign-flip", n, float(d.mean()) if n else math.nan, sign_flip_n_min(alpha))
    mean, low, high = mean_interval(d, level=level, n_resamples=n_resamples, seed=seed)
    p = sign_flip_test(d, n_permutations=n_permutations, seed=seed)
    min_p = sign_flip_min_p(d, n_permutations=n_permutations)
    return Decision("paired sign-flip", n, mean, low, high, float(p), _direction(mean, published_sign), min_p,
                    sign_flip_n_min(alpha), paired_n_needed(mean, float(d.std(ddof=1)), alpha), 0.5)


def sign_flip_n_min(alpha: float) -> float:
    """The fewest non-zero paired differences at which the two-sided sign-flip test can reach ``alpha``
    (all of them one way: p = 2 / 2^m)."""
    return float(math.ceil(math.log2(2.0 / alpha) + 1e-12))


def _one_sided_t(d: np.ndarray, bound: float, *, greater: bool) -> float:
    """p-value of H0: mean <= bound (``greater``) or mean >= bound (not ``greater``), paired t."""
    n = d.size
    se = d.std(ddof=1) / math.sqrt(n)
    if se == 0:  # every difference equal: the t-test has no spread to judge by, so it cannot reject
        return 1.0
    t = (d.mean() - bound) / se
    return float(stats.t.sf(t, n - 1) if greater else stats.t.cdf(t, n - 1))


def noninferiority_test(differences: np.ndarray, margin: float, *, alpha: float = 0.05, level: float = 0.95,
                        n_resamples: int = 1000, seed: int = 0) -> Decision:
    """Is the mean paired difference below ``margin`` (e.g. learned minus uniform accuracy below 2 points)?

    One-sided paired t-test of H0: mean >= margin (the published side, AGREE) and of
    H0: mean <= margin (the opposite, DIFFER); the p-value is the smaller one doubled
    (a two-sided test of mean = margin), the direction the side it points to.
    """
    d = _finite(differences)
    n = int(d.size)
    if n < 2:
        return _undecidable("non-inferiority (paired t)", n)
    mean, low, high = mean_interval(d, level=level, n_resamples=n_resamples, seed=seed)
    below = _one_sided_t(d, margin, greater=False)
    above = _one_sided_t(d, margin, greater=True)
    p = min(1.0, 2 * min(below, above))
    return Decision("non-inferiority (paired t)", n, mean, low, high, p, _direction(margin - mean, 1), 0.0, 2.0,
                    paired_n_needed(mean - margin, float(d.std(ddof=1)), alpha))


def equivalence_test(differences: np.ndarray, margin: float, *, alpha: float = 0.05, level: float = 0.95,
                     n_resamples: int = 1000, seed: int = 0) -> Decision:
    """TOST: is the mean paired difference within ``(-margin, margin)``?

    ``p_value`` is twice the larger of the two one-sided p-values (:func:`tost_p_value`):
    each side is tested at ``alpha / 2``, as every claim is, so equivalent at ``alpha``
    means the ``1 - alpha`` t-interval lies inside the margin. The direction is AGREE when the
    estimate lies inside the margin and DIFFER outside; a DIFFER is significant only when
    a two-sided t-test puts the mean beyond the margin (``p_value`` is then that test's).
    """
    d = _finite(differences)
    n = int(d.size)
    if n < 2:
        return _undecidable("equivalence (TOST, paired t)", n)
    mean, low, high = mean_interval(d, level=level, n_resamples=n_resamples, seed=seed)
    sd = float(d.std(ddof=1))
    inside = abs(mean) < margin
    if inside:
        p = tost_p_value(d, margin)
        needed = paired_n_needed(margin - abs(mean), sd, alpha)
    else:
        bound = margin if mean > 0 else -margin
        p = min(1.0, 2 * _one_sided_t(d, bound, greater=mean > 0))
        needed = paired_n_needed(abs(mean) - margin, sd, alpha)
    return Decision("equivalence (TOST, paired t)", n, mean, low, high, float(p), AGREE if inside else DIFFER, 0.0,
                    2.0, needed)


def tost_p_value(differences: np.ndarray, margin: float) -> float:
    """TOST p-value of "the mean paired difference lies within (-margin, margin)", each side at half the
    level: twice the larger one-sided paired-t p-value, at most 1 (at least 1 when the mean is outside)."""
    d = _finite(differences)
    if d.size < 2:
        return math.nan
    return min(1.0, 2 * max(_one_sided_t(d, -margin, greater=True), _one_sided_t(d, margin, greater=False)))


def binding_part(parts: list[Decision]) -> int:
    """The index of the part that decides an intersection-union test: the most significant part pointing
    against the published direction where one does; else, where every part agrees, the one with the largest
    p-value; else the first part that does not agree."""
    opposite = [i for i, p in enumerate(parts) if p.direction == DIFFER]
    if opposite:
        return min(opposite, key=lambda i: parts[i].p_value)
    if all(p.direction == AGREE for p in parts):
        return max(range(len(parts)), key=lambda i: parts[i].p_value)
    return next(i for i, p in enumerate(parts) if p.direction != AGREE)


def combine_all(parts: list[Decision]) -> Decision:
    """A claim that needs every part to hold (an intersection-union test, Berger 1982).

    AGREE when every part points the published way, with the largest p-value of the
    parts; DIFFER when any part points the other way, with the smallest such p-value
    times the number of parts (Bonferroni over every part that could have pointed that way:
    which ones did is itself decided by the data). The estimate and interval are the
    binding part's (:func:`binding_part`), so an interval above zero never stands beside
    a verdict that another part decided; n is the smallest part's.
    """
    opposite = [p for p in parts if p.direction == DIFFER]
    if opposite:
        direction, p_value = DIFFER, min(1.0, len(parts) * min(p.p_value for p in opposite))
    elif all(p.direction == AGREE for p in parts):
        direction, p_value = AGREE, max(p.p_value for p in parts)
    else:
        direction, p_value = NEITHER, 1.0
    shown = parts[binding_part(parts)]
    extremes = [p.extreme for p in parts if np.isfinite(p.extreme)]
    return Decision(shown.test, min(p.n for p in parts), shown.estimate, shown.low, shown.high, p_value, direction,
                    max(p.min_p for p in parts), max(p.n_min for p in parts), max(p.n_needed for p in parts),
                    max(extremes) if extremes else math.nan)


def tost_n_needed(margin: float, sd: float, alpha: float) -> float:
    """n for 80% power of the TOST (each side at ``alpha / 2``) when the true mean difference is 0: both one-sided
    tests must reject, so each needs power 1 - (1 - 80%) / 2 (normal approximation, Guenther's correction)."""
    critical = _z(1 - alpha / 2)
    z = critical + _z(1 - (1 - POWER) / 2)
    return float(math.ceil((z * sd / margin) ** 2 + critical**2 / 2))


def power_table(alpha: float = 0.05) -> list[dict[str, object]]:
    """The sample sizes this study plans with: per kind of claim test, the effect it should detect, the
    n for 80% power at ``alpha`` and the smallest n at which the test can decide at all.

    Paired agreement differences: the per-example SD of Kendall tau differences is about
    0.16-0.23 in this study's earlier runs (0.2 assumed); fractions of words removed until
    the decision flips: SD 0.25 assumed; rates: a share of 5% against a 10% threshold, and
    65% against one half ("most examples"). Each published claim names its row
    (``PublishedClaim.power_kind``).
    """
    return [
        {"test": "paired sign-flip (agreement difference)", "effect": "Δτ = 0.05 (SD 0.2)",
         "n_80": paired_n_needed(0.05, 0.2, alpha), "n_min": sign_flip_n_min(alpha)},
        {"test": "paired sign-flip (agreement difference)", "effect": "Δτ = 0.10 (SD 0.2)",
         "n_80": paired_n_needed(0.10, 0.2, alpha), "n_min": sign_flip_n_min(alpha)},
        {"test": "paired sign-flip (removal fraction)", "effect": "Δ = 0.05 of the words (SD 0.25 assumed)",
         "n_80": paired_n_needed(0.05, 0.25, alpha), "n_min": sign_flip_n_min(alpha)},
        {"test": "exact binomial (rate below 10%)", "effect": "rate 5%",
         "n_80": binomial_n_needed(0.05, 0.10, alpha), "n_min": _binomial_n_min(0.10, "below", alpha)},
        {"test": "exact binomial (most examples)", "effect": "share 65%",
         "n_80": binomial_n_needed(0.65, 0.5, alpha), "n_min": _binomial_n_min(0.5, "above", alpha)},
        {"test": "equivalence (TOST, τ within the margin of 0.05)", "effect": "Δτ = 0 (SD 0.2)",
         "n_80": tost_n_needed(0.05, 0.2, alpha), "n_min": 2.0},
        {"test": "equivalence (TOST, accuracy within 2 points)", "effect": "equal accuracy, 10% discordant",
         "n_80": tost_n_needed(0.02, math.sqrt(0.10), alpha), "n_min": 2.0},
    ]
