"""Snakemake adapter: analysis.heads.stages.run_selection_explain."""

from analysis.heads.stages import run_selection_explain
from analysis.logs import configure_logging
from analysis.runtime import set_threads

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_selection_explain(
    sm.config, sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed), model_dir=sm.input.model,
    selection_path=sm.input.selection, out_importance=sm.output.importance, out_heads=sm.output.heads,
    out_diagnostics=sm.output.diagnostics,
)
