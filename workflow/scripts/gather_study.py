"""Snakemake adapter: analysis.pipeline.gather_tables for each study table."""

from analysis.logs import configure_logging
from analysis.pipeline import gather_tables

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
for key, table in [("evaluation", "evaluation"), ("summary", "agreement_summary"), ("comparisons", "comparisons"),
                   ("diagnostics", "diagnostics"), ("data", "data_report")]:
    gather_tables(list(sm.input[key]), sm.output[key], table=table)
