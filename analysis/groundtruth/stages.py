"""Stage functions of the ground-truth analyses (the Snakemake scripts call these).

* :func:`run_shortcut` (per run of a planted-shortcut dataset): reliance of the model
  on the token, and where every method ranks it;
* :func:`run_plausibility` (per run of a dataset with rationales): token F1, IOU F1 and
  AUPRC against the rationales;
* :func:`run_sanity` (per run, bounded): cascading weight randomisation;
* :func:`groundtruth_outputs` (study-wide): figures and the HTML tables of the
  Snakemake report.

Settings come from the config's ``groundtruth`` block (documented in the schema).
"""

from __future__ import annotations

import html
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from analysis.logs import timed
from analysis.provenance import with_provenance
from analysis.records import EXAMPLE_COLUMNS, IMPORTANCE_COLUMNS, read_table, write_table
from analysis.seeding import derive_seed, seed_everything

log = logging.getLogger("analysis.groundtruth")


class GroundTruthConfigError(ValueError):
    """The ``groundtruth`` block names something the study does not have."""


# ----------------------------------------------------------------------- selection
def shortcut_datasets(config: dict[str, Any]) -> list[str]:
    """Datasets of the study with a planted shortcut (scored when ``groundtruth.shortcut.enabled``)."""
    if not config["groundtruth"]["shortcut"]["enabled"]:
        return []
    return [name for name, entry in config["datasets"].items() if entry.get("shortcut")]


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


def check_groundtruth_config(config: dict[str, Any]) -> None:
    """Names in the ``groundtruth`` block must exist in the study; raises :class:`GroundTruthConfigError`."""
    settings = config["groundtruth"]
    problems = []
    for key, known in (("plausibility.datasets", config["datasets"]), ("sanity.datasets", config["datasets"]),
                       ("sanity.models", config["models"]), ("sanity.methods", config["importance"]["methods"])):
        block, field = key.split(".")
        for name in settings[block].get(field) or []:
            if name not in known:
                problems.append(f"groundtruth.{key}: {name!r} is not in the study's "
                                f"{'importance.methods' if field == 'methods' else field} ({sorted(known)})")
    if problems:
        raise GroundTruthConfigError("invalid config:\n" + "\n".join(f"  {p}" for p in problems))


def _device(config: dict[str, Any]):
    from analysis.runtime import device_for

    return device_for(config)


def _provenance(config: dict[str, Any], dataset: str, model: str, seed: int, split: str,
                settings: dict[str, Any]) -> dict[str, Any]:
    return {"dataset": dataset, "split": split, "model": model, "seed": seed,
            "settings": {**settings, "n_resamples": config["groundtruth"]["n_resamples"],
                         "level": config["groundtruth"]["level"]}}


# ------------------------------------------------------------------------ shortcut
def run_shortcut(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, model_dir: str, eval_path: str,
                 explain_path: str, importance_path: str, out_reliance: str, out_scores: str,
                 out_summary: str) -> None:
    """Does the model use the planted token, and which methods rank it first?"""
    from analysis.groundtruth.shortcuts import (
        ShortcutConfig,
        deletion_changes_prediction,
        reliance_outcomes,
        shortcut_ranks,
        summarize_reliance,
        summarize_shortcut_scores,
        truncated_tokens,
    )
    from analysis.models import load_model

    settings = config["groundtruth"]["shortcut"]
    common = {"n_resamples": config["groundtruth"]["n_resamples"], "level": config["groundtruth"]["level"]}
    shortcut = ShortcutConfig.from_settings(config["datasets"][dataset]["shortcut"],
                                            where=f"datasets.{dataset}.shortcut")
    columns = [*EXAMPLE_COLUMNS, "shortcut_index"]
    evaluation = read_table(eval_path, table="examples", columns=columns)
    explained = read_table(explain_path, table="examples", columns=columns)
    importance = read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)
    seed_everything(seed)
    model = load_model(model_dir, device=_device(config))
    with timed(f"shortcut reliance of {model_name} on {len(evaluation)} {dataset} examples", log):
        outcomes = reliance_outcomes(model, evaluation, shortcut, seed=derive_seed(seed, dataset, "reliance"))
        reliance = summarize_reliance(outcomes, threshold=settings["reliance_threshold"], seed=seed, **common)
        decisive = deletion_changes_prediction(model, explained)
    with timed(f"ranks of the planted token under {importance['method'].nunique()} methods", log):
        scores = shortcut_ranks(importance, explained, shortcut_label=shortcut.label, variants=settings["variants"],
                                decisive=decisive)
        summary = summarize_shortcut_scores(scores, top1_threshold=settings["top1_threshold"], seed=seed, **common)
    cut = truncated_tokens(importance, explained)
    if cut:
        log.warning("%d explained examples lost the planted token to truncation; they are left out", cut)
    relies = bool(reliance["relies"].iloc[0]) if len(reliance) else False
    log.info("%s on %s: %s on the planted token %r", model_name, dataset, "relies" if relies else "does NOT rely",
             shortcut.token)
    for row in summary.loc[(summary["metric"] == "top1") & (summary["group"] == "all")].itertuples():
        log.info("  %-24s %-7s top-1 %.2f [%.2f, %.2f] (n=%d): %s", row.method, row.variant, row.mean, row.mean_low,
                 row.mean_high, row.n, row.verdict)
    provenance = _provenance(config, dataset, model_name, seed, str(evaluation["split"].iloc[0]),
                             {**settings, "shortcut": asdict(shortcut), "truncated_tokens": cut})
    write_table(with_provenance(reliance, **provenance), out_reliance)
    write_table(with_provenance(scores, **provenance), out_scores)
    write_table(with_provenance(summary.assign(model_relies=relies), **provenance), out_summary)


# -------------------------------------------------------------------- plausibility
def run_plausibility(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, explain_path: str,
                     importance_path: str, out_scores: str, out_summary: str) -> None:
    """Token F1, IOU F1 and AUPRC of every method against the explained examples' rationales."""
    from analysis.groundtruth.plausibility import rationale_scores, summarize_plausibility

    settings = config["groundtruth"]["plausibility"]
    explained = read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS)
    importance = read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)
    with timed(f"rationale metrics of {importance['method'].nunique()} methods ({dataset}, {model_name})", log):
        scores = rationale_scores(importance, explained, variants=settings["variants"])
        summary = summarize_plausibility(scores, n_resamples=config["groundtruth"]["n_resamples"],
                                         level=config["groundtruth"]["level"], seed=seed)
    if scores.empty:
        log.warning("%s: none of the %d explained examples has a rationale among the kept words", dataset,
                    len(explained))
    else:
        log.info("%d of %d explained examples have rationales", scores["example_id"].nunique(), len(explained))
    provenance = _provenance(config, dataset, model_name, seed, str(explained["split"].iloc[0]), settings)
    write_table(with_provenance(scores, **provenance), out_scores)
    write_table(with_provenance(summary, **provenance), out_summary)


# -------------------------------------------------------------------------- sanity
def run_sanity(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, model_dir: str,
               explain_path: str, importance_path: str, out_scores: str, out_summary: str) -> None:
    """Cascading weight randomisation with every method recomputed on a bounded set of examples."""
    from analysis.config import methods_for
    from analysis.data import stratified_sample
    from analysis.groundtruth.sanity import sanity_scores, summarize_sanity
    from analysis.importance import make_method
    from analysis.models import load_model

    settings = config["groundtruth"]["sanity"]
    explained = read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS)
    examples = stratified_sample(explained, min(settings["n_examples"], len(explained)),
                                 seed=derive_seed(config["data_seed"], "sanity"))
    importance = read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)
    chosen = settings.get("methods")
    names = [m for m in methods_for(config, model_name) if chosen is None or m in chosen]
    names = [m for m in names if m in set(importance["method"])]
    methods = {m: make_method(m, config["importance"]["methods"][m], where=f"importance.methods.{m}") for m in names}
    model = load_model(model_dir, device=_device(config))
    with timed(f"sanity check of {model_name} on {dataset}: {len(methods)} methods, {len(examples)} examples", log):
        scores = sanity_scores(model, examples, methods, importance, max_steps=settings["max_steps"],
                               variants=settings["variants"], batch_size=config["importance"]["batch_size"],
                               pooling=config["importance"]["pooling"], seed=seed)
        summary = summarize_sanity(scores, threshold=settings["threshold"],
                                   n_resamples=config["groundtruth"]["n_resamples"],
                                   level=config["groundtruth"]["level"], seed=seed)
    for row in summary.loc[summary["step_index"] == summary["n_steps"]].itertuples():
        log.info("  %-24s %-7s rho(all random) %.2f [%.2f, %.2f]: %s", row.method, row.variant, row.mean,
                 row.mean_low, row.mean_high, row.verdict)
    provenance = _provenance(config, dataset, model_name, seed, str(explained["split"].iloc[0]), settings)
    write_table(with_provenance(scores, **provenance), out_scores)
    write_table(with_provenance(summary, **provenance), out_summary)


# --------------------------------------------------------------------- study-wide
def groundtruth_figure(config: dict[str, Any], figure: str, *, tables: dict[str, str], out: str) -> None:
    """Draw one study-wide figure (``shortcut_reliance``, ``shortcut_detection``, ``plausibility``, ``sanity``)."""
    from analysis.groundtruth import figures as gt_figures

    frames = {name: read_table(path, table=name) for name, path in tables.items()}
    settings = config["groundtruth"]
    draw = {
        "shortcut_reliance": lambda: gt_figures.shortcut_reliance_figure(frames["groundtruth_reliance"]),
        "shortcut_detection": lambda: gt_figures.shortcut_detection_figure(
            frames["groundtruth_shortcut"], frames["groundtruth_reliance"], variant=settings["shortcut"]["variants"][0]),
        "plausibility": lambda: gt_figures.plausibility_figure(
            frames["groundtruth_plausibility"], variant=settings["plausibility"]["variants"][0]),
        "sanity": lambda: gt_figures.sanity_figure(frames["groundtruth_sanity"],
                                                   variant=settings["sanity"]["variants"][0]),
    }
    if figure not in draw:
        raise ValueError(f"unknown ground-truth figure {figure!r}; choose one of {sorted(draw)}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    draw[figure]().savefig(out, bbox_inches="tight")
    log.info("wrote %s", out)


def groundtruth_table(config: dict[str, Any], kind: str, *, tables: dict[str, str], out: str) -> None:
    """A standalone HTML page with one analysis's generated verdicts and table (a Snakemake report item)."""
    from analysis.groundtruth.report_section import groundtruth_parts, part_html

    frames = {name: read_table(path, table=name) for name, path in tables.items()}
    parts = groundtruth_parts(frames, config)
    body = "".join(part_html(part, {}) for part in parts) or f"<p>No {html.escape(kind)} results in this study.</p>"
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:1em auto;color:#222}"
             "table{border-collapse:collapse;font-size:.85em}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;"
             "text-align:left}li{margin:.4em 0}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Ground truth: "
                         f"{html.escape(kind)}</title><style>{style}</style></head><body>{body}</body></html>")
    log.info("wrote %s", out)
