"""Snakemake adapter: analysis.pipeline.run_concentration."""

from analysis.logs import configure_logging
from analysis.pipeline import run_concentration

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_concentration(sm.config, importance_paths=list(sm.input.importance), out_examples=sm.output.examples,
                  out_summary=sm.output.summary, out_figure=sm.output.figure)
