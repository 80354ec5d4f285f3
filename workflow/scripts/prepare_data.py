"""Snakemake adapter: analysis.stages.data.prepare_data."""

from analysis.logs import configure_logging
from analysis.stages.data import DataSettings, prepare_data

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
prepare_data(
    DataSettings(**sm.params.settings), sm.wildcards.dataset, out_train=sm.output.train, out_eval=sm.output.eval,
    out_explain=sm.output.explain, out_report=sm.output.report, out_validation=sm.output.validation,
)
