"""Snakemake adapter: analysis.stages.groundtruth.groundtruth_table."""

from analysis.logs import configure_logging
from analysis.stages.groundtruth import GroundTruthTableSettings, groundtruth_table

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
groundtruth_table(GroundTruthTableSettings(**sm.params.settings), sm.wildcards.kind, tables=dict(sm.input.items()),
                  out=sm.output[0])
