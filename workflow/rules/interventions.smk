"""Causal tests of attention (analysis/interventions): per-run model-side interventions and input
ablations, study-wide tables (summary, cost, uniform-attention control) and per-dataset figures."""

from analysis.stages.interventions import (
    InterventionFiguresSettings,
    InterventionSettings,
    InterventionsGatherSettings,
)


rule interventions:
    """Every causal test of one run: permutation, adversarial and uniform attention, zeroing and removal until
    the decision flips (model side); ERASER comprehensiveness/sufficiency and deletion/insertion curves for every
    ranking (input side). One job, so the model is loaded once."""
    input:
        model=in_run("model"),
        explain=res("data/{dataset}/explain.parquet"),
        importance=in_run("importance.parquet"),
    output:
        permutation=in_run("interventions/permutation.parquet"),
        adversarial=in_run("interventions/adversarial.parquet"),
        uniform=in_run("interventions/uniform.parquet"),
        zeroing=in_run("interventions/zeroing.parquet"),
        removal=in_run("interventions/removal.parquet"),
        eraser=in_run("interventions/eraser.parquet"),
        curves=in_run("interventions/curves.parquet"),
        summary=in_run("interventions/summary.parquet"),
        cost=in_run("interventions/cost.parquet"),
    params:
        settings=stage_settings(InterventionSettings),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/interventions/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/interventions/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/interventions_run.py"


rule interventions_gather:
    """Study-wide summary and cost of the causal tests; uniform-attention models against their siblings."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        summary=per_run("interventions/summary.parquet"),
        cost=per_run("interventions/cost.parquet"),
        predictions=per_run("predictions.parquet"),
    output:
        summary=res("study/interventions/summary.parquet"),
        cost=res("study/interventions/cost.parquet"),
        uniform=res("study/interventions/uniform_training.parquet"),
    params:
        settings=stage_settings(InterventionsGatherSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/interventions_gather.log"),
    benchmark:
        res("benchmarks/interventions_gather.tsv")
    script:
        "../scripts/interventions_gather.py"


rule interventions_figures:
    """The causal-test figures of one dataset, one panel per model and seed."""
    input:
        permutation=interventions_of_dataset("permutation"),
        adversarial=interventions_of_dataset("adversarial"),
        summary=interventions_of_dataset("summary"),
        curves=interventions_of_dataset("curves"),
    output:
        permutation=report(
            interventions_figure("permutation"),
            caption="../report/interventions_permutation.rst",
            category="Causal tests",
            subcategory="{dataset}",
            labels={"figure": "permutation", "dataset": "{dataset}"},
        ),
        adversarial=report(
            interventions_figure("adversarial"),
            caption="../report/interventions_adversarial.rst",
            category="Causal tests",
            subcategory="{dataset}",
            labels={"figure": "adversarial attention", "dataset": "{dataset}"},
        ),
        flip_fraction=report(
            interventions_figure("flip_fraction"),
            caption="../report/interventions_flip_fraction.rst",
            category="Causal tests",
            subcategory="{dataset}",
            labels={"figure": "removal until flip", "dataset": "{dataset}"},
        ),
        aopc=report(
            interventions_figure("aopc"),
            caption="../report/interventions_aopc.rst",
            category="Causal tests",
            subcategory="{dataset}",
            labels={"figure": "AOPC", "dataset": "{dataset}"},
        ),
        curves=report(
            interventions_figure("curves"),
            caption="../report/interventions_curves.rst",
            category="Causal tests",
            subcategory="{dataset}",
            labels={"figure": "deletion curves", "dataset": "{dataset}"},
        ),
    params:
        settings=stage_settings(InterventionFiguresSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/interventions_figures/{dataset}.log"),
    benchmark:
        res("benchmarks/interventions_figures/dataset={dataset}.tsv")
    script:
        "../scripts/interventions_figures.py"
