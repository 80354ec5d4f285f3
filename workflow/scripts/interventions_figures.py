"""Snakemake adapter: analysis.interventions.stages.interventions_figures."""

from analysis.interventions.stages import interventions_figures
from analysis.logs import configure_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
interventions_figures(
    sm.config, sm.wildcards.dataset,
    inputs={key: list(sm.input[key]) for key in ("permutation", "adversarial", "summary", "curves")},
    outputs={key: sm.output[key] for key in ("permutation", "adversarial", "flip_fraction", "aopc", "curves")},
)
