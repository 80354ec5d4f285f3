"""Ground truth (GUIDE section 5): planted shortcuts, rationales, randomisation sanity check.

Per run: shortcut scores for datasets with a planted `shortcut`, rationale metrics for
datasets whose examples carry rationales, the cascading-randomisation check for the
runs `groundtruth.sanity` selects. Study-wide: gathered tables, figures and HTML tables
(Snakemake report, category "Ground truth"), and the summary's section.
"""

from analysis.stages.groundtruth import (
    GroundTruthFigureSettings,
    GroundTruthTableSettings,
    PlausibilitySettings,
    SanitySettings,
    ShortcutSettings,
)


rule groundtruth_shortcut:
    """Does the model rely on the planted token, and where does every method rank it (and where does the same model trained without the token, the control)?"""
    input:
        model=in_run("model"),
        eval=res("data/{dataset}/eval.parquet"),
        explain=res("data/{dataset}/explain.parquet"),
        importance=in_run("importance.parquet"),
        control=shortcut_control_model,
    output:
        reliance=in_run("groundtruth/shortcut_reliance.parquet"),
        scores=in_run("groundtruth/shortcut_scores.parquet"),
        summary=in_run("groundtruth/shortcut_summary.parquet"),
        control=in_run("groundtruth/shortcut_control.parquet"),
    params:
        settings=stage_settings(ShortcutSettings),
    resources:
        gpu=1,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/groundtruth_shortcut/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/groundtruth_shortcut/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/groundtruth_shortcut.py"


rule groundtruth_plausibility:
    """Token F1, IOU F1 (at the rationale length and of the top 5 words) and AUPRC of every method against the rationales (plausibility), each compared with random and with raw attention."""
    input:
        explain=res("data/{dataset}/explain.parquet"),
        importance=in_run("importance.parquet"),
    output:
        scores=in_run("groundtruth/plausibility_scores.parquet"),
        summary=in_run("groundtruth/plausibility_summary.parquet"),
    params:
        settings=stage_settings(PlausibilitySettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/groundtruth_plausibility/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/groundtruth_plausibility/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/groundtruth_plausibility.py"


rule groundtruth_sanity:
    """Cascading randomisation of the model's weights, every method recomputed (Adebayo et al. 2018)."""
    input:
        model=in_run("model"),
        explain=res("data/{dataset}/explain.parquet"),
        importance=in_run("importance.parquet"),
    output:
        scores=in_run("groundtruth/sanity_scores.parquet"),
        summary=in_run("groundtruth/sanity_summary.parquet"),
    params:
        settings=stage_settings(SanitySettings),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/groundtruth_sanity/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/groundtruth_sanity/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/groundtruth_sanity.py"


rule groundtruth_gather:
    """One study-wide table per ground-truth analysis."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        gt_gathered,
    output:
        res("study/{table}.parquet"),
    wildcard_constraints:
        table="groundtruth_(shortcut|reliance|plausibility|sanity)",
    conda:
        "../envs/study.yaml"
    log:
        res("logs/groundtruth_gather/{table}.log"),
    benchmark:
        res("benchmarks/groundtruth_gather/table={table}.tsv")
    script:
        "../scripts/groundtruth_gather.py"


rule groundtruth_figure:
    """One study-wide ground-truth figure."""
    input:
        unpack(gt_figure_tables),
    output:
        report(
            res("study/figures/groundtruth_{figure}.png"),
            caption="../report/groundtruth_figure.rst",
            category="Ground truth",
            subcategory="{figure}",
            labels={"figure": "{figure}"},
        ),
    wildcard_constraints:
        figure="shortcut_reliance|shortcut_detection|plausibility|sanity",
    params:
        settings=stage_settings(GroundTruthFigureSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/groundtruth_figure/{figure}.log"),
    benchmark:
        res("benchmarks/groundtruth_figure/figure={figure}.tsv")
    script:
        "../scripts/groundtruth_figure.py"


rule groundtruth_table:
    """The HTML table of one ground-truth analysis, with the generated verdicts (what passed, what failed)."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        unpack(gt_kind_tables),
    output:
        report(
            res("study/groundtruth/{kind}.html"),
            caption="../report/groundtruth_table.rst",
            category="Ground truth",
            subcategory="{kind}",
            labels={"table": "{kind}"},
        ),
    wildcard_constraints:
        kind="shortcut|plausibility|sanity",
    params:
        settings=stage_settings(GroundTruthTableSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/groundtruth_table/{kind}.log"),
    benchmark:
        res("benchmarks/groundtruth_table/kind={kind}.tsv")
    script:
        "../scripts/groundtruth_table.py"
