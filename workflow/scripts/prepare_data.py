"""Snakemake adapter: analysis.pipeline.prepare_data."""

from analysis.logs import configure_logging
from analysis.pipeline import prepare_data

configure_logging(snakemake.log[0])  # noqa: F821 (injected by Snakemake)
prepare_data(
    snakemake.config,  # noqa: F821
    snakemake.wildcards.dataset,  # noqa: F821
    out_train=snakemake.output.train,  # noqa: F821
    out_eval=snakemake.output.eval,  # noqa: F821
    out_explain=snakemake.output.explain,  # noqa: F821
    out_report=snakemake.output.report,  # noqa: F821
    out_validation=snakemake.output.validation,  # noqa: F821
)
