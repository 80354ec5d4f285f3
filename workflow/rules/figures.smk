from analysis.stages.figures import FigureSettings


rule run_figures:
    """Agreement distributions, method x method matrix, agreement vs length, token heatmaps."""
    input:
        agreement=in_run("agreement.parquet"),
        summary=in_run("agreement_summary.parquet"),
        importance=in_run("importance.parquet"),
    output:
        distributions=report(
            in_run("figures/distributions.png"),
            caption="../report/distributions.rst",
            category="Agreement",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "distributions", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
        matrix=report(
            in_run("figures/matrix.png"),
            caption="../report/matrix.rst",
            category="Agreement",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "matrix", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
        by_length=report(
            in_run("figures/by_length.png"),
            caption="../report/by_length.rst",
            category="Agreement",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "by length", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
        heatmaps=report(
            in_run("figures/heatmaps.png"),
            caption="../report/heatmaps.rst",
            category="Examples",
            subcategory="{dataset} / {model} / seed {seed}",
            labels={"figure": "token heatmaps", "dataset": "{dataset}", "model": "{model}", "seed": "{seed}"},
        ),
    params:
        settings=stage_settings(FigureSettings),
    conda:
        "../envs/study.yaml"
    log:
        res("logs/figures/{dataset}/{model}/{seed}.log"),
    benchmark:
        res("benchmarks/run_figures/dataset={dataset}/model={model}/seed={seed}.tsv")
    script:
        "../scripts/run_figures.py"
