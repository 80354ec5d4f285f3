"""Stages of ``workflow/rules/groundtruth.smk``: planted shortcuts, rationales, the randomisation sanity check.

* :func:`run_shortcut` (per run of a planted-shortcut dataset): reliance of the model
  on the token, and where every method ranks it;
* :func:`run_plausibility` (per run of a dataset with rationales): token F1, IOU F1 and
  AUPRC against the rationales;
* :func:`run_sanity` (per run, bounded): cascading weight randomisation;
* :func:`groundtruth_figure` and :func:`groundtruth_table` (study-wide): figures and the
  HTML tables of the Snakemake report.

Which runs get each analysis (:func:`shortcut_datasets`, :func:`rationale_datasets`,
:func:`sanity_runs`) and the check of the names in the ``groundtruth`` block are read by
``workflow/rules/common.smk`` from the config; settings are documented in the schema.
"""

from __future__ import annotations

import copy
import html
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.config import generated_datasets, rnn_models
from analysis.data import explained_by
from analysis.logs import timed
from analysis.provenance import with_provenance
from analysis.records import EXAMPLE_COLUMNS, IMPORTANCE_COLUMNS, read_table, write_table
from analysis.seeding import derive_seed, seed_everything
from analysis.stages.common import DeviceSettings, StageSettings, gather_tables

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------- selection
def shortcut_datasets(config: dict[str, Any]) -> list[str]:
    """Datasets of the study with a planted shortcut (scored when ``groundtruth.shortcut.enabled``)."""
    if not config["groundtruth"]["shortcut"]["enabled"]:
        return []
    return [name for name, entry in config["datasets"].items() if entry.get("shortcut")]


#: What a derived entry may set that selects its examples and classes: a control must select the same.
SELECTING_KEYS = ("train_n", "eval_n", "validation_n", "train_split", "eval_split", "validation_split", "labels")


def shortcut_control(config: dict[str, Any], dataset: str) -> str | None:
    """The dataset whose models are the control of a planted-shortcut dataset: its ``base`` when the study has
    that entry without a shortcut of its own, selecting the same examples and classes (:data:`SELECTING_KEYS`
    the planted entry sets have the base's values), and ``groundtruth.shortcut.control`` is on; None otherwise
    (a control trained on other examples, or with other class ids, would not answer the same question)."""
    entry = config["datasets"].get(dataset) or {}
    base = entry.get("base")
    if not (config["groundtruth"]["shortcut"].get("control", True) and entry.get("shortcut") and base):
        return None
    base_entry = config["datasets"].get(base)
    if base_entry is None or base_entry.get("shortcut"):
        return None
    same = all(entry[key] == base_entry.get(key) for key in SELECTING_KEYS if key in entry)
    return base if same else None


def rationale_datasets(config: dict[str, Any]) -> list[str]:
    """Datasets whose examples carry rationales (``gt_mask``), optionally restricted by the config."""
    from analysis.data import dataset_spec

    settings = config["groundtruth"]["plausibility"]
    if not settings["enabled"]:
        return []
    chosen = settings.get("datasets")
    return [name for name in config["datasets"]
            if dataset_spec(config, name).rationale_column and (chosen is None or name in chosen)]


def sanity_runs(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(dataset, model, seed) runs that get the randomisation check."""
    settings = config["groundtruth"]["sanity"]
    if not settings["enabled"]:
        return []
    datasets, models = settings.get("datasets"), settings.get("models")
    return [(d, m, int(s)) for d in config["datasets"] for m in config["models"] for s in config["seeds"]
            if (datasets is None or d in datasets) and (models is None or m in models)]


# ------------------------------------------------------------------------ shortcut
@dataclass(frozen=True)
class ShortcutSettings(DeviceSettings):
    """What scoring a planted shortcut reads: the dataset's ``shortcut`` entry and ``groundtruth.shortcut``."""

    shortcut: dict[str, Any] | None  # datasets.<dataset>.shortcut
    variants: list[str]
    reliance_threshold: float
    top1_threshold: float
    n_resamples: int
    level: float
    # the control (:func:`shortcut_control`): the base dataset whose model of the same name explains the
    # token-bearing examples, with the run's methods, pooling and batch size (None: no control)
    control: str | None = None
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    pooling: str = "sum"
    batch_size: int = 32

    wildcards = ("dataset", "model")
    reads = (*DeviceSettings.reads, "datasets.*.shortcut", "datasets.*.base", "groundtruth.shortcut.variants",
             "groundtruth.shortcut.reliance_threshold", "groundtruth.shortcut.top1_threshold",
             "groundtruth.shortcut.control", "groundtruth.n_resamples", "groundtruth.level", "importance.methods",
             "importance.pooling", "importance.batch_size", "models.*.family")

    @classmethod
    def from_config(cls, config: dict[str, Any], *, dataset: str, model: str) -> ShortcutSettings:
        from analysis.config import methods_for

        block = config["groundtruth"]
        control = shortcut_control(config, dataset)
        methods = ({name: copy.deepcopy(config["importance"]["methods"][name]) for name in methods_for(config, model)}
                   if control else {})
        return cls(**cls.runtime(config), shortcut=copy.deepcopy(config["datasets"][dataset].get("shortcut")),
                   variants=list(block["shortcut"]["variants"]),
                   reliance_threshold=block["shortcut"]["reliance_threshold"],
                   top1_threshold=block["shortcut"]["top1_threshold"], n_resamples=block["n_resamples"],
                   level=block["level"], control=control, methods=methods,
                   pooling=config["importance"]["pooling"], batch_size=int(config["importance"]["batch_size"]))


def run_shortcut(settings: ShortcutSettings, dataset: str, model_name: str, seed: int, *, model_dir: str,
                 eval_path: str, explain_path: str, importance_path: str, out_reliance: str, out_scores: str,
                 out_summary: str, control_dir: str | None = None, out_control: str | None = None) -> None:
    """Does the model use the planted token, and which methods rank it first? With ``control_dir`` (the same
    model trained on ``settings.control``, the data without the token): do they also rank it first there?"""
    from analysis.groundtruth.shortcuts import (
        ShortcutConfig,
        control_comparison,
        deletion_changes_prediction,
        reliance_outcomes,
        shortcut_ranks,
        summarize_reliance,
        summarize_shortcut_scores,
        truncated_tokens,
        with_control,
    )
    from analysis.importance import explained_classes
    from analysis.models import load_model

    common = {"n_resamples": settings.n_resamples, "level": settings.level}
    shortcut = ShortcutConfig.from_settings(settings.shortcut, where=f"datasets.{dataset}.shortcut")
    columns = [*EXAMPLE_COLUMNS, "shortcut_index"]
    evaluation = read_table(eval_path, table="examples", columns=columns)
    importance = read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)
    explained = explained_by(read_table(explain_path, table="examples", columns=columns), importance)
    seed_everything(seed)
    model = load_model(model_dir, device=settings.torch_device())
    with timed(f"shortcut reliance of {model_name} on {len(evaluation)} {dataset} examples", log):
        outcomes = reliance_outcomes(model, evaluation, shortcut, seed=derive_seed(seed, dataset, "reliance"))
        reliance = summarize_reliance(outcomes, threshold=settings.reliance_threshold, seed=seed, **common)
        decisive = deletion_changes_prediction(model, explained)
    with timed(f"ranks of the planted token under {importance['method'].nunique()} methods", log):
        scores = shortcut_ranks(importance, explained, shortcut_label=shortcut.label, variants=settings.variants,
                                decisive=decisive)
        summary = summarize_shortcut_scores(scores, top1_threshold=settings.top1_threshold, seed=seed, **common)
    control = pd.DataFrame()
    if control_dir and settings.control:
        planted = explained.loc[explained["example_id"].astype(str).isin(set(scores["example_id"].astype(str)))]
        with timed(f"control: {model_name} of {settings.control} (trained without the token) on {len(planted)} "
                   f"{dataset} examples with it", log):
            control_model = load_model(control_dir, device=settings.torch_device())
            control_importance = shortcut_control_importance(settings, control_model, planted, seed=seed,
                                                             target=shortcut.label)
            control = shortcut_ranks(control_importance, planted, shortcut_label=shortcut.label,
                                     variants=settings.variants)
            predicted = explained_classes(control_model, planted, batch_size=settings.batch_size)
            control["control_predicted"] = control["example_id"].map(
                dict(zip(planted["example_id"].astype(str), predicted.tolist())))
            log.info("the control model assigns %d of these %d examples to the shortcut class %d",
                     int((predicted == shortcut.label).sum()), len(planted), shortcut.label)
        summary = with_control(summary, control_comparison(scores, control, seed=seed, **common), level=settings.level)
    else:
        summary = with_control(summary, None)
    cut = truncated_tokens(importance, explained)
    if cut:
        log.warning("%d explained examples lost the planted token to truncation; they are left out", cut)
    relies = bool(reliance["relies"].iloc[0]) if len(reliance) else False
    log.info("%s on %s: %s on the planted token %r", model_name, dataset, "relies" if relies else "does NOT rely",
             shortcut.token)
    for row in summary.loc[(summary["metric"] == "top1") & (summary["group"] == "all")].itertuples():
        log.info("  %-24s %-7s top-1 %.2f [%.2f, %.2f] (n=%d)%s: %s", row.method, row.variant, row.mean, row.mean_low,
                 row.mean_high, row.n, f", control {row.control_mean:.2f}" if pd.notna(row.control_mean) else "",
                 row.verdict)
    recorded = {"variants": settings.variants, "reliance_threshold": settings.reliance_threshold,
                "top1_threshold": settings.top1_threshold, "shortcut": asdict(shortcut), "truncated_tokens": cut,
                "control": settings.control if control_dir else None, **common}
    provenance = {"dataset": dataset, "split": str(evaluation["split"].iloc[0]), "model": model_name, "seed": seed,
                  "settings": recorded}
    write_table(with_provenance(reliance, **provenance), out_reliance)
    write_table(with_provenance(scores, **provenance), out_scores)
    write_table(with_provenance(summary.assign(model_relies=relies), **provenance), out_summary)
    if out_control:
        write_table(with_provenance(control, **provenance), out_control)


def shortcut_control_importance(settings: ShortcutSettings, model: Any, examples: pd.DataFrame, *, seed: int,
                                target: int) -> pd.DataFrame:
    """Every method of ``settings`` on ``examples`` with the control ``model``, one importance table.

    The control explains the shortcut class ``target`` whatever it predicts (its ``predicted`` column is that
    class), so both models answer the same question about each text: the compared examples are those the run's
    model assigns to the shortcut class, which its explanations explain."""
    from analysis.importance import compute_importance, make_method

    targets = np.full(len(examples), int(target), dtype=np.int64)
    tables = []
    for name, method_settings in settings.methods.items():
        seed_everything(seed)
        importance, _ = compute_importance(model, examples, make_method(name, method_settings,
                                                                        where=f"importance.methods.{name}"),
                                           batch_size=settings.batch_size, pooling=settings.pooling, seed=seed,
                                           targets=targets)
        tables.append(importance[IMPORTANCE_COLUMNS])
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=IMPORTANCE_COLUMNS)


# -------------------------------------------------------------------- plausibility
@dataclass(frozen=True)
class PlausibilitySettings(StageSettings):
    """What the rationale metrics read: the score variants and the bootstrap of ``groundtruth``."""

    variants: list[str]
    n_resamples: int
    level: float

    reads = ("groundtruth.plausibility.variants", "groundtruth.n_resamples", "groundtruth.level")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PlausibilitySettings:
        block = config["groundtruth"]
        return cls(variants=list(block["plausibility"]["variants"]), n_resamples=block["n_resamples"],
                   level=block["level"])


def run_plausibility(settings: PlausibilitySettings, dataset: str, model_name: str, seed: int, *, explain_path: str,
                     importance_path: str, out_scores: str, out_summary: str) -> None:
    """Token F1 and IOU F1 (at the rationale length and of the top 5 words) and AUPRC of every method against the
    explained examples' rationales, each compared with random and with raw attention."""
    from analysis.groundtruth.plausibility import rationale_scores, summarize_plausibility

    importance = read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)
    explained = explained_by(read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS), importance)
    with timed(f"rationale metrics of {importance['method'].nunique()} methods ({dataset}, {model_name})", log):
        scores = rationale_scores(importance, explained, variants=settings.variants)
        summary = summarize_plausibility(scores, n_resamples=settings.n_resamples, level=settings.level, seed=seed)
    if scores.empty:
        log.warning("%s: none of the %d explained examples has a rationale among the kept words", dataset,
                    len(explained))
    else:
        log.info("%d of %d explained examples have rationales", scores["example_id"].nunique(), len(explained))
    provenance = {"dataset": dataset, "split": str(explained["split"].iloc[0]), "model": model_name, "seed": seed,
                  "settings": asdict(settings)}
    write_table(with_provenance(scores, **provenance), out_scores)
    write_table(with_provenance(summary, **provenance), out_summary)


# -------------------------------------------------------------------------- sanity
@dataclass(frozen=True)
class SanitySettings(DeviceSettings):
    """What the randomisation check of one model reads: ``groundtruth.sanity``, and the methods it recomputes."""

    n_examples: int
    max_steps: int | None
    methods: dict[str, dict[str, Any]]  # the configured methods for the model's kind, in sanity.methods if given
    variants: list[str]
    threshold: float
    n_resamples: int
    level: float
    batch_size: int
    pooling: str
    data_seed: int

    wildcards = ("model",)
    reads = (*DeviceSettings.reads, "groundtruth.sanity.n_examples", "groundtruth.sanity.max_steps",
             "groundtruth.sanity.methods", "groundtruth.sanity.variants", "groundtruth.sanity.threshold",
             "groundtruth.n_resamples", "groundtruth.level", "importance.methods", "importance.batch_size",
             "importance.pooling", "models.*.family", "data_seed")

    @classmethod
    def from_config(cls, config: dict[str, Any], *, model: str) -> SanitySettings:
        from analysis.config import methods_for

        block = config["groundtruth"]
        sanity = block["sanity"]
        chosen = sanity.get("methods")
        names = [m for m in methods_for(config, model) if chosen is None or m in chosen]
        return cls(**cls.runtime(config), n_examples=sanity["n_examples"], max_steps=sanity["max_steps"],
                   methods={m: copy.deepcopy(config["importance"]["methods"][m]) for m in names},
                   variants=list(sanity["variants"]), threshold=sanity["threshold"],
                   n_resamples=block["n_resamples"], level=block["level"],
                   batch_size=config["importance"]["batch_size"], pooling=config["importance"]["pooling"],
                   data_seed=int(config["data_seed"]))


def run_sanity(settings: SanitySettings, dataset: str, model_name: str, seed: int, *, model_dir: str,
               explain_path: str, importance_path: str, out_scores: str, out_summary: str) -> None:
    """Cascading weight randomisation with every method recomputed on a bounded set of examples."""
    from analysis.data import stratified_sample
    from analysis.groundtruth.sanity import sanity_scores, summarize_sanity
    from analysis.importance import make_method
    from analysis.models import load_model

    importance = read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)
    explained = explained_by(read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS), importance)
    examples = stratified_sample(explained, min(settings.n_examples, len(explained)),
                                 seed=derive_seed(settings.data_seed, "sanity"))
    present = set(importance["method"])
    methods = {m: make_method(m, method_settings, where=f"importance.methods.{m}")
               for m, method_settings in settings.methods.items() if m in present}
    model = load_model(model_dir, device=settings.torch_device())
    with timed(f"sanity check of {model_name} on {dataset}: {len(methods)} methods, {len(examples)} examples", log):
        scores = sanity_scores(model, examples, methods, importance, max_steps=settings.max_steps,
                               variants=settings.variants, batch_size=settings.batch_size, pooling=settings.pooling,
                               seed=seed)
        summary = summarize_sanity(scores, threshold=settings.threshold, n_resamples=settings.n_resamples,
                                   level=settings.level, seed=seed)
    for row in summary.loc[summary["step_index"] == summary["verdict_step"]].itertuples():
        log.info("  %-24s %-7s rho(all layers random) %.2f [%.2f, %.2f]: %s", row.method, row.variant, row.mean,
                 row.mean_low, row.mean_high, row.verdict)
    recorded = {"n_examples": settings.n_examples, "max_steps": settings.max_steps, "methods": list(methods),
                "variants": settings.variants, "threshold": settings.threshold, "n_resamples": settings.n_resamples,
                "level": settings.level}
    provenance = {"dataset": dataset, "split": str(explained["split"].iloc[0]), "model": model_name, "seed": seed,
                  "settings": recorded}
    write_table(with_provenance(scores, **provenance), out_scores)
    write_table(with_provenance(summary, **provenance), out_summary)


# --------------------------------------------------------------------- study-wide
FIGURE_VARIANTS = {"shortcut_reliance": None, "shortcut_detection": "shortcut", "plausibility": "plausibility",
                   "sanity": "sanity"}
"""The study-wide figures, and the ``groundtruth`` block whose first score variant each draws (None: no scores)."""
TABLE_VARIANTS = {"shortcut": "shortcut", "plausibility": "plausibility", "sanity": None}
"""The HTML tables (one per analysis), and the block whose first variant each reports."""
UNIFORM_READS = ("models.*.family", "models.*.attention")
"""What names a model whose attention is frozen to uniform (:func:`analysis.config.rnn_models`)."""


def gathered_ranges() -> dict[str, tuple[str, dict[str, tuple[float, float]]]]:
    """Study table -> (column naming the quantity, range of each bounded quantity)."""
    from analysis.groundtruth.plausibility import METRIC_RANGES
    from analysis.groundtruth.shortcuts import RELIANCE_RANGES, SCORE_RANGES

    return {"groundtruth_shortcut": ("metric", SCORE_RANGES), "groundtruth_reliance": ("measure", RELIANCE_RANGES),
            "groundtruth_plausibility": ("metric", METRIC_RANGES)}


def gather_groundtruth(paths: list[str], out: str, *, table: str) -> None:
    """One study table from the per-run summaries, its intervals intersected with each quantity's range
    (:func:`analysis.stats.intervals.within_range`; the sanity check's correlations are left as they are)."""
    key, ranges = gathered_ranges().get(table, ("metric", {}))
    gather_tables(paths, out, table=table, ranges=ranges, key=key)


@dataclass(frozen=True)
class GroundTruthFigureSettings(StageSettings):
    """What one study-wide ground-truth figure reads: the first score variant of its analysis (None: it has none),
    and the models whose attention is frozen to uniform (their raw attention ranks nothing and is not drawn)."""

    variant: str | None
    uniform_models: list[str] = field(default_factory=list)

    wildcards = ("figure",)
    reads = ("groundtruth.shortcut.variants", "groundtruth.plausibility.variants", "groundtruth.sanity.variants",
             *UNIFORM_READS)

    @classmethod
    def from_config(cls, config: dict[str, Any], *, figure: str) -> GroundTruthFigureSettings:
        block = FIGURE_VARIANTS[figure]
        return cls(variant=None if block is None else config["groundtruth"][block]["variants"][0],
                   uniform_models=rnn_models(config, uniform=True))


def groundtruth_figure(settings: GroundTruthFigureSettings, figure: str, *, tables: dict[str, str], out: str) -> None:
    """Draw one study-wide figure (``shortcut_reliance``, ``shortcut_detection``, ``plausibility``, ``sanity``)."""
    from analysis.groundtruth import figures as gt_figures

    frames = {name: read_table(path, table=name) for name, path in tables.items()}
    constant = frozenset(settings.uniform_models)
    draw = {
        "shortcut_reliance": lambda: gt_figures.shortcut_reliance_figure(frames["groundtruth_reliance"]),
        "shortcut_detection": lambda: gt_figures.shortcut_detection_figure(
            frames["groundtruth_shortcut"], frames["groundtruth_reliance"], variant=settings.variant,
            constant=constant),
        "plausibility": lambda: gt_figures.plausibility_figure(frames["groundtruth_plausibility"],
                                                               variant=settings.variant, constant=constant),
        "sanity": lambda: gt_figures.sanity_figure(frames["groundtruth_sanity"], variant=settings.variant,
                                                   constant=constant),
    }
    if figure not in draw:
        raise ValueError(f"unknown ground-truth figure {figure!r}; choose one of {sorted(draw)}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    draw[figure]().savefig(out, bbox_inches="tight")
    log.info("wrote %s", out)


@dataclass(frozen=True)
class GroundTruthTableSettings(StageSettings):
    """What one analysis's HTML table reads: the first score variant of its analysis (None: it has none), the
    models whose attention is frozen to uniform (their raw attention ranks nothing: no verdict) and the datasets
    whose rationales are generated (not marked by people)."""

    variant: str | None
    uniform_models: list[str] = field(default_factory=list)
    generated_datasets: list[str] = field(default_factory=list)

    wildcards = ("kind",)
    reads = ("groundtruth.shortcut.variants", "groundtruth.plausibility.variants", *UNIFORM_READS,
             "datasets.*.base", "datasets.*.generated_by")

    @classmethod
    def from_config(cls, config: dict[str, Any], *, kind: str) -> GroundTruthTableSettings:
        block = TABLE_VARIANTS[kind]
        return cls(variant=None if block is None else config["groundtruth"][block]["variants"][0],
                   uniform_models=rnn_models(config, uniform=True), generated_datasets=generated_datasets(config))


def groundtruth_table(settings: GroundTruthTableSettings, kind: str, *, tables: dict[str, str], out: str) -> None:
    """A standalone HTML page with one analysis's generated verdicts and table (a Snakemake report item)."""
    from analysis.groundtruth.report_section import groundtruth_parts, part_html

    frames = {name: read_table(path, table=name) for name, path in tables.items()}
    # the sections read their variant from a config's groundtruth block: this analysis's, and nothing else
    block = {} if TABLE_VARIANTS.get(kind) is None else {TABLE_VARIANTS[kind]: {"variants": [settings.variant]}}
    parts = groundtruth_parts(frames, {"groundtruth": block}, constant=settings.uniform_models,
                              generated=settings.generated_datasets)
    body = "".join(part_html(part, {}) for part in parts) or f"<p>No {html.escape(kind)} results in this study.</p>"
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:1em auto;color:#222}"
             "table{border-collapse:collapse;font-size:.85em}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;"
             "text-align:left}li{margin:.4em 0}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Ground truth: "
                         f"{html.escape(kind)}</title><style>{style}</style></head><body>{body}</body></html>")
    log.info("wrote %s", out)
