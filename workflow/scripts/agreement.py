"""Snakemake adapter: analysis.stages.agreement.run_agreement."""

from analysis.logs import configure_logging
from analysis.stages.agreement import AgreementSettings, run_agreement

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_agreement(
    AgreementSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    importance_paths=[sm.input.importance], out_agreement=sm.output.agreement, out_summary=sm.output.summary,
    out_comparisons=sm.output.comparisons,
)
