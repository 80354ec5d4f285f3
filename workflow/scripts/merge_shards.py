"""Snakemake adapter: analysis.stages.importance.merge_shards."""

from analysis.logs import configure_logging
from analysis.stages.importance import merge_shards

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
merge_shards(
    importance_paths=list(sm.input.importance), diagnostics_paths=list(sm.input.diagnostics),
    heads_paths=list(sm.input.heads), out_importance=sm.output.importance, out_diagnostics=sm.output.diagnostics,
    out_heads=sm.output.heads,
)
