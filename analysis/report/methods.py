"""The report's methods section, generated from what the code declares and what the config used.

Importance methods come from their registered classes (label, family, signed, model kinds,
citation, description, default settings) merged with the settings this study's config gave
them; agreement metrics from their declarations (range, direction, family); the statistics
from :mod:`analysis.stats` (interval methods, tests, corrections) with the levels, resamples
and margins of the config; the reductions from ``report.reductions``. Nothing here is a second
table of labels: every fact is read from where it is declared.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.report.document import Block, BulletList, Group, Paragraph, Table, counted


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in settings.items()) if settings else "(none)"


def importance_table(config: dict[str, Any], present: list[str] | None = None) -> pd.DataFrame:
    """One row per importance method of the study: its declarations and the settings it ran with."""
    from analysis.importance import IMPORTANCE_METHODS

    configured = dict(config.get("importance", {}).get("methods", {}) or {})
    names = list(configured) or list(present or [])
    rows = []
    for name in names:
        if name not in IMPORTANCE_METHODS:
            continue
        method = IMPORTANCE_METHODS.get(name)
        used = {**method.defaults, **(configured.get(name) or {})}
        rows.append({"method": method.label, "name": f"`{name}`", "family": method.family,
                     "signed": "yes" if method.signed else "no", "models": ", ".join(sorted(method.model_kinds)),
                     "reference": method.citation or "", "settings used": _settings_text(used),
                     "what it computes": method.description})
    return pd.DataFrame(rows)


def metric_table(config: dict[str, Any]) -> pd.DataFrame:
    """One row per agreement metric of the study, from the metric declarations."""
    from analysis.metrics.agreement import METRICS

    names = [m for m in config.get("agreement", {}).get("metrics", []) if m in METRICS]
    rows = []
    for name in names:
        metric = METRICS.get(name)
        low, high = metric.range
        rows.append({"metric": metric.label, "name": f"`{name}`", "family": metric.family,
                     "range": f"[{low:.3g}, {high:.3g}]",
                     "more agreement": "higher" if metric.higher_is_better else "lower",
                     "definition": metric.description})
    return pd.DataFrame(rows)


def statistics_items(config: dict[str, Any]) -> list[str]:
    """The statistics used, with the settings of this study."""
    from analysis.stats.intervals import MEAN_METHOD, MEDIAN_METHOD, MIN_STUDENTIZED, PROPORTION_METHOD

    agreement = config.get("agreement", {})
    claims = config.get("claims", {})
    level = agreement.get("level", 0.95)
    correction = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}.get(agreement.get("correction", "holm"),
                                                                              agreement.get("correction", "holm"))
    items = [
        f"**Intervals** ({level:.0%}): means by the {MEAN_METHOD} ({agreement.get('n_resamples', 'n/a')} resamples; a "
        f"t-interval below {MIN_STUDENTIZED} values), medians by {MEDIAN_METHOD}, rates (flips, feasibility, "
        f"accuracy) by {PROPORTION_METHOD}; over the explained examples of one run. The interval of a bounded "
        "quantity (a TVD, a JSD, a share or rank) is intersected with its range: at a handful of values the "
        "studentised bootstrap can reach past it.",
        f"**Paired tests**: two methods are compared on the same examples by a sign-flip permutation test of the "
        f"per-example differences ({agreement.get('n_permutations', 10000)} permutations; exact up to 16 pairs), with "
        f"the effect size d_z and a studentised-bootstrap interval of the mean difference; p-values are corrected "
        f"with {correction} within each family of comparisons (attention vs ceiling, vs floor, vs attention).",
        "**Untestable at this n**: a comparison whose smallest attainable p-value (2/2^n for the sign-flip test) is "
        "above the level cannot reject whatever the data; it is reported as untestable, never as no difference.",
        f"**Equivalence**: \"as good as the ceiling\" only by two one-sided tests (TOST) within ±"
        f"{agreement.get('equivalence_margin', 'n/a')} of {config.get('figures', {}).get('headline_metric', 'τ')}; "
        "a non-significant difference is never read as parity; where parity is not shown, the finding gives the "
        "number of examples a TOST would need for 80% power at the observed difference.",
    ]
    if claims:
        items.append(
            f"**Published claims**: each run decided by the test that fits the claim (exact binomial with "
            f"Clopper-Pearson interval, paired sign-flip, non-inferiority within {claims.get('accuracy_margin', 'n/a')} "
            f"accuracy), at level {1 - claims.get('level', 0.95):g}, "
            f"{claims.get('correction', 'holm').capitalize()}-corrected within each claim and scope; the n for 80% "
            "power is given where a run could not decide.")
    seeds = config.get("seeds", [])
    if seeds:
        items.append(f"**Seeds**: every model is trained with {counted(len(seeds), 'seed')} ({', '.join(map(str, seeds))}); "
                     "per-run numbers are per seed, study-level summaries show every seed.")
    return items


def methods_blocks(config: dict[str, Any], tables: dict[str, pd.DataFrame]) -> list[Block]:
    """The methods section's blocks."""
    diagnostics = tables.get("diagnostics")
    present = sorted(set(diagnostics["method"])) if diagnostics is not None and "method" in diagnostics else []
    pooling = config.get("importance", {}).get("pooling", "sum")
    blocks: list[Block] = [Paragraph(
        "Every method explains the model's predicted class (not the gold label) through the softmax probability of "
        f"that class. Subword scores are pooled to words ({pooling}); special tokens ([CLS], [SEP], padding) are "
        "excluded from every ranking. Attention is compared with |attribution| throughout the report; where the "
        "config's agreement variants include 'signed', the agreement with signed scores is in the agreement summary "
        "table (tables/agreement_summary.csv.gz, variant = signed).")]
    methods = importance_table(config, present)
    if not methods.empty:
        blocks.append(Group("Importance methods", [Table(methods, caption="Methods of this study, as declared, with "
                                                         "the settings used", markup=("name",))]))
    metrics = metric_table(config)
    if not metrics.empty:
        blocks.append(Group("Agreement metrics", [Table(metrics, caption="Metrics, as declared", markup=("name",))]))
    blocks.append(Group("Statistics", [BulletList(statistics_items(config))]))
    reductions = config.get("report", {}).get("reductions", [])
    blocks.append(Group("Reductions", [BulletList(reductions) if reductions else
                                       Paragraph("The config declares no reduction from the published setups.")]))
    return blocks
