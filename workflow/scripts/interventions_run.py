"""Snakemake adapter: analysis.stages.interventions.run_interventions."""

from analysis.logs import configure_logging
from analysis.runtime import set_threads
from analysis.stages.interventions import RUN_OUTPUTS, InterventionSettings, run_interventions

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_interventions(
    InterventionSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, explain_path=sm.input.explain, importance_path=sm.input.importance,
    outputs={name: sm.output[name] for name in RUN_OUTPUTS},
)
