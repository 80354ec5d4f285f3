"""The causal tests' section of the study summary, generated from the gathered tables.

Reads ``interventions_summary`` (bootstrap summaries of every test, per run),
``interventions_cost`` (forward passes per example) and ``interventions_uniform_training``
(uniform-attention models against their learned-attention siblings). Every sentence is
built from those numbers. A comparison of two rankings (or of the top-attention word with
a random word, or of learned with uniform attention) is worded as a difference only where
its paired sign-flip test on the same examples is significant after Holm's correction
within its family (the stages compute them: :func:`analysis.interventions.stages.summarize_with_tests`
and :func:`~analysis.interventions.stages.uniform_attention_comparison`); it is "untestable at
this n" where no outcome could reach the level, and "not tested" where the table has no test.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis.config import rnn_models, transformer_models
from analysis.interventions.adversarial import search_budget
from analysis.interventions.comparisons import RAW_ATTENTION, ranking_family
from analysis.plots.style import method_label
from analysis.published.directions import ADVERSARIAL_JSD, MOST, PERMUTATION_TVD
from analysis.records import CAUSAL_FAMILIES
from analysis.report.document import (
    Block,
    BulletList,
    Details,
    Figure,
    Group,
    Item,
    Paragraph,
    Section,
    Table,
    findings_block,
)
from analysis.report.numbers import NEGLIGIBLE, interval, row_interval
from analysis.report.sections import REPORT_SECTIONS, figures_by_key, figures_under
from analysis.report.summary import VERDICT_WORDS
from analysis.stats.divergence import JSD_MAX, JSD_UNIT

CAVEATS = [
    ("Permutation (Jain & Wallace 2019)", "If shuffling the attention weights among the tokens leaves the output "
     "unchanged, the model does not depend on which token gets which weight, so the weights cannot say which "
     "tokens the prediction rests on."),
    ("Adversarial attention (Jain & Wallace 2019)", "If a very different attention distribution (large JSD) gives "
     "the same output (TVD within epsilon), the observed attention is one of many that explain the output equally "
     "well; per-instance adversaries leave the model fixed, which Wiegreffe & Pinter (2019) note is a weaker test "
     "than an adversarial model."),
    ("Uniform attention (Wiegreffe & Pinter 2019)", "If a model trained with attention frozen to uniform is as "
     "accurate as its learned-attention sibling, the task does not need attention, and its weights are not "
     "evidence of what the model needs. For transformers, replacing one layer's attention by uniform shows how "
     "much the output depends on that layer's attention pattern."),
    ("Zeroing (Serrano & Smith 2019)", "If zeroing the highest-attention word changes the output no more than "
     "zeroing a random word, and many words must be zeroed before the decision flips, high attention does not "
     "single out the words the decision rests on; faster flips under gradient or leave-one-out orderings say "
     "those rankings are closer to the model's decision."),
    ("Input ablations (ERASER, DeYoung et al. 2020)", "Comprehensiveness (removing the top-ranked words should "
     "lower the predicted-class probability) and sufficiency (keeping only them should not) score every ranking "
     "through the same code; attention that scores no better than a random ranking is not a faithful explanation "
     "by this test. Removing words changes the input distribution, which both deletion and [MASK] replacement do "
     "in different ways; the two are reported separately."),
]

FIGURES = {
    "permutation": "Median output change (TVD) when attention is permuted, against the maximum attention weight, one "
                   "point per example (Jain & Wallace 2019, Fig. 3): points near zero mean the arrangement of the "
                   "weights barely matters.",
    "adversarial": "JSD between the original and an adversarial attention found within the output constraint (TVD <= "
                   "ε), per model (Jain & Wallace 2019, Fig. 5): mass near ln 2 means attention can change almost "
                   "completely without changing the prediction.",
    "flip_fraction": "Fraction of words whose attention is zeroed, in each ranking's order, before the decision flips "
                     "(Serrano & Smith 2019): smaller is a ranking closer to the decision. Dots: seeds with 95% "
                     "intervals; diamonds: their mean.",
    "aopc": "AOPC comprehensiveness (higher = more faithful) and sufficiency (lower = more faithful) of every ranking "
            "(ERASER), per model: compare attention with the causal rankings and the grey random ranking. Dots: seeds "
            "with 95% intervals; diamonds: their mean; colour: how words are removed.",
    "curves": "Predicted-class probability as the top-ranked words are deleted (top) or inserted (bottom), mean over "
              "examples and seeds: a faithful ranking falls (rises) fast. In colour: raw attention, the best attention "
              "variant, the best causal ranking and random; the other rankings grey.",
}
"""Captions of the causal tests' figures (keys ``interventions/<dataset>/<figure>``)."""

COST_NOTE = ("Sequences run through the model per explained example, per test (a backward pass counts as one more; "
             "the input ablations count distinct perturbed inputs, shared by every ranking). For an RNN an edited "
             "variant reuses its example's hidden states, so it costs only the attention-weighted sum and the "
             "classifier. Seconds depend on the machine and its load.")


def _select(run: pd.DataFrame, test: str, measure: str, *, method: str | None = None, removal: str | None = None,
            scope: str | None = None, group: str = "all") -> pd.DataFrame:
    rows = run[(run["test"] == test) & (run["measure"] == measure) & (run["group"] == group)]
    if method is not None:
        rows = rows[rows["method"] == method]
    if removal is not None:
        rows = rows[rows["removal"] == removal]
    if scope is not None:
        rows = rows[rows["scope"] == scope]
    return rows


def _first(rows: pd.DataFrame) -> pd.Series | None:
    return None if rows.empty else rows.iloc[0]


def _paired(run: pd.DataFrame, test: str, measure: str, family: str, *, method: str = "",
            removal: str | None = None) -> pd.Series | None:
    """The row of a paired comparison (``family`` as the stage names it), or None when the table has none."""
    if "family" not in run.columns:
        return None
    rows = _select(run, test, measure, method=method, removal=removal)
    return _first(rows[rows["family"] == family])


def _relation(row: pd.Series | None, alpha: float, *, higher: str, lower: str) -> tuple[str, str]:
    """How the first ranking of a paired comparison relates to the second, and the test's numbers.

    A significant difference whose whole interval lies within :data:`NEGLIGIBLE` is "negligibly" higher or lower."""
    if row is None or pd.isna(row["p_adjusted"]):
        return "not tested against", ""
    numbers = (f"; paired difference {interval(row['mean'], row['mean_low'], row['mean_high'], signed=True)} "
               f"(unadjusted interval), Holm-adjusted p = {row['p_adjusted']:.2g}")
    if row["p_adjusted"] < alpha and row["mean"] != 0:
        tiny = pd.notna(row["mean_low"]) and max(abs(row["mean_low"]), abs(row["mean_high"])) < NEGLIGIBLE
        if tiny:
            numbers += f"; negligibly: the whole interval lies within ±{NEGLIGIBLE:g}"
        return ("negligibly " if tiny else "") + (higher if row["mean"] > 0 else lower), numbers
    if not row["min_p"] < alpha:
        n = int(row["n"])
        differing = _informative(float(row["min_p"]))
        if differing is not None and differing < n:
            return "untestable at this n against", (f"; the two orders differ on only {differing} of {n:,} examples, "
                                                    "the only ones a paired test can use")
        return "untestable at this n against", f"; {n:,} examples"
    return "not significantly different (after Holm's correction) from", numbers


def _informative(min_p: float) -> int | None:
    """The non-zero paired differences behind an exact sign-flip test's smallest p (2 / 2^m), or None."""
    if not 0 < min_p <= 1:
        return None
    m = math.log2(2.0 / min_p)
    return int(round(m)) if abs(m - round(m)) < 1e-6 else None


PERMUTATION_CLAIM = "jw_permutation_changes_little"
ADVERSARIAL_CLAIM = "jw_adversarial_attention_exists"
"""The published claims (``claim_tests`` rows) whose per-run shares the permutation and adversarial sentences
quote, so that both sections judge a run by the same statistic and threshold."""

Run = tuple[str, str, int]


def claim_rows(claims: pd.DataFrame | None, claim: str) -> dict[Run, dict[str, Any]]:
    """Per (dataset, model as the claim names it, seed), a published claim's ``claim_tests`` row (empty without
    the table)."""
    if claims is None or claims.empty:
        return {}
    rows = claims[claims["claim"] == claim]
    return {(str(r["dataset"]), str(r["model"]), int(r["seed"])): r for r in rows.to_dict("records")}


def claim_shares(claims: pd.DataFrame | None, claim: str) -> dict[Run, pd.Series]:
    """Per run, the share of examples a published claim tests, as a row with ``mean``, ``mean_low``,
    ``mean_high`` (its exact binomial interval) and ``n``."""
    return {run: pd.Series({"mean": r["estimate"], "mean_low": r["low"], "mean_high": r["high"], "n": r["n"]})
            for run, r in claim_rows(claims, claim).items()}


def _side(low: float, high: float, threshold: float) -> int:
    """+1 where the interval lies wholly above ``threshold``, -1 wholly below, 0 where it contains it (or is NaN)."""
    return 1 if low > threshold else -1 if high < threshold else 0


def permutation_sentence(run: pd.DataFrame, share: pd.Series | None = None,
                         threshold: float = PERMUTATION_TVD) -> str | None:
    """Permutation: the median and the mean over examples of each example's median TVD, and whether most
    examples stay "nearly unchanged" (median TVD below ``threshold``, the published claim's).

    With ``share`` (the claim's share of such examples and its exact interval) the reading is the claim's:
    most examples when the interval lies above one half; without it, the interval of the median example."""
    median = _first(_select(run, "permutation", "median_tvd"))
    flips = _first(_select(run, "permutation", "flip_rate"))
    if median is None:
        return None
    middle = median.get("median", float("nan"))
    text = (f"permuting attention, the change in the output distribution (TVD): over {int(median['n'])} examples, "
            + (f"the median of the per-example median TVDs is "
               f"{interval(middle, median.get('median_low'), median.get('median_high'))} and their mean "
               if pd.notna(middle) else "the mean of the per-example median TVDs is ") + row_interval(median))
    if flips is not None:
        text += f"; it flips the decision in {row_interval(flips, percent=True)} of permutations"
    nearly = f"{threshold:g}, the published claim's threshold for 'nearly unchanged'"
    if share is not None:
        text += f"; {row_interval(share, percent=True)} of examples stay nearly unchanged (per-example median TVD below {nearly})"
        most = _side(share["mean_low"], share["mean_high"], MOST)
    else:
        most = -_side(median.get("median_low", float("nan")), median.get("median_high", float("nan")), threshold)
        text += "; the median example's interval " + {1: "lies below", -1: "lies above", 0: "contains"}[most] + (
            f" {nearly}")
    return text + {1: ", so for most examples the arrangement of the weights barely matters",
                   -1: ", so for most examples the output depends on which token gets which weight",
                   0: ", so whether most examples stay nearly unchanged is undecided at this n"}[most]


def adversarial_sentence(run: pd.DataFrame, share: pd.Series | None = None, epsilon: float = 0.01, *,
                         lower_bound: bool = False) -> str | None:
    """Adversarial attention: the share of examples with one more than :data:`ADVERSARIAL_JSD` from the
    original within the output constraint (``share``, the published claim's, when given), its mean JSD, and
    the share where the search found any solution (which a near-original distribution satisfies)."""
    feasible = _first(_select(run, "adversarial", "feasible", scope="adversarial"))
    jsd = _first(_select(run, "adversarial", "jsd", scope="adversarial"))
    if feasible is None:
        return None
    mean_jsd = f"{row_interval(jsd)} {JSD_UNIT}" if jsd is not None and jsd["n"] > 0 else "not measured"
    if share is None:
        return (f"adversarial attentions within the output constraint (TVD <= ε = {epsilon:g}) lie at a mean JSD of "
                f"{mean_jsd} from the original (at most {JSD_MAX:.2f}); the search found one for {row_interval(feasible, percent=True)} "
                f"of examples")
    text = (f"for {row_interval(share, percent=True)} of {int(share['n'])} examples, an adversarial attention more than "
            f"{ADVERSARIAL_JSD:g} {JSD_UNIT} (JSD) from the original keeps the output within TVD ε = {epsilon:g}")
    bound = "; a lower bound: this model's search is shortened, and a longer one can only find more"
    return text + (f" (mean JSD {mean_jsd}, at most {JSD_MAX:.2f}; any solution found for {row_interval(feasible, percent=True)}"
                   f"{bound if lower_bound else ''})")


def shortened_search(config: dict[str, Any], model: str) -> bool:
    """Whether ``model``'s adversarial search runs fewer steps x restarts than the full one (the transformers'
    ``interventions.adversarial.transformer`` block): its share of solutions is then a lower bound."""
    full = config.get("interventions", {}).get("adversarial", {})
    if model not in transformer_models(config) or full.get("steps") is None or full.get("restarts") is None:
        return False
    steps, restarts = search_budget(full, transformer=True)
    return steps * restarts < int(full["steps"]) * int(full["restarts"])


def _scope_order(scope: str) -> tuple[int, int, str]:
    """Layers in numeric order, then the all-layer replacement."""
    if scope.startswith("layer ") and scope[6:].isdigit():
        return (0, int(scope[6:]), scope)
    return (1, 0, scope)


def _scope_text(scope: str) -> str:
    """A scope as the text says it: the tables' 0-based "layer 0" is the text's "layer 1" (as in the heads
    section)."""
    if scope.startswith("layer ") and scope[6:].isdigit():
        return f"layer {int(scope[6:]) + 1}"
    return scope


def _counted_from_one(index: int) -> str:
    """A 0-based index as the text counts it (from 1); a negative one counts from the last."""
    return str(index + 1) if index >= 0 else "the last" if index == -1 else f"the last but {-index - 1}"


def _indices_text(indices: list[int] | None, noun: str) -> str:
    """'every layer', 'layer 2' or 'layers 1, 3' (0-based indices counted from 1)."""
    if indices is None:
        return f"every {noun}"
    return f"{noun}{'s' if len(indices) > 1 else ''} {', '.join(_counted_from_one(int(i)) for i in indices)}"


def scope_sentences(config: dict[str, Any]) -> list[str]:
    """What the tests edit and how they rank words, from the ``interventions`` settings: for transformers, the
    layers, heads and query rows the model-side tests edit (the adapter's ``describe()``), and the order in which
    the input-side and removal tests take words, against the scores the agreement section compares."""
    settings = config.get("interventions", {})
    out = []
    transformers = transformer_models(config)
    if transformers:
        layers, heads = _indices_text(settings.get("layers"), "layer"), _indices_text(settings.get("heads"), "head")
        adversarial = int(settings.get("adversarial", {}).get("layer", -1))
        out.append(f"For {', '.join(transformers)}, the model-side tests edit the attention probabilities of {layers}, "
                   f"{heads} and every query row at once (uniform attention also one layer at a time), where an RNN "
                   f"has a single attention distribution: the two families' numbers are not comparable. Zeroing's "
                   f"'highest-attention word' is the top of the [CLS] row of the last edited layer, averaged over the "
                   f"heads; the adversarial search replaces only the [CLS] row of "
                   + ("the last layer" if adversarial == -1 else f"layer {_counted_from_one(adversarial)}")
                   + ". Layers are numbered from 1.")
    ranking = settings.get("ranking", "signed")
    compared = (config.get("agreement", {}).get("variants") or ["abs"])[0]
    order = ("by signed score (the strongest evidence for the predicted class first)" if ranking == "signed"
             else "by |score|")
    out.append(f"The removal and input-ablation tests order words {order}; the agreement section compares "
               + ("|scores|" if compared == "abs" else "signed scores")
               + (", so a method's order here can differ from the one it is scored by there." if ranking != compared
                  else ", as here."))
    return out


def uniform_sentences(run: pd.DataFrame) -> list[str]:
    """One sentence on test-time uniform attention: the RNN's distribution, or each layer and all layers."""
    scopes = sorted(set(_select(run, "uniform", "tvd")["scope"]), key=_scope_order)
    parts = []
    for scope in scopes:
        tvd = _first(_select(run, "uniform", "tvd", scope=scope))
        flips = _first(_select(run, "uniform", "flip_rate", scope=scope))
        parts.append((scope, f"mean TVD {row_interval(tvd)}, {row_interval(flips, percent=True)} of decisions flipped"))
    if not parts:
        return []
    if scopes == ["attention"]:
        return [f"replacing the attention by uniform weights at test time changes the output by {parts[0][1]}"]
    return ["replacing attention by uniform weights at test time, one layer at a time and in all intervened "
            "layers at once, changes the output as follows: "
            + "; ".join(f"{_scope_text(scope)}: {text}" for scope, text in parts)]


UNDEFINED = VERDICT_WORDS["constant"]
"""What a ranking by constant attention is worth, worded as the agreement section words it: no verdict."""


def zeroing_sentence(run: pd.DataFrame, alpha: float = 0.05, *, constant: bool = False) -> str | None:
    """Zeroing the highest-attention word against a random word: flip rates and output JSD, compared by the
    paired test; with ``constant`` attention there is no highest-attention word, so no comparison is read."""
    top = _first(_select(run, "zeroing", "flip_rate_max"))
    other = _first(_select(run, "zeroing", "flip_rate_random"))
    jsd_top = _first(_select(run, "zeroing", "output_jsd_max"))
    jsd_other = _first(_select(run, "zeroing", "output_jsd_random"))
    if top is None or other is None:
        return None
    if constant:
        return (f"zeroing the highest-attention word: {UNDEFINED}; zeroing its tie-break choice flips {row_interval(top, percent=True)} of "
                f"decisions against {row_interval(other, percent=True)} for a random word")
    text = (f"zeroing the highest-attention word flips {row_interval(top, percent=True)} of decisions against {row_interval(other, percent=True)} for a random "
            f"word")
    if jsd_top is not None and jsd_other is not None:
        relation, numbers = _relation(_paired(run, "zeroing", "jsd_difference", "top_vs_random_word"), alpha,
                                      higher="larger than", lower="smaller than")
        text += (f"; its output JSD, {row_interval(jsd_top, 4)}, is {relation} that of a random word "
                 f"({row_interval(jsd_other, 4)}{numbers})")
    return text


def _attention_rankings(rows: pd.DataFrame, constant: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of attention-family rankings that rank something, and those of raw attention when it is
    ``constant`` (it ranks nothing: its order is the tie-break)."""
    attention = rows[[ranking_family(m) == "attention" for m in rows["method"]]]
    raw = attention["method"].isin(RAW_ATTENTION) if constant else pd.Series(False, index=attention.index)
    return attention[~raw], attention[raw]


def _versus(run: pd.DataFrame, rows: pd.DataFrame, test: str, measure: str, method: str, family: str, *,
            removal: str | None = None) -> tuple[pd.Series | None, pd.Series | None]:
    """The paired comparison of ``method`` in ``family`` and the summary row of the ranking it is compared with."""
    paired = _paired(run, test, f"{measure}_difference", family, method=method, removal=removal)
    other = _first(rows[rows["method"] == paired["versus"]]) if paired is not None else None
    return paired, other


def removal_sentence(run: pd.DataFrame, alpha: float = 0.05, *, constant: bool = False) -> str | None:
    """Removal until the decision flips: the attention order that flips soonest against the best causal order
    and a random one (raw attention left out where it is ``constant``)."""
    rows = _select(run, "removal", "fraction_items")
    if rows.empty:
        return None
    attention, undefined = _attention_rankings(rows, constant)
    causal = rows[[ranking_family(m) in CAUSAL_FAMILIES for m in rows["method"]]]
    random = _first(rows[rows["method"] == "random"])
    if attention.empty:
        return None
    best_attention = attention.sort_values("mean").iloc[0]
    of = (f" (the fastest of {len(attention)} attention-based orders, chosen after the fact)" if len(attention) > 1
          else "")
    parts = [f"to flip the decision, the {method_label(best_attention['method'])} order{of} must zero the attention "
             f"of {row_interval(best_attention, percent=True)} of the words"]
    raw = attention[attention["method"].isin(RAW_ATTENTION)]
    if len(attention) > 1 and len(raw) and raw["method"].iloc[0] != best_attention["method"]:
        parts[0] += f" (raw {method_label(raw['method'].iloc[0])}: {row_interval(raw.iloc[0], percent=True)})"
    if len(undefined):
        parts[0] = f"the {method_label(undefined['method'].iloc[0])} order: {UNDEFINED}; " + parts[0]
    if not causal.empty:
        paired, best = _versus(run, rows, "removal", "fraction_items", best_attention["method"], "vs_best_causal")
        best = best if best is not None else causal.sort_values("mean").iloc[0]
        relation, numbers = _relation(paired, alpha, higher="more than", lower="fewer than")
        parts.append(f"{relation} the {method_label(best['method'])} order ({row_interval(best, percent=True)}{numbers})")
    if random is not None:
        paired, _ = _versus(run, rows, "removal", "fraction_items", best_attention["method"], "vs_random")
        relation, numbers = _relation(paired, alpha, higher="more than", lower="fewer than")
        parts.append(f"{relation} a random order ({row_interval(random, percent=True)}{numbers})")
    return parts[0] + ("; this is " + ", and ".join(parts[1:]) if len(parts) > 1 else "")


def _aopc_against(run: pd.DataFrame, rows: pd.DataFrame, lead: pd.Series, causal: pd.DataFrame,
                  random: pd.Series | None, removal: str, alpha: float) -> list[str]:
    """How ``lead``'s AOPC comprehensiveness compares with the best causal ranking and a random one."""
    parts, measure = [], "aopc_comprehensiveness"
    if not causal.empty:
        paired, best = _versus(run, rows, "ablation", measure, lead["method"], "vs_best_causal", removal=removal)
        best = best if best is not None else causal.sort_values("mean", ascending=False).iloc[0]
        relation, numbers = _relation(paired, alpha, higher="above", lower="below")
        parts.append(f"{relation} the best causal ranking, {method_label(best['method'])} ({row_interval(best)}{numbers})")
    if random is not None:
        paired, _ = _versus(run, rows, "ablation", measure, lead["method"], "vs_random", removal=removal)
        relation, numbers = _relation(paired, alpha, higher="above", lower="below")
        parts.append(f"{relation} a random ranking ({row_interval(random)}{numbers})")
    return parts


def aopc_sentence(run: pd.DataFrame, removal: str, alpha: float = 0.05, *, constant: bool = False) -> str | None:
    """ERASER: raw attention's AOPC comprehensiveness against the best causal and a random ranking, and the best
    attention variant where it is above raw attention. Where the attention is ``constant`` raw attention ranks
    nothing: it is undefined, and the best attention variant is compared instead."""
    rows = _select(run, "ablation", "aopc_comprehensiveness", removal=removal)
    if rows.empty:
        return None
    attention, undefined = _attention_rankings(rows, constant)
    causal = rows[[ranking_family(m) in CAUSAL_FAMILIES for m in rows["method"]]]
    random = _first(rows[rows["method"] == "random"])
    if len(undefined):
        text = f"{method_label(undefined['method'].iloc[0])}'s AOPC comprehensiveness is {UNDEFINED}"
        if attention.empty:
            return text
        best_variant = attention.sort_values("mean", ascending=False).iloc[0]
        parts = _aopc_against(run, rows, best_variant, causal, random, removal, alpha)
        return (text + f"; the best attention variant, {method_label(best_variant['method'])}, reaches "
                f"{row_interval(best_variant)} (removal by {removal})" + ("; this is " + ", and ".join(parts) if parts else ""))
    if attention.empty:
        return None
    raw = next((r for m in RAW_ATTENTION if (r := _first(attention[attention["method"] == m])) is not None),
               attention.sort_values("mean", ascending=False).iloc[0])
    parts = _aopc_against(run, rows, raw, causal, random, removal, alpha)
    text = (f"{method_label(raw['method'])} reaches AOPC comprehensiveness {row_interval(raw)} (removal by {removal})"
            + ("; this is " + ", and ".join(parts) if parts else ""))
    best_variant = attention.sort_values("mean", ascending=False).iloc[0]
    if best_variant["method"] != raw["method"]:
        paired, _ = _versus(run, rows, "ablation", "aopc_comprehensiveness", best_variant["method"],
                            "vs_raw_attention", removal=removal)
        relation, numbers = _relation(paired, alpha, higher="above", lower="below")
        if relation == "above":
            text += (f". The best attention variant, {method_label(best_variant['method'])}, reaches "
                     f"{row_interval(best_variant)}, above raw attention ({numbers[2:]})")
    return text


UNIFORM_CLAIM = "wp_uniform_attention_suffices"
"""The published claim (Wiegreffe & Pinter's "about as accurate") that decides the uniform-attention control
with an equivalence margin; the sentences below point to its verdict."""


def uniform_training_sentences(comparison: pd.DataFrame, alpha: float = 0.05, margin: float = 0.02,
                               verdicts: dict[Run, str] | None = None) -> list[str]:
    """One sentence per uniform-attention model and sibling: the accuracy difference learned − uniform with its
    interval, decided by the paired test (Holm over the table).

    "The task uses attention" only where the whole interval lies above ``margin`` (the study's
    ``claims.accuracy_margin``, Wiegreffe & Pinter's "about as accurate"); otherwise the sentence says how the
    interval sits against the margin and points to that claim's verdict (``verdicts``, keyed by dataset,
    "uniform vs learned" and seed)."""
    verdicts = verdicts or {}
    out = []
    for row in comparison.to_dict("records"):
        p, min_p = row.get("p_adjusted", float("nan")), row.get("min_p", float("nan"))
        test = f", Holm-adjusted p = {p:.2g}" if pd.notna(p) else ""
        verdict = verdicts.get((str(row["dataset"]), f"{row['uniform_model']} vs {row['learned_model']}",
                                int(row["seed"])))
        claim = (f"Wiegreffe & Pinter's 'about as accurate', tested with an equivalence margin of ±{margin:g} in "
                 f"the published-claims section" + (f": {verdict}" if verdict else ""))
        side = _side(row["difference_low"], row["difference_high"], margin)
        against_margin = {1: f"the whole interval lies above the study's accuracy margin of {margin:g}",
                          -1: f"the whole interval lies within the study's accuracy margin of {margin:g}",
                          0: f"the interval contains the study's accuracy margin of {margin:g}"}[side]
        if pd.isna(p):
            reading = "not tested (the table has no paired test)"
        elif p < alpha and row["difference"] > 0:
            reading = (f"learned attention is more accurate and {against_margin}, so the task uses attention"
                       if side > 0 else
                       f"learned attention is more accurate, but {against_margin}, so this does not show that the "
                       f"task needs attention ({claim})")
        elif p < alpha and row["difference"] < 0:
            reading = "the uniform model is more accurate"
        elif not min_p < alpha:
            reading = "untestable at this n"
        else:
            reading = (f"the difference test does not separate them after Holm's correction (its interval is "
                       f"unadjusted), which does not show that they are equally accurate ({claim})")
        difference = interval(row["difference"], row["difference_low"], row["difference_high"], signed=True)
        out.append(f"On {row['dataset']} (seed {row['seed']}), {row['learned_model']} ({row['learned_attention']} "
                   f"attention) reaches accuracy {row['accuracy_learned']:.1%} against {row['accuracy_uniform']:.1%} "
                   f"for {row['uniform_model']} (attention frozen to uniform, the same {ENCODER_NAMES.get(row['encoder'], row['encoder'])} encoder): "
                   f"learned − uniform {difference} over {int(row['n']):,} examples{test}; {reading}.")
    return out


ENCODER_NAMES = {"lstm": "BiLSTM", "cnn": "CNN", "average": "average (no-context)"}
"""How the uniform-training sentences name an RNN encoder."""


def _weights_caveat(text: str | None, *, constant: bool, vacuous: bool) -> str | None:
    """A permutation or adversarial sentence with what the model's attention makes of it: nothing to permute
    where it is uniform by construction, a vacuous outcome where it is near uniform."""
    if not text:
        return text
    if constant:
        return text.rstrip(".") + " (attention uniform by construction, so permuting it changes nothing: a control, no test)"
    if vacuous:
        return text.rstrip(".") + " (attention near uniform: the outcome is vacuous, see Attention concentration)"
    return text


CONSTANT_ATTENTION = (
    "Its attention is uniform by construction and ranks nothing: its 'highest-attention' word (the first word) and "
    "its attention order are tie-breaks, so they get no verdict; the attention variants' numbers are a control, not "
    "a test of attention.")
"""Said of every run whose model's attention is frozen to uniform (a training control)."""


def run_sentences(summary: pd.DataFrame, epsilon: float, removal: str, alpha: float = 0.05, *,
                  claims: pd.DataFrame | None = None, shortened: frozenset[str] = frozenset(),
                  constant: frozenset[str] = frozenset()) -> dict[Run, list[tuple[str, str]]]:
    """Generated (test, sentence) pairs per run (dataset, model, seed), in the order of the tests.

    ``claims`` (the ``claim_tests`` table) gives the permutation and adversarial shares the published claims
    test; ``shortened`` names the models whose adversarial search is shortened (their share is a lower bound),
    ``constant`` those whose attention is constant (its rankings are undefined)."""
    permuted, adversarial = claim_shares(claims, PERMUTATION_CLAIM), claim_shares(claims, ADVERSARIAL_CLAIM)
    vacuous = {run for claim in (PERMUTATION_CLAIM, ADVERSARIAL_CLAIM)
               for run, row in claim_rows(claims, claim).items() if row.get("verdict") == "vacuous"}
    out = {}
    for (dataset, model, seed), run in summary.groupby(["dataset", "model", "seed"], sort=True):
        key = (str(dataset), str(model), int(seed))
        sentences = [("Permutation", _weights_caveat(permutation_sentence(run, permuted.get(key)),
                                                     constant=model in constant, vacuous=key in vacuous)),
                     ("Adversarial", _weights_caveat(adversarial_sentence(run, adversarial.get(key), epsilon,
                                                                          lower_bound=model in shortened),
                                                     constant=model in constant, vacuous=key in vacuous)),
                     *[("Uniform", text) for text in uniform_sentences(run)],
                     ("Zeroing", zeroing_sentence(run, alpha, constant=model in constant)),
                     ("Removal until flip", removal_sentence(run, alpha, constant=model in constant)),
                     ("ERASER", aopc_sentence(run, removal, alpha, constant=model in constant))]
        out[key] = [(label, text) for label, text in sentences if text]
    return out


def _sentence(text: str) -> str:
    """A generated clause as a sentence: capitalised, with one full stop."""
    return text[:1].upper() + text[1:].rstrip(".") + "."


def cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    """Forward passes per example of each test, per model (mean over datasets and seeds), and seconds."""
    if cost.empty:
        return cost
    table = (cost.groupby(["model", "test"], sort=True)
             .agg(forward_passes_per_example=("forward_passes_per_example", "mean"),
                  seconds_per_example=("seconds_per_example", "mean"), runs=("seconds", "size"))
             .reset_index())
    return table


def headline_table(summary: pd.DataFrame, claims: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run with the key number of each test (intervals are in the summary table).

    Permutation: each example's median TVD over its permutations, summarised by their median and their mean
    over examples; adversarial: the published claim's share of examples with an adversarial attention more than
    :data:`ADVERSARIAL_JSD` from the original (NaN without ``claims``) and the mean JSD; zeroing: flip rates."""
    def value(run: pd.DataFrame, test: str, measure: str, statistic: str = "mean") -> float:
        row = _first(_select(run, test, measure, scope="adversarial" if test == "adversarial" else None))
        return float(row[statistic]) if row is not None else float("nan")

    far = claim_shares(claims, ADVERSARIAL_CLAIM)
    rows = []
    for (dataset, model, seed), run in summary.groupby(["dataset", "model", "seed"], sort=True):
        share = far.get((str(dataset), str(model), int(seed)))
        rows.append({
            "dataset": dataset, "model": model, "seed": int(seed),
            "permutation TVD (median of example medians)": value(run, "permutation", "median_tvd", "median"),
            "permutation TVD (mean of example medians)": value(run, "permutation", "median_tvd"),
            f"adversarial: share JSD > {ADVERSARIAL_JSD:g}": float(share["mean"]) if share is not None else float("nan"),
            "adversarial JSD (mean)": value(run, "adversarial", "jsd"),
            "zeroing flips (max)": value(run, "zeroing", "flip_rate_max"),
            "zeroing flips (random)": value(run, "zeroing", "flip_rate_random"),
        })
    return pd.DataFrame(rows)


def aopc_table(summary: pd.DataFrame, removal: str) -> pd.DataFrame:
    """AOPC comprehensiveness and sufficiency of every ranking, with intervals, per run (one removal mode)."""
    rows = summary[(summary["test"] == "ablation") & (summary["removal"] == removal)
                   & summary["measure"].isin(["aopc_comprehensiveness", "aopc_sufficiency"])]
    if rows.empty:
        return rows
    rows = rows.assign(value=[row_interval(r) for _, r in rows.iterrows()], ranking=[method_label(m) for m in rows["method"]])
    table = rows.pivot_table(index=["dataset", "model", "seed", "ranking"], columns="measure",
                             values="value", aggfunc="first").reset_index()
    table.columns.name = None
    return table


def build_section(config: dict[str, Any], tables: dict[str, pd.DataFrame], figures: dict[str, str]) -> Section | None:
    """The "Causal tests of attention" section, or None when the study ran none."""
    summary = tables.get("interventions_summary")
    if summary is None or summary.empty:
        return None
    cost = tables.get("interventions_cost", pd.DataFrame())
    comparison = tables.get("interventions_uniform_training", pd.DataFrame())
    settings = config.get("interventions", {})
    epsilon = float(settings.get("adversarial", {}).get("epsilon", 0.01))
    removal = (settings.get("ablation", {}).get("removal") or ["delete"])[0]
    alpha = 1 - float(settings.get("level", 0.95))
    claims = tables.get("claim_tests")
    shortened = frozenset(m for m in transformer_models(config) if shortened_search(config, m))
    constant = frozenset(rnn_models(config, uniform=True))
    per_run = run_sentences(summary, epsilon, removal, alpha, claims=claims, shortened=shortened, constant=constant)
    margin = float(config.get("claims", {}).get("accuracy_margin", 0.02))
    verdicts = {run: str(row["verdict"]) for run, row in claim_rows(claims, UNIFORM_CLAIM).items()}
    training = (uniform_training_sentences(comparison, alpha, margin, verdicts)
                if comparison is not None and len(comparison) else [])
    findings = list(training)
    for (dataset, model, seed), sentences in per_run.items():
        chosen = [text for label, text in sentences if label in ("Zeroing", "ERASER")]
        if chosen:
            findings.append(f"On {dataset}, {model} (seed {seed}): " + "; ".join(chosen) + "."
                            + (f" {CONSTANT_ATTENTION}" if model in constant else ""))
    intro = ("Does changing the attention change the prediction the way an explanation implies? Model-side tests "
             "change the attention and keep the input; input-side tests remove the words each ranking puts first. "
             "All examples are explained for the predicted class; intervals are 95% intervals over examples "
             "(studentised bootstrap for means, exact binomial for rates). Two rankings are compared on the same "
             "examples by a sign-flip test of the per-example differences, Holm-adjusted within each run's family "
             "(every ranking against random; every attention ranking against the best causal one, the causal ranking "
             "with the best mean on the same examples, which makes that ceiling slightly optimistic; every attention "
             "variant against raw attention); 'untestable at this n' means no outcome could reach significance.")
    blocks: list[Block] = [Paragraph(" ".join([intro, *scope_sentences(config)])),
                           BulletList([f"**{name}.** {text}" for name, text in CAVEATS]),
                           findings_block(findings[len(training):], what="findings of the causal tests")]
    runs = BulletList([Item(f"**{d} / {m} / seed {s}**", tuple(f"*{label}:* {_sentence(text)}" for label, text in v))
                       for (d, m, s), v in per_run.items()])
    blocks.append(Group("Results per run", [runs] if len(per_run) <= 3 else [
        Details(f"The tests' results for each of {len(per_run)} runs", [runs])]))
    if training:
        blocks.append(Group("Uniform-attention training control", [BulletList(training)]))
    headline, aopc, costs = headline_table(summary, claims), aopc_table(summary, removal), cost_table(cost)
    blocks += [Group("Key numbers", [Table(headline, caption=(
                   "Key number of each test, per run: permutation, the median and the mean over examples of each "
                   "example's median TVD; adversarial, the share of examples with an adversarial attention more "
                   f"than {ADVERSARIAL_JSD:g} {JSD_UNIT} from the original within TVD ε, and the mean JSD; zeroing, "
                   "flip rates"))]),
               Group(f"AOPC per ranking (removal by {removal}; all modes in the summary table)",
                     [Table(aopc, caption="AOPC comprehensiveness and sufficiency per run and ranking")]),
               Group("Cost in forward passes per example", [Paragraph(COST_NOTE),
                                                            Table(costs, caption="Cost per model and test")])]
    by_dataset: dict[str, list[Block]] = {}
    for (dataset, name), path in sorted(figures_under(figures_by_key(figures), "interventions").items(),
                                        key=lambda item: (item[0][0], list(FIGURES).index(item[0][1])
                                                          if item[0][1] in FIGURES else len(FIGURES))):
        by_dataset.setdefault(dataset, []).append(
            Figure(path, f"Causal tests ({dataset}): {FIGURES.get(name, name)}", key=f"interventions/{dataset}/{name}"))
    if by_dataset:
        first, *others = sorted(by_dataset)
        shown: list[Block] = list(by_dataset[first])
        shown += [Details(f"Figures of the causal tests on {dataset}", by_dataset[dataset]) for dataset in others]
        blocks.append(Group("Figures", shown))
    return Section(title="Causal tests of attention", blocks=blocks, findings=findings, order=40, id="interventions")


REPORT_SECTIONS.add("interventions", build_section)
