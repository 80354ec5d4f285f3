"""Snakemake adapter: analysis.heads.stages.run_heads_figure."""

from analysis.heads.stages import run_heads_figure
from analysis.logs import configure_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_heads_figure(
    sm.config, summary_path=sm.input.summary, selection_path=sm.input.selection, out=sm.output[0],
    title=f"{sm.wildcards.dataset} / {sm.wildcards.model} / seed {sm.wildcards.seed}",
)
