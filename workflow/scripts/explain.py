"""Snakemake adapter: analysis.pipeline.run_explain (one shard)."""

from analysis.logs import configure_logging
from analysis.pipeline import run_explain
from analysis.runtime import set_threads

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_explain(
    sm.config, sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, explain_path=sm.input.explain, out_importance=sm.output.importance,
    out_diagnostics=sm.output.diagnostics, out_heads=sm.output.heads,
    shard=int(sm.wildcards.shard), n_shards=int(sm.params.n_shards),
)
