"""What a held-out pick of a head or layer is worth: its post-hoc optimism and its gain over the last layer.

Both are added to the picks of :func:`analysis.heads.selection.select_units`, row by row
for the held-out picks (post-hoc rows repeat the optimism and get NaN for the comparison:
a pick made on the examples it is judged on is not a fair test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.heads.agreement import MEAN
from analysis.seeding import derive_seed


def with_optimism(picks: pd.DataFrame, agreement: pd.DataFrame, *, n_resamples: int, level: float,
                  seed: int) -> pd.DataFrame:
    """Add the post-hoc optimism over each held-out pick (same value on its post-hoc row)."""
    from analysis.heads.selection import optimism_interval

    values = {}
    for row in picks[picks["choice"] == "held_out"].itertuples():
        values[(row.method_b, row.metric, row.kind)] = optimism_interval(
            agreement, method=row.method_b, metric=row.metric, kind=row.kind, held_out=(row.layer, row.head),
            n_resamples=n_resamples, level=level,
            seed=derive_seed(seed, "heads-optimism", row.method_b, row.metric, row.kind))
    triples = [values.get((m, t, k), (np.nan, np.nan, np.nan))
               for m, t, k in zip(picks["method_b"], picks["metric"], picks["kind"])]
    estimate, low, high = (list(x) for x in zip(*triples)) if triples else ([], [], [])
    return picks.assign(optimism=estimate, optimism_low=low, optimism_high=high)


def with_last_layer_comparison(picks: pd.DataFrame, agreement: pd.DataFrame, *, n_resamples: int, level: float,
                               seed: int) -> pd.DataFrame:
    """Add a paired comparison of each held-out pick with the last layer's head mean on the explained examples.

    Per-example differences (pick minus last-layer mean), sign-flip test and bootstrap
    interval (:func:`analysis.stats.paired.paired_comparison`); the held-out picks of a
    run form one family, Holm-adjusted. Post-hoc rows get NaN: they are not a fair test.
    """
    from analysis.stats.paired import adjust_p_values, paired_comparison

    columns = {"vs_last_difference": [], "vs_last_low": [], "vs_last_high": [], "vs_last_p": []}
    last = int(agreement["layer"].max()) if agreement["layer"].notna().any() else -1
    for row in picks.itertuples():
        values = (np.nan,) * 4
        if row.choice == "held_out" and last >= 0:
            rows = agreement[(agreement["method_b"] == row.method_b) & (agreement["metric"] == row.metric)]
            pick = rows[(rows["layer"] == row.layer) & (rows["head"] == row.head)].set_index("example_id")["value"]
            base = rows[(rows["layer"] == last) & (rows["head"] == MEAN)].set_index("example_id")["value"]
            pick, base = pick.align(base, join="inner")
            result = paired_comparison(pick.to_numpy(), base.to_numpy(), n_resamples=n_resamples, level=level,
                                       seed=derive_seed(seed, "heads-vs-last", row.method_b, row.metric, row.kind))
            values = (result.mean_difference, result.low, result.high, result.p_value)
        for key, value in zip(columns, values):
            columns[key].append(value)
    picks = picks.assign(**columns)
    return picks.assign(vs_last_p_adjusted=adjust_p_values(picks["vs_last_p"].to_numpy(dtype=float), "holm"))

