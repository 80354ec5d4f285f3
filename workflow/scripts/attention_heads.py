"""Snakemake adapter: analysis.pipeline.run_attention_heads."""

from analysis.logs import configure_logging
from analysis.pipeline import run_attention_heads, set_threads

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_attention_heads(
    sm.config, sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, explain_path=sm.input.explain, out_heads=sm.output.heads,
)
