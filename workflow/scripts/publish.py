"""Snakemake adapter: analysis.stages.report.publish."""

from analysis.logs import configure_logging
from analysis.stages.report import PublishSettings, publish

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
# a run whose workflow was read before the rule wrote a receipt has the folder as its output
folder, receipt = (sm.params.folder, sm.output[0]) if hasattr(sm.params, "folder") else (sm.output[0], None)
publish(PublishSettings(**sm.params.settings), html=sm.input.html, markdown=sm.input.markdown,
        tables=sm.input.tables, out=folder, config_files=list(sm.params.config_files),
        examples=sm.input.examples, importance=list(sm.input.importance), agreement=list(sm.input.agreement),
        explain=list(sm.input.explain), receipt=receipt)
