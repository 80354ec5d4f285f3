"""Snakemake adapter: analysis.pipeline.gather_seed_tables."""

from analysis.logs import configure_logging
from analysis.pipeline import gather_seed_tables

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
gather_seed_tables(sm.config, summary_paths=list(sm.input.summaries), agreement_summary_path=sm.input.agreement_summary,
                   out_seeds=sm.output.seeds, out_spread=sm.output.spread)
