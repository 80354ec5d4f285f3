"""Choosing "the best layer or head" without reporting on the data it was chosen on.

Picking the head that agrees best with a causal method and reporting its agreement on
the same examples overstates it: with 72 heads, the maximum of 72 noisy means is
biased upwards (the winner's curse). The held-out protocol here:

1. the *selection* split is a stratified sample of the evaluation split, disjoint from
   the explained examples (:func:`selection_set`);
2. on it, each causal method and metric picks its best head (and best layer, head
   mean) (:func:`select_units`);
3. the pick's agreement is reported on the explained examples, with a bootstrap
   interval; beside it, the *post hoc* pick (the best head on the explained examples
   themselves) and the gap between the two (:func:`optimism_interval`), which holds
   the winner's curse the held-out protocol removes together with what a pick made on
   the smaller selection split misses (it is not the winner's curse alone).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.heads.agreement import MEAN
from analysis.metrics.agreement import METRICS
from analysis.seeding import derive_seed

KINDS = ("head", "layer")
"""``head``: single heads compete; ``layer``: the head means of the layers compete."""


def selection_set(evaluation: pd.DataFrame, explain: pd.DataFrame, n: int, *, seed: int) -> pd.DataFrame:
    """A label-stratified sample of ``n`` evaluation examples that are not explained examples.

    Fewer when the evaluation split has fewer left; deterministic given ``seed``.
    """
    from analysis.data import stratified_sample

    remaining = evaluation[~evaluation["example_id"].isin(set(explain["example_id"]))]
    if remaining.empty:
        raise ValueError("no evaluation examples are left for the heads selection split: every one is explained; "
                         "raise datasets.<name>.eval_n or lower explain_n")
    return stratified_sample(remaining, min(int(n), len(remaining)), seed=derive_seed(seed, "heads-selection"))


def _candidates(summary: pd.DataFrame, kind: str) -> pd.DataFrame:
    layer, head = summary["layer"], summary["head"]
    if kind == "head":
        return summary[(layer >= 0) & (head >= 0)]
    return summary[(layer >= 0) & (head == MEAN)]


def _best(rows: pd.DataFrame, metric: str) -> pd.Series | None:
    rows = rows[np.isfinite(rows["mean"].to_numpy(dtype=float))]
    if rows.empty:
        return None
    ordered = rows.sort_values(["layer", "head"], kind="stable")
    values = ordered["mean"].to_numpy(dtype=float)
    position = int(np.argmax(values) if METRICS.get(metric).higher_is_better else np.argmin(values))
    return ordered.iloc[position]


def select_units(selection: pd.DataFrame, explain: pd.DataFrame) -> pd.DataFrame:
    """The held-out and the post-hoc choice per causal method, metric and kind.

    ``selection`` and ``explain`` are :func:`~analysis.heads.agreement.summarize_heads`
    tables of the two splits. One row per (method_b, metric, kind, choice) with
    ``choice`` "held_out" (picked on the selection split) or "post_hoc" (picked on the
    explained examples); ``mean``/``mean_low``/``mean_high``/``n`` describe the pick on
    the explained examples, ``selection_mean`` on the selection split. A tie goes to
    the lowest layer, then head.
    """
    records = []
    keys = ["method_b", "metric"]
    for (method, metric), explained in explain.groupby(keys, sort=True):
        chosen_on = selection[(selection["method_b"] == method) & (selection["metric"] == metric)]
        for kind in KINDS:
            pools = {"held_out": _candidates(chosen_on, kind), "post_hoc": _candidates(explained, kind)}
            for choice, pool in pools.items():
                best = _best(pool, metric)
                if best is None:
                    continue
                on_explain = explained[(explained["layer"] == best["layer"]) & (explained["head"] == best["head"])]
                on_selection = chosen_on[(chosen_on["layer"] == best["layer"]) & (chosen_on["head"] == best["head"])]
                if on_explain.empty:
                    continue
                row = on_explain.iloc[0]
                records.append({
                    "method_b": method, "metric": metric, "kind": kind, "choice": choice,
                    "layer": int(best["layer"]), "head": int(best["head"]),
                    "n": int(row["n"]), "mean": float(row["mean"]), "mean_low": float(row["mean_low"]),
                    "mean_high": float(row["mean_high"]),
                    "selection_mean": float(on_selection["mean"].iloc[0]) if len(on_selection) else np.nan,
                    "selection_n": int(on_selection["n"].iloc[0]) if len(on_selection) else 0,
                })
    columns = ["method_b", "metric", "kind", "choice", "layer", "head", "n", "mean", "mean_low", "mean_high",
               "selection_mean", "selection_n"]
    return pd.DataFrame.from_records(records, columns=columns)


def optimism_interval(agreement: pd.DataFrame, *, method: str, metric: str, kind: str, held_out: tuple[int, int],
                      n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Optimism of the post-hoc pick over the held-out pick on the explained examples, with a bootstrap interval.

    On each resample of the explained examples the post-hoc pick is made again (the
    best unit of ``kind`` on that resample) and its mean minus the held-out unit's mean
    is recorded, so the interval includes the selection step. For a metric where lower
    is better the sign is flipped: a positive optimism always means "post hoc looks
    better". Examples where some unit's value is undefined (NaN) are left out.
    Returns ``(estimate, low, high)``.
    """
    rows = agreement[(agreement["method_b"] == method) & (agreement["metric"] == metric)]
    rows = _candidates(rows, kind)
    matrix = rows.pivot_table(index="example_id", columns=["layer", "head"], values="value", aggfunc="first")
    matrix = matrix.dropna(axis=0, how="any")
    if held_out not in matrix.columns or len(matrix) < 2:
        return np.nan, np.nan, np.nan
    sign = 1.0 if METRICS.get(metric).higher_is_better else -1.0
    values = sign * matrix.to_numpy(dtype=float)  # [examples, units]
    column = list(matrix.columns).index(held_out)
    n = values.shape[0]
    estimate = max(0.0, float(values.mean(axis=0).max() - values[:, column].mean()))  # >= 0 up to rounding
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(int(n_resamples), n))
    counts = np.zeros((int(n_resamples), n))
    np.add.at(counts, (np.arange(int(n_resamples))[:, None], picks), 1.0)
    means = counts @ values / n  # [resamples, units]
    optimism = means.max(axis=1) - means[:, column]
    tail = (1 - level) / 2
    low, high = np.quantile(optimism, [tail, 1 - tail])
    return estimate, float(low), float(high)
