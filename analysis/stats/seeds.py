"""Seed-to-seed agreement: the same method on two training seeds of the same model.

Two models trained from different seeds reach similar accuracy, yet their explanations
can differ (Wiegreffe & Pinter 2019 use this variance as a baseline). The per-example
Kendall tau between the two seeds' |scores| is a ceiling for how stable any explanation
of this architecture can be expected to be.
"""

from __future__ import annotations

import pandas as pd

from analysis.records import IMPORTANCE_COLUMNS
from analysis.seeding import derive_seed
from analysis.stats.intervals import mean_interval

SEP = "#seed"


def seed_agreement(importance: pd.DataFrame, *, metric: str = "kendall_tau", variant: str = "abs",
                   n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-example agreement of each method with itself across seed pairs, and its summary.

    ``importance`` holds several seeds of one dataset x model (column ``seed``). Returns
    (instances: example_id, method, seed_a, seed_b, value; summary: method, n, mean,
    mean_low, mean_high). An example enters every seed pair, so the pairs of one example are
    not independent: the summary first averages each example over its seed pairs and then
    takes the mean and interval over examples (``n`` counts examples).
    """
    from analysis.metrics.agreement import compute_agreement

    tagged = importance[IMPORTANCE_COLUMNS].assign(
        method=importance["method"] + SEP + importance["seed"].astype(str))
    agreement = compute_agreement(tagged, metrics=[metric], variants=[variant], length_edges=[0])
    base_a = agreement["method_a"].str.split(SEP).str[0]
    base_b = agreement["method_b"].str.split(SEP).str[0]
    same = agreement[base_a == base_b]
    instances = pd.DataFrame({
        "example_id": same["example_id"].to_numpy(),
        "method": base_a[base_a == base_b].to_numpy(),
        "seed_a": same["method_a"].str.split(SEP).str[1].astype(int).to_numpy(),
        "seed_b": same["method_b"].str.split(SEP).str[1].astype(int).to_numpy(),
        "metric": metric, "variant": variant, "value": same["value"].to_numpy(),
    })
    rows = []
    for method, group in instances.groupby("method", sort=True):
        per_example = group.groupby("example_id")["value"].mean().dropna().to_numpy()
        mean, low, high = mean_interval(per_example, n_resamples=n_resamples, level=level,
                                        seed=derive_seed(seed, "seeds", method))
        rows.append({"method": method, "metric": metric, "variant": variant, "n": int(per_example.size),
                     "mean": mean, "mean_low": low, "mean_high": high})
    return instances, pd.DataFrame(rows)


def seed_spread(summary: pd.DataFrame, *, reference: str, metric: str = "kendall_tau") -> pd.DataFrame:
    """Spread across seeds of each headline number (agreement with ``reference``, |scores|, all examples)."""
    sel = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")
                  & ((summary["method_a"] == reference) | (summary["method_b"] == reference))]
    other = sel["method_a"].where(sel["method_b"] == reference, sel["method_b"])
    grouped = sel.assign(method=other).groupby(["dataset", "model", "method"])["mean"]
    out = grouped.agg(n_seeds="count", mean_over_seeds="mean", sd="std", min="min", max="max").reset_index()
    return out[out["n_seeds"] > 1].reset_index(drop=True)
