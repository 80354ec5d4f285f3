"""The report's methods section, generated from what the code declares and what the config used.

Importance methods come from their registered classes (label, family, signed, unit, model kinds,
citation, description, default settings) merged with the settings this study's config gave
them; agreement metrics from their declarations (range, direction, family); the statistics
from :mod:`analysis.stats` (interval methods, tests, corrections) with the levels, resamples
and margins of the config; the reductions from ``report.reductions``. Nothing here is a second
table of labels: every fact is read from where it is declared.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.plots.style import metric_short_label
from analysis.report.document import Block, BulletList, Group, Paragraph, Table, counted

REDUCTIONS_ID = "reductions"
"""Anchor of the methods' "Reductions" group (the one place the report lists them; others link to it)."""
POWER_ID = "sample-sizes"
"""Anchor of the methods' "Sample sizes and power" group (the claims section links to it)."""


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
                     "signed": "yes" if method.signed else "no", "unit": method.unit,
                     "models": ", ".join(sorted(method.model_kinds)),
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
    from analysis.stats.paired import corrected_label, correction_name

    agreement = config.get("agreement", {})
    claims = config.get("claims", {})
    level = agreement.get("level", 0.95)
    correction = correction_name(agreement.get("correction", "holm"))
    permutations = int(agreement.get("n_permutations", 10000))
    items = [
        f"**Intervals** ({level:.0%}): means by the {MEAN_METHOD} ({agreement.get('n_resamples', 'n/a')} resamples; a "
        f"t-interval below {MIN_STUDENTIZED} values), medians by {MEDIAN_METHOD}, rates (flips, feasibility, "
        f"accuracy) by {PROPORTION_METHOD}; over the explained examples of one run. In the study tables of "
        "agreement, causal tests and planted shortcuts and rationales, the interval of a bounded quantity (τ, a TVD, "
        "a JSD, a share or rank) is intersected with its range: at a handful of values the studentised bootstrap "
        "can reach past it.",
        f"**Paired tests**: two methods are compared on the same examples by a sign-flip permutation test of the "
        f"per-example differences ({permutations} permutations; exact up to 16 pairs), with "
        f"the effect size d_z and a studentised-bootstrap interval of the mean difference; p-values are corrected "
        f"with {correction} within each family of comparisons (attention vs ceiling, vs floor, vs attention). The "
        f"intervals are not adjusted for multiplicity, so an interval that excludes zero can go with a corrected p "
        f"above the level: the corrected p decides. The smallest p a permutation test can give is "
        f"1/({permutations:,} + 1) = {1 / (permutations + 1):.2g} (2/2^m where the test is exact on m non-zero "
        f"differences): a corrected p equal to that floor times the family's size means p ≤ that value.",
        "**Untestable at this n**: a comparison whose smallest attainable p-value (2/2^m for the sign-flip test with m "
        "non-zero differences; zeros carry no sign), after the correction for its family, is above the level cannot "
        "reject whatever the data; it is reported as untestable, never as no difference.",
        f"**Equivalence**: \"as good as the ceiling\" only by two one-sided tests (TOST, each at 2.5%: the 95% "
        f"interval inside the margin) within ±{agreement.get('equivalence_margin', 'n/a')} of "
        f"{metric_short_label(config.get('figures', {}).get('headline_metric', 'kendall_tau'))}; "
        "a non-significant difference is never read as parity; where parity is not shown, the finding gives the "
        "number of examples a TOST would need for 80% power at the observed difference. *Equivalence untestable "
        "at this n*: with the observed spread of the differences, even a mean difference of exactly zero would not "
        "pass the TOST at this n (the margin is too narrow for the n and spread).",
    ]
    if claims:
        items.append(
            f"**Published claims**: each run decided by the test that fits the claim (exact binomial with "
            f"Clopper-Pearson interval, paired sign-flip, equivalence (TOST) within {claims.get('accuracy_margin', 'n/a')} "
            f"accuracy), at level {1 - claims.get('level', 0.95):g}, "
            f"{corrected_label(claims.get('correction', 'holm'))} within each claim and scope; the n for 80% "
            "power is given where a run could not decide.")
    seeds = config.get("seeds", [])
    if seeds:
        items.append(f"**Seeds**: every model is trained with {counted(len(seeds), 'seed')} ({', '.join(map(str, seeds))}); "
                     "per-run numbers are per seed, study-level summaries show every seed.")
    return items


def _span(values: pd.Series) -> str:
    """'250', or '248-250' where the seeds' runs differ; blank without values."""
    values = values.dropna()
    if values.empty:
        return ""
    low, high = int(values.min()), int(values.max())
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def sample_sizes(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Examples per run, per dataset x model (a range where its seeds differ): evaluated (accuracy), explained
    (every importance method), causal tests (the input- and model-side tests, the largest of a run) and the
    adversarial search (with the examples its full-length check repeated, where it ran)."""
    keys = ["dataset", "model", "seed"]
    parts = []
    evaluation = tables.get("evaluation")
    if evaluation is not None and len(evaluation) and "n_eval" in evaluation:
        parts.append(evaluation[keys + ["n_eval"]].rename(columns={"n_eval": "evaluated"}))
    diagnostics = tables.get("diagnostics")
    if diagnostics is not None and len(diagnostics) and "example_id" in diagnostics:
        parts.append(diagnostics.groupby(keys)["example_id"].nunique().rename("explained").reset_index())
    summary = tables.get("interventions_summary")
    if summary is not None and len(summary) and "test" in summary:
        main = summary[(summary["group"] == "all") & (summary["test"] != "adversarial")]
        parts.append(main.groupby(keys)["n"].max().rename("causal tests").reset_index())
        adversarial = summary[(summary["test"] == "adversarial") & (summary["measure"] == "feasible")]
        check = adversarial["scope"].astype(str).str.contains("check")
        parts.append(adversarial[~check].groupby(keys)["n"].max().rename("adversarial").reset_index())
        if check.any():
            parts.append(adversarial[check].groupby(keys)["n"].max().rename("full-search check").reset_index())
    if not parts:
        return pd.DataFrame()
    runs = parts[0]
    for part in parts[1:]:
        runs = runs.merge(part, on=keys, how="outer")
    columns = [c for c in runs.columns if c not in keys]
    grouped = runs.groupby(["dataset", "model"], sort=True)
    table = grouped[columns].agg(_span).reset_index()
    return table.assign(seeds=grouped["seed"].nunique().to_numpy())[["dataset", "model", "seeds", *columns]]


def power_frame(alpha: float, claim_tests: pd.DataFrame | None = None) -> pd.DataFrame:
    """The planning table: per kind of claim test, the effect it should detect, the n for 80% power at
    ``alpha`` and the smallest n at which it can decide at all (:func:`analysis.stats.hypothesis.power_table`),
    beside the n this study's claim tests of that kind had (every claim planned with that row, by its
    ``power_kind``, all runs)."""
    import analysis.published.directions  # noqa: F401  (registers the claims)
    from analysis.published.claims import PUBLISHED_CLAIMS
    from analysis.stats.hypothesis import power_table

    used = pd.DataFrame()
    if claim_tests is not None and len(claim_tests) and {"claim", "n"} <= set(claim_tests.columns):
        kinds = claim_tests["claim"].map(lambda c: PUBLISHED_CLAIMS.get(c).power_kind if c in PUBLISHED_CLAIMS else "")
        used = claim_tests.assign(kind=kinds).groupby("kind")["n"].agg(["min", "max"])
    rows = []
    for row in power_table(alpha):
        match = used[used.index == row["test"]] if len(used) else used
        rows.append({"test": row["test"], "effect to detect": row["effect"], "n for 80% power": f"{int(row['n_80']):,}",
                     "smallest n that can decide": f"{int(row['n_min']):,}",
                     "n in this study's tests of this kind": _span(pd.concat([match["min"], match["max"]])
                                                                   if len(match) else pd.Series(dtype=float))})
    return pd.DataFrame(rows)


def observed_spread(comparisons: pd.DataFrame | None, alpha: float) -> str:
    """The per-example SD of paired Kendall τ differences this study observed (attention against the ceiling,
    |scores|; read back as mean difference / d_z) beside the planning value, with the n it implies."""
    from analysis.stats.hypothesis import paired_n_needed

    if comparisons is None or comparisons.empty or "effect_size" not in comparisons:
        return ""
    rows = comparisons[(comparisons["metric"] == "kendall_tau") & (comparisons["variant"] == "abs")
                       & (comparisons["comparison"] == "attention_vs_ceiling")]
    sd = (rows["mean_difference"].astype(float) / rows["effect_size"].astype(float)).abs()
    sd = sd[np.isfinite(sd) & (sd > 0)]
    if sd.empty:
        return ""
    low, median, high = np.quantile(sd, [0.25, 0.5, 0.75])
    return (f" Observed here: the per-example SD of paired τ differences (attention against the ceiling) has "
            f"median {median:.2f} (quartiles {low:.2f}-{high:.2f}, over {len(sd):,} comparisons), so detecting "
            f"Δτ = 0.05 takes about {int(paired_n_needed(0.05, median, alpha)):,} examples at the median spread.")


def underpowered(claim_tests: pd.DataFrame | None) -> str:
    """Which claim tests did not decide at their n, and how far each is from the n for 80% power at the effect
    it observed (the claims table's column), largest gap first."""
    if claim_tests is None or claim_tests.empty or not {"verdict", "n", "n_needed"} <= set(claim_tests.columns):
        return ""
    from analysis.published.claims import INCONCLUSIVE, UNTESTABLE

    undecided = claim_tests[claim_tests["verdict"].isin([INCONCLUSIVE, UNTESTABLE])]
    # n_needed counts the examples of the test it plans (a fuller search's subset where that decides: n_power)
    undecided = undecided.assign(n_power=undecided["n_power"] if "n_power" in undecided else undecided["n"])
    short = undecided[np.isfinite(undecided["n_needed"].astype(float))
                      & (undecided["n_needed"].astype(float) > undecided["n_power"].astype(float))]
    text = (f" Of {counted(len(claim_tests), 'claim test')} (one per claim, run and scope), {len(undecided):,} did "
            f"not decide; "
            f"{len(short):,} of those had fewer examples than 80% power needs at the effect they observed")
    if short.empty:
        return text + "."
    worst = short.assign(ratio=short["n_needed"].astype(float) / short["n_power"].astype(float).clip(lower=1)
                         ).nlargest(4, "ratio")
    from analysis.published.report_section import claim_anchor, claim_title

    listed = "; ".join(f"[{claim_title(r.claim, str(getattr(r, 'source', '')))}](#{claim_anchor(r.claim)}) on "
                       f"{r.dataset} / {r.model} (seed {int(r.seed)}): {int(r.n_power):,} of {int(r.n_needed):,}"
                       + (" full-search examples" if int(r.n_power) != int(r.n) else "")
                       for r in worst.itertuples())
    return text + f" (largest gaps: {listed})."


def power_blocks(config: dict[str, Any], tables: dict[str, pd.DataFrame]) -> list[Block]:
    """How many examples each run had, how many each kind of test needs, and where the two part."""
    from analysis.published.claims import ClaimSettings

    alpha = ClaimSettings.from_config(config).alpha
    sizes = sample_sizes(tables)
    text = (f"The n each kind of claim test needs for 80% power at level {alpha:g} against the effect it should "
            "detect (a per-example SD of τ differences of 0.2 assumed), the smallest n at which it can decide at all, "
            "and the n this study's claim tests of that kind had; the examples of every run are in the second table "
            "(the RNNs explain every evaluation example where that is affordable; the transformer's sizes trade power "
            "against its cost, in the Cost section)." + observed_spread(tables.get("comparisons"), alpha)
            + underpowered(tables.get("claim_tests")))
    blocks: list[Block] = [Paragraph(text), Table(power_frame(alpha, tables.get("claim_tests")),
                                                  caption="Power per kind of claim test")]
    if not sizes.empty:
        blocks.append(Table(sizes, caption="Examples per run (a range where the seeds' runs differ): evaluated for "
                                           "accuracy, explained by every importance method, in the causal tests, "
                                           "and in the adversarial search"))
    return blocks


def methods_blocks(config: dict[str, Any], tables: dict[str, pd.DataFrame]) -> list[Block]:
    """The methods section's blocks."""
    diagnostics = tables.get("diagnostics")
    present = sorted(set(diagnostics["method"])) if diagnostics is not None and "method" in diagnostics else []
    pooling = config.get("importance", {}).get("pooling", "sum")
    blocks: list[Block] = [Paragraph(
        "Every method explains the model's predicted class (not the gold label) through the softmax probability of "
        f"that class. Subword scores are pooled to words ({pooling}); special tokens ([CLS], [SEP], padding) are "
        "excluded from every ranking. Attention is compared with |attribution| throughout the report"
        + ("; the agreement with signed scores is in the agreement summary table (tables/agreement_summary.csv, "
           "gzip-compressed as .csv.gz when large; variant = signed; by predicted class and input length, for the "
           "headline metric: tables/agreement_by_group.csv)."
           if "signed" in config.get("agreement", {}).get("variants", []) else "."))]
    methods = importance_table(config, present)
    if not methods.empty:
        blocks.append(Group("Importance methods", [Table(methods, caption="Methods of this study, as declared, with "
                                                         "the settings used", markup=("name",))]))
    metrics = metric_table(config)
    if not metrics.empty:
        blocks.append(Group("Agreement metrics", [Table(metrics, caption="Metrics, as declared", markup=("name",))]))
    blocks.append(Group("Statistics", [BulletList(statistics_items(config))]))
    blocks.append(Group("Sample sizes and power", power_blocks(config, tables), id=POWER_ID))
    reductions = config.get("report", {}).get("reductions", [])
    blocks.append(Group("Reductions", [BulletList(reductions) if reductions else
                                       Paragraph("The config declares no reduction from the published setups.")],
                        id=REDUCTIONS_ID))
    return blocks
