from analysis.stages.train import TrainSettings


rule train:
    """Fine-tune a transformer or train an attention RNN; record evaluation accuracy."""
    input:
        train=res("data/{dataset}/train.parquet"),
        eval=res("data/{dataset}/eval.parquet"),
        validation=res("data/{dataset}/validation.parquet"),
    output:
        model=directory(in_run("model")),
        evaluation=in_run("evaluation.parquet"),
        predictions=in_run("predictions.parquet"),
        history=in_run("training_history.parquet"),
    params:
        settings=stage_settings(TrainSettings),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/study.yaml"
    log:
        res("logs/train/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/train/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/train.py"
