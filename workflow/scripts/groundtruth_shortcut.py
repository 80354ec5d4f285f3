"""Snakemake adapter: analysis.stages.groundtruth.run_shortcut."""

from analysis.logs import configure_logging
from analysis.stages.groundtruth import ShortcutSettings, run_shortcut

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
run_shortcut(
    ShortcutSettings(**sm.params.settings), sm.wildcards.dataset, sm.wildcards.model, int(sm.wildcards.seed),
    model_dir=sm.input.model, eval_path=sm.input.eval, explain_path=sm.input.explain,
    importance_path=sm.input.importance, out_reliance=sm.output.reliance, out_scores=sm.output.scores,
    out_summary=sm.output.summary, control_dir=sm.input.get("control") or None,
    out_control=sm.output.get("control"),
)
