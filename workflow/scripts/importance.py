"""Snakemake adapter: analysis.pipeline.run_importance."""

from analysis.logs import configure_logging
from analysis.pipeline import run_importance, set_threads

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_importance(
    sm.config, sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed), sm.wildcards.method,
    model_dir=sm.input.model, explain_path=sm.input.explain,
    out_importance=sm.output.importance, out_diagnostics=sm.output.diagnostics,
)
