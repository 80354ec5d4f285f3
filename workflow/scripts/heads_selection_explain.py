"""Snakemake adapter: analysis.stages.heads.run_selection_explain."""

from analysis.logs import configure_logging
from analysis.runtime import set_threads
from analysis.stages.heads import SelectionExplainSettings, run_selection_explain

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_selection_explain(
    SelectionExplainSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, selection_path=sm.input.selection, out_importance=sm.output.importance,
    out_heads=sm.output.heads, out_diagnostics=sm.output.diagnostics,
)
