rule prepare_data:
    """Read one dataset (hub or local mirror), check it, subsample train/eval/explain."""
    output:
        train=R + "/data/{dataset}/train.parquet",
        eval=R + "/data/{dataset}/eval.parquet",
        explain=R + "/data/{dataset}/explain.parquet",
        report=R + "/data/{dataset}/data_report.parquet",
    params:
        settings=dataset_settings,
    log:
        R + "/logs/prepare_data/{dataset}.log",
    script:
        "../scripts/prepare_data.py"
