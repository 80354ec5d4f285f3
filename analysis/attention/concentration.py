"""How concentrated is attention? Near-uniform attention makes several tests vacuous.

Jain & Wallace's permutation test asks whether shuffling the attention weights changes the
output. When a model's attention is close to uniform over the words, shuffling moves almost
no weight, so "the output barely changes" is true before the model is even consulted, and a
rank correlation between attention and any other score measures noise. Wiegreffe & Pinter
(2019) make the same point with their uniform-attention baseline. This module measures it
per example and per run, so that the report can say where it happens instead of leaving the
reader to notice.

Per example, over the words a method scored (its scores renormalised to sum to one, since
special tokens such as [CLS] and [SEP] are excluded from word-level scores):

- ``max_weight`` and ``uniform_weight`` = 1/n: the largest weight beside the uniform one;
- ``max_ratio`` = max_weight * n: 1 for uniform attention, n for attention on one word;
- ``normalised_entropy`` = H(p) / log n: 1 for uniform, 0 for one word;
- ``tvd_from_uniform`` = 1/2 sum_i |p_i - 1/n|: 0 for uniform, 1 - 1/n for one word.

The last one bounds what a permutation can do: for any permutation pi,
TVD(p, pi(p)) <= TVD(p, u) + TVD(u, pi(p)) = 2 TVD(p, u), since pi(u) = u. A run's attention
method is *near uniform* when its mean distance from uniform is at most
:data:`NEAR_UNIFORM_TVD` (0.05): no permutation can then move more than a tenth of the
attention mass, on average. Only unsigned attention-family methods are measured; signed
scores (attention x gradient) are not distributions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.seeding import derive_seed
from analysis.stats.intervals import mean_interval

NEAR_UNIFORM_TVD = 0.05
RUN_KEYS = ["dataset", "model", "seed"]
EXAMPLE_COLUMNS = ["example_id", "method", "n_words", "max_weight", "uniform_weight", "max_ratio",
                   "normalised_entropy", "tvd_from_uniform"]
SUMMARY_COLUMNS = ["method", "n", "mean_max_weight", "mean_uniform_weight", "mean_max_ratio",
                   "mean_normalised_entropy", "mean_tvd_from_uniform", "mean_tvd_from_uniform_low",
                   "mean_tvd_from_uniform_high", "near_uniform"]


def concentration(importance: pd.DataFrame) -> pd.DataFrame:
    """One row per example x unsigned attention method: how peaked its weights are (module docstring).

    ``importance`` is an importance table (:mod:`analysis.records`); extra key columns
    (dataset, model, seed) are carried through. Examples with fewer than two scored words
    are left out (no distribution to compare), as are examples whose scores sum to zero.
    """
    keys = [c for c in RUN_KEYS if c in importance.columns]
    rows = importance[(importance["family"] == "attention") & ~importance["signed"].astype(bool)]
    if rows.empty:
        return pd.DataFrame(columns=keys + EXAMPLE_COLUMNS)
    by = keys + ["example_id", "method"]
    weight = rows["score"].abs().astype(float)
    grouped = weight.groupby([rows[c] for c in by], sort=True)
    total, size = grouped.transform("sum"), grouped.transform("size")
    p = weight / total.where(total > 0)  # NaN where the scores sum to zero
    positive = p.where(p > 0)
    rows = rows.assign(p=p, plogp=(positive * np.log(positive)).fillna(0.0), gap=(p - 1.0 / size).abs() / 2,
                       undefined=p.isna())
    per = rows.groupby(by, sort=True).agg(n_words=("p", "size"), max_weight=("p", "max"), plogp=("plogp", "sum"),
                                          tvd_from_uniform=("gap", "sum"), undefined=("undefined", "any"))
    per["entropy"] = -per["plogp"]
    per = per[(per["n_words"] >= 2) & ~per["undefined"]].reset_index()
    n = per["n_words"].astype(float)
    per["uniform_weight"] = 1.0 / n
    per["max_ratio"] = per["max_weight"] * n
    per["normalised_entropy"] = (per["entropy"] / np.log(n)).clip(0.0, 1.0)
    return per[keys + EXAMPLE_COLUMNS].reset_index(drop=True)


def summarise_concentration(per_example: pd.DataFrame, *, threshold: float = NEAR_UNIFORM_TVD,
                            n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per run x method: the mean of every measure, an interval of the mean distance
    from uniform, and ``near_uniform`` (that mean at most ``threshold``)."""
    keys = [c for c in RUN_KEYS if c in per_example.columns]
    rows = []
    for key, group in per_example.groupby(keys + ["method"], sort=True):
        distance, low, high = mean_interval(group["tvd_from_uniform"].to_numpy(), n_resamples=n_resamples,
                                            seed=derive_seed(seed, "concentration", *map(str, key)))
        rows.append({**dict(zip(keys + ["method"], key, strict=True)), "n": len(group),
                     "mean_max_weight": group["max_weight"].mean(),
                     "mean_uniform_weight": group["uniform_weight"].mean(),
                     "mean_max_ratio": group["max_ratio"].mean(),
                     "mean_normalised_entropy": group["normalised_entropy"].mean(),
                     "mean_tvd_from_uniform": distance, "mean_tvd_from_uniform_low": low,
                     "mean_tvd_from_uniform_high": high, "near_uniform": bool(distance <= threshold)})
    return pd.DataFrame(rows, columns=keys + SUMMARY_COLUMNS)


def near_uniform_attention(summary: pd.DataFrame | None) -> set[tuple[str, str, int, str]]:
    """(dataset, model, seed, method) of every attention method the summary marks near uniform."""
    if summary is None or summary.empty or "near_uniform" not in summary:
        return set()
    flagged = summary[summary["near_uniform"].astype(bool)]
    return {(str(r.dataset), str(r.model), int(r.seed), str(r.method)) for r in flagged.itertuples()}


def near_uniform_runs(summary: pd.DataFrame | None, methods: list[str] | None = None) -> set[tuple[str, str, int]]:
    """(dataset, model, seed) of every run where one of ``methods`` (any, when None) is near uniform."""
    return {(d, m, s) for d, m, s, method in near_uniform_attention(summary) if methods is None or method in methods}
