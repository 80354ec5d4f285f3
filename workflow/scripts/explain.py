"""Snakemake adapter: analysis.stages.importance.run_explain (one shard)."""

from analysis.logs import configure_logging
from analysis.runtime import set_threads
from analysis.stages.importance import ExplainSettings, run_explain

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_explain(
    ExplainSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, explain_path=sm.input.explain, out_importance=sm.output.importance,
    out_diagnostics=sm.output.diagnostics, out_heads=sm.output.heads, shard=int(sm.wildcards.shard),
)
