from analysis.stages.agreement import (
    AgreementSettings,
    ConcentrationSettings,
    SeedAgreementSettings,
    SeedSpreadSettings,
)


rule agreement:
    """Per-instance agreement of every method pair, with bootstrap summaries."""
    input:
        importance=in_run("importance.parquet"),
    output:
        agreement=in_run("agreement.parquet"),
        summary=in_run("agreement_summary.parquet"),
        comparisons=in_run("comparisons.parquet"),
    params:
        settings=stage_settings(AgreementSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/agreement/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/agreement/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/agreement.py"


if len(SEEDS) > 1:

    rule seed_agreement:
        """Each method's agreement with itself across training seeds (a stability ceiling)."""
        input:
            importance=seed_importance_files,
        output:
            instances=res("{dataset}/{model}/seed_agreement.parquet"),
            summary=res("{dataset}/{model}/seed_agreement_summary.parquet"),
        params:
            settings=stage_settings(SeedAgreementSettings),
        conda:
            "../envs/study.yaml"
        log:
            res("logs/seed_agreement/{dataset}/{model}.log"),
        benchmark:
            res("benchmarks/seed_agreement/dataset={dataset}/model={model}.tsv")
        script:
            "../scripts/seed_agreement.py"

    rule gather_seeds:
        localrule: True  # light: runs beside the scheduler, not as a cluster job
        input:
            summaries=expand(res("{dataset}/{model}/seed_agreement_summary.parquet"), dataset=DATASETS, model=MODELS),
            agreement_summary=res("study/agreement_summary.parquet"),
        output:
            seeds=res("study/seed_agreement.parquet"),
            spread=res("study/seed_spread.parquet"),
        params:
            settings=stage_settings(SeedSpreadSettings),
        conda:
            "../envs/study.yaml"
        log:
            res("logs/gather_seeds.log"),
        benchmark:
            res("benchmarks/gather_seeds.tsv")
        script:
            "../scripts/gather_seeds.py"


rule attention_concentration:
    """How far each run's attention is from uniform (near-uniform attention makes permutation vacuous)."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        importance=per_run("importance.parquet"),
    output:
        examples=res("study/attention_concentration_examples.parquet"),
        summary=res("study/attention_concentration.parquet"),
        figure=res("study/figures/attention_concentration.png"),
    params:
        settings=stage_settings(ConcentrationSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/attention_concentration.log"),
    benchmark:
        res("benchmarks/attention_concentration.tsv")
    script:
        "../scripts/attention_concentration.py"
