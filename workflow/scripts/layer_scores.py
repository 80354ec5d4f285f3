"""Snakemake adapter: analysis.stages.heads.run_layer_scores."""

from analysis.logs import configure_logging
from analysis.runtime import set_threads
from analysis.stages.heads import LayerScoresSettings, run_layer_scores

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
run_layer_scores(
    LayerScoresSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, explain_path=sm.input.explain, importance_path=sm.input.importance, out=sm.output[0],
)
