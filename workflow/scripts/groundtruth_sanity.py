"""Snakemake adapter: analysis.stages.groundtruth.run_sanity."""

from analysis.logs import configure_logging
from analysis.runtime import set_threads
from analysis.stages.groundtruth import SanitySettings, run_sanity

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_sanity(
    SanitySettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, explain_path=sm.input.explain, importance_path=sm.input.importance,
    out_scores=sm.output.scores, out_summary=sm.output.summary,
)
