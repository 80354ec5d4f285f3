"""Snakemake adapter: analysis.stages.heads.run_head_agreement."""

from analysis.logs import configure_logging
from analysis.stages.heads import HeadAgreementSettings, run_head_agreement

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_head_agreement(
    HeadAgreementSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    importance_path=sm.input.importance, heads_path=sm.input.heads,
    selection_importance_path=sm.input.selection_importance, selection_heads_path=sm.input.selection_heads,
    out_agreement=sm.output.agreement, out_summary=sm.output.summary, out_selection=sm.output.selection,
    layers_path=sm.input.layers,
)
