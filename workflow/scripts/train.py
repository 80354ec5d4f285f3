"""Snakemake adapter: analysis.stages.train.train_model."""

from analysis.logs import configure_logging
from analysis.runtime import set_threads
from analysis.stages.train import TrainSettings, train_model

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
set_threads(sm.threads)
train_model(
    TrainSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    train_path=sm.input.train, eval_path=sm.input.eval, validation_path=sm.input.validation, out_model=sm.output.model,
    out_evaluation=sm.output.evaluation, out_predictions=sm.output.predictions, out_history=sm.output.history,
)
