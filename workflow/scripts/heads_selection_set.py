"""Snakemake adapter: analysis.heads.stages.run_selection_set."""

from analysis.heads.stages import run_selection_set
from analysis.logs import configure_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_selection_set(sm.config, sm.wildcards.dataset, eval_path=sm.input.eval, explain_path=sm.input.explain,
                  out=sm.output[0])
