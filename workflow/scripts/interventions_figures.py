"""Snakemake adapter: analysis.stages.interventions.interventions_figures."""

from analysis.logs import configure_logging
from analysis.stages.interventions import InterventionFiguresSettings, interventions_figures

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
interventions_figures(
    InterventionFiguresSettings(**sm.params.settings), sm.wildcards.dataset,
    inputs={key: list(sm.input[key]) for key in ("permutation", "adversarial", "summary", "curves")},
    outputs={key: sm.output[key] for key in ("permutation", "adversarial", "flip_fraction", "aopc", "curves")},
)
