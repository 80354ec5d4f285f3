"""Snakemake adapter: analysis.groundtruth.stages.run_plausibility."""

from analysis.groundtruth.stages import run_plausibility
from analysis.logs import configure_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_plausibility(
    sm.config, sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    explain_path=sm.input.explain, importance_path=sm.input.importance, out_scores=sm.output.scores,
    out_summary=sm.output.summary,
)
