rule train:
    """Fine-tune a transformer or train an attention RNN; record evaluation accuracy."""
    input:
        train=R + "/data/{dataset}/train.parquet",
        eval=R + "/data/{dataset}/eval.parquet",
    output:
        model=directory(RUN + "/model"),
        evaluation=RUN + "/evaluation.parquet",
        predictions=RUN + "/predictions.parquet",
        history=RUN + "/training_history.parquet",
    params:
        settings=model_settings,
    threads: 2
    resources:
        gpu=1,
    log:
        R + "/logs/train/{dataset}/{model}/{seed}.log",
    script:
        "../scripts/train.py"
