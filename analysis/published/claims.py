"""Published findings as testable claims, checked against this study's tables.

Each :class:`PublishedClaim` states a direction a paper reported (Jain & Wallace 2019;
Wiegreffe & Pinter 2019; Serrano & Smith 2019; Abnar & Zuidema 2020), how this study
tests it (with the threshold, where the paper's wording needs one) and the likely
reasons when our numbers point the other way. ``evaluate`` reads the study-wide tables
and returns one :class:`Outcome` per dataset x model (or model pair), with a verdict per
training seed and the verdict shared by the seeds.

A verdict compares 95% bootstrap intervals, never point estimates: *agrees* when the
interval lies on the published side, *differs* when it lies on the other side,
*unresolved* when it straddles (too few examples to tell).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.registry import Registry

AGREES, DIFFERS, UNRESOLVED, MIXED = "agrees", "differs", "unresolved", "mixed"

Tables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Interval:
    """A bootstrap summary: estimate and 95% interval."""

    value: float
    low: float
    high: float

    def text(self, digits: int = 2) -> str:
        if np.isnan(self.low):
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def above(a: Interval, b: Interval) -> str:
    """AGREES when interval ``a`` lies above ``b``, DIFFERS when below, else UNRESOLVED."""
    from analysis.report.summary import compare_intervals

    return {"above": AGREES, "below": DIFFERS}.get(compare_intervals(a.low, a.high, b.low, b.high), UNRESOLVED)


def below(a: Interval, b: Interval) -> str:
    """AGREES when interval ``a`` lies below ``b`` (the mirror of :func:`above`)."""
    return above(b, a)


def point(value: float) -> Interval:
    return Interval(value, value, value)


@dataclass(frozen=True)
class Outcome:
    """One claim on one dataset x model: our numbers (mean over seeds) and the verdicts per seed."""

    dataset: str
    model: str
    ours: str
    seed_verdicts: tuple[str, ...]

    @property
    def verdict(self) -> str:
        """The verdict of a majority of seeds with none pointing the other way; MIXED otherwise."""
        counts = Counter(self.seed_verdicts)
        for verdict, opposite in ((AGREES, DIFFERS), (DIFFERS, AGREES)):
            if counts[verdict] * 2 > len(self.seed_verdicts) and counts[opposite] == 0:
                return verdict
        if counts[UNRESOLVED] == len(self.seed_verdicts):
            return UNRESOLVED
        return MIXED

    @property
    def seed_text(self) -> str:
        counts = Counter(self.seed_verdicts)
        return ", ".join(f"{counts[v]} {v}" for v in (AGREES, DIFFERS, UNRESOLVED) if counts[v]) + \
            f" (of {len(self.seed_verdicts)} seeds)"


@dataclass(frozen=True)
class PublishedClaim:
    """A published direction, our test of it, and the likely reasons if we differ."""

    source: str
    published: str
    test: str
    reasons: str
    evaluate: Callable[[Tables, dict[str, Any]], list[Outcome]]
    order: int = 50  # position in the report (the papers' own order, Jain & Wallace first)
    # the attention method whose near-uniform runs make this test vacuous (the report marks them;
    # see analysis.attention.concentration), or None when near-uniform attention does not decide it
    vacuous_if_uniform: str | None = None


PUBLISHED_CLAIMS: Registry[PublishedClaim] = Registry("published claim")


# --- reading the study tables --------------------------------------------------------------------

def agreement(tables: Tables, dataset: str, model: str, seed: int, a: str, b: str, *,
              metric: str = "kendall_tau", variant: str = "abs") -> Interval | None:
    """Mean agreement of methods ``a`` and ``b`` (either order) over one run's explained examples."""
    summary = tables.get("agreement_summary")
    if summary is None or summary.empty:
        return None
    pair = (((summary["method_a"] == a) & (summary["method_b"] == b))
            | ((summary["method_a"] == b) & (summary["method_b"] == a)))
    rows = summary[pair & (summary["dataset"] == dataset) & (summary["model"] == model) & (summary["seed"] == seed)
                   & (summary["metric"] == metric) & (summary["variant"] == variant) & (summary["group_by"] == "all")]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return Interval(float(row["mean"]), float(row["mean_low"]), float(row["mean_high"]))


def intervention(tables: Tables, dataset: str, model: str, seed: int, test: str, measure: str, *,
                 method: str | None = None, statistic: str = "mean") -> Interval | None:
    """One causal-test summary of a run (the first scope and removal listed, group 'all')."""
    summary = tables.get("interventions_summary")
    if summary is None or summary.empty:
        return None
    rows = summary[(summary["dataset"] == dataset) & (summary["model"] == model) & (summary["seed"] == seed)
                   & (summary["test"] == test) & (summary["measure"] == measure) & (summary["group"] == "all")]
    if method is not None:
        rows = rows[rows["method"] == method]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return Interval(float(row[statistic]), float(row[f"{statistic}_low"]), float(row[f"{statistic}_high"]))


def runs_of(tables: Tables) -> pd.DataFrame:
    """(dataset, model, seed) of every run, from the agreement summaries."""
    summary = tables.get("agreement_summary")
    if summary is None or summary.empty:
        return pd.DataFrame(columns=["dataset", "model", "seed"])
    return summary[["dataset", "model", "seed"]].drop_duplicates().sort_values(["dataset", "model", "seed"])


def rnn_models(config: dict[str, Any], *, uniform: bool = False) -> list[str]:
    """RNN models with learned attention (or, with ``uniform``, frozen-uniform controls)."""
    return [name for name, entry in config.get("models", {}).items() if entry.get("family") == "rnn"
            and (entry.get("attention", "tanh") == "uniform") == uniform]


def transformer_models(config: dict[str, Any]) -> list[str]:
    return [name for name, entry in config.get("models", {}).items() if entry.get("family") == "transformer"]


def mean_text(values: Iterable[Interval | None], digits: int = 2) -> str:
    """The mean over seeds of the estimates, with the range of the seeds' intervals."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    low, high = min(v.low for v in values), max(v.high for v in values)
    return Interval(float(np.mean([v.value for v in values])), low, high).text(digits)


def per_run(tables: Tables, models: list[str],
            check: Callable[[str, str, int], tuple[str, dict[str, Interval | None]] | None]) -> list[Outcome]:
    """Apply ``check(dataset, model, seed) -> (verdict, named intervals)`` to every run of ``models``.

    Our numbers are the seed means of each named interval (with the range of the seeds'
    intervals in brackets).
    """
    outcomes = []
    runs = runs_of(tables)
    for (dataset, model), part in runs[runs["model"].isin(models)].groupby(["dataset", "model"], sort=True):
        checked = [check(dataset, model, int(seed)) for seed in part["seed"]]
        checked = [c for c in checked if c is not None]
        if not checked:
            continue
        names = list(checked[0][1])
        ours = "; ".join(f"{name} {mean_text(c[1].get(name) for c in checked)}" for name in names)
        outcomes.append(Outcome(dataset, model, ours, tuple(c[0] for c in checked)))
    return outcomes


def gradient_method(tables: Tables, dataset: str, model: str, seed: int) -> str:
    """Jain & Wallace's gradient (attention detached) when computed, else plain saliency."""
    return "jw_gradient" if agreement(tables, dataset, model, seed, "jw_gradient", "loo_delete") else "saliency"
