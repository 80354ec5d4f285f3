rule run_figures:
    """Agreement distributions, method x method matrix, agreement vs length, token heatmaps."""
    input:
        agreement=RUN + "/agreement.parquet",
        summary=RUN + "/agreement_summary.parquet",
        importance=importance_files,
    output:
        distributions=report(
            RUN + "/figures/distributions.png",
            caption="../report/distributions.rst",
            category="Agreement",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "distributions", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
        matrix=report(
            RUN + "/figures/matrix.png",
            caption="../report/matrix.rst",
            category="Agreement",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "matrix", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
        by_length=report(
            RUN + "/figures/by_length.png",
            caption="../report/by_length.rst",
            category="Agreement",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "by length", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
        heatmaps=report(
            RUN + "/figures/heatmaps.png",
            caption="../report/heatmaps.rst",
            category="Examples",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "token heatmaps", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
    log:
        R + "/logs/figures/{dataset}/{model}/{seed}.log",
    script:
        "../scripts/run_figures.py"
