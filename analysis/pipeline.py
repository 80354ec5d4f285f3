"""The study's stages as plain functions: the Snakemake scripts call these (and the tests).

Each stage reads tables, calls the logic in the other modules, and writes tidy parquet
tables with provenance. Paths are passed in; nothing here builds an output folder name.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.logs import timed
from analysis.provenance import settings_hash, with_provenance
from analysis.records import EXAMPLE_COLUMNS, IMPORTANCE_COLUMNS, read_table, write_table
from analysis.runtime import device_for
from analysis.seeding import derive_seed, seed_everything

log = logging.getLogger("analysis.pipeline")


# --------------------------------------------------------------------------- data
def prepare_data(config: dict[str, Any], dataset: str, *, out_train: str, out_eval: str, out_explain: str,
                 out_report: str, out_validation: str | None = None) -> None:
    """Read, check and subsample one dataset; write train, eval, validation and explain examples.

    An entry with ``base`` reads the registered dataset ``base`` (through its label filter,
    when the entry has ``labels``); with ``shortcut`` it then plants the shortcut token into
    the splits (:mod:`analysis.groundtruth.shortcuts`) and the tables gain
    ``shortcut_index`` and ``original_label``. The validation examples (for epoch selection,
    never for reported numbers) come from the dataset's validation split when it has one,
    else ``validation_n`` examples are held out of the training sample; the table is empty
    when neither applies (no epoch selection).
    """
    from analysis.data import dataset_spec, prepare_splits, prepare_validation, stratified_sample

    entry = config["datasets"][dataset]
    spec = dataset_spec(config, dataset)
    seed = int(config["data_seed"])
    columns = list(EXAMPLE_COLUMNS)
    with timed(f"preparing {dataset}", log):
        train, evaluation, report = prepare_splits(
            spec, train_n=entry["train_n"], eval_n=entry["eval_n"], seed=seed, data_dir=config["data_dir"],
            train_split=entry.get("train_split"), eval_split=entry.get("eval_split"),
            generator_settings=entry.get("generator"),
        )
        validation_n = entry.get("validation_n")
        if spec.validation_split is not None and not spec.generator:
            validation, validation_report = prepare_validation(spec, n=validation_n, seed=seed,
                                                               data_dir=config["data_dir"])
            report = pd.concat([report, validation_report], ignore_index=True)
        elif validation_n:
            validation = stratified_sample(train, min(int(validation_n), len(train) // 2),
                                           seed=derive_seed(seed, dataset, "validation"))
            train = train.loc[~train["example_id"].isin(set(validation["example_id"]))].reset_index(drop=True)
            rows = report["role"] == "train"
            report.loc[rows, "rows_kept"] = len(train)
            held_out = f"{len(validation)} examples held out of the training sample for epoch selection"
            report.loc[rows, "notes"] = ["; ".join(filter(None, [old, held_out])) for old in report.loc[rows, "notes"]]
        else:
            validation = train.iloc[0:0]
        if spec.generator:  # a generated eval set must not repeat training sentences
            before = len(evaluation)
            evaluation = evaluation.loc[~evaluation["text"].isin(set(train["text"]))].reset_index(drop=True)
            if len(evaluation) < before:
                report.loc[report["role"] == "eval", "notes"] += f"removed {before - len(evaluation)} texts also in train"
                report.loc[report["role"] == "eval", "rows_kept"] = len(evaluation)
        if entry.get("shortcut"):
            from analysis.groundtruth import shortcuts

            planted = shortcuts.ShortcutConfig.from_settings(entry["shortcut"], where=f"datasets.{dataset}.shortcut")
            train, evaluation, report = shortcuts.plant_splits(train, evaluation, report, planted, dataset=dataset,
                                                               seed=seed, label_names=spec.label_names)
            if len(validation):  # epoch selection sees the shortcut as training does
                validation, _ = shortcuts.plant_shortcut(
                    validation, planted, role="validation", label_names=spec.label_names,
                    seed=derive_seed(seed, planted.seed, dataset, "validation"), where=f"datasets.{dataset}.shortcut")
            explain = shortcuts.sample_explained(evaluation, entry["explain_n"], seed=seed, share=planted.explain_share)
            columns += shortcuts.SHORTCUT_COLUMNS
        else:
            explain = stratified_sample(evaluation, min(entry["explain_n"], len(evaluation)), seed=seed)
        report["dataset"] = dataset
        for frame in (train, evaluation, explain, validation):
            frame["dataset"] = dataset
    provenance = {"dataset": dataset, "model": "", "seed": seed, "settings": entry}
    write_table(with_provenance(train[columns], split=train["split"].iloc[0], **provenance), out_train)
    write_table(with_provenance(evaluation[columns], split=evaluation["split"].iloc[0], **provenance), out_eval)
    write_table(with_provenance(explain[columns], split=explain["split"].iloc[0], **provenance), out_explain)
    if out_validation is not None:
        write_table(with_provenance(validation[columns], split=validation["split"].iloc[0] if len(validation) else "",
                                    **provenance), out_validation)
    write_table(report, out_report)
    log.info("%s: %d train, %d eval, %d validation, %d explained examples", dataset, len(train), len(evaluation),
             len(validation), len(explain))


# -------------------------------------------------------------------------- train
def train_model(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, train_path: str,
                eval_path: str, out_model: str, out_evaluation: str, out_predictions: str,
                out_history: str, validation_path: str | None = None) -> None:
    """Build (and fine-tune or train) a model, save it, and record its evaluation accuracy.

    With a non-empty validation table the epoch with the best validation accuracy is kept
    (:func:`analysis.models.training.train_classifier`); the evaluation summary records it.
    """
    from analysis.data import dataset_spec
    from analysis.models import evaluate, family_for, train_classifier, train_settings
    from analysis.models.training import chosen_epoch

    seed_everything(seed)
    entry = config["models"][model_name]
    spec = dataset_spec(config, dataset)
    family = family_for(entry, where=f"models.{model_name}.family")
    train = read_table(train_path, table="examples", columns=EXAMPLE_COLUMNS)
    evaluation = read_table(eval_path, table="examples", columns=EXAMPLE_COLUMNS)
    validation = read_table(validation_path, table="examples", columns=EXAMPLE_COLUMNS) if validation_path else None
    if validation is not None and validation.empty:
        validation = None
    device = device_for(config)
    model = family.build(entry, num_labels=spec.num_labels, train=train, device=device)
    start = time.perf_counter()
    if family.needs_training(entry):
        settings = train_settings(entry)
        with timed(f"training {model_name} on {dataset} (seed {seed}, {len(train)} examples)", log):
            history = train_classifier(model, list(map(list, train["words"])), train["label"].tolist(), settings,
                                       seed=seed, validation=validation)
    else:
        history = pd.DataFrame(columns=["epoch", "loss", "seconds"])
    train_seconds = time.perf_counter() - start
    model.save(out_model)
    with timed(f"evaluating {model_name} on {len(evaluation)} {dataset} examples", log):
        predictions = evaluate(model, evaluation)
    # chance is the majority share of the examples the accuracy is measured on, not of train
    majority = float(predictions["label"].value_counts(normalize=True).max())
    accuracy = float(predictions["correct"].mean())
    n_truncated = int(predictions["truncated"].sum())
    log.info("%s on %s seed %d: accuracy %.3f (majority class %.3f); %d of %d examples truncated at %d tokens",
             model_name, dataset, seed, accuracy, majority, n_truncated, len(predictions), model.max_length)
    summary = pd.DataFrame([{
        "accuracy": accuracy, "n_eval": len(predictions), "chance": majority, "n_truncated": n_truncated,
        "max_length": model.max_length, "train_seconds": train_seconds, "kind": model.kind,
        "family": entry["family"], "device": str(device),
        # what was loaded: the checkpoint's resolved commit for a hub id (a hash of config.json for a folder)
        "resolved_revision": getattr(model, "provenance", {}).get("resolved_revision"),
        "n_validation": 0 if validation is None else len(validation),
        "epoch_chosen": chosen_epoch(history) if validation is not None else None,
        "validation_accuracy": (float(history.loc[history["chosen"].astype(bool), "validation_accuracy"].iloc[0])
                                if validation is not None and "chosen" in history else np.nan),
    }])
    provenance = {"dataset": dataset, "split": evaluation["split"].iloc[0], "model": model_name, "seed": seed,
                  "settings": entry}
    write_table(with_provenance(summary, **provenance), out_evaluation)
    write_table(with_provenance(predictions, **provenance), out_predictions)
    write_table(with_provenance(history, **provenance), out_history)


# --------------------------------------------------------------------- importance
def folder_fingerprint(folder: str | Path) -> str:
    """Names, sizes and modification times of a folder's files: changes when a model is retrained."""
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(folder).iterdir() if p.is_file())
    return settings_hash(entries)


def shard_of(examples: pd.DataFrame, shard: int, n_shards: int) -> pd.DataFrame:
    """Rows of shard ``shard`` out of ``n_shards`` contiguous, near-equal chunks (in file order)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is outside 0..{n_shards - 1}")
    bounds = np.linspace(0, len(examples), n_shards + 1).round().astype(int)
    return examples.iloc[bounds[shard] : bounds[shard + 1]].reset_index(drop=True)


def merge_shards(*, importance_paths: list[str], diagnostics_paths: list[str], heads_paths: list[str],
                 out_importance: str, out_diagnostics: str, out_heads: str) -> None:
    """Gather the shards of one run into its importance, diagnostics and attention-head tables."""
    for paths, out, table in [(importance_paths, out_importance, "importance"),
                              (diagnostics_paths, out_diagnostics, "diagnostics"),
                              (heads_paths, out_heads, "attention_heads")]:
        gather_tables(paths, out, table=table)


def run_explain(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, model_dir: str,
                explain_path: str, out_importance: str, out_diagnostics: str, out_heads: str,
                shard: int = 0, n_shards: int = 1) -> None:
    """Every configured importance method that applies to the model, plus per-head attention.

    With ``n_shards`` > 1 only shard ``shard`` of the explained examples is processed
    (scatter); :func:`merge_shards` gathers them. Each method's finished table is cached in
    ``importance_cache/`` beside the outputs, keyed by the method's settings, the model
    files and the explained examples; a rerun after an interruption (or after adding a
    method) computes only what is missing.
    """
    from analysis.config import methods_for
    from analysis.importance import attention_heads_table, compute_importance, explained_classes, make_method
    from analysis.models import load_model

    model = load_model(model_dir, device=device_for(config))
    examples = shard_of(read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS), shard, n_shards)
    split = examples["split"].iloc[0]
    pooling, batch_size = config["importance"]["pooling"], config["importance"]["batch_size"]
    cache = Path(out_importance).parent / "importance_cache"
    cache.mkdir(parents=True, exist_ok=True)
    context = {"model": folder_fingerprint(model_dir), "examples": settings_hash(examples["example_id"].tolist()),
               "seed": seed, "pooling": pooling}
    tables, diagnostics = [], []
    targets = None  # the predicted classes, computed once for every method that is not cached
    for method_name in methods_for(config, model_name):
        method = make_method(method_name, config["importance"]["methods"][method_name],
                             where=f"importance.methods.{method_name}")
        key = settings_hash({"method": method_name, "settings": method.settings, **context})
        cached_scores = cache / f"{method_name}-{key}.parquet"
        cached_diag = cache / f"{method_name}-{key}.diagnostics.parquet"
        if cached_scores.exists() and cached_diag.exists():
            log.info("%s: reusing the finished result in %s", method_name, cached_scores)
            tables.append(pd.read_parquet(cached_scores))
            diagnostics.append(pd.read_parquet(cached_diag))
            continue
        seed_everything(seed)
        if targets is None:
            targets = explained_classes(model, examples, batch_size=batch_size)
        with timed(f"{method_name} on {len(examples)} {dataset} examples ({model_name}, seed {seed})", log):
            importance, diag = compute_importance(model, examples, method, batch_size=batch_size, pooling=pooling,
                                                  seed=seed, targets=targets)
        recorded = {"method": method_name, **method.settings, "pooling": pooling, "explained_class": "predicted",
                    "special_tokens": "excluded"}
        provenance = {"dataset": dataset, "split": split, "model": model_name, "seed": seed, "settings": recorded}
        importance = with_provenance(importance[IMPORTANCE_COLUMNS], **provenance)
        diag = with_provenance(diag, **provenance)
        if diag["completeness_gap"].notna().any():
            gaps = diag["completeness_gap"].abs()
            log.info("completeness gap |sum(attr) - (f(x) - f(baseline))|: median %.2e, max %.2e (steps up to %d)",
                     gaps.median(), gaps.max(), diag["n_steps"].max())
        log.info("%s: %.1f forward-pass equivalents per example", method_name, diag["forward_passes"].mean())
        write_table(importance, cached_scores)
        write_table(diag, cached_diag)
        tables.append(importance)
        diagnostics.append(diag)
    with timed(f"per-head attention of {model_name}", log):
        heads = attention_heads_table(model, examples, batch_size=batch_size, pooling=pooling)
    write_table(with_provenance(heads, dataset=dataset, split=split, model=model_name, seed=seed,
                                settings={"pooling": pooling}), out_heads)
    write_table(pd.concat(tables, ignore_index=True), out_importance)
    write_table(pd.concat(diagnostics, ignore_index=True), out_diagnostics)


# ---------------------------------------------------------------------- agreement
def run_agreement(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, importance_paths: list[str],
                  out_agreement: str, out_summary: str, out_comparisons: str) -> None:
    """Per-instance agreement for every method pair, bootstrap summaries, paired comparisons."""
    from analysis.metrics.agreement import METRICS, compute_agreement
    from analysis.stats.comparisons import compare_methods
    from analysis.stats.intervals import summarize_agreement

    settings = config["agreement"]
    importance = pd.concat([read_table(p, table="importance", columns=IMPORTANCE_COLUMNS) for p in importance_paths],
                           ignore_index=True)
    with timed(f"agreement between {importance['method'].nunique()} methods on "
               f"{importance['example_id'].nunique()} examples", log):
        agreement = compute_agreement(importance, metrics=settings["metrics"], variants=settings["variants"],
                                      length_edges=settings["length_buckets"], floor_draws=settings["floor_draws"],
                                      seed=seed)
    with timed("bootstrap summaries", log):
        summary = summarize_agreement(agreement, n_resamples=settings["n_resamples"], level=settings["level"],
                                      seed=seed)
    with timed("paired comparisons with the ceiling and the floor", log):
        comparisons = pd.concat([
            compare_methods(agreement, reference=settings["reference"], ceiling=settings["ceiling"], metric=metric,
                            variant=variant, correction=settings["correction"],
                            n_resamples=settings["n_resamples"], n_permutations=settings["n_permutations"],
                            level=settings["level"], margin=settings["equivalence_margin"], seed=seed)
            for metric in settings["metrics"] if METRICS.get(metric, where="agreement.metrics").compared
            for variant in settings["variants"]
        ], ignore_index=True)
    provenance = {"dataset": dataset, "split": importance["split"].iloc[0], "model": model_name, "seed": seed,
                  "settings": settings}
    write_table(with_provenance(agreement, **provenance), out_agreement)
    write_table(with_provenance(summary, **provenance), out_summary)
    write_table(with_provenance(comparisons, **provenance), out_comparisons)


# ------------------------------------------------------------------------ figures
@dataclass(frozen=True)
class FigureSettings:
    """Exactly what the per-run figures read from the config (the rule passes it as ``params``, so a change
    reruns the figures and nothing else)."""

    headline_metric: str
    heatmap_examples: int
    methods: tuple[str, ...]  # importance.methods, in config order (the heatmaps' column order)
    reference: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FigureSettings:
        return cls(headline_metric=config["figures"]["headline_metric"],
                   heatmap_examples=int(config["figures"]["heatmap_examples"]),
                   methods=tuple(config["importance"]["methods"]), reference=config["agreement"]["reference"])

    def as_params(self) -> dict[str, Any]:
        return {**asdict(self), "methods": list(self.methods)}


def run_figures(settings: FigureSettings, *, agreement_path: str, summary_path: str, importance_paths: list[str],
                outputs: dict[str, str]) -> None:
    """The per-run figures: distributions, matrix, agreement vs length, token heatmaps."""
    from analysis.plots import figures

    metric = settings.headline_metric
    agreement = read_table(agreement_path, table="agreement")
    summary = read_table(summary_path, table="agreement_summary")
    importance = pd.concat([read_table(p, table="importance") for p in importance_paths], ignore_index=True)
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


# ------------------------------------------------------------------------- gather
def gather_tables(paths: list[str], out: str, *, table: str) -> pd.DataFrame:
    """Concatenate per-run tables into one study table."""
    frames = [read_table(p, table=table) for p in paths]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_table(frame, out)
    return frame


def accuracy_figure(evaluation_path: str, out: str) -> None:
    from analysis.plots import figures

    figure = figures.accuracy_bars(read_table(evaluation_path, table="evaluation"))
    figure.savefig(out, bbox_inches="tight")


def read_tables_once(paths: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Each named table, read once per file: names that share a file share one frame."""
    frames: dict[str, pd.DataFrame] = {}
    for name, path in paths.items():
        if path not in frames:
            frames[path] = read_table(path, table=name)
    return {name: frames[path] for name, path in paths.items()}


def study_summary(config: dict[str, Any], *, evaluation_path: str, summary_path: str, comparisons_path: str,
                  diagnostics_path: str,
                  data_path: str, accuracy_figure: str, run_figures: list[str], out_markdown: str,
                  out_html: str, extra_tables: dict[str, str] | None = None,
                  extra_figures: dict[str, str] | None = None, out_tables: str | None = None) -> None:
    """Write the study summary (markdown and self-contained HTML) from the gathered tables."""
    from analysis.report import write_summary

    figures = {"Accuracy of every model on the evaluation split (dashed: majority class).": accuracy_figure}
    first_seed = str(config["seeds"][0])
    for path in run_figures:
        parts = Path(path).parts
        dataset, model, seed = parts[-5], parts[-4], parts[-3]
        if seed != first_seed:
            continue  # one seed's per-run figures keep the report readable; every seed's are in results/
        if path.endswith("heatmaps.png") and not show_examples(config, dataset):
            continue  # content warning: examples of this dataset are shown only when the config asks
        kind = "Mean agreement between methods" if path.endswith("matrix.png") else "Token-level importance"
        figures[f"{kind}: {dataset} / {model} / seed {seed}."] = path
    core = {"evaluation": evaluation_path, "agreement_summary": summary_path, "comparisons": comparisons_path,
            "diagnostics": diagnostics_path, "data_report": data_path}
    # one read per file: an extra table that names a core file (heads_comparisons) shares its frame
    tables = read_tables_once({**(extra_tables or {}), **core})
    with timed("writing the study summary", log):
        findings = write_summary(
            config=config, evaluation=tables["evaluation"], summary=tables["agreement_summary"],
            comparisons=tables["comparisons"], diagnostics=tables["diagnostics"],
            data_report=tables["data_report"], figures=figures,
            out_markdown=out_markdown, out_html=out_html,
            extra_tables={name: tables[name] for name in extra_tables or {}},
            extra_figures=dict(extra_figures or {}), out_tables=out_tables,
            run_facts=run_facts(evaluation_path, config),
        )
    for finding in findings:
        log.info("finding: %s", finding.text)


def run_seed_agreement(config: dict[str, Any], dataset: str, model_name: str, *, importance_paths: list[str],
                       out_instances: str, out_summary: str) -> None:
    """Agreement of every method with itself across training seeds (one dataset x model)."""
    from analysis.stats.seeds import seed_agreement

    importance = pd.concat([read_table(p, table="importance", columns=IMPORTANCE_COLUMNS) for p in importance_paths],
                           ignore_index=True)
    with timed(f"seed-to-seed agreement of {model_name} on {dataset} ({importance['seed'].nunique()} seeds)", log):
        instances, summary = seed_agreement(importance, n_resamples=config["agreement"]["n_resamples"],
                                            level=config["agreement"]["level"], seed=int(config["data_seed"]))
    provenance = {"dataset": dataset, "split": importance["split"].iloc[0], "model": model_name, "seed": -1,
                  "settings": {"seeds": sorted(map(int, importance["seed"].unique()))}}
    write_table(with_provenance(instances, **provenance), out_instances)
    write_table(with_provenance(summary, **provenance), out_summary)


def gather_seed_tables(config: dict[str, Any], *, summary_paths: list[str], agreement_summary_path: str,
                       out_seeds: str, out_spread: str) -> None:
    """Study-wide seed-to-seed agreement and the spread of headline numbers across seeds."""
    from analysis.stats.seeds import seed_spread

    gather_tables(summary_paths, out_seeds, table="seed_agreement")
    spread = seed_spread(read_table(agreement_summary_path, table="agreement_summary"),
                         reference=config["agreement"]["reference"], metric=config["figures"]["headline_metric"])
    write_table(spread, out_spread)


def run_concentration(config: dict[str, Any], *, importance_paths: list[str], out_examples: str,
                      out_summary: str, out_figure: str | None = None) -> None:
    """How concentrated every run's attention is (:mod:`analysis.attention.concentration`), study-wide."""
    from analysis.attention.concentration import NEAR_UNIFORM_TVD, concentration, summarise_concentration
    from analysis.plots import figures

    examples, summaries = [], []
    with timed(f"attention concentration of {len(importance_paths)} runs", log):
        for path in importance_paths:
            importance = read_table(path, table="importance")
            if importance.empty:
                continue
            first = importance.iloc[0]
            provenance = {"dataset": first["dataset"], "split": first["split"], "model": first["model"],
                          "seed": int(first["seed"]),
                          "settings": {"measure": "tvd_from_uniform", "near_uniform_at_most": NEAR_UNIFORM_TVD}}
            per_example = concentration(importance)
            examples.append(with_provenance(per_example, **provenance))
            summaries.append(with_provenance(
                summarise_concentration(per_example, n_resamples=config["agreement"]["n_resamples"],
                                        seed=int(config["data_seed"])), **provenance))
    per_example = pd.concat(examples, ignore_index=True) if examples else pd.DataFrame()
    write_table(per_example, out_examples)
    write_table(pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(), out_summary)
    if out_figure is not None:
        figures.attention_concentration(per_example, threshold=NEAR_UNIFORM_TVD).savefig(out_figure,
                                                                                          bbox_inches="tight")


def show_examples(config: dict[str, Any], dataset: str) -> bool:
    """Whether the report may show example texts of ``dataset`` (HateXplain holds slurs by design)."""
    from analysis.data import content_warning

    return not content_warning(config, dataset) or bool(config.get("report", {}).get("show_offensive_examples", False))


def run_facts(evaluation_path: str, config: dict[str, Any]) -> dict[str, str]:
    """Wall time of the study so far (from its first data table) and where its results are."""
    root = Path(evaluation_path).parent.parent
    starts = [p.stat().st_mtime for p in (root / "data").glob("*/train.parquet")]
    elapsed = time.time() - min(starts) if starts else float("nan")
    facts = {"results folder": str(root), "wall time since data preparation (s)": f"{elapsed:.0f}"}
    for folder in sorted(p for p in (root / "data").glob("*") if p.is_dir()):
        facts[f"data fingerprint {folder.name}"] = data_fingerprint(folder)
    return facts


def data_fingerprint(folder: Path) -> str:
    """sha256 (first 16 hex digits) of a dataset's prepared examples: ids, texts and labels of every split."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("train", "eval", "explain"):
        path = folder / f"{name}.parquet"
        if path.exists():
            frame = pd.read_parquet(path, columns=["example_id", "text", "label"])
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]
