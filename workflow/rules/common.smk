"""Config validation, result paths and target lists (no logic beyond naming files)."""

import json
import os
import sys
from pathlib import Path

from snakemake.logging import logger

from analysis.config import ConfigError, data_source, methods_for, results_root, validate_config

# The schema with its defaults (values from `--config seeds=[0,1]` converted to its types), the
# data source (`data_dir: auto`), then the registries, as `attention-study validate` does. An
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


def model_settings(wildcards):
    return json.dumps(config["models"][wildcards.model], sort_keys=True)


def dataset_settings(wildcards):
    return json.dumps(
        {"entry": config["datasets"][wildcards.dataset], "data_dir": config["data_dir"], "seed": config["data_seed"]},
        sort_keys=True,
    )


def importance_settings(wildcards):
    methods = methods_for(config, wildcards.model)
    return json.dumps(
        {
            "methods": {m: config["importance"]["methods"][m] for m in methods},
            "pooling": config["importance"]["pooling"],
        },
        sort_keys=True,
    )


def agreement_settings(wildcards):
    return json.dumps(config["agreement"], sort_keys=True)


def per_run(name):
    return [run_path(d, m, s, name) for d, m, s in runs()]


RUN_FIGURES = ["distributions", "matrix", "by_length", "heatmaps"]

# Analyses add to these in their own .smk files (included before report.smk): study-wide
# tables by name and figures by caption feed the summary's sections
# (analysis.report.sections); extra targets join rule all.
STUDY_TABLES = {"agreement_summary": res("study/agreement_summary.parquet")}
STUDY_FIGURES = {}
EXTRA_TARGETS = []


def all_targets():
    targets = [res("study/summary.md"), res("study/summary.html")]
    targets += [run_path(d, m, s, f"figures/{name}.png") for d, m, s in runs() for name in RUN_FIGURES]
    targets += EXTRA_TARGETS
    return targets


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
