"""Snakemake adapter: analysis.stages.report.claim_tests."""

from analysis.logs import configure_logging
from analysis.stages.report import INTERVENTION_TESTS, ClaimsSettings, claim_tests

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
claim_tests(
    ClaimsSettings(**sm.params.settings), runs=sm.params.runs, agreement=list(sm.input.agreement),
    predictions=list(sm.input.predictions),
    interventions={test: list(sm.input.get(test, [])) for test in INTERVENTION_TESTS},
    concentration=sm.input.concentration, out=sm.output[0],
)
