"""Snakemake adapter: analysis.stages.interventions.gather_interventions."""

from analysis.logs import configure_logging
from analysis.stages.interventions import InterventionsGatherSettings, gather_interventions

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
gather_interventions(
    InterventionsGatherSettings(**sm.params.settings), summary_paths=list(sm.input.summary),
    cost_paths=list(sm.input.cost), prediction_paths=list(sm.input.predictions), out_summary=sm.output.summary,
    out_cost=sm.output.cost, out_uniform=sm.output.uniform,
)
