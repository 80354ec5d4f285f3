"""Snakemake adapter: analysis.stages.agreement.run_concentration."""

from analysis.logs import configure_logging
from analysis.stages.agreement import ConcentrationSettings, run_concentration

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_concentration(ConcentrationSettings(**sm.params.settings), importance_paths=list(sm.input.importance),
                  out_examples=sm.output.examples, out_summary=sm.output.summary, out_figure=sm.output.figure)
