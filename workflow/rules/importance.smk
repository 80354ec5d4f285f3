rule importance:
    """One importance method (attention or attribution) on the explained examples."""
    input:
        model=RUN + "/model",
        explain=R + "/data/{dataset}/explain.parquet",
    output:
        importance=RUN + "/importance/{method}.parquet",
        diagnostics=RUN + "/diagnostics/{method}.parquet",
    params:
        settings=method_settings,
    threads: 2
    resources:
        gpu=1,
    log:
        R + "/logs/importance/{dataset}/{model}/{seed}/{method}.log",
    script:
        "../scripts/importance.py"


rule attention_heads:
    """Raw [CLS] attention of every layer and head (transformers), for per-head analysis."""
    input:
        model=RUN + "/model",
        explain=R + "/data/{dataset}/explain.parquet",
    output:
        heads=RUN + "/attention_heads.parquet",
    threads: 1
    log:
        R + "/logs/attention_heads/{dataset}/{model}/{seed}.log",
    script:
        "../scripts/attention_heads.py"
