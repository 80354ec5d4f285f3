from analysis.stages.report import ClaimsSettings, ExamplesSettings, PublishSettings, SummarySettings


rule claims:
    """Every published claim decided on every run with a paired, exact or equivalence test (Holm per claim)."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        unpack(claim_intervention_inputs),
        agreement=per_run("agreement.parquet"),
        predictions=per_run("predictions.parquet"),
        concentration=res("study/attention_concentration.parquet"),
    output:
        res("study/claim_tests.parquet"),
    params:
        runs=[list(run) for run in runs()],
        settings=stage_settings(ClaimsSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/claims.log"),
    benchmark:
        res("benchmarks/claims.tsv")
    script:
        "../scripts/claims.py"


rule gather_study:
    """One study-wide table per kind: accuracy, agreement summaries, diagnostics, data reports."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        evaluation=per_run("evaluation.parquet"),
        summary=per_run("agreement_summary.parquet"),
        comparisons=per_run("comparisons.parquet"),
        diagnostics=per_run("diagnostics.parquet"),
        data=expand(res("data/{dataset}/data_report.parquet"), dataset=DATASETS),
    output:
        evaluation=res("study/evaluation.parquet"),
        summary=res("study/agreement_summary.parquet"),
        comparisons=res("study/comparisons.parquet"),
        diagnostics=res("study/diagnostics.parquet"),
        data=res("study/data_report.parquet"),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/gather_study.log"),
    benchmark:
        res("benchmarks/gather_study.tsv")
    script:
        "../scripts/gather_study.py"


rule accuracy_figure:
    input:
        evaluation=res("study/evaluation.parquet"),
    output:
        report(
            res("study/figures/accuracy.png"),
            caption="../report/accuracy.rst",
            category="Models",
            labels={"figure": "accuracy"},
        ),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/accuracy_figure.log"),
    benchmark:
        res("benchmarks/accuracy_figure.tsv")
    script:
        "../scripts/accuracy_figure.py"


rule examples_page:
    """The per-example page: each explained example's words coloured by every method's signed score."""
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        importance=per_run("importance.parquet"),
        explain=expand(res("data/{dataset}/explain.parquet"), dataset=DATASETS),
    output:
        res("study/examples.html"),
    params:
        settings=stage_settings(ExamplesSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/examples_page.log"),
    benchmark:
        res("benchmarks/examples_page.tsv")
    script:
        "../scripts/examples_page.py"


rule summary:
    """The study summary: findings generated from the numbers, in markdown and HTML."""
    input:
        evaluation=res("study/evaluation.parquet"),
        summary=res("study/agreement_summary.parquet"),
        comparisons=res("study/comparisons.parquet"),
        diagnostics=res("study/diagnostics.parquet"),
        data=res("study/data_report.parquet"),
        accuracy=res("study/figures/accuracy.png"),
        run_figures=per_run("figures/matrix.png") + per_run("figures/heatmaps.png"),
        examples=res("study/examples.html"),
        extra=study_tables_and_figures(),
    params:
        tables=study_outputs()["tables"],
        figures=study_outputs()["figures"],
        benchmarks=res("benchmarks"),
        settings=stage_settings(SummarySettings),
    output:
        markdown=res("study/summary.md"),
        tables=directory(res("study/tables")),
        figures=directory(res("study/summary_figures")),
        html=report(
            res("study/summary.html"),
            caption="../report/summary.rst",
            category="Study summary",
            labels={"document": "summary"},
        ),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/summary.log"),
    benchmark:
        res("benchmarks/summary.tsv")
    script:
        "../scripts/summary.py"


rule publish:
    """Copy the summary (HTML, markdown, CSV tables) to <reports_dir>/<study>/ for the repository.

    Not part of `all`: run it as `snakemake publish --cores all --configfile <config>` (target first).
    The output is a receipt, not the folder: Snakemake deletes a job's outputs before it runs and
    leaves a timestamp file in a folder output, while publishing replaces the folder only once the
    new report passes its size checks. A deleted folder is therefore not rebuilt by itself: add
    `--forcerun publish`.
    """
    localrule: True  # light: runs beside the scheduler, not as a cluster job
    input:
        html=res("study/summary.html"),
        markdown=res("study/summary.md"),
        tables=res("study/tables"),
        examples=res("study/examples.html"),
        importance=per_run("importance.parquet"),
        agreement=per_run("agreement.parquet"),
        explain=expand(res("data/{dataset}/explain.parquet"), dataset=DATASETS),
    params:
        config_files=config_files(),
        settings=stage_settings(PublishSettings),
        folder=str(Path(config["reports_dir"]) / config["study"]),
    output:
        res("study/published.txt"),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/publish.log"),
    script:
        "../scripts/publish.py"
