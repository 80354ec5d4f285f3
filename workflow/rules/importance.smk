rule explain:
    """Every importance method (attention and attribution) on the explained examples of one run.

    Finished methods are cached under importance_cache/ (keyed by their settings), so an
    interrupted job picks up where it stopped and adding a method computes only that one.
    """
    input:
        model=in_run("model"),
        explain=res("data/{dataset}/explain.parquet"),
    output:
        importance=in_run("importance.parquet"),
        diagnostics=in_run("diagnostics.parquet"),
        heads=in_run("attention_heads.parquet"),
    params:
        settings=importance_settings,
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/explain/{dataset}/{model}/{seed}.log"),
    script:
        "../scripts/explain.py"
