"""Stages of ``workflow/rules/agreement.smk``: agreement between methods per run, across seeds, and concentration."""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

import pandas as pd

from analysis.logs import timed
from analysis.provenance import with_provenance
from analysis.records import IMPORTANCE_COLUMNS, PROVENANCE_STRINGS, read_table, write_table
from analysis.stages.common import StageSettings, gather_tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgreementSettings(StageSettings):
    """The ``agreement`` block: metrics, variants, summaries and the paired comparisons with ceiling and floor."""

    metrics: list[str]
    variants: list[str]
    length_buckets: list[int]
    floor_draws: int
    n_resamples: int
    level: float
    reference: str
    ceiling: str
    correction: str
    equivalence_margin: float
    n_permutations: int

    reads = ("agreement",)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AgreementSettings:
        block = config["agreement"]
        return cls(**{field.name: copy.deepcopy(block[field.name]) for field in fields(cls)})


def run_agreement(settings: AgreementSettings, dataset: str, model_name: str, seed: int, *,
                  importance_paths: list[str], out_agreement: str, out_summary: str, out_comparisons: str) -> None:
    """Per-instance agreement for every method pair, bootstrap summaries, paired comparisons."""
    from analysis.metrics.agreement import METRICS, compute_agreement
    from analysis.stats.comparisons import compare_methods
    from analysis.stats.intervals import summarize_agreement

    importance = pd.concat([read_table(p, table="importance", columns=IMPORTANCE_COLUMNS) for p in importance_paths],
                           ignore_index=True)
    with timed(f"agreement between {importance['method'].nunique()} methods on "
               f"{importance['example_id'].nunique()} examples", log):
        agreement = compute_agreement(importance, metrics=settings.metrics, variants=settings.variants,
                                      length_edges=settings.length_buckets, floor_draws=settings.floor_draws,
                                      seed=seed)
    with timed("bootstrap summaries", log):
        summary = summarize_agreement(agreement, n_resamples=settings.n_resamples, level=settings.level, seed=seed)
    with timed("paired comparisons with the ceiling and the floor", log):
        comparisons = pd.concat([
            compare_methods(agreement, reference=settings.reference, ceiling=settings.ceiling, metric=metric,
                            variant=variant, correction=settings.correction, n_resamples=settings.n_resamples,
                            n_permutations=settings.n_permutations, level=settings.level,
                            margin=settings.equivalence_margin, seed=seed)
            for metric in settings.metrics if METRICS.get(metric, where="agreement.metrics").compared
            for variant in settings.variants
        ], ignore_index=True)
    provenance = {"dataset": dataset, "split": importance["split"].iloc[0], "model": model_name, "seed": seed,
                  "settings": asdict(settings)}
    write_table(with_provenance(agreement, **provenance), out_agreement)
    write_table(with_provenance(summary, **provenance), out_summary)
    write_table(with_provenance(comparisons, **provenance), out_comparisons)


@dataclass(frozen=True)
class SeedAgreementSettings(StageSettings):
    """What seed-to-seed agreement reads: the bootstrap of ``agreement`` and the data seed."""

    n_resamples: int
    level: float
    data_seed: int

    reads = ("agreement.n_resamples", "agreement.level", "data_seed")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SeedAgreementSettings:
        return cls(n_resamples=int(config["agreement"]["n_resamples"]), level=float(config["agreement"]["level"]),
                   data_seed=int(config["data_seed"]))


def run_seed_agreement(settings: SeedAgreementSettings, dataset: str, model_name: str, *, importance_paths: list[str],
                       out_instances: str, out_summary: str) -> None:
    """Agreement of every method with itself across training seeds (one dataset x model)."""
    from analysis.stats.seeds import seed_agreement

    importance = pd.concat([read_table(p, table="importance", columns=IMPORTANCE_COLUMNS) for p in importance_paths],
                           ignore_index=True)
    with timed(f"seed-to-seed agreement of {model_name} on {dataset} ({importance['seed'].nunique()} seeds)", log):
        instances, summary = seed_agreement(importance, n_resamples=settings.n_resamples, level=settings.level,
                                            seed=settings.data_seed)
    provenance = {"dataset": dataset, "split": importance["split"].iloc[0], "model": model_name, "seed": -1,
                  "settings": {"seeds": sorted(map(int, importance["seed"].unique()))}}
    write_table(with_provenance(instances, **provenance), out_instances)
    write_table(with_provenance(summary, **provenance), out_summary)


@dataclass(frozen=True)
class SeedSpreadSettings(StageSettings):
    """What the spread of headline numbers across seeds reads: the reference method and the headline metric."""

    reference: str
    headline_metric: str

    reads = ("agreement.reference", "figures.headline_metric")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SeedSpreadSettings:
        return cls(reference=config["agreement"]["reference"], headline_metric=config["figures"]["headline_metric"])


def gather_seed_tables(settings: SeedSpreadSettings, *, summary_paths: list[str], agreement_summary_path: str,
                       out_seeds: str, out_spread: str) -> None:
    """Study-wide seed-to-seed agreement and the spread of headline numbers across seeds."""
    from analysis.stats.seeds import seed_spread

    gather_tables(summary_paths, out_seeds, table="seed_agreement")
    spread = seed_spread(read_table(agreement_summary_path, table="agreement_summary"),
                         reference=settings.reference, metric=settings.headline_metric)
    write_table(spread, out_spread)


@dataclass(frozen=True)
class ConcentrationSettings(StageSettings):
    """What attention concentration reads: the bootstrap size of ``agreement`` and the data seed."""

    n_resamples: int
    data_seed: int

    reads = ("agreement.n_resamples", "data_seed")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ConcentrationSettings:
        return cls(n_resamples=int(config["agreement"]["n_resamples"]), data_seed=int(config["data_seed"]))


def run_concentration(settings: ConcentrationSettings, *, importance_paths: list[str], out_examples: str,
                      out_summary: str, out_figure: str | None = None) -> None:
    """How concentrated every run's attention is (:mod:`analysis.attention.concentration`), study-wide."""
    from analysis.attention.concentration import NEAR_UNIFORM_TVD, concentration, summarise_concentration
    from analysis.plots import figures

    examples, summaries = [], []
    with timed(f"attention concentration of {len(importance_paths)} runs", log):
        for path in importance_paths:
            importance = read_table(path, table="importance", exclude=PROVENANCE_STRINGS)
            if importance.empty:
                continue
            first = importance.iloc[0]
            provenance = {"dataset": first["dataset"], "split": first["split"], "model": first["model"],
                          "seed": int(first["seed"]),
                          "settings": {"measure": "tvd_from_uniform", "near_uniform_at_most": NEAR_UNIFORM_TVD}}
            per_example = concentration(importance)
            examples.append(with_provenance(per_example, **provenance))
            summaries.append(with_provenance(
                summarise_concentration(per_example, n_resamples=settings.n_resamples, seed=settings.data_seed),
                **provenance))
    per_example = pd.concat(examples, ignore_index=True) if examples else pd.DataFrame()
    write_table(per_example, out_examples)
    write_table(pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(), out_summary)
    if out_figure is not None:
        figures.attention_concentration(per_example, threshold=NEAR_UNIFORM_TVD).savefig(out_figure,
                                                                                          bbox_inches="tight")
