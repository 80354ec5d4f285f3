"""Stages of ``workflow/rules/heads.smk``: the per-layer and per-head analysis of transformer attention.

* :func:`run_selection_set` (per dataset): the held-out selection split, a stratified
  sample of the evaluation split disjoint from the explained examples;
* :func:`run_selection_explain` (per transformer run): per-head attention and the
  causal methods of ``heads.methods`` on the selection split;
* :func:`run_layer_scores` (per transformer run): rollout, flow and attention norms
  through every layer on the explained examples (:mod:`analysis.heads.layers`);
* :func:`run_head_agreement` (per transformer run): per-head agreement on both
  splits, bootstrap summaries, the held-out and post-hoc picks
  (:mod:`analysis.heads.selection`, :mod:`analysis.heads.picks`);
* :func:`run_heads_figure` (per transformer run): the layer x head heatmaps;
* :func:`gather_heads` (study-wide): the summaries, picks and the cost of the
  attention methods, for the study summary.

Which models get the analysis (:func:`heads_models`) and the check of the ``heads`` block
are read by ``workflow/rules/common.smk``; settings are documented in the schema.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.heads.config import heads_methods, heads_models
from analysis.logs import timed
from analysis.provenance import with_provenance
from analysis.records import EXAMPLE_COLUMNS, IMPORTANCE_COLUMNS, read_table, write_table
from analysis.seeding import derive_seed, seed_everything
from analysis.stages.common import DeviceSettings, StageSettings, concat_tables

log = logging.getLogger(__name__)


# -------------------------------------------------------------- selection split
@dataclass(frozen=True)
class SelectionSetSettings(StageSettings):
    """What the selection split reads: its size, the data seed, and how many examples the transformers explain."""

    selection_n: int
    data_seed: int
    explained_n: int | None  # the most examples a transformer of the study explains on the dataset (None = all)

    wildcards = ("dataset",)
    reads = ("heads.selection_n", "data_seed", "heads.enabled", "models.*.family", "models.*.explain_n")

    @classmethod
    def from_config(cls, config: dict[str, Any], *, dataset: str) -> SelectionSetSettings:
        from analysis.config import explain_cap

        caps = [explain_cap(config, dataset, model) for model in heads_models(config)]
        explained_n = None if not caps or None in caps else max(caps)
        return cls(selection_n=config["heads"]["selection_n"], data_seed=int(config["data_seed"]),
                   explained_n=explained_n)


def run_selection_set(settings: SelectionSetSettings, dataset: str, *, eval_path: str, explain_path: str,
                      out: str) -> None:
    """Write the selection split of one dataset, disjoint from the examples the transformers explain.

    Those are the first ``settings.explained_n`` of the explain table (``models.<name>.explain_n``):
    when the RNNs explain the whole evaluation split and the transformers a prefix of it, the
    selection split comes from the rest.
    """
    from analysis.data import random_prefix
    from analysis.heads.selection import selection_set

    evaluation = read_table(eval_path, table="examples", columns=EXAMPLE_COLUMNS)
    explain = random_prefix(read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS),
                            settings.explained_n)
    chosen = selection_set(evaluation, explain, settings.selection_n, seed=settings.data_seed)
    if len(chosen) < settings.selection_n:
        log.warning("%s: only %d evaluation examples are not explained; the selection split has %d instead of %d",
                    dataset, len(chosen), len(chosen), settings.selection_n)
    provenance = {"dataset": dataset, "model": "", "seed": settings.data_seed,
                  "settings": {"selection_n": settings.selection_n, "disjoint_from": "explain"}}
    write_table(with_provenance(chosen[EXAMPLE_COLUMNS], split=f"{evaluation['split'].iloc[0]}:heads_selection",
                                **provenance), out)
    log.info("%s: %d selection examples, disjoint from %d explained ones", dataset, len(chosen), len(explain))


@dataclass(frozen=True)
class SelectionExplainSettings(DeviceSettings):
    """What scoring the selection split reads: the causal methods heads are compared with, pooling, batch size."""

    methods: dict[str, dict[str, Any]]  # heads_methods, with their importance.methods settings
    pooling: str
    batch_size: int

    reads = (*DeviceSettings.reads, "heads.methods", "importance.methods", "importance.pooling",
             "importance.batch_size")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SelectionExplainSettings:
        block = config["importance"]
        return cls(**cls.runtime(config),
                   methods={name: copy.deepcopy(block["methods"][name]) for name in heads_methods(config)},
                   pooling=block["pooling"], batch_size=block["batch_size"])


def run_selection_explain(settings: SelectionExplainSettings, dataset: str, model_name: str, seed: int, *,
                          model_dir: str, selection_path: str, out_importance: str, out_heads: str,
                          out_diagnostics: str) -> None:
    """Per-head attention and the ``heads.methods`` causal scores on the selection split."""
    from analysis.importance import attention_heads_table, compute_importance, explained_classes, make_method
    from analysis.models import load_model

    model = load_model(model_dir, device=settings.torch_device())
    examples = read_table(selection_path, table="examples", columns=EXAMPLE_COLUMNS)
    pooling, batch_size = settings.pooling, settings.batch_size
    split = examples["split"].iloc[0]
    targets = explained_classes(model, examples, batch_size=batch_size)  # once, not once per method
    tables, diagnostics = [], []
    for name, method_settings in settings.methods.items():
        method = make_method(name, method_settings, where=f"importance.methods.{name}")
        seed_everything(seed)
        with timed(f"{name} on {len(examples)} {dataset} selection examples ({model_name}, seed {seed})", log):
            table, diag = compute_importance(model, examples, method, batch_size=batch_size, pooling=pooling,
                                             seed=seed, targets=targets, progress=False)
        recorded = {"method": name, **method.settings, "pooling": pooling, "explained_class": "predicted"}
        provenance = {"dataset": dataset, "split": split, "model": model_name, "seed": seed, "settings": recorded}
        tables.append(with_provenance(table[IMPORTANCE_COLUMNS], **provenance))
        diagnostics.append(with_provenance(diag, **provenance))
    with timed(f"per-head attention on {len(examples)} selection examples", log):
        heads = attention_heads_table(model, examples, batch_size=batch_size, pooling=pooling)
    write_table(with_provenance(heads, dataset=dataset, split=split, model=model_name, seed=seed,
                                settings={"pooling": pooling}), out_heads)
    write_table(pd.concat(tables, ignore_index=True), out_importance)
    write_table(pd.concat(diagnostics, ignore_index=True), out_diagnostics)


@dataclass(frozen=True)
class LayerScoresSettings(DeviceSettings):
    """What the layer-by-layer whole-model methods read: their importance.methods settings, pooling, batch size."""

    methods: dict[str, dict[str, Any]]  # the configured methods of analysis.heads.layers.LAYER_METHODS
    pooling: str
    batch_size: int

    reads = (*DeviceSettings.reads, "importance.methods", "importance.pooling", "importance.batch_size")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LayerScoresSettings:
        from analysis.heads.layers import LAYER_METHODS

        block = config["importance"]
        return cls(**cls.runtime(config),
                   methods={name: copy.deepcopy(block["methods"][name]) for name in LAYER_METHODS.values()
                            if name in block["methods"]},
                   pooling=block["pooling"], batch_size=block["batch_size"])


def run_layer_scores(settings: LayerScoresSettings, dataset: str, model_name: str, seed: int, *, model_dir: str,
                     explain_path: str, importance_path: str, out: str) -> None:
    """Rollout, flow and attention norms through every layer, on the run's explained examples."""
    from analysis.heads.layers import layer_scores
    from analysis.models import load_model

    model = load_model(model_dir, device=settings.torch_device())
    explained = set(read_table(importance_path, table="importance", columns=["example_id"])["example_id"].astype(str))
    examples = read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS)
    examples = examples[examples["example_id"].astype(str).isin(explained)]
    with timed(f"{', '.join(settings.methods) or 'no method'} through every layer of {model_name} on "
               f"{len(examples)} {dataset} examples", log):
        table = layer_scores(model, examples, settings.methods, batch_size=settings.batch_size,
                             pooling=settings.pooling)
    write_table(with_provenance(table, dataset=dataset, split=examples["split"].iloc[0], model=model_name, seed=seed,
                                settings={"methods": settings.methods, "pooling": settings.pooling}), out)


# -------------------------------------------------------------------- agreement
@dataclass(frozen=True)
class HeadAgreementSettings(StageSettings):
    """What per-head agreement reads: the causal methods, metrics, variant, bootstrap and length buckets."""

    methods: list[str]  # heads_methods
    metrics: list[str]
    variant: str
    n_resamples: int
    level: float
    length_buckets: list[int]  # agreement.length_buckets

    reads = ("heads.methods", "importance.methods", "heads.metrics", "heads.variant", "heads.n_resamples",
             "heads.level", "agreement.length_buckets")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HeadAgreementSettings:
        block = config["heads"]
        return cls(methods=heads_methods(config), metrics=list(block["metrics"]), variant=block["variant"],
                   n_resamples=block["n_resamples"], level=block["level"],
                   length_buckets=list(config["agreement"]["length_buckets"]))


def run_head_agreement(settings: HeadAgreementSettings, dataset: str, model_name: str, seed: int, *,
                       importance_path: str, heads_path: str, selection_importance_path: str,
                       selection_heads_path: str, out_agreement: str, out_summary: str, out_selection: str,
                       layers_path: str | None = None) -> None:
    """Per-head agreement on both splits, summaries with intervals, and the held-out / post-hoc picks.

    ``layers_path`` (:func:`run_layer_scores`): rollout, flow and norms through each layer, compared
    on the explained examples like the heads (they are not candidates for the picks).
    """
    from analysis.heads.agreement import head_agreement, summarize_heads
    from analysis.heads.picks import with_last_layer_comparison, with_optimism
    from analysis.heads.selection import select_units

    methods = settings.methods
    layers = read_table(layers_path, table="layer_scores") if layers_path else None
    bootstrap = {"n_resamples": settings.n_resamples, "level": settings.level}
    splits = {
        "selection": (read_table(selection_heads_path, table="attention_heads"),
                      read_table(selection_importance_path, table="importance", columns=IMPORTANCE_COLUMNS)),
        "explain": (read_table(heads_path, table="attention_heads"),
                    read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)),
    }
    agreements, summaries = {}, {}
    for split, (heads, importance) in splits.items():
        with timed(f"per-head agreement on the {split} split ({heads['example_id'].nunique()} examples, "
                   f"{heads.groupby(['layer', 'head']).ngroups} heads, {len(methods)} causal methods)", log):
            agreements[split] = head_agreement(heads, importance, causal_methods=methods, metrics=settings.metrics,
                                               variant=settings.variant, length_edges=settings.length_buckets,
                                               layers=layers if split == "explain" else None)
            summaries[split] = summarize_heads(agreements[split], seed=derive_seed(seed, "heads", split), **bootstrap)
    picks = select_units(summaries["selection"], summaries["explain"])
    picks = with_optimism(picks, agreements["explain"], seed=seed, **bootstrap)
    picks = with_last_layer_comparison(picks, agreements["explain"], seed=seed, **bootstrap)
    for row in picks[picks["choice"] == "held_out"].itertuples():
        log.info("%s vs %s (%s, best %s): chosen on the selection split: layer %d head %d, %.3f [%.3f, %.3f] on "
                 "the explained examples; post-hoc optimism %.3f [%.3f, %.3f]", row.metric, row.method_b, dataset,
                 row.kind, row.layer, row.head, row.mean, row.mean_low, row.mean_high, row.optimism,
                 row.optimism_low, row.optimism_high)
    provenance = {"dataset": dataset, "split": splits["explain"][1]["split"].iloc[0], "model": model_name,
                  "seed": seed, "settings": asdict(settings)}
    agreement = pd.concat([a.assign(subset=s) for s, a in agreements.items()], ignore_index=True)
    summary = pd.concat([a.assign(subset=s) for s, a in summaries.items()], ignore_index=True)
    write_table(with_provenance(agreement, **provenance), out_agreement)
    write_table(with_provenance(summary, **provenance), out_summary)
    write_table(with_provenance(picks, **provenance), out_selection)


# ------------------------------------------------------------------- figure, gather
@dataclass(frozen=True)
class HeadsFigureSettings(StageSettings):
    """What the layer x head heatmaps read: the headline metric of the heads block (its first)."""

    metric: str

    reads = ("heads.metrics",)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HeadsFigureSettings:
        return cls(metric=config["heads"]["metrics"][0])


def run_heads_figure(settings: HeadsFigureSettings, *, summary_path: str, selection_path: str, out: str,
                     title: str) -> None:
    """The layer x head heatmaps of one run, for the headline metric of the heads block."""
    from analysis.heads.figures import head_heatmaps

    summary = read_table(summary_path, table="heads_summary")
    selection = read_table(selection_path, table="heads_selection")
    figure = head_heatmaps(summary, selection, metric=settings.metric, title=title)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, bbox_inches="tight")
    log.info("wrote %s", out)


def attention_cost(diagnostics: pd.DataFrame, *, stage: str) -> pd.DataFrame:
    """Cost per run and method: examples, seconds per example, total seconds, forward-pass equivalents."""
    if diagnostics.empty:
        return pd.DataFrame(columns=["dataset", "model", "seed", "method", "stage", "n_examples",
                                     "seconds_per_example", "total_seconds", "forward_passes"])
    cost = (diagnostics.groupby(["dataset", "model", "seed", "method"], sort=True)
            .agg(n_examples=("example_id", "nunique"), seconds_per_example=("seconds", "mean"),
                 total_seconds=("seconds", "sum"), forward_passes=("forward_passes", "mean"))
            .reset_index())
    return cost.assign(stage=stage)


def gather_heads(*, summaries: list[str], selections: list[str], diagnostics: list[str],
                 selection_diagnostics: list[str], out_summary: str, out_selection: str, out_cost: str) -> None:
    """Study-wide per-head summaries, picks, and what the attention methods and the selection split cost."""
    from analysis.importance import IMPORTANCE_METHODS

    write_table(concat_tables(summaries, "heads_summary"), out_summary)
    write_table(concat_tables(selections, "heads_selection"), out_selection)
    explain_diag = concat_tables(diagnostics, "diagnostics")
    if not explain_diag.empty:
        attention = [m for m in explain_diag["method"].unique()
                     if m in IMPORTANCE_METHODS and IMPORTANCE_METHODS.get(m).family == "attention"]
        explain_diag = explain_diag[explain_diag["method"].isin(attention)]
    selection_diag = concat_tables(selection_diagnostics, "diagnostics")
    cost = pd.concat([attention_cost(explain_diag, stage="explained examples"),
                      attention_cost(selection_diag, stage="heads selection split")], ignore_index=True)
    write_table(cost, out_cost)
