"""Snakemake adapter: analysis.stages.agreement.gather_seed_tables."""

from analysis.logs import configure_logging
from analysis.stages.agreement import SeedSpreadSettings, gather_seed_tables

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
gather_seed_tables(SeedSpreadSettings(**sm.params.settings), summary_paths=list(sm.input.summaries),
                   agreement_summary_path=sm.input.agreement_summary, out_seeds=sm.output.seeds,
                   out_spread=sm.output.spread)
