"""Snakemake adapter: analysis.stages.agreement.run_seed_agreement."""

from analysis.logs import configure_logging
from analysis.stages.agreement import SeedAgreementSettings, run_seed_agreement

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_seed_agreement(SeedAgreementSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model,
                   importance_paths=list(sm.input.importance), out_instances=sm.output.instances,
                   out_summary=sm.output.summary)
