"""Snakemake adapter: analysis.stages.report.examples_page."""

from analysis.logs import configure_logging
from analysis.stages.report import ExamplesSettings, examples_page

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
examples_page(ExamplesSettings(**sm.params.settings), importance_paths=list(sm.input.importance),
              out_html=sm.output[0], explain=list(sm.input.explain))
