rule agreement:
    """Per-instance agreement of every method pair, with bootstrap summaries."""
    input:
        importance=importance_files,
    output:
        agreement=RUN + "/agreement.parquet",
        summary=RUN + "/agreement_summary.parquet",
    params:
        settings=agreement_settings,
    log:
        R + "/logs/agreement/{dataset}/{model}/{seed}.log",
    script:
        "../scripts/agreement.py"
