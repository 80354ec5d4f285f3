"""Snakemake adapter: analysis.groundtruth.stages.run_shortcut."""

from analysis.groundtruth.stages import run_shortcut
from analysis.logs import configure_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_shortcut(
    sm.config, sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, eval_path=sm.input.eval, explain_path=sm.input.explain,
    importance_path=sm.input.importance, out_reliance=sm.output.reliance, out_scores=sm.output.scores,
    out_summary=sm.output.summary,
)
