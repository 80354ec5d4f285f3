"""Snakemake adapter: analysis.stages.groundtruth.run_plausibility."""

from analysis.logs import configure_logging
from analysis.stages.groundtruth import PlausibilitySettings, run_plausibility

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_plausibility(
    PlausibilitySettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    explain_path=sm.input.explain, importance_path=sm.input.importance, out_scores=sm.output.scores,
    out_summary=sm.output.summary,
)
