"""Snakemake adapter: analysis.stages.groundtruth.groundtruth_figure."""

from analysis.logs import configure_logging
from analysis.stages.groundtruth import GroundTruthFigureSettings, groundtruth_figure

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
groundtruth_figure(GroundTruthFigureSettings(**sm.params.settings), sm.wildcards.figure,
                   tables=dict(sm.input.items()), out=sm.output[0])
