"""Snakemake adapter: analysis.stages.common.gather_tables for one ground-truth study table."""

from analysis.logs import configure_logging
from analysis.stages.common import gather_tables

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
gather_tables(list(sm.input), sm.output[0], table=sm.wildcards.table)
