"""Stages of ``workflow/rules/interventions.smk``: the causal tests of one run, study-wide tables, figures.

- :func:`run_interventions` (per run, one job): the model-side tests (permutation,
  adversarial attention, uniform attention, zeroing and removal until the decision flips)
  and the input-side tests (ERASER comprehensiveness and sufficiency, AOPC, deletion and
  insertion curves for every ranking in the run's ``importance.parquet``;
  :mod:`analysis.interventions.suite`); per-instance tables, a summary with intervals and
  the paired tests of the ranking comparisons the report words
  (:func:`analysis.interventions.summaries.summarize_with_tests`) and the cost of each test.
- :func:`gather_interventions` (study): the study-wide summary and cost tables and the
  uniform-attention training control
  (:func:`analysis.interventions.summaries.uniform_attention_comparison`).
- :func:`interventions_figures` (per dataset): the figures of :mod:`analysis.interventions.figures`.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.data import explained_by
from analysis.interventions.comparisons import MEASURE_RANGES
from analysis.interventions.suite import (
    MODEL_TABLES,
    CostLog,
    choose_examples,
    example_limit,
    input_side_tests,
    input_side_values,
    model_side_tests,
    model_side_values,
    rankings_for,
)
from analysis.logs import timed
from analysis.provenance import settings_hash, with_provenance
from analysis.records import EXAMPLE_COLUMNS, IMPORTANCE_COLUMNS, ResultCache, read_table, write_table
from analysis.seeding import seed_everything
from analysis.stages.common import (
    DEVICE_FIELDS,
    DeviceSettings,
    StageSettings,
    concat_tables,
    folder_fingerprint,
    gather_tables,
)

log = logging.getLogger(__name__)

RUN_OUTPUTS = (*MODEL_TABLES, "eraser", "curves", "summary", "cost")
"""The tables one run writes: the per-instance tables of each test, the summary and the cost."""


@dataclass(frozen=True)
class InterventionSettings(DeviceSettings):
    """The ``interventions`` block but ``enabled`` (which decides whether the jobs exist): what one run's tests read."""

    examples: int | None
    transformer_examples: int | None
    batch_size: int
    layers: list[int] | None
    heads: list[int] | None
    methods: list[str] | None
    ranking: str
    n_resamples: int
    level: float
    permutation: dict[str, Any]
    adversarial: dict[str, Any]
    uniform: dict[str, Any]
    zeroing: dict[str, Any]
    ablation: dict[str, Any]

    reads = (*DeviceSettings.reads, "interventions.examples", "interventions.transformer_examples",
             "interventions.batch_size", "interventions.layers", "interventions.heads", "interventions.methods",
             "interventions.ranking", "interventions.n_resamples", "interventions.level",
             "interventions.permutation", "interventions.adversarial", "interventions.uniform",
             "interventions.zeroing", "interventions.ablation")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InterventionSettings:
        block = config["interventions"]
        names = [field.name for field in fields(cls) if field.name not in DEVICE_FIELDS]
        return cls(**cls.runtime(config), **{name: copy.deepcopy(block[name]) for name in names})


def run_interventions(settings: InterventionSettings, dataset: str, model_name: str, seed: int, *, model_dir: str,
                      explain_path: str, importance_path: str, outputs: dict[str, str]) -> None:
    """Every causal test of one run: model side, then input side, with one model load.

    ``outputs`` maps each of :data:`RUN_OUTPUTS` to a path. A disabled test writes an
    empty table with its columns. The summary holds every test's bootstrap summaries,
    the cost table the forward passes and seconds per example of each test.
    """
    from analysis.interventions.summaries import summarize_with_tests
    from analysis.models import load_model

    block = settings.analysis_settings()  # the interventions block, as the test functions read it
    seed_everything(seed)
    model = load_model(model_dir, device=settings.torch_device())
    importance = read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)
    examples = explained_by(read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS), importance)
    examples = choose_examples(examples, example_limit(block, model.kind))
    importance = importance[importance["example_id"].isin(set(examples["example_id"]))]
    split = examples["split"].iloc[0]
    words = list(map(list, examples["words"]))
    ids = examples["example_id"].astype(str).tolist()
    encoded = model.encode(words)
    cost = CostLog(len(ids))
    # finished tests survive an interruption: keyed by what decides them (batch sizes do not; each test adds the
    # settings it reads and, if it reads the importance table, its rankings: analysis.interventions.suite)
    cache = ResultCache(Path(outputs["summary"]).parent / "interventions_cache", {
        "model": folder_fingerprint(model_dir), "examples": settings_hash(ids), "words": settings_hash(words),
        "seed": seed}, kind="test")
    with timed(f"causal tests of {model_name} on {len(ids)} {dataset} examples (seed {seed})", log):
        rankings = rankings_for(block, importance, ids, encoded, seed)  # removal and the input ablations read them
        tables, scope = model_side_tests(model, encoded, ids, importance, block, seed, cost, cache, rankings=rankings)
        eraser, curves = input_side_tests(model, encoded, words, ids, importance, block, seed, cost, cache,
                                          rankings=rankings)
    values = pd.concat([model_side_values(tables, scope), input_side_values(eraser, curves)], ignore_index=True)
    summary = summarize_with_tests(values, n_resamples=settings.n_resamples, level=settings.level, seed=seed)
    recorded = {**block, "scope": scope, "explained_class": "predicted",
                "special_tokens": "kept (never removed or permuted)"}
    for name, table in {**tables, "eraser": eraser, "curves": curves, "summary": summary,
                        "cost": cost.table()}.items():
        write_table(with_provenance(table, dataset=dataset, split=split, model=model_name, seed=seed,
                                    settings=recorded), outputs[name])


@dataclass(frozen=True)
class InterventionsGatherSettings(StageSettings):
    """What the study-wide tables read: each model's family, encoder and attention, and the bootstrap."""

    models: dict[str, dict[str, Any]]  # per model: family, encoder, attention (those it has)
    n_resamples: int
    level: float
    data_seed: int

    reads = ("models.*.family", "models.*.encoder", "models.*.attention", "interventions.n_resamples",
             "interventions.level", "data_seed")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InterventionsGatherSettings:
        models = {name: {key: entry[key] for key in ("family", "encoder", "attention") if key in entry}
                  for name, entry in config["models"].items()}
        block = config["interventions"]
        return cls(models=models, n_resamples=block["n_resamples"], level=block["level"],
                   data_seed=int(config["data_seed"]))


def gather_interventions(settings: InterventionsGatherSettings, *, summary_paths: list[str], cost_paths: list[str],
                         prediction_paths: list[str], out_summary: str, out_cost: str, out_uniform: str) -> None:
    """Study-wide summary and cost tables, and the uniform-attention training control."""
    from analysis.interventions.summaries import uniform_attention_comparison

    gather_tables(summary_paths, out_summary, table="interventions_summary", ranges=MEASURE_RANGES, key="measure")
    gather_tables(cost_paths, out_cost, table="interventions_cost")
    comparison = uniform_attention_comparison({"models": settings.models}, prediction_paths,
                                              n_resamples=settings.n_resamples, level=settings.level,
                                              seed=settings.data_seed)
    write_table(comparison, out_uniform)
    if len(comparison):
        log.info("uniform-attention control: %d comparisons", len(comparison))


@dataclass(frozen=True)
class InterventionFiguresSettings(StageSettings):
    """What the causal-test figures read: the removal mode of the deletion curves (the first configured)."""

    removal: str

    reads = ("interventions.ablation.removal",)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InterventionFiguresSettings:
        return cls(removal=config["interventions"]["ablation"]["removal"][0])


def interventions_figures(settings: InterventionFiguresSettings, dataset: str, *, inputs: dict[str, list[str]],
                          outputs: dict[str, str]) -> None:
    """The causal-test figures of one dataset, one panel per model and seed."""
    from analysis.interventions import figures

    def gathered(name: str) -> pd.DataFrame:
        return concat_tables(inputs[name], f"interventions_{name}")

    made = {
        "permutation": lambda: figures.permutation_scatter(gathered("permutation")),
        "adversarial": lambda: figures.adversarial_histogram(gathered("adversarial")),
        "flip_fraction": lambda: figures.flip_fractions(gathered("summary")),
        "aopc": lambda: figures.aopc_intervals(gathered("summary")),
        "curves": lambda: figures.deletion_curves(gathered("curves"), removal=settings.removal),
    }
    for key, path in outputs.items():
        start = time.perf_counter()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure = made[key]()
        figure.savefig(path, bbox_inches="tight")
        log.info("wrote %s (%.1f s)", path, time.perf_counter() - start)
