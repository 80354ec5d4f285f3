"""Snakemake adapter: analysis.stages.groundtruth.gather_groundtruth for one ground-truth study table."""

from analysis.logs import configure_logging
from analysis.stages.groundtruth import gather_groundtruth

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
gather_groundtruth(list(sm.input), sm.output[0], table=sm.wildcards.table)
