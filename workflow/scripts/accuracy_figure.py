"""Snakemake adapter: analysis.stages.report.accuracy_figure."""

from analysis.logs import configure_logging
from analysis.stages.report import accuracy_figure

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
accuracy_figure(sm.input.evaluation, sm.output[0])
