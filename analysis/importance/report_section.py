"""The study summary's list of which importance methods ran for which model.

A method runs on a model when the model's kind is among the method's ``model_kinds``
(:func:`analysis.config.methods_for`) and the encoder family can compute it (refusals
are raised by ``attention-study validate`` before any job runs, see
:mod:`analysis.attention.encoder_support`). The table reads what actually produced
scores (the ``diagnostics`` table, one row per example and method) and names the
configured methods that did not run for each model.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.config import methods_for
from analysis.models import family_for
from analysis.report.document import Paragraph, Section, Table
from analysis.report.sections import REPORT_SECTIONS


def methods_run(config: dict[str, Any], diagnostics: pd.DataFrame) -> pd.DataFrame:
    """One row per model: its family and architecture, the methods that produced scores (with runs) and the configured ones that did
    not, with the reason (another model kind)."""
    configured = list(config.get("importance", {}).get("methods", {}))
    rows = []
    for model, entry in config.get("models", {}).items():
        part = diagnostics[diagnostics["model"] == model] if "model" in diagnostics else diagnostics.iloc[0:0]
        runs = part.groupby("method")[["dataset", "seed"]].apply(lambda f: len(f.drop_duplicates())) if len(part) \
            else pd.Series(dtype=int)
        applicable = set(methods_for(config, model))
        ran = [m for m in configured if m in runs.index]
        rows.append({
            "model": model, "family": entry.get("family", ""), "architecture": family_for(entry).describe(entry),
            "methods run (runs)": ", ".join(f"{m} ({int(runs[m])})" for m in ran),
            "not run: other model kind": ", ".join(m for m in configured if m not in applicable),
            "not run: no scores": ", ".join(m for m in configured if m in applicable and m not in runs.index),
        })
    return pd.DataFrame(rows)


@REPORT_SECTIONS.register("methods_run")
def methods_run_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                        figures: dict[str, str]) -> Section | None:
    diagnostics = tables.get("diagnostics")
    if diagnostics is None or diagnostics.empty or not config.get("models"):
        return None
    frame = methods_run(config, diagnostics)
    intro = ("Which importance methods ran for which model. A method runs where the model's kind is among those it "
             "declares and the encoder family can compute it; `attention-study validate` refuses, before any job "
             "runs, a method a family cannot compute and says why (`attention-study encoders` lists them). "
             "\"No scores\" means configured and applicable but absent from the results (a failed or missing job).")
    return Section("Methods run per model", [Paragraph(intro), Table(frame, caption="Methods run per model")],
                   order=82, tables={"methods_run": frame})
