"""Snakemake adapter: analysis.groundtruth.stages.groundtruth_table."""

from analysis.groundtruth.stages import groundtruth_table
from analysis.logs import configure_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
groundtruth_table(sm.config, sm.wildcards.kind, tables=dict(sm.input.items()), out=sm.output[0])
