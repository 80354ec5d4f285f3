"""Snakemake adapter: analysis.stages.report.gather_study."""

from analysis.logs import configure_logging
from analysis.stages.report import STUDY_TABLES, gather_study

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
gather_study({key: list(sm.input[key]) for key in STUDY_TABLES}, {key: sm.output[key] for key in STUDY_TABLES})
