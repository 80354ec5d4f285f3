"""Stage of ``workflow/rules/figures.smk``: the per-run figures."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.records import PROVENANCE_STRINGS, read_table
from analysis.stages.common import StageSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FigureSettings(StageSettings):
    """Exactly what the per-run figures read from the config (the rule passes it as ``params``, so a change
    reruns the figures and nothing else)."""

    headline_metric: str
    heatmap_examples: int
    methods: list[str]  # importance.methods, in config order (the heatmaps' column order)
    reference: str

    reads = ("figures.headline_metric", "figures.heatmap_examples", "importance.methods", "agreement.reference")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FigureSettings:
        return cls(headline_metric=config["figures"]["headline_metric"],
                   heatmap_examples=int(config["figures"]["heatmap_examples"]),
                   methods=list(config["importance"]["methods"]), reference=config["agreement"]["reference"])


def run_figures(settings: FigureSettings, *, agreement_path: str, summary_path: str, importance_paths: list[str],
                outputs: dict[str, str]) -> None:
    """The per-run figures: distributions, matrix, agreement vs length, token heatmaps."""
    from analysis.plots import figures

    metric = settings.headline_metric
    agreement = read_table(agreement_path, table="agreement", exclude=PROVENANCE_STRINGS)
    summary = read_table(summary_path, table="agreement_summary")
    importance = pd.concat([read_table(p, table="importance", exclude=PROVENANCE_STRINGS) for p in importance_paths],
                           ignore_index=True)
    made = {
        "distributions": lambda: figures.agreement_distributions(agreement, metric=metric, variant="abs"),
        "matrix": lambda: figures.agreement_matrix(summary, metric=metric, variant="abs"),
        "by_length": lambda: figures.agreement_by_length(summary, metric=metric, variant="abs"),
        "heatmaps": lambda: figures.token_heatmaps(importance, heatmap_examples(importance, settings),
                                                   heatmap_methods(importance, settings)),
    }
    for key, path in outputs.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure = made[key]()
        figure.savefig(path, bbox_inches="tight")
        log.info("wrote %s", path)


def heatmap_examples(importance: pd.DataFrame, settings: FigureSettings) -> list[str]:
    """A few short-to-medium examples, deterministic: the first N by id among 5-25 words."""
    per_example = importance.drop_duplicates("example_id")[["example_id", "n_words"]]
    pool = per_example[(per_example["n_words"] >= 5) & (per_example["n_words"] <= 25)]
    pool = pool if len(pool) else per_example
    return sorted(pool["example_id"])[: settings.heatmap_examples]


def heatmap_methods(importance: pd.DataFrame, settings: FigureSettings) -> list[str]:
    present = set(importance["method"])
    ordered = [m for m in settings.methods if m in present and m != "random"]
    attention = [m for m in ordered if importance.loc[importance["method"] == m, "family"].iloc[0] == "attention"]
    causal = [m for m in ("integrated_gradients", settings.reference, "loo_mask") if m in present]
    return list(dict.fromkeys(attention + causal))
