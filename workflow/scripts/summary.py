"""Snakemake adapter: analysis.stages.report.study_summary."""

from analysis.logs import configure_logging
from analysis.stages.report import SummarySettings, study_summary

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
study_summary(
    SummarySettings(**sm.params.settings), evaluation_path=sm.input.evaluation, summary_path=sm.input.summary,
    comparisons_path=sm.input.comparisons, diagnostics_path=sm.input.diagnostics, data_path=sm.input.data,
    accuracy_figure=sm.input.accuracy, run_figures=list(sm.input.run_figures), out_markdown=sm.output.markdown,
    out_html=sm.output.html, extra_tables=dict(sm.params.tables), extra_figures=dict(sm.params.figures),
    out_tables=sm.output.tables, examples_page=sm.input.examples, out_figures=sm.output.figures,
    benchmarks=sm.params.benchmarks,
)
