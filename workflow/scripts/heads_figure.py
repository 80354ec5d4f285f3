"""Snakemake adapter: analysis.stages.heads.run_heads_figure."""

from analysis.logs import configure_logging
from analysis.stages.heads import HeadsFigureSettings, run_heads_figure

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_heads_figure(
    HeadsFigureSettings(**sm.params.settings), summary_path=sm.input.summary, selection_path=sm.input.selection,
    out=sm.output[0], title=f"{sm.wildcards.dataset} / {sm.wildcards.model} / seed {sm.wildcards.seed}",
)
