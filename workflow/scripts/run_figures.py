"""Snakemake adapter: analysis.stages.figures.run_figures."""

from analysis.logs import configure_logging
from analysis.stages.figures import FigureSettings, run_figures

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_figures(
    FigureSettings(**sm.params.settings), agreement_path=sm.input.agreement, summary_path=sm.input.summary,
    importance_paths=[sm.input.importance],
    outputs={key: sm.output[key] for key in ("distributions", "matrix", "by_length", "heatmaps")},
)
