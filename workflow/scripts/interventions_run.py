"""Snakemake adapter: analysis.interventions.stages.run_interventions."""

from analysis.interventions.stages import RUN_OUTPUTS, run_interventions
from analysis.logs import configure_logging
from analysis.runtime import set_threads

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_interventions(
    sm.config, sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, explain_path=sm.input.explain, importance_path=sm.input.importance,
    outputs={name: sm.output[name] for name in RUN_OUTPUTS},
)
