from analysis.stages.data import DataSettings


rule prepare_data:
    """Read one dataset (hub or local mirror), check it, subsample train/eval/explain."""
    output:
        train=res("data/{dataset}/train.parquet"),
        eval=res("data/{dataset}/eval.parquet"),
        explain=res("data/{dataset}/explain.parquet"),
        report=res("data/{dataset}/data_report.parquet"),
        validation=res("data/{dataset}/validation.parquet"),
    params:
        settings=stage_settings(DataSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/prepare_data/{dataset}.log"),
    benchmark:
        res("benchmarks/prepare_data/dataset={dataset}.tsv")
    script:
        "../scripts/prepare_data.py"
