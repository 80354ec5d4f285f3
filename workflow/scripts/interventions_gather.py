"""Snakemake adapter: analysis.interventions.stages.gather_interventions."""

from analysis.interventions.stages import gather_interventions
from analysis.logs import configure_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
gather_interventions(
    sm.config, summary_paths=list(sm.input.summary), cost_paths=list(sm.input.cost),
    prediction_paths=list(sm.input.predictions), out_summary=sm.output.summary, out_cost=sm.output.cost,
    out_uniform=sm.output.uniform,
)
