rule agreement:
    """Per-instance agreement of every method pair, with bootstrap summaries."""
    input:
        importance=in_run("importance.parquet"),
    output:
        agreement=in_run("agreement.parquet"),
        summary=in_run("agreement_summary.parquet"),
        comparisons=in_run("comparisons.parquet"),
    params:
        settings=agreement_settings,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/agreement/{dataset}/{model}/{seed}.log"),
    script:
        "../scripts/agreement.py"
