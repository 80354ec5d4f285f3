"""Mean with an interval per group: the summary every ground-truth table uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.seeding import derive_seed
from analysis.stats.intervals import interval, is_binary

INTERVAL_COLUMNS = ["n", "mean", "mean_low", "mean_high"]


def mean_intervals(frame: pd.DataFrame, keys: Sequence[str], value: str, *, n_resamples: int = 1000,
                   level: float = 0.95, seed: int = 0, binary: bool | str = False) -> pd.DataFrame:
    """One row per group of ``keys``: ``n`` (non-NaN values), ``mean`` and its interval.

    ``binary=True`` declares the values 0/1 outcomes (a rate: exact Clopper-Pearson
    interval); ``"auto"`` decides per group (a group whose values are all 0 or 1 is a
    rate); otherwise the studentised bootstrap of :func:`analysis.stats.intervals.mean_interval`.
    Each group resamples with ``derive_seed(seed, *group key values)``, so a group's
    interval does not depend on which other groups are in the table. Groups with fewer
    than two values get NaN bounds, except rates (an exact interval needs one value).
    """
    keys = list(keys)
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *INTERVAL_COLUMNS])
    rows = []
    for group, part in frame.groupby(keys, sort=True, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        values = pd.to_numeric(part[value], errors="coerce").to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        rate = is_binary(values) if binary == "auto" else bool(binary)
        mean, low, high = interval(values, "mean", binary=rate, n_resamples=n_resamples, level=level,
                                   seed=derive_seed(seed, *group))
        rows.append({**dict(zip(keys, group)), "n": int(values.size), "mean": mean, "mean_low": low,
                     "mean_high": high})
    return pd.DataFrame(rows, columns=[*keys, *INTERVAL_COLUMNS])
