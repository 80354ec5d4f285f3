"""Confidence intervals over instances, chosen for their coverage at small n, and the agreement summary table.

- **Means**: studentised (bootstrap-t) intervals (Efron & Tibshirani 1993, ch. 12). The
  percentile bootstrap under-covers at small n on skewed data (about 88% at n = 8 and
  92% at n = 20-30 for a nominal 95%); the studentised bootstrap corrects for skewness
  and stays near nominal (``tests/test_intervals.py`` simulates it on exponential data).
  Below :data:`MIN_STUDENTIZED` values, or distinct values, its resampled standard errors are
  too coarse (it can reach far outside the data's range), so the t-interval is used there.
- **Medians**: the distribution-free order-statistic interval (the ranks come from the
  Binomial(n, 1/2) distribution, so coverage is at least nominal for any continuous
  distribution). Below six values no pair of order statistics reaches 95%: NaN bounds.
- **Proportions** (flip rates, feasibility, accuracy: 0/1 per example): exact
  Clopper-Pearson intervals. A bootstrap of 0 successes collapses to [0, 0] whatever n
  is; Clopper-Pearson gives 0 of 30 an upper bound of 0.116.

Resamples are drawn as index matrices in chunks (``chunk_elements`` bounds the memory)
and turned into per-resample counts, so a resample's mean and variance are two matrix
products. Several value vectors of the same length share one draw (:func:`_studentized_rows`);
each still gets exactly what :func:`mean_interval` gives it with the same seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.records import AGREEMENT_COLUMNS, SUMMARY_COLUMNS, require_columns
from analysis.seeding import derive_seed

STATISTICS = ("mean", "median")
GROUPINGS = ("all", "predicted", "length_bucket")
SUMMARY_KEYS = ["method_a", "method_b", "pair_kind", "variant", "metric"]
DEFAULT_CHUNK_ELEMENTS = 2**21
_SUMMARY_DTYPES = {column: object for column in [*SUMMARY_KEYS, "group_by", "group"]} | {"n": np.int64}
NAN3 = (float("nan"), float("nan"), float("nan"))
MIN_STUDENTIZED = 10

MEAN_METHOD = "studentized bootstrap"
MEDIAN_METHOD = "order statistics"
PROPORTION_METHOD = "Clopper-Pearson"


def _check(statistics: Sequence[str], n_resamples: int, level: float) -> None:
    for statistic in statistics:
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r}; choose one of: {', '.join(STATISTICS)}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


# ------------------------------------------------------------------------ means
def _studentized_rows(values: np.ndarray, *, n_resamples: int, level: float, seed: int,
                      chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Studentised bootstrap interval of the mean of each row of ``values`` (rows, n >= 2), shared resamples.

    For resample ``r``, ``t_r = (mean_r - mean) / se_r``; the interval is
    ``[mean - t_(1-a/2) se, mean - t_(a/2) se]``. Resamples with ``se_r = 0`` (every pick
    the same value) have no t and are left out. A row whose own ``se`` is 0 (all values
    equal) gets the point as its interval.
    """
    values = np.asarray(values, dtype=float)
    n_rows, n = values.shape
    n_resamples = int(n_resamples)
    mean = values.mean(axis=1)
    se = values.std(axis=1, ddof=1) / np.sqrt(n)
    if n < MIN_STUDENTIZED:  # too few values for the bootstrap's t distribution: Student's t
        half = stats.t.ppf(0.5 + level / 2.0, n - 1) * se
        return mean, mean - half, mean + half
    squares = values**2
    rng = np.random.default_rng(seed)
    t_values = np.empty((n_rows, n_resamples))
    per_chunk = max(1, chunk_elements // n)
    for start in range(0, n_resamples, per_chunk):
        rows = min(per_chunk, n_resamples - start)
        picks = rng.integers(0, n, size=(rows, n))
        counts = np.bincount((picks + n * np.arange(rows)[:, None]).ravel(), minlength=rows * n).reshape(rows, n)
        counts = counts.astype(float)
        resample_mean = (counts @ values.T).T / n
        resample_var = ((counts @ squares.T).T / n - resample_mean**2) * n / (n - 1)
        resample_se = np.sqrt(np.clip(resample_var, 0.0, None) / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (resample_mean - mean[:, None]) / resample_se
        # a resample of one repeated value has no spread: no t statistic (the relative
        # tolerance absorbs the rounding of the two matrix products)
        t[resample_se <= 1e-12 * (1.0 + np.abs(resample_mean))] = np.nan
        t_values[:, start:start + rows] = t
    tail = (1.0 - level) / 2.0
    low, high = np.full(n_rows, np.nan), np.full(n_rows, np.nan)
    # few distinct values (a handful of examples repeated across rows, or mostly ties): resamples
    # that miss the rare values have a near-zero spread and a huge t, and the interval can reach
    # far outside the data; Student's t is used there, as below MIN_STUDENTIZED values
    distinct = np.array([np.unique(row).size for row in values])
    t_half = stats.t.ppf(0.5 + level / 2.0, n - 1) * se
    for row in range(n_rows):
        t = t_values[row][np.isfinite(t_values[row])]
        if se[row] == 0:
            low[row] = high[row] = mean[row]
        elif distinct[row] < MIN_STUDENTIZED:
            low[row], high[row] = mean[row] - t_half[row], mean[row] + t_half[row]
        elif t.size:
            t_low, t_high = np.quantile(t, [tail, 1.0 - tail])
            low[row], high[row] = mean[row] - t_high * se[row], mean[row] - t_low * se[row]
    return mean, low, high


def mean_interval(values: Sequence[float] | np.ndarray, *, level: float = 0.95, n_resamples: int = 1000,
                  seed: int = 0, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> tuple[float, float, float]:
    """Mean of ``values`` (NaNs dropped) with a studentised-bootstrap interval: ``(mean, low, high)``.

    Deterministic in ``seed``; ``chunk_elements`` is a memory knob only (the draws continue
    one random stream). Fewer than two values give NaN bounds.
    """
    _check(["mean"], n_resamples, level)
    values = _finite(values)
    if values.size == 0:
        return NAN3
    if values.size == 1:
        return float(values[0]), float("nan"), float("nan")
    mean, low, high = _studentized_rows(values[None, :], n_resamples=n_resamples, level=level, seed=seed,
                                        chunk_elements=chunk_elements)
    return float(mean[0]), float(low[0]), float(high[0])


# ---------------------------------------------------------------------- medians
def median_ranks(n: int, level: float = 0.95) -> tuple[int, int] | None:
    """0-based ranks ``(k, n - 1 - k)`` of the order statistics bounding the median at ``level``, or None
    when no pair reaches it (n < 6 at 95%).

    ``[x_(k), x_(n-1-k)]`` misses the median exactly when at most ``k`` values lie on one side
    of it, with probability ``2 P(B <= k)`` for ``B ~ Binomial(n, 1/2)``; ``k`` is the largest
    rank that keeps this at most ``1 - level``.
    """
    tail = (1.0 - level) / 2.0
    k = int(stats.binom.ppf(tail, n, 0.5))
    if stats.binom.cdf(k, n, 0.5) > tail:
        k -= 1
    return None if k < 0 else (k, n - 1 - k)


def median_interval(values: Sequence[float] | np.ndarray, *, level: float = 0.95) -> tuple[float, float, float]:
    """Median with its distribution-free order-statistic interval (coverage at least ``level``)."""
    _check(["median"], 1, level)
    values = np.sort(_finite(values))
    if values.size == 0:
        return NAN3
    ranks = median_ranks(values.size, level)
    if ranks is None:
        return float(np.median(values)), float("nan"), float("nan")
    return float(np.median(values)), float(values[ranks[0]]), float(values[ranks[1]])


# ------------------------------------------------------------------ proportions
def proportion_interval(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float, float]:
    """Share ``successes / n`` with its exact Clopper-Pearson interval (NaN when n is 0)."""
    if n <= 0:
        return NAN3
    tail = (1.0 - level) / 2.0
    low = 0.0 if successes == 0 else float(stats.beta.ppf(tail, successes, n - successes + 1))
    high = 1.0 if successes == n else float(stats.beta.ppf(1.0 - tail, successes + 1, n - successes))
    return successes / n, low, high


def is_binary(values: np.ndarray) -> bool:
    """True when every finite value is 0 or 1 (a rate: flips, feasibility, correctness)."""
    values = _finite(values)
    return bool(values.size) and bool(np.isin(values, (0.0, 1.0)).all())


def interval(values: Sequence[float] | np.ndarray, statistic: str = "mean", *, binary: bool = False,
             level: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """The interval this project uses for ``statistic`` of ``values`` (NaNs dropped).

    ``binary`` declares the values to be 0/1 outcomes: their mean is a proportion with a
    Clopper-Pearson interval. Otherwise means get the studentised bootstrap and medians
    the order-statistic interval.
    """
    _check([statistic], n_resamples, level)
    values = _finite(values)
    if statistic == "median":
        return median_interval(values, level=level)
    if binary:
        if not is_binary(values) and values.size:
            raise ValueError("binary=True needs values that are all 0 or 1")
        return proportion_interval(int(values.sum()), int(values.size), level=level)
    return mean_interval(values, level=level, n_resamples=n_resamples, seed=seed)


def interval_method(statistic: str, binary: bool = False) -> str:
    """Name of the interval :func:`interval` computes (for report text and provenance)."""
    if statistic == "median":
        return MEDIAN_METHOD
    return PROPORTION_METHOD if binary else MEAN_METHOD


def within_range(summary: pd.DataFrame, ranges: Mapping[str, tuple[float, float]], *, key: str) -> pd.DataFrame:
    """``summary`` with every interval of a bounded quantity intersected with its range.

    ``ranges`` maps a value of column ``key`` (a measure or metric name) to the range its per-example values
    lie in, e.g. [0, 1] for a total variation distance. The mean lies in that range too, so intersecting
    keeps the interval's coverage; the studentised bootstrap at a handful of values can reach past it (a TVD
    of 0.25 [-0.50, 1.00] at n = 4). Rows of other names are left as they are.
    """
    if summary.empty or key not in summary:
        return summary
    out = summary.copy()
    bounds = out[key].map(lambda name: ranges.get(name, (-np.inf, np.inf)))
    low = np.array([b[0] for b in bounds], dtype=float)
    high = np.array([b[1] for b in bounds], dtype=float)
    for column in ("mean_low", "mean_high"):
        if column in out:
            out[column] = np.clip(out[column].to_numpy(dtype=float), low, high)
    return out


# ------------------------------------------------------------ agreement summary
def _group_labels(agreement: pd.DataFrame, group_by: str) -> tuple[pd.Series, list[str]]:
    """Group label of every row, and the labels in display order."""
    if group_by == "all":
        return pd.Series("all", index=agreement.index), ["all"]
    if group_by == "predicted":
        predicted = agreement["predicted"].astype(np.int64)
        return predicted.astype(str), [str(p) for p in sorted(predicted.unique())]
    buckets = agreement["length_bucket"].astype(str)
    shortest = agreement["n_words"].groupby(buckets).min().sort_values(kind="stable")
    return buckets, [str(b) for b in shortest.index]


def summarize_agreement(
    agreement: pd.DataFrame,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> pd.DataFrame:
    """Mean and median agreement with intervals (the ``agreement_summary`` table).

    One row per (method_a, method_b, pair_kind, variant, metric) and per group of each
    grouping: ``"all"`` (group ``"all"``), ``"predicted"`` (the predicted class) and
    ``"length_bucket"``. NaN values (undefined correlations) are left out, and ``n`` counts
    the rest. Means get studentised-bootstrap intervals, medians order-statistic ones.

    Parameters
    ----------
    agreement
        The ``agreement`` table (``records.AGREEMENT_COLUMNS``).
    n_resamples, level
        Bootstrap resamples of the mean intervals and the interval coverage.
    seed
        Base seed. Each group resamples with ``derive_seed(seed, group_by, group)``, so a
        result does not depend on which other groups or rows are summarised, and every
        row's mean interval equals ``mean_interval(values, seed=derive_seed(seed, group_by, group))``
        (the values ordered by example id).
    alpha
        ``share_significant`` is the share of instances with ``p_value < alpha`` among
        those with a p-value (NaN for metrics without one).
    chunk_elements
        Memory knob of the resampling.
    """
    _check(STATISTICS, n_resamples, level)
    require_columns(agreement, AGREEMENT_COLUMNS, table="agreement")
    frame = agreement.sort_values(SUMMARY_KEYS + ["example_id"], kind="stable").reset_index(drop=True)
    records: list[dict] = []
    for group_rank, group_by in enumerate(GROUPINGS):
        labels, ordered = _group_labels(frame, group_by)
        for label_rank, group in enumerate(ordered):
            part = frame[labels.to_numpy() == group]
            group_seed = derive_seed(seed, group_by, group)
            by_length: dict[int, list[tuple[dict, np.ndarray]]] = {}
            for key, rows in part.groupby(SUMMARY_KEYS, sort=True, observed=True):
                values = _finite(rows["value"].to_numpy(dtype=float))
                p_values = _finite(rows["p_value"].to_numpy(dtype=float))
                record = dict(zip(SUMMARY_KEYS, key))
                median = median_interval(values, level=level)
                record.update(
                    group_by=group_by, group=group, n=int(values.size), _group_rank=group_rank,
                    _label_rank=label_rank,
                    share_significant=float((p_values < alpha).mean()) if p_values.size else np.nan,
                    mean=float(values.mean()) if values.size else np.nan, mean_low=np.nan, mean_high=np.nan,
                    median=median[0], median_low=median[1], median_high=median[2],
                )
                records.append(record)
                if values.size >= 2:
                    by_length.setdefault(values.size, []).append((record, values))
            for members in by_length.values():
                _, low, high = _studentized_rows(np.stack([values for _, values in members]),
                                                 n_resamples=n_resamples, level=level, seed=group_seed,
                                                 chunk_elements=chunk_elements)
                for i, (record, _) in enumerate(members):
                    record.update(mean_low=float(low[i]), mean_high=float(high[i]))
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=_SUMMARY_DTYPES.get(c, float)) for c in SUMMARY_COLUMNS})
    summary = pd.DataFrame.from_records(records)
    summary = summary.sort_values(SUMMARY_KEYS + ["_group_rank", "_label_rank"], kind="stable")
    return summary[SUMMARY_COLUMNS].reset_index(drop=True).astype({"n": np.int64})
