"""Config validation, result paths and target lists (no logic beyond naming files)."""

import json

from snakemake.utils import validate

from analysis.config import check_registries, methods_for, results_root
from analysis.models import MODEL_FAMILIES


validate(config, "../schemas/config.schema.yaml")
check_registries(config)

R = str(results_root(config))
DATASETS = list(config["datasets"])
MODELS = list(config["models"])
SEEDS = [int(s) for s in config["seeds"]]
RUN = R + "/{dataset}/{model}/{seed}"


wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    model="[A-Za-z0-9_.-]+",
    seed="[0-9]+",
    method="[A-Za-z0-9_.-]+",


def model_kind(model):
    return MODEL_FAMILIES.get(config["models"][model]["family"]).kind


def runs():
    """Every (dataset, model, seed) combination of the study."""
    return [(d, m, s) for d in DATASETS for m in MODELS for s in SEEDS]


def run_path(dataset, model, seed, name):
    return RUN.format(dataset=dataset, model=model, seed=seed) + "/" + name


def importance_files(wildcards):
    return [
        run_path(wildcards.dataset, wildcards.model, wildcards.seed, f"importance/{method}.parquet")
        for method in methods_for(config, wildcards.model)
    ]


def model_settings(wildcards):
    return json.dumps(config["models"][wildcards.model], sort_keys=True)


def dataset_settings(wildcards):
    return json.dumps(
        {"entry": config["datasets"][wildcards.dataset], "data_dir": config["data_dir"], "seed": config["data_seed"]},
        sort_keys=True,
    )


def method_settings(wildcards):
    return json.dumps(
        {
            "method": config["importance"]["methods"][wildcards.method],
            "pooling": config["importance"]["pooling"],
        },
        sort_keys=True,
    )


def agreement_settings(wildcards):
    return json.dumps(config["agreement"], sort_keys=True)


def per_run(name):
    return [run_path(d, m, s, name) for d, m, s in runs()]


def per_diagnostics():
    return [
        run_path(d, m, s, f"diagnostics/{method}.parquet")
        for d, m, s in runs()
        for method in methods_for(config, m)
    ]


def attention_head_files():
    return [run_path(d, m, s, "attention_heads.parquet") for d, m, s in runs() if model_kind(m) == "transformer"]


RUN_FIGURES = ["distributions", "matrix", "by_length", "heatmaps"]


def all_targets():
    targets = [R + "/study/summary.md", R + "/study/summary.html"]
    targets += [run_path(d, m, s, f"figures/{name}.png") for d, m, s in runs() for name in RUN_FIGURES]
    targets += attention_head_files()
    return targets
