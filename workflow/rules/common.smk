"""Config validation, result paths, target lists and each rule's settings block (no logic beyond naming files)."""

import os
import sys
from pathlib import Path

from snakemake.logging import logger

from analysis.config import ConfigError, data_source, results_root, validate_config
from analysis.stages.groundtruth import rationale_datasets, sanity_runs, shortcut_control, shortcut_datasets
from analysis.stages.heads import heads_models

# The schema with its defaults (values from `--config seeds=[0,1]` converted to its types), the
# data source (`data_dir: auto`), then the registries, ground truth and heads, as `attention-study validate` does. An
# error prints that command's message alone: no traceback, no schema.
try:
    validate_config(config)
except ConfigError as error:
    sys.exit(str(error))
if workflow.is_main_process:
    logger.info(data_source(config))

R = str(results_root(config))
DATASETS = list(config["datasets"])
MODELS = list(config["models"])
SEEDS = [int(s) for s in config["seeds"]]


def res(path):
    """A path under the study's results folder (results/<study>/...)."""
    return os.path.join(R, path)


def in_run(path):
    """A path under one run's folder: results/<study>/<dataset>/<model>/<seed>/..."""
    return os.path.join(R, "{dataset}", "{model}", "{seed}", path)


def runs():
    """Every (dataset, model, seed) combination of the study."""
    return [(d, m, s) for d in DATASETS for m in MODELS for s in SEEDS]


def run_path(dataset, model, seed, name):
    return in_run(name).format(dataset=dataset, model=model, seed=seed)


def stage_settings(settings):
    """A rule's ``params: settings``: its stage's settings block (analysis.stages), built from the config.

    A block that differs by dataset, model, figure or kind (``settings.wildcards``) is built
    per job, from the job's wildcards; it holds exactly the config values the stage reads, so
    changing one reruns exactly the jobs that read it.
    """
    if not settings.wildcards:
        return settings.from_config(config).as_params()

    def params(wildcards):
        return settings.from_config(
            config, **{name: getattr(wildcards, name) for name in settings.wildcards}
        ).as_params()

    return params


def per_run(name):
    return [run_path(d, m, s, name) for d, m, s in runs()]


def claim_intervention_inputs(wildcards):
    """Per-run causal-test tables the claims read (none when the causal tests are off)."""
    if not config["interventions"]["enabled"]:
        return {}
    tests = ["permutation", "adversarial", "zeroing", "removal"]
    return {test: per_run(f"interventions/{test}.parquet") for test in tests}


N_SHARDS = int(config["importance"]["shards"])


def shard_paths(wildcards, name):
    """The per-shard copies of one run's table ``name``."""
    return [
        run_path(wildcards.dataset, wildcards.model, wildcards.seed, f"shards/{shard}/{name}")
        for shard in range(N_SHARDS)
    ]


def importance_shards(wildcards):
    return shard_paths(wildcards, "importance.parquet")


def diagnostics_shards(wildcards):
    return shard_paths(wildcards, "diagnostics.parquet")


def heads_shards(wildcards):
    return shard_paths(wildcards, "attention_heads.parquet")


def seed_importance_files(wildcards):
    return [run_path(wildcards.dataset, wildcards.model, s, "importance.parquet") for s in SEEDS]


def config_files() -> list[str]:
    """The --configfile paths of this run, relative to the working directory where possible."""
    paths = [Path(p) for p in workflow.overwrite_configfiles] or [Path("config/config.yaml")]
    cwd = Path.cwd().resolve()
    return [str(p.resolve().relative_to(cwd)) if p.resolve().is_relative_to(cwd) else str(p) for p in paths]


# Causal tests (interventions.smk)

INTERVENTION_FIGURES = ("permutation", "adversarial", "flip_fraction", "aopc", "curves")


def interventions_of_dataset(name):
    """Input function: one per-run table of every model and seed of the figure's dataset."""

    def inputs(wildcards):
        return [run_path(wildcards.dataset, m, s, f"interventions/{name}.parquet") for m in MODELS for s in SEEDS]

    return inputs


def interventions_figure(name):
    return res(f"study/figures/interventions/{{dataset}}/{name}.png")


# Ground truth (groundtruth.smk)

GT_SHORTCUT_DATASETS = shortcut_datasets(config)
GT_RATIONALE_DATASETS = rationale_datasets(config)
GT_SANITY_RUNS = sanity_runs(config)


def shortcut_control_model(wildcards):
    """The control of a planted-shortcut run: the same model and seed trained on the base dataset (none when
    the study lacks it or `groundtruth.shortcut.control` is off)."""
    base = shortcut_control(config, wildcards.dataset)
    return run_path(base, wildcards.model, wildcards.seed, "model") if base else []


def gt_run_paths(datasets, name):
    """Per-run output ``name`` for every model and seed of the given datasets."""
    return [run_path(d, m, s, name) for d, m, s in runs() if d in datasets]


# study table -> the per-run tables it gathers; analyses without runs have no table
GT_GATHERED = {
    "groundtruth_shortcut": gt_run_paths(GT_SHORTCUT_DATASETS, "groundtruth/shortcut_summary.parquet"),
    "groundtruth_reliance": gt_run_paths(GT_SHORTCUT_DATASETS, "groundtruth/shortcut_reliance.parquet"),
    "groundtruth_plausibility": gt_run_paths(GT_RATIONALE_DATASETS, "groundtruth/plausibility_summary.parquet"),
    "groundtruth_sanity": [run_path(d, m, s, "groundtruth/sanity_summary.parquet") for d, m, s in GT_SANITY_RUNS],
}
GT_GATHERED = {name: paths for name, paths in GT_GATHERED.items() if paths}

# figure -> the study tables it is drawn from; an analysis without runs has no figure
GT_FIGURES = {
    "shortcut_reliance": ["groundtruth_reliance"],
    "shortcut_detection": ["groundtruth_shortcut", "groundtruth_reliance"],
    "plausibility": ["groundtruth_plausibility"],
    "sanity": ["groundtruth_sanity"],
}
GT_FIGURES = {name: tables for name, tables in GT_FIGURES.items() if all(t in GT_GATHERED for t in tables)}
GT_KINDS = sorted({name.split("_")[0] for name in GT_FIGURES})


def gt_gathered(wildcards):
    return GT_GATHERED[wildcards.table]


def gt_figure_tables(wildcards):
    return {name: res(f"study/{name}.parquet") for name in GT_FIGURES[wildcards.figure]}


def gt_kind_tables(wildcards):
    names = {t for figure, tables in GT_FIGURES.items() if figure.startswith(wildcards.kind) for t in tables}
    return {name: res(f"study/{name}.parquet") for name in sorted(names)}


# Per-head analysis of transformers (heads.smk)

HEADS_MODELS = heads_models(config)
HEADS_RUNS = [(d, m, s) for d, m, s in runs() if m in HEADS_MODELS]


def heads_paths(name):
    """Per-run output ``name`` for every transformer run."""
    return [run_path(d, m, s, name) for d, m, s in HEADS_RUNS]


# The study's outputs

RUN_FIGURES = ["distributions", "matrix", "by_length", "heatmaps"]


def study_outputs():
    """What the study produces beyond the per-run figures, from the config alone.

    ``tables`` (study-wide tables by name) and ``figures`` (by caption) feed the summary's
    sections (analysis.report.sections); ``targets`` are the further files rule all asks for.
    The order is the summary's order: changing it changes rule summary's params and reruns it.
    """
    tables = {"agreement_summary": res("study/agreement_summary.parquet")}
    figures = {}
    targets = []
    if len(SEEDS) > 1:
        tables["seed_agreement"] = res("study/seed_agreement.parquet")
        tables["seed_spread"] = res("study/seed_spread.parquet")
    tables["attention_concentration"] = res("study/attention_concentration.parquet")
    figures["attention_concentration"] = res("study/figures/attention_concentration.png")
    if config["interventions"]["enabled"]:
        intervention_tables = {
            "interventions_summary": res("study/interventions/summary.parquet"),
            "interventions_cost": res("study/interventions/cost.parquet"),
            "interventions_uniform_training": res("study/interventions/uniform_training.parquet"),
        }
        intervention_figures = {
            f"interventions/{dataset}/{name}": interventions_figure(name).format(dataset=dataset)
            for dataset in DATASETS
            for name in INTERVENTION_FIGURES
        }
        tables.update(intervention_tables)
        figures.update(intervention_figures)
        targets += [*intervention_tables.values(), *intervention_figures.values()]
    for name in GT_GATHERED:
        tables[name] = res(f"study/{name}.parquet")
    for figure in GT_FIGURES:
        figures[f"groundtruth/{figure}"] = res(f"study/figures/groundtruth_{figure}.png")
    targets += [res(f"study/groundtruth/{kind}.html") for kind in GT_KINDS]
    if HEADS_RUNS:
        tables["heads_summary"] = res("study/heads_summary.parquet")
        tables["heads_selection"] = res("study/heads_selection.parquet")
        tables["heads_cost"] = res("study/heads_cost.parquet")
        tables["heads_agreement"] = res("study/agreement_summary.parquet")
        tables["heads_comparisons"] = res("study/comparisons.parquet")
        for d, m, s in HEADS_RUNS:
            figures[f"heads/{d}/{m}/{s}"] = run_path(d, m, s, "figures/heads.png")
    tables["claim_tests"] = res("study/claim_tests.parquet")
    return {"tables": tables, "figures": figures, "targets": targets}


def study_tables_and_figures():
    """The files of the summary's study tables and figures: rule summary's inputs beside its params."""
    outputs = study_outputs()
    return list(outputs["tables"].values()) + list(outputs["figures"].values())


def all_targets():
    targets = [res("study/summary.md"), res("study/summary.html")]
    targets += [run_path(d, m, s, f"figures/{name}.png") for d, m, s in runs() for name in RUN_FIGURES]
    targets += study_outputs()["targets"]
    return targets
