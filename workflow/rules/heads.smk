"""Per-layer and per-head analysis of transformer attention (GUIDE sections 2 and 3).

Per dataset: a held-out selection split (evaluation examples disjoint from the explained
ones). Per transformer run: per-head attention and the causal methods of heads.methods on
it; rollout, flow and attention norms through every layer; per-head agreement on both splits; the best head and layer chosen on the selection
split and reported on the explained examples, beside the post-hoc pick; layer x head
heatmaps. Study-wide: gathered tables (including the cost of every attention method) for
the summary's section.
"""

from analysis.stages.heads import (
    HeadAgreementSettings,
    HeadsFigureSettings,
    LayerScoresSettings,
    SelectionExplainSettings,
    SelectionSetSettings,
)


rule heads_selection_set:
    """The held-out selection split: stratified evaluation examples that are not explained."""
    input:
        eval=res("data/{dataset}/eval.parquet"),
        explain=res("data/{dataset}/explain.parquet"),
    output:
        res("data/{dataset}/heads_selection.parquet"),
    params:
        settings=stage_settings(SelectionSetSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/heads_selection_set/{dataset}.log"),
    benchmark:
        res("benchmarks/heads_selection_set/dataset={dataset}.tsv")
    script:
        "../scripts/heads_selection_set.py"


rule heads_selection_explain:
    """Per-head attention and the causal methods of heads.methods on the selection split."""
    input:
        model=in_run("model"),
        selection=res("data/{dataset}/heads_selection.parquet"),
    output:
        importance=in_run("heads/selection_importance.parquet"),
        heads=in_run("heads/selection_attention_heads.parquet"),
        diagnostics=in_run("heads/selection_diagnostics.parquet"),
    params:
        settings=stage_settings(SelectionExplainSettings),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/heads_selection_explain/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/heads_selection_explain/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/heads_selection_explain.py"


rule layer_scores:
    """Rollout, flow and attention norms through every layer, on the run's explained examples."""
    input:
        model=in_run("model"),
        explain=res("data/{dataset}/explain.parquet"),
        importance=in_run("importance.parquet"),
    output:
        in_run("heads/layer_scores.parquet"),
    params:
        settings=stage_settings(LayerScoresSettings),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/layer_scores/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/layer_scores/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/layer_scores.py"


rule heads_agreement:
    """Per-head agreement on both splits, bootstrap summaries, held-out and post-hoc picks."""
    input:
        importance=in_run("importance.parquet"),
        heads=in_run("attention_heads.parquet"),
        layers=in_run("heads/layer_scores.parquet"),
        selection_importance=in_run("heads/selection_importance.parquet"),
        selection_heads=in_run("heads/selection_attention_heads.parquet"),
    output:
        agreement=in_run("heads/head_agreement.parquet"),
        summary=in_run("heads/head_summary.parquet"),
        selection=in_run("heads/head_selection.parquet"),
    params:
        settings=stage_settings(HeadAgreementSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/heads_agreement/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/heads_agreement/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/heads_agreement.py"


rule heads_figure:
    """Layer x head heatmaps of agreement with each causal method, picks marked."""
    input:
        summary=in_run("heads/head_summary.parquet"),
        selection=in_run("heads/head_selection.parquet"),
    output:
        report(
            in_run("figures/heads.png"),
            caption="../report/heads_heatmaps.rst",
            category="Attention heads",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "layer x head agreement", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
    params:
        settings=stage_settings(HeadsFigureSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/heads_figure/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/heads_figure/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/heads_figure.py"


rule heads_gather:
    """Study-wide per-head summaries and picks, and the cost of every attention method."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        summaries=heads_paths("heads/head_summary.parquet"),
        selections=heads_paths("heads/head_selection.parquet"),
        diagnostics=heads_paths("diagnostics.parquet"),
        selection_diagnostics=heads_paths("heads/selection_diagnostics.parquet"),
    output:
        summary=res("study/heads_summary.parquet"),
        selection=res("study/heads_selection.parquet"),
        cost=res("study/heads_cost.parquet"),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/heads_gather.log"),
    benchmark:
        res("benchmarks/heads_gather.tsv")
    script:
        "../scripts/heads_gather.py"
