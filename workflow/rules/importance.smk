from analysis.stages.importance import ExplainSettings


rule explain:
    """Every importance method (attention and attribution) on one shard of a run's explained examples.

    Shards run as independent jobs (in parallel, or on a cluster) and rerun independently.
    Within a shard, finished methods are cached under importance_cache/ (keyed by their
    settings), so an interrupted job picks up where it stopped and adding a method computes
    only that one.
    """
    input:
        model=in_run("model"),
        explain=res("data/{dataset}/explain.parquet"),
    output:
        importance=in_run("shards/{shard}/importance.parquet"),
        diagnostics=in_run("shards/{shard}/diagnostics.parquet"),
        heads=in_run("shards/{shard}/attention_heads.parquet"),
    params:
        settings=stage_settings(ExplainSettings),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/explain/{dataset}/{model}/{seed}/shard-{shard}.log"),
    benchmark:
        res("benchmarks/explain/dataset={dataset}/model={model}/seed={seed}/shard={shard}.tsv")
    script:
        "../scripts/explain.py"


rule merge_shards:
    """Gather a run's shards into its importance, diagnostics and attention-head tables."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        importance=importance_shards,
        diagnostics=diagnostics_shards,
        heads=heads_shards,
    output:
        importance=in_run("importance.parquet"),
        diagnostics=in_run("diagnostics.parquet"),
        heads=in_run("attention_heads.parquet"),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/merge_shards/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/merge_shards/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/merge_shards.py"
