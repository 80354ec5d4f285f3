"""Percentile bootstrap intervals over instances, and the agreement summary table.

Resamples are drawn as index matrices in chunks (``chunk_elements`` bounds the memory)
and turned into per-resample counts, so the mean of a resample is one matrix product
and its median a cumulative count over the sorted values. Several value vectors of
the same length can share one draw (:func:`_bootstrap_rows`); each still gets exactly
what :func:`bootstrap_ci` would give it with the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.records import AGREEMENT_COLUMNS, SUMMARY_COLUMNS, require_columns
from analysis.seeding import derive_seed

STATISTICS = ("mean", "median")
GROUPINGS = ("all", "predicted", "length_bucket")
SUMMARY_KEYS = ["method_a", "method_b", "pair_kind", "variant", "metric"]
DEFAULT_CHUNK_ELEMENTS = 2**21
_SUMMARY_DTYPES = {column: object for column in [*SUMMARY_KEYS, "group_by", "group"]} | {"n": np.int64}


def _check(statistics: Sequence[str], n_resamples: int, level: float) -> None:
    for statistic in statistics:
        if statistic not in STATISTICS:
            raise ValueError(f"unknown bootstrap statistic {statistic!r}; choose one of: {', '.join(STATISTICS)}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")


def _resample_medians(counts: np.ndarray, order: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Medians of bootstrap resamples given as counts, for each row of values; shape (rows, resamples).

    ``counts[r, i]`` is how often instance ``i`` is in resample ``r``; ``order[k]`` sorts
    row ``k`` of the values into ``sorted_values[k]``. Position ``p`` of a sorted
    resample holds the sorted value ``j`` at which the cumulative count first exceeds
    ``p``; the median averages positions ``(n-1)//2`` and ``n//2``.

    Resample medians almost always lie within a few ``sqrt(n)`` ranks of the middle, so
    the cumulative count is taken only over a window there, plus one matrix product for
    the counts below it; resamples whose median falls outside the window are redone in
    full. The result is exact either way.
    """
    n_resamples, n = counts.shape
    lower_pos, upper_pos = (n - 1) // 2, n // 2
    half_width = int(np.ceil(4 * np.sqrt(n))) + 2
    first, stop = max(0, lower_pos - half_width), min(n, upper_pos + half_width + 1)
    below = np.zeros(order.shape)
    np.put_along_axis(below, order[:, :first], 1.0, axis=1)
    counts_below = counts.astype(float) @ below.T  # (resamples, rows), exact small integers
    # Counts never exceed n: the smallest integer type holding n keeps gathers light.
    small = counts.astype(np.int16 if n < 2**15 else np.int32)
    medians = np.empty((order.shape[0], n_resamples))
    for row in range(order.shape[0]):
        cumulative = counts_below[:, row:row + 1] + np.cumsum(small[:, order[row, first:stop]], axis=1)
        lower = first + np.argmax(cumulative > lower_pos, axis=1)
        upper = first + np.argmax(cumulative > upper_pos, axis=1)
        outside = np.flatnonzero((counts_below[:, row] > lower_pos) | (cumulative[:, -1] <= upper_pos))
        if outside.size:
            full = np.cumsum(small[np.ix_(outside, order[row])], axis=1)
            lower[outside] = np.argmax(full > lower_pos, axis=1)
            upper[outside] = np.argmax(full > upper_pos, axis=1)
        medians[row] = (sorted_values[row, lower] + sorted_values[row, upper]) / 2
    return medians


def _bootstrap_rows(
    values: np.ndarray,
    statistics: Sequence[str],
    *,
    n_resamples: int,
    level: float,
    seed: int,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Percentile bootstrap of each row of ``values`` (rows, n), all rows on the same resamples.

    Rows must be free of NaN and ``n >= 2``. Returns ``{statistic: (estimate, low, high)}``
    with one entry per row in each array.
    """
    values = np.asarray(values, dtype=float)
    n_rows, n = values.shape
    n_resamples = int(n_resamples)
    rng = np.random.default_rng(seed)
    distributions = {statistic: np.empty((n_rows, n_resamples)) for statistic in statistics}
    if "median" in statistics:
        order = np.argsort(values, axis=1, kind="stable")
        sorted_values = np.take_along_axis(values, order, axis=1)
    per_chunk = max(1, chunk_elements // n)
    for start in range(0, n_resamples, per_chunk):
        rows = min(per_chunk, n_resamples - start)
        picks = rng.integers(0, n, size=(rows, n))
        counts = np.bincount((picks + n * np.arange(rows)[:, None]).ravel(), minlength=rows * n).reshape(rows, n)
        if "mean" in statistics:
            distributions["mean"][:, start:start + rows] = (counts.astype(float) @ values.T).T / n
        if "median" in statistics:
            distributions["median"][:, start:start + rows] = _resample_medians(counts, order, sorted_values)
    tail = (1.0 - level) / 2.0
    result = {}
    for statistic, distribution in distributions.items():
        estimate = values.mean(axis=1) if statistic == "mean" else np.median(values, axis=1)
        low, high = np.quantile(distribution, [tail, 1.0 - tail], axis=1)
        result[statistic] = (estimate, low, high)
    return result


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: str = "mean",
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    *,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of the mean or median of ``values``.

    Parameters
    ----------
    values
        One value per instance; NaNs are dropped first.
    statistic
        ``"mean"`` or ``"median"``.
    n_resamples
        Number of bootstrap resamples.
    level
        Coverage of the interval, e.g. 0.95.
    seed
        Seed of the resampling; the result is a deterministic function of the inputs.
    chunk_elements
        Memory knob: resample indices are drawn about this many at a time. The draws
        continue one random stream, so the result does not depend on it.

    Returns
    -------
    tuple of float
        ``(estimate, low, high)``; with fewer than two values ``(estimate or NaN, NaN, NaN)``.
    """
    _check([statistic], n_resamples, level)
    values = np.asarray(values, dtype=float).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    if values.size == 1:
        return float(values[0]), float("nan"), float("nan")
    estimate, low, high = _bootstrap_rows(values[None, :], [statistic], n_resamples=n_resamples, level=level,
                                          seed=seed, chunk_elements=chunk_elements)[statistic]
    return float(estimate[0]), float(low[0]), float(high[0])


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
    """Mean and median agreement with bootstrap intervals (the ``agreement_summary`` table).

    One row per (method_a, method_b, pair_kind, variant, metric) and per group of each
    grouping: ``"all"`` (group ``"all"``), ``"predicted"`` (the predicted class) and
    ``"length_bucket"``. NaN values (undefined correlations) are left out, and ``n`` counts
    the rest.

    Parameters
    ----------
    agreement
        The ``agreement`` table (``records.AGREEMENT_COLUMNS``).
    n_resamples, level
        Bootstrap resamples and interval coverage (see :func:`bootstrap_ci`).
    seed
        Base seed. Each group bootstraps with ``derive_seed(seed, group_by, group)``, so a
        result does not depend on which other groups or rows are summarised, and every
        row equals ``bootstrap_ci(values, ..., seed=derive_seed(seed, group_by, group))``
        (the values ordered by example id). Rows of one group with equally many values
        therefore share resamples: a paired bootstrap across methods and metrics.
    alpha
        ``share_significant`` is the share of instances with ``p_value < alpha`` among
        those with a p-value (NaN for metrics without one).
    chunk_elements
        Memory knob of the resampling (see :func:`bootstrap_ci`).
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
                values = rows["value"].to_numpy(dtype=float)
                values = values[~np.isnan(values)]
                p_values = rows["p_value"].to_numpy(dtype=float)
                p_values = p_values[~np.isnan(p_values)]
                record = dict(zip(SUMMARY_KEYS, key))
                record.update(
                    group_by=group_by, group=group, n=int(values.size), _group_rank=group_rank,
                    _label_rank=label_rank,
                    share_significant=float((p_values < alpha).mean()) if p_values.size else np.nan,
                )
                for statistic in STATISTICS:
                    estimate = float(np.mean(values) if statistic == "mean" else np.median(values)) \
                        if values.size else np.nan
                    record.update({statistic: estimate, f"{statistic}_low": np.nan, f"{statistic}_high": np.nan})
                records.append(record)
                if values.size >= 2:
                    by_length.setdefault(values.size, []).append((record, values))
            for members in by_length.values():
                stats = _bootstrap_rows(np.stack([values for _, values in members]), STATISTICS,
                                        n_resamples=n_resamples, level=level, seed=group_seed,
                                        chunk_elements=chunk_elements)
                for i, (record, _) in enumerate(members):
                    for statistic, (estimate, low, high) in stats.items():
                        record.update({statistic: float(estimate[i]), f"{statistic}_low": float(low[i]),
                                       f"{statistic}_high": float(high[i])})
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=_SUMMARY_DTYPES.get(c, float)) for c in SUMMARY_COLUMNS})
    summary = pd.DataFrame.from_records(records)
    summary = summary.sort_values(SUMMARY_KEYS + ["_group_rank", "_label_rank"], kind="stable")
    return summary[SUMMARY_COLUMNS].reset_index(drop=True).astype({"n": np.int64})
