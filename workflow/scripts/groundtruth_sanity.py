"""Snakemake adapter: analysis.groundtruth.stages.run_sanity."""

from analysis.groundtruth.stages import run_sanity
from analysis.logs import configure_logging
from analysis.runtime import set_threads

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_sanity(
    sm.config, sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, explain_path=sm.input.explain, importance_path=sm.input.importance,
    out_scores=sm.output.scores, out_summary=sm.output.summary,
)
