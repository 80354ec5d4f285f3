"""Snakemake adapter: analysis.stages.heads.run_selection_set."""

from analysis.logs import configure_logging
from analysis.stages.heads import SelectionSetSettings, run_selection_set

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_selection_set(SelectionSetSettings(**sm.params.settings), sm.wildcards.dataset, eval_path=sm.input.eval,
                  explain_path=sm.input.explain, out=sm.output[0])
