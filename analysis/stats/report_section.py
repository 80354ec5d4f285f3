"""Study-summary section on seeds: spread of headline numbers and seed-to-seed agreement."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.plots.style import method_label
from analysis.report.document import Findings, Paragraph, Section, Table
from analysis.report.numbers import interval
from analysis.report.sections import REPORT_SECTIONS


def seed_section(config: dict[str, Any], tables: dict[str, pd.DataFrame], figures: dict[str, str]) -> Section | None:
    seeds = tables.get("seed_agreement")
    spread = tables.get("seed_spread")
    if seeds is None or seeds.empty:
        return None
    findings = []
    for (dataset, model), group in seeds.groupby(["dataset", "model"], sort=True):
        best = group.sort_values("mean", ascending=False)
        parts = [f"{method_label(r.method)} {interval(r.mean, r.mean_low, r.mean_high, 2)}" for r in best.itertuples()]
        findings.append(f"Seed-to-seed agreement on {dataset}, {model} (Kendall τ of |scores| between models "
                        f"trained from different seeds, the same examples): " + "; ".join(parts) + ".")
    shown = seeds.assign(method=seeds["method"].map(method_label))[
        ["dataset", "model", "method", "n", "mean", "mean_low", "mean_high"]]
    blocks = [Paragraph("How stable is each explanation across training seeds? Per example, Kendall τ between the "
                        "|scores| of the same method on two models that differ only in their seed, averaged over the "
                        "seed pairs of each example (n counts examples, and the intervals resample examples); a method "
                        "can hardly agree with another method more than with itself."), Findings(findings),
              Table(shown, caption="Seed-to-seed agreement per dataset, model and method")]
    if spread is not None and not spread.empty:
        blocks.append(Table(spread, caption="Spread of each method's mean agreement with the reference across seeds"))
    return Section("Seeds", blocks, findings=findings, order=20)


REPORT_SECTIONS.add("seeds", seed_section)
