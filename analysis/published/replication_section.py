"""The study summary's replication table: published numbers beside ours, with 95% intervals.

Reads the declarations of :mod:`analysis.published.replication` and the study tables the
summary receives (``agreement_summary``; ``evaluation`` where the workflow passes it).
One row per published number with a matching run here; the text names every source, where
its numbers were read, and how its setup differs from ours. Registered as a report section
(order 11, after the comparison with published findings).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.plots.style import method_label, metric_short_label
from analysis.published.replication import AGREEMENT, FOR_SCALE, PUBLISHED_NUMBERS, replication_table, sources
from analysis.report.document import BulletList, Findings, Paragraph, Section, Table, counted
from analysis.report.numbers import fixed
from analysis.report.sections import REPORT_SECTIONS

INTRO = (
    "Each row puts a number a paper printed beside this study's number for the same quantity, on the dataset and "
    "model of ours that match the paper's (models matched by their declared family, encoder and attention). Ours is "
    "the mean over training seeds of each seed's mean over explained examples; the brackets give the range of the "
    "seeds' 95% intervals (studentised bootstrap over examples for agreement, Clopper-Pearson for accuracy). "
    "*within* says whether the published value lies in that range; with thousands of examples that range is narrow, "
    "so *close* also asks whether the whole range lies within the study's equivalence margin of the published value "
    "(the agreement equivalence margin for τ, the accuracy margin for accuracy; shown beside each answer). "
    "The published ± is a standard deviation over "
    "examples, not an interval. Jain & Wallace report Table 2 per predicted class; we compare each class with our "
    "examples predicted as that class. Rows marked *different task* or *different measure* are shown for scale only.")


def _fmt(value: float, digits: int = 2) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """The rendered columns: published with its source, ours with the seeds' interval range."""
    published = [_fmt(r.published) + (f" ± {_fmt(r.published_spread)}" if np.isfinite(r.published_spread) else "")
                 + (f" (sig. {_fmt(r.published_sig_frac)})" if np.isfinite(r.published_sig_frac) else "")
                 for r in table.itertuples(index=False)]
    ours = [f"{_fmt(r.ours)} [{_fmt(r.low)}, {_fmt(r.high)}]"
            + (f" (sig. {_fmt(r.ours_sig_frac)})" if np.isfinite(r.ours_sig_frac) else "")
            for r in table.itertuples(index=False)]
    measured = [(f"{method_label(r.method_a)} vs {method_label(r.method_b)}, {metric_short_label(r.metric)}"
                 if r.method_a else metric_short_label(r.metric))
                for r in table.itertuples(index=False)]
    return pd.DataFrame({
        "source": [f"{r.source}, {r.table}: {r.row} / {r.column}"
                   for r in table.itertuples(index=False)],
        "published": published, "dataset / model": [f"{r.dataset} / {r.model}" for r in table.itertuples(index=False)],
        "measured as": measured, "seeds": table["seeds"].to_numpy(), "n": table["n"].to_numpy(),
        "ours [interval range]": ours,
        "within": [{True: "yes", False: "no"}.get(r.within, "n/a")
                   + (f" ({r.scope})" if r.scope in FOR_SCALE else "")
                   for r in table.itertuples(index=False)],
        "close": [f"n/a ({r.scope})" if r.scope in FOR_SCALE else
                  {True: "yes", False: "no"}.get(r.close, "n/a") + (f" (±{r.margin:g})" if r.close is not None else "")
                  for r in table.itertuples(index=False)],
        "note": table["note"].to_numpy(),
    })


def _finding(table: pd.DataFrame) -> str:
    same = table[~table["scope"].isin(FOR_SCALE) & table["within"].notna()]
    outside = same[same["within"].eq(False)]
    counts = []
    for measure, part in same.groupby("measure", sort=False):
        inside, close = int(part["within"].eq(True).sum()), int(part["close"].eq(True).sum())
        what = "agreement values" if measure == AGREEMENT else "accuracies (theirs as published, F1 where they give it)"
        counts.append(f"{inside} of {len(part)} {what} lie within the range of our seeds' 95% intervals and {close} "
                      f"{'is' if close == 1 else 'are'} close to ours")
    text = ("Replication table, the published numbers measured on the same task: " + "; ".join(counts)
            + " (close: that whole range within the study's equivalence margin of the published value)" if counts
            else "Replication table: no published number here was measured on the same task (all are for scale)")
    if len(outside):
        worst = outside.reindex(outside["difference"].abs().sort_values(ascending=False).index).head(4)
        listed = "; ".join(f"{r.source} {r.table}, {r.row} / {r.column} (published {fixed(r.published)}, ours "
                           f"{fixed(r.ours)})"
                           for r in worst.itertuples(index=False))
        text += f"; the largest differences: {listed}"
    return text + "."


@REPORT_SECTIONS.register("replication")
def replication_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                        figures: dict[str, str]) -> Section | None:
    """Published numbers beside ours, or None when no declaration has a matching run."""
    table = replication_table(tables, config)
    if table.empty:
        return None
    shown = _display(table)
    used = {(c, t) for c, t in zip(table["citation"], table["table"])}
    sources_text = []
    for source in sources(PUBLISHED_NUMBERS):
        if (source.citation, source.table) not in used:
            continue
        sources_text.append(" ".join((f"{source.citation}, {source.table}.", f"Measured: {source.measured}",
                                      f"Numbers read from: {source.evidence}",
                                      f"Setup differences: {source.differences}")))
    finding = _finding(table)
    blocks = [Paragraph(INTRO), Findings([finding]),
              Table(shown, caption="Published numbers beside ours", folded=len(shown) > 40),
              Paragraph("**Sources and where we differ**"), BulletList(sources_text)]
    outside = table[~table["scope"].isin(FOR_SCALE) & table["within"].eq(False)]
    if len(outside):
        where = ", ".join(sorted({f"{d} / {m}" for d, m in zip(outside["dataset"], outside["model"])}))
        blocks.append(Paragraph(f"Outside our interval range: {counted(len(outside), 'row')}, on {where}. The setup "
                                "differences listed with each source (and the per-row notes) are candidate reasons; "
                                "this table does not show which of them, if any, moves a number."))
    return Section("Replication table", blocks, findings=[finding], order=11, id="replication",
                   tables={"replication_table": table})
