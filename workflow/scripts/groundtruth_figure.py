"""Snakemake adapter: analysis.groundtruth.stages.groundtruth_figure."""

from analysis.groundtruth.stages import groundtruth_figure
from analysis.logs import configure_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
groundtruth_figure(sm.config, sm.wildcards.figure, tables=dict(sm.input.items()), out=sm.output[0])
