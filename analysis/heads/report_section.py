"""The study summary's section on attention beyond raw weights and on single layers and heads.

Two questions, answered from the study tables (means with 95% bootstrap intervals;
differences decided by paired tests on the same examples):

1. Do the stronger attention-derived explanations (flow, attention norms, value
   zeroing, attention x gradient, ALTI) agree with causal importance better than raw
   last-layer attention? A variant is called better or worse only where the study's
   paired comparison (``heads_comparisons``: sign-flip test, Holm-adjusted within the
   run's attention-vs-attention family) is significant; without one, it is untested.
2. Is there a layer or head whose [CLS] attention tracks causal importance? The best
   head is chosen on a held-out selection split and reported on the explained
   examples, beside the optimistic post-hoc choice; it is compared with the last
   layer's head mean by the paired test the heads stage computes (Holm-adjusted over
   the run's held-out picks).

It also reports what every attention method cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.heads.agreement import MEAN, unit_label
from analysis.plots.style import method_label, metric_short_label
from analysis.report.document import Details, Figure, Group, Paragraph, Section, Table, findings_block
from analysis.report.numbers import interval, row_interval
from analysis.report.sections import REPORT_SECTIONS, figures_by_key, figures_under

VARIANTS = ("attention_flow", "attention_norm_last", "attention_norm_all", "value_zeroing", "attention_x_gradient",
            "alti")
RAW_BASELINE = "attention_last_mean"


def ci(mean: float, low: float, high: float) -> str:
    return interval(mean, low, high, 2)


def untestable(n: float, alpha: float) -> bool:
    """Whether a paired sign-flip test on ``n`` examples cannot reach ``alpha`` whatever the data.

    Its smallest p-value is 2 / 2^n (every difference of one sign; exact up to 16 pairs, see
    :func:`analysis.stats.hypothesis.paired_test`), so below 6 examples nothing reaches 5%.
    An unknown ``n`` is not called untestable.
    """
    return bool(pd.notna(n) and n <= 16 and 2.0 / 2.0 ** int(n) >= alpha)


def _higher_is_better(metric: str) -> bool:
    from analysis.metrics.agreement import METRICS

    return METRICS.get(metric).higher_is_better if metric in METRICS else True


# ------------------------------------------------------------------ attention variants
def variant_rows(summary: pd.DataFrame, *, reference: str, metric: str) -> pd.DataFrame:
    """Each attention method's agreement with ``reference`` per run (abs variant, all instances)."""
    if summary is None or summary.empty:
        return pd.DataFrame()
    rows = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")
                   & (summary["method_b"] == reference) & (summary["pair_kind"] == "attention_vs_causal")]
    return rows


def paired_difference(comparisons: pd.DataFrame | None, run: tuple, method: str, *, reference: str,
                      metric: str) -> dict[str, float] | None:
    """Paired difference ``method - raw last-layer attention`` from the study's comparisons table, if present."""
    if comparisons is None or comparisons.empty:
        return None
    dataset, model, seed = run
    rows = comparisons[(comparisons["dataset"] == dataset) & (comparisons["model"] == model)
                       & (comparisons["seed"] == seed) & (comparisons["reference"] == reference)
                       & (comparisons["metric"] == metric) & (comparisons["variant"] == "abs")
                       & (((comparisons["method_a"] == method) & (comparisons["method_b"] == RAW_BASELINE))
                          | ((comparisons["method_a"] == RAW_BASELINE) & (comparisons["method_b"] == method)))]
    if rows.empty:
        return None
    row = rows.iloc[0]
    sign = 1.0 if row["method_a"] == method else -1.0
    low, high = sorted((sign * row["low"], sign * row["high"]))
    return {"difference": sign * row["mean_difference"], "low": low, "high": high, "p": row["p_adjusted"],
            "significant": bool(row["significant"]), "correction": row.get("correction", "holm"),
            "n": row.get("n", np.nan)}


def _variant_verdict(paired: dict[str, float] | None, higher: bool, alpha: float) -> tuple[str, str]:
    """('better' | 'worse' | 'indistinguishable' | 'untestable' | 'untested', the numbers behind it)."""
    if paired is None:
        return "untested", "no paired test in the comparisons table"
    correction = {"holm": "Holm-adjusted p", "bh": "BH-adjusted p", "none": "p"}.get(paired["correction"], "p")
    detail = (f"difference {interval(paired['difference'], paired['low'], paired['high'], 2, signed=True)}, "
              f"{correction} = {paired['p']:.3g}")
    if paired["significant"]:
        return ("better" if (paired["difference"] > 0) == higher else "worse"), detail
    if untestable(paired["n"], alpha):
        return "untestable", f"{int(paired['n'])} examples"
    return "indistinguishable", detail


def variant_sentences(summary: pd.DataFrame, *, reference: str, metric: str,
                      comparisons: pd.DataFrame | None = None, alpha: float = 0.05) -> list[str]:
    """Per run: which variants agree with ``reference`` more or less than raw last-layer attention.

    The verdict follows the study's paired comparison (per-example differences, sign-flip
    test, corrected within the run's attention-vs-attention family); a pair the
    comparisons table lacks is untested, and one with too few examples for the test to
    reach ``alpha`` is untestable at this n.
    """
    rows = variant_rows(summary, reference=reference, metric=metric)
    if rows.empty:
        return []
    name = metric_short_label(metric)
    higher = _higher_is_better(metric)
    headings = {"better": "better than", "worse": "worse than", "indistinguishable": "not distinguishable from",
                "untestable": "untestable at this n against", "untested": "not tested against"}
    sentences = []
    for run, group in rows.groupby(["dataset", "model", "seed"], sort=True):
        baseline = group[group["method_a"] == RAW_BASELINE]
        variants = group[group["method_a"].isin(VARIANTS)]
        if baseline.empty or variants.empty:
            continue
        base = baseline.iloc[0]
        verdicts: dict[str, list[str]] = {key: [] for key in headings}
        for row in variants.sort_values("mean", ascending=not higher).itertuples():
            paired = paired_difference(comparisons, run, row.method_a, reference=reference, metric=metric)
            verdict, detail = _variant_verdict(paired, higher, alpha)
            partial = (f" on {int(row.n):,} of {int(base['n']):,} examples"
                       if "n" in group and pd.notna(row.n) and row.n < 0.95 * base["n"] else "")
            verdicts[verdict].append(f"{method_label(row.method_a)} {ci(row.mean, row.mean_low, row.mean_high)}"
                                     f"{partial} ({detail})")
        parts = [f"{headings[key]} raw last-layer attention ({row_interval(base, 2)}): " + "; ".join(items)
                 for key, items in verdicts.items() if items]
        dataset, model, seed = run
        sentences.append(f"On {dataset}, {model} (seed {seed}), agreement of the attention variants with "
                         f"{method_label(reference)} (mean {name}, 95% CI) is " + " — ".join(parts) + ".")
    return sentences


def variant_table(summary: pd.DataFrame, *, reference: str, metric: str) -> pd.DataFrame:
    rows = variant_rows(summary, reference=reference, metric=metric)
    if rows.empty:
        return pd.DataFrame()
    rows = rows[rows["method_a"].isin((RAW_BASELINE, "attention_all_mean", "attention_rollout", *VARIANTS))]
    higher = _higher_is_better(metric)
    rows = rows.sort_values(["dataset", "model", "seed", "mean"], ascending=[True, True, True, not higher])
    return pd.DataFrame({
        "dataset": rows["dataset"], "model": rows["model"], "seed": rows["seed"],
        "method": [method_label(m) for m in rows["method_a"]], "n": rows["n"],
        f"mean {metric_short_label(metric)} [95% CI]": [row_interval(r, 2) for _, r in rows.iterrows()],
    })


# -------------------------------------------------------------------------- heads
def _baseline(summary: pd.DataFrame, run: tuple, method: str, metric: str) -> pd.Series | None:
    """The last layer's head mean (= attention_last_mean) on the explained examples."""
    dataset, model, seed = run
    rows = summary[(summary["dataset"] == dataset) & (summary["model"] == model) & (summary["seed"] == seed)
                   & (summary["subset"] == "explain") & (summary["method_b"] == method) & (summary["metric"] == metric)
                   & (summary["head"] == MEAN) & (summary["layer"] >= 0)]
    return None if rows.empty else rows.sort_values("layer").iloc[-1]


def selection_table(selection: pd.DataFrame, summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Held-out vs post-hoc picks per run, causal method and kind, with the last-layer mean beside them."""
    records = []
    rows = selection[selection["metric"] == metric]
    for (dataset, model, seed, method, kind), group in rows.groupby(
            ["dataset", "model", "seed", "method_b", "kind"], sort=True):
        held = group[group["choice"] == "held_out"]
        post = group[group["choice"] == "post_hoc"]
        if held.empty or post.empty:
            continue
        held, post = held.iloc[0], post.iloc[0]
        base = _baseline(summary, (dataset, model, seed), method, metric)
        records.append({
            "dataset": dataset, "model": model, "seed": seed, "vs": method_label(method), "best": kind,
            "held-out pick": unit_label(held["layer"], held["head"]), "held-out [95% CI]": row_interval(held, 2),
            "post-hoc pick": unit_label(post["layer"], post["head"]),
            "post hoc [95% CI, not selection-adjusted]": row_interval(post, 2),
            "post hoc minus held out [95% CI]": ci(held["optimism"], held["optimism_low"], held["optimism_high"]),
            "last-layer mean [95% CI]": row_interval(base, 2) if base is not None else "n/a",
            "held-out minus last layer (paired) [95% CI]": ci(held.get("vs_last_difference", np.nan),
                                                               held.get("vs_last_low", np.nan),
                                                               held.get("vs_last_high", np.nan)),
            "n selection / explained": f"{int(held['selection_n'])} / {int(held['n'])}",
        })
    return pd.DataFrame.from_records(records)


def _versus_last_layer(held: pd.Series, base: pd.Series, higher: bool, alpha: float) -> str:
    """'better than / worse than / not distinguishable from the last layer's head mean (numbers)'.

    Decided by the heads stage's paired sign-flip test on the explained examples
    (``vs_last_p_adjusted``, Holm over the run's held-out picks); untested without it.
    """
    difference, p = held.get("vs_last_difference", np.nan), held.get("vs_last_p_adjusted", np.nan)
    if pd.isna(difference) or pd.isna(p):
        return f"untested against the last layer's head mean ({row_interval(base, 2)}; no paired test in the table)"
    low, high = held["vs_last_low"], held["vs_last_high"]
    if p < alpha:
        verdict = "better than" if (difference > 0) == higher else "worse than"
    elif untestable(held["n"], alpha):
        verdict = "untestable at this n against"
    else:
        verdict = "not significantly different (after Holm's correction) from"
    return (f"{verdict} the last layer's head mean ({row_interval(base, 2)}; paired difference "
            f"{interval(difference, low, high, 2, signed=True)} (unadjusted interval), Holm-adjusted p = {p:.3g})")


def selection_sentences(selection: pd.DataFrame, summary: pd.DataFrame, *, reference: str, metric: str,
                        alpha: float = 0.05) -> list[str]:
    """One sentence per run for the held-out best head against ``reference`` (or the first causal method)."""
    sentences = []
    name = metric_short_label(metric)
    higher = _higher_is_better(metric)
    rows = selection[(selection["metric"] == metric) & (selection["kind"] == "head")]
    for (dataset, model, seed), run in rows.groupby(["dataset", "model", "seed"], sort=True):
        method = reference if reference in set(run["method_b"]) else sorted(run["method_b"])[0]
        run = run[run["method_b"] == method]
        held, post = run[run["choice"] == "held_out"], run[run["choice"] == "post_hoc"]
        if held.empty or post.empty:
            continue
        held, post = held.iloc[0], post.iloc[0]
        text = (f"On {dataset}, {model} (seed {seed}), the head chosen on a held-out selection split of "
                f"{int(held['selection_n'])} examples ({unit_label(held['layer'], held['head'])}) agrees with "
                f"{method_label(method)} at mean {name} = {row_interval(held, 2)} on the {int(held['n'])} explained examples; "
                f"choosing post hoc on the explained examples would report {unit_label(post['layer'], post['head'])} "
                f"at {row_interval(post, 2)} (not adjusted for choosing the best), "
                f"{ci(held['optimism'], held['optimism_low'], held['optimism_high'])} above the held-out head")
        base = _baseline(summary, (dataset, model, seed), method, metric)
        if base is not None:
            text += f"; the held-out head is {_versus_last_layer(held, base, higher, alpha)}"
        sentences.append(text + ".")
    return sentences


def cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    if cost is None or cost.empty:
        return pd.DataFrame()
    frame = cost.sort_values(["stage", "dataset", "model", "seed", "total_seconds"], ascending=[True] * 4 + [False])
    return pd.DataFrame({
        "stage": frame["stage"], "dataset": frame["dataset"], "model": frame["model"], "seed": frame["seed"],
        "method": [method_label(m) for m in frame["method"]], "examples": frame["n_examples"],
        "seconds / example": frame["seconds_per_example"].round(4), "total seconds": frame["total_seconds"].round(1),
        "forward passes / example": frame["forward_passes"].round(1),
    })


INTRO = ("Raw [CLS] attention of one layer is a weak reading of a transformer (information mixes across layers, "
         "and attention ignores what each token carries), so the study also tests the stronger attention-derived "
         "explanations: attention flow (Abnar & Zuidema 2020), attention norms ||Σ_h α f_h(x_j)|| (Kobayashi et al. "
         "2020; last layer and layer average), value zeroing rolled out over layers (Mohebbi et al. 2023), attention "
         "× gradient of the predicted-class probability (summed over heads and layers) and ALTI (Ferrando et al. "
         "2022). They appear in every agreement table and figure of the study; below, each is compared with raw "
         "last-layer attention. Then every single layer and head: 'the best head' is chosen on a held-out selection "
         "split (evaluation examples disjoint from the explained ones) and reported on the explained examples; the "
         "post-hoc pick made on the explained examples is shown beside it, with the gap between the two (the "
         "post-hoc mean minus the held-out pick's on the explained examples, bootstrapped with the selection redone "
         "on every resample). The gap holds both the flattery of choosing on the same examples (the winner's curse "
         "of the best of many heads) and what a choice made on the smaller selection split misses; the post-hoc "
         "interval itself is not adjusted for the choice. Each held-out pick is compared with the last layer's "
         "head mean by a paired sign-flip test, Holm-corrected over all of a run's held-out picks (each causal "
         "method x metric x best head and best layer), of which each run's sentence reports one.")


@REPORT_SECTIONS.register("heads")
def heads_section(config: dict[str, Any], tables: dict[str, pd.DataFrame], figures: dict[str, str]) -> Section | None:
    """Attention variants vs raw attention, per-head analysis with held-out selection, and cost."""
    summary, selection = tables.get("heads_summary"), tables.get("heads_selection")
    agreement, cost = tables.get("heads_agreement"), tables.get("heads_cost")
    if all(t is None or t.empty for t in (summary, selection, cost)):
        return None
    reference = config["agreement"]["reference"]
    metric = config["heads"]["metrics"][0] if "heads" in config else config["figures"]["headline_metric"]
    headline = config["figures"]["headline_metric"]
    alpha = 1 - float(config.get("heads", {}).get("level", 0.95))
    findings = variant_sentences(agreement, reference=reference, metric=headline,
                                 comparisons=tables.get("heads_comparisons"), alpha=alpha)
    picks = pd.DataFrame()
    if selection is not None and not selection.empty and summary is not None:
        findings += selection_sentences(selection, summary, reference=reference, metric=metric, alpha=alpha)
        picks = selection_table(selection, summary, metric)
    variants = variant_table(agreement, reference=reference, metric=headline)
    costs = cost_table(cost)
    figures = figures_by_key(figures)
    blocks = [Paragraph(INTRO), findings_block(findings, what="findings on variants and heads")]
    if "heads_layers" in figures:
        blocks.append(Figure(figures["heads_layers"], (
            f"Agreement of each layer's [CLS] attention (head mean) with {method_label(reference)}, layer by layer "
            "(as Abnar & Zuidema 2020 plot it), beside rollout and flow computed through each layer and each "
            "layer's attention norm (coloured curves, each ending at its whole-model value), the whole-model methods "
            "without a layer-by-layer version (e.g. the all-layer mean, value zeroing, ALTI: dashed lines) and the "
            "ceiling (green band). Thin grey lines: single seeds; grey band: from the lowest to the highest end of "
            "the seeds' 95% intervals. Attention flow covers only the examples within its token limit (on long "
            "inputs fewer than the other curves: the key table gives each method's examples)."),
            key="heads_layers"))
    blocks += [Group(f"Attention variants vs {method_label(reference)}",
                     [Table(variants, caption="Agreement of every attention variant, per run")]),
               Group("Best layer and head: held out vs post hoc",
                     [Table(picks, caption="Held-out and post-hoc picks per run")])]
    heads = [Figure(path, (f"Per-head [CLS] attention vs causal importance: {' / '.join(key[:2])} / seed {key[2]}. "
                           "Each cell is one head's mean agreement with a causal method (red: agrees, white: chance); "
                           "solid boxes mark the head and layer chosen on the held-out selection split, dashed boxes "
                           "the post-hoc best on the explained examples. A grid that changes between the two splits "
                           "means single-head rankings are noise at this sample size; the picks' numbers are in the "
                           "table above."), key=f"heads/{'/'.join(key)}")
             for key, path in sorted(figures_under(figures, "heads").items())]
    if heads:
        shown = heads if len(heads) <= 2 else [Details(f"Per-head grids of {len(heads)} runs", heads)]
        blocks.append(Group("Per-head agreement", shown))
    blocks.append(Group("Cost of the attention methods", [Table(costs, caption="Cost per attention method")]))
    return Section(title="Attention beyond raw weights; single layers and heads", blocks=blocks, findings=findings,
                   order=30, id="heads")
