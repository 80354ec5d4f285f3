"""Paired comparisons on the same examples, multiple-comparison corrections, seed spread.

"Method A agrees with leave-one-out more than method B" is a claim about paired values:
both are measured on the same examples. The test here is a sign-flip permutation test
on the per-example differences (exact under the null of exchangeable signs), with a
studentised-bootstrap interval for the mean difference and the paired effect size
d_z = mean(diff) / sd(diff). A family of such tests is corrected with Holm (family-wise
error) or Benjamini-Hochberg (false discovery rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.stats.intervals import mean_interval

CORRECTIONS = ("holm", "bh", "none")
CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}


def correction_name(method: str) -> str:
    """The name a report gives a multiplicity correction: 'Holm', 'Benjamini-Hochberg', 'no'."""
    return CORRECTION_NAMES.get(method, method)


def corrected_label(method: str) -> str:
    """'Holm-corrected', 'Benjamini-Hochberg-corrected' or 'uncorrected', for captions."""
    return "uncorrected" if method == "none" else f"{correction_name(method)}-corrected"


@dataclass(frozen=True)
class PairedResult:
    """Outcome of one paired comparison (values of A minus values of B)."""

    n: int
    mean_difference: float
    low: float
    high: float
    effect_size: float
    p_value: float


EXACT_SIGN_FLIPS = 16
"""Up to this many non-zero paired differences the sign-flip test enumerates every sign pattern."""


def sign_flip_min_p(differences: np.ndarray, *, n_permutations: int = 10000) -> float:
    """The smallest p-value :func:`sign_flip_test` can give on these differences: ``2 / 2^m`` for the ``m``
    non-zero ones (all signs one way; zeros carry no sign) where the test is exact, ``1 / (N + 1)`` for N random
    sign patterns beyond."""
    nonzero = int(np.count_nonzero(np.asarray(differences, dtype=float)[np.isfinite(differences)]))
    return min(1.0, 2.0 / 2.0**nonzero) if nonzero <= EXACT_SIGN_FLIPS else 1.0 / (n_permutations + 1)


def sign_flip_test(differences: np.ndarray, *, n_permutations: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of a mean paired difference of zero (sign-flip permutation test).

    Zero differences carry no sign (flipping them changes nothing), so the test runs on the
    m non-zero ones: all 2^m sign patterns when m <= 16 (exact, whatever n is), otherwise
    ``n_permutations`` random ones with the observed pattern counted in (Phipson & Smyth
    2010), so p is never 0. No non-zero difference gives p = 1.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return float("nan")
    d = d[d != 0]
    m = len(d)
    if m == 0:
        return 1.0
    observed = abs(d.sum())
    tolerance = 1e-12 * max(1.0, float(np.abs(d).sum()))
    if m <= EXACT_SIGN_FLIPS:
        signs = 1 - 2 * ((np.arange(2**m)[:, None] >> np.arange(m)) & 1)
        return float(np.mean(np.abs(signs @ d) >= observed - tolerance))
    rng = np.random.default_rng(seed)
    exceed = 0
    for start in range(0, n_permutations, 2000):
        size = min(2000, n_permutations - start)
        signs = rng.choice([-1.0, 1.0], size=(size, m))
        exceed += int(np.sum(np.abs(signs @ d) >= observed - tolerance))
    return (exceed + 1) / (n_permutations + 1)


def paired_comparison(a: np.ndarray, b: np.ndarray, *, n_resamples: int = 2000, level: float = 0.95,
                      n_permutations: int = 10000, seed: int = 0) -> PairedResult:
    """Compare per-example values ``a`` and ``b`` (same examples, same order); NaN pairs dropped."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = len(d)
    if n < 2:
        return PairedResult(n, float(d.mean()) if n else float("nan"), float("nan"), float("nan"), float("nan"),
                            float("nan"))
    _, low, high = mean_interval(d, level=level, n_resamples=n_resamples, seed=seed)
    sd = d.std(ddof=1)
    effect = float(d.mean() / sd) if sd > 0 else float("nan")
    return PairedResult(n, float(d.mean()), float(low), float(high), effect,
                        sign_flip_test(d, n_permutations=n_permutations, seed=seed))


def adjust_p_values(p_values: np.ndarray, method: str = "holm") -> np.ndarray:
    """Holm step-down (family-wise error) or Benjamini-Hochberg (false discovery rate) adjustment.

    NaN p-values are left as NaN and do not count towards the family size.
    """
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose one of {CORRECTIONS}")
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = len(valid)
    if m == 0 or method == "none":
        out[valid] = p[valid]
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adjusted = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out


def ratio_interval(a: np.ndarray, b: np.ndarray, *, n_resamples: int = 2000, level: float = 0.95,
                   seed: int = 0) -> tuple[float, float, float]:
    """mean(a) / mean(b) with a paired percentile-bootstrap interval (normalised agreement).

    The interval is NaN when resampled denominators reach zero or below (the ratio is then
    not meaningful).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 2 or b.mean() <= 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(a), size=(n_resamples, len(a)))
    denominators = b[index].mean(axis=1)
    if np.any(denominators <= 0):
        return float(a.mean() / b.mean()), float("nan"), float("nan")
    ratios = a[index].mean(axis=1) / denominators
    alpha = 1 - level
    low, high = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return float(a.mean() / b.mean()), float(low), float(high)
