"""Snakemake adapter: analysis.stages.heads.gather_heads."""

from analysis.logs import configure_logging
from analysis.stages.heads import gather_heads

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
gather_heads(
    summaries=list(sm.input.summaries), selections=list(sm.input.selections), diagnostics=list(sm.input.diagnostics),
    selection_diagnostics=list(sm.input.selection_diagnostics), out_summary=sm.output.summary,
    out_selection=sm.output.selection, out_cost=sm.output.cost,
)
