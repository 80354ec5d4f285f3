rule gather_study:
    """One study-wide table per kind: accuracy, agreement summaries, diagnostics, data reports."""
    input:
        evaluation=per_run("evaluation.parquet"),
        summary=per_run("agreement_summary.parquet"),
        diagnostics=per_diagnostics(),
        data=expand(R + "/data/{dataset}/data_report.parquet", dataset=DATASETS),
    output:
        evaluation=R + "/study/evaluation.parquet",
        summary=R + "/study/agreement_summary.parquet",
        diagnostics=R + "/study/diagnostics.parquet",
        data=R + "/study/data_report.parquet",
    log:
        R + "/logs/gather_study.log",
    script:
        "../scripts/gather_study.py"


rule accuracy_figure:
    input:
        evaluation=R + "/study/evaluation.parquet",
    output:
        report(
            R + "/study/figures/accuracy.png",
            caption="../report/accuracy.rst",
            category="Models",
            labels={"figure": "accuracy"},
        ),
    log:
        R + "/logs/accuracy_figure.log",
    script:
        "../scripts/accuracy_figure.py"


rule summary:
    """The study summary: findings generated from the numbers, in markdown and HTML."""
    input:
        evaluation=R + "/study/evaluation.parquet",
        summary=R + "/study/agreement_summary.parquet",
        diagnostics=R + "/study/diagnostics.parquet",
        data=R + "/study/data_report.parquet",
        accuracy=R + "/study/figures/accuracy.png",
        run_figures=per_run("figures/matrix.png") + per_run("figures/heatmaps.png"),
    output:
        markdown=R + "/study/summary.md",
        html=report(
            R + "/study/summary.html",
            caption="../report/summary.rst",
            category="Study summary",
            labels={"document": "summary"},
        ),
    log:
        R + "/logs/summary.log",
    script:
        "../scripts/summary.py"
