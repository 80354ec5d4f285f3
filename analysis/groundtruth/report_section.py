"""The ground-truth part of the study summary: planted shortcuts, rationales, sanity check.

Every sentence is generated from the study tables; a method "finds" the shortcut or
"fails" the sanity check only where the 95% intervals say so, and is "above random" on
the rationales only where a paired test on the same examples says so (Holm-adjusted).
Faithfulness (planted shortcuts, randomisation) and plausibility (human rationales)
are reported in separate subsections, and the plausibility text says that matching
a human rationale is not evidence of faithfulness (Jacovi & Goldberg 2020).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.attention.concentration import near_uniform_runs
from analysis.config import generated_datasets, rnn_models
from analysis.groundtruth.figures import (
    relying_runs,
    relying_runs_first,
    relying_seeds,
    seeds_pooled_note,
    seeds_text,
)
from analysis.groundtruth.plausibility import attention_reference, headline_group
from analysis.groundtruth.shortcuts import NOT_SPECIFIC
from analysis.interventions.comparisons import RAW_ATTENTION, ranks_nothing
from analysis.plots.style import method_label, method_rank, sort_methods
from analysis.report.document import Block, Figure, Findings, Group, HtmlRenderer, MarkdownRenderer, Paragraph, Table
from analysis.report.numbers import interval, row_interval
from analysis.report.sections import REPORT_SECTIONS, Section, figures_by_key, figures_under
from analysis.report.summary import VERDICT_WORDS

TABLES = ("groundtruth_shortcut", "groundtruth_reliance", "groundtruth_plausibility", "groundtruth_sanity")
FIGURES = ("shortcut_reliance", "shortcut_detection", "plausibility", "sanity")  # keys groundtruth/<name>
UNDEFINED = VERDICT_WORDS["constant"]
"""The verdict of a constant-attention model's raw attention (it ranks nothing), as the agreement section words it."""


@dataclass
class Part:
    """One subsection: prose, findings, a table, and figures with generated captions."""

    title: str
    paragraphs: list[str]
    findings: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None
    figures: list[tuple[str, str]] = field(default_factory=list)  # (path, caption)


def _names(methods: list[str]) -> str:
    return ", ".join(method_label(m) for m in sort_methods(methods)) if methods else "none"


def across_runs(verdicts: pd.DataFrame, good: str) -> tuple[list[str], list[str], list[str]]:
    """Methods whose ``verdict`` is ``good`` in every run, in some runs, and in none (one row per method x run)."""
    if verdicts.empty:
        return [], [], []
    share = verdicts.assign(ok=verdicts["verdict"] == good).groupby("method")["ok"].mean()
    return (share[share == 1].index.tolist(), share[(share > 0) & (share < 1)].index.tolist(),
            share[share == 0].index.tolist())


def _names_with_runs(methods: list[str], verdicts: pd.DataFrame) -> str:
    """``methods`` grouped by the number of runs in ``verdicts`` that computed them: 'A, B (6 runs); C (1 run)'."""
    if not methods:
        return "none"
    runs = verdicts.drop_duplicates(["dataset", "model", "seed", "method"]).groupby("method").size()
    groups: dict[int, list[str]] = {}
    for method in methods:
        groups.setdefault(int(runs.get(method, 0)), []).append(method)
    return "; ".join(f"{_names(group)} ({count} run{'s' if count != 1 else ''})"
                     for count, group in sorted(groups.items(), reverse=True))


def _sorted_rows(rows: list[dict[str, Any]], methods: list[str]) -> pd.DataFrame:
    """Table rows in run order and, within a run, in the house order of methods."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    rank = {method_label(m): method_rank(m) for m in methods}
    frame["_rank"] = frame["method"].map(rank)
    return frame.sort_values(["dataset", "model", "seed", "_rank"], kind="stable").drop(columns="_rank")


# ---------------------------------------------------------------------- shortcuts
PER_METHOD_NOTE = ("Each verdict reads one method's interval in one run, with no adjustment for the number of methods "
                   "and runs: a single verdict near its threshold can be chance, so read the pattern across runs "
                   "(the figure caption counts it).")
RELIANCE_NOTE = ("Whether a model relies on its token is read the same way, per run and without adjustment, so the "
                 "seeds' agreement is the evidence.")


CONTROL_NOTE = ("The control: each model is also trained on the same data without the token (the planted dataset's "
                "base), and that model explains the same token-bearing examples with every method, for the shortcut "
                "class as the run's model does (the run's model predicts that class there; the control need not, and "
                "each run says how often it does). A method that "
                "ranks the token first there too (its top-1 rate's lower bound passes the same threshold) reacts to "
                "the token itself, an unusual or unknown word, not to the model's use of it: 'not specific', even "
                "where it ranks the token first more often on the run's model. Where it finds the token, a paired "
                "sign-flip test on the same examples (Holm-corrected over a run's methods) says whether it does so "
                "more often than on the control.")


def _control_cell(top1: pd.Series | None) -> str:
    """The control's top-1 rate with its interval, and for a method that finds the token the control's verdict
    (it decides nothing for the others), for the per-method table."""
    if top1 is None or not (pd.notna(top1.get("control_n")) and top1["control_n"] > 0):
        return "n/a"
    rate = interval(top1["control_mean"], top1["control_low"], top1["control_high"], 2)
    return rate + (f" ({top1['control_verdict']})" if top1["verdict"] in ("finds", NOT_SPECIFIC) else "")


def _control_sentence(found: pd.DataFrame) -> str:
    """Of the methods that find the token, which do so more often than on the control (paired test)."""
    if found.empty or "control_verdict" not in found:
        return ""
    specific = found.loc[found["control_verdict"] == "specific", "method"].tolist()
    open_ = found.loc[found["control_verdict"] == "inconclusive", "method"].tolist()
    text = f" Of those that find it, more often than on the control: {_names(specific)}"
    return text + (f"; not shown at this n: {_names(open_)}." if open_ else ".")


def _control_prediction(top1: pd.DataFrame) -> str:
    """How often the control model itself predicts the class it explains, over the examples it explains."""
    if "control_predicts_class" not in top1 or top1["control_predicts_class"].isna().all() \
            or top1["control_n"].isna().all():
        return ""
    widest = top1.loc[top1["control_n"].idxmax()]
    return (f" The control model itself assigns {widest['control_predicts_class']:.0%} of these "
            f"{int(widest['control_n'])} examples to the shortcut class; it is asked about that class either way.")


def shortcut_part(detection: pd.DataFrame | None, reliance: pd.DataFrame | None, *, variant: str = "abs",
                  group: str = "all", constant: frozenset[str] = frozenset()) -> Part | None:
    """Subsection on planted shortcuts: does each model use the token, and which methods find it.

    Raw attention of a model in ``constant`` (attention frozen to uniform) ranks nothing: it is undefined, with
    no verdict, in the findings, the table and the caption."""
    if reliance is None or reliance.empty:
        return None
    detection = detection if detection is not None else pd.DataFrame()
    findings, rows = [], []
    for (dataset, model, seed), run in reliance.groupby(["dataset", "model", "seed"], sort=True):
        measures = run.set_index("measure")
        relies = bool(run["relies"].iloc[0])
        threshold = float(run["threshold"].iloc[0])
        insertion = measures.loc["insertion_flip"] if "insertion_flip" in measures.index else None
        removal = measures.loc["removal_flip"] if "removal_flip" in measures.index else None
        scores = detection.loc[(detection["dataset"] == dataset) & (detection["model"] == model)
                               & (detection["seed"] == seed) & (detection["variant"] == variant)
                               & (detection["group"] == group)] if len(detection) else detection
        controlled = bool(len(scores)) and "control_n" in scores and scores["control_n"].gt(0).any()
        for method, part in (scores.groupby("method") if len(scores) else []):
            metric = part.set_index("metric")
            top1 = metric.loc["top1"] if "top1" in metric.index else None
            rows.append({
                "dataset": dataset, "model": model, "seed": seed, "model relies": "yes" if relies else "NO",
                "method": method_label(method),
                "top-1 hit rate": row_interval(top1, 2) if top1 is not None else "n/a",
                **({"top-1 without the token in training (control)": _control_cell(top1)} if controlled else {}),
                "importance share": row_interval(metric.loc["share"], 2) if "share" in metric.index else "n/a",
                "mean rank": row_interval(metric.loc["rank"], 2) if "rank" in metric.index else "n/a",
                "n": int(metric["n"].max()),
                "verdict": (UNDEFINED if model in constant and method in RAW_ATTENTION
                            else metric["verdict"].iloc[0] if relies else "not interpreted"),
            })
        head = f"On {dataset}, {model} (seed {seed})"
        evidence = (f"inserting the token turns {row_interval(insertion, 2, percent=True)} of other-class examples into the "
                    f"shortcut class" if insertion is not None else "no insertion test was possible")
        if removal is not None:
            evidence += (f", and deleting it changes the prediction of {row_interval(removal, 2, percent=True)} of the "
                         f"examples that carry it")
        if not relies:
            findings.append(f"{head} does NOT rely on the planted shortcut: {evidence} (reliance needs the insertion "
                            f"rate's lower bound >= {threshold:.0%}). The token is not a known cause for this model, "
                            f"so its method scores are not interpreted.")
            continue
        top1 = scores.loc[scores["metric"] == "top1"].sort_values("mean", ascending=False) if len(scores) else scores
        undefined = top1.loc[ranks_nothing(top1, constant), "method"].tolist() if len(top1) else []
        top1 = top1.loc[~ranks_nothing(top1, constant)] if len(top1) else top1
        found = top1.loc[top1["verdict"] == "finds", "method"].tolist() if len(top1) else []
        unspecific = top1.loc[top1["verdict"] == NOT_SPECIFIC, "method"].tolist() if len(top1) else []
        weak = top1.loc[top1["verdict"] == "above chance", "method"].tolist() if len(top1) else []
        missed = top1.loc[top1["verdict"] == "misses", "method"].tolist() if len(top1) else []
        text = f"{head} relies on the planted shortcut ({evidence})."
        if len(top1):
            n, bar = int(top1["n"].max()), float(top1["threshold"].iloc[0])
            text += (f" Over {n} explained examples with the token, the methods that rank it first (top-1 hit rate's "
                     f"lower bound >= {bar:.2f}) are: {_names(found)}"
                     + (f"; also first on the same model trained without the token (not specific): "
                        f"{_names(unspecific)}" if controlled else "")
                     + f"; above chance only: {_names(weak)}; missed: {_names(missed)}.")
            if controlled:
                text += _control_sentence(top1.loc[top1["verdict"] == "finds"]) + _control_prediction(top1)
            if undefined:
                text += f" {_names(undefined)}: {UNDEFINED}."
            studied = top1.loc[top1["method"] != "random"]
            if len(studied):
                best, worst = studied.iloc[0], studied.iloc[-1]
                if f"{best['mean']:.2f}" == f"{worst['mean']:.2f}":  # one value at the shown precision
                    text += f" Top-1 hit rate is {best['mean']:.2f} for every method"
                else:
                    text += (f" Top-1 hit rate ranges from {method_label(best['method'])} {row_interval(best, 2)} to "
                             f"{method_label(worst['method'])} {row_interval(worst, 2)}")
                floor = top1.loc[top1["method"] == "random"]
                reference = f"random ranking {row_interval(floor.iloc[0], 2)}; " if len(floor) else ""
                text += f" ({reference}chance {best['chance']:.2f})."
        findings.append(text)
    counts = relying_seeds(reliance)
    relied_runs = relying_runs(reliance)
    split = [f"{d}/{m} ({seeds_text(k, n)})" for (d, m), k, n in zip(counts.index, counts["relying"], counts["seeds"])
             if 0 < k < n]
    several = int(counts["seeds"].max()) > 1
    paragraphs = [
        "A shortcut token was planted into real sentences so that it decides the label (Bastings et al. 2022): a "
        "model that uses it has a known cause, and a faithful importance method ranks that token first. Reliance is "
        "checked first, by inserting the token into examples of the other classes and by deleting it; only models "
        "that rely on it are scored. Scores explain the predicted class on explained examples that carry the token "
        "and are assigned to the shortcut class; top-1 ties share the hit. Those examples include some the model "
        "would assign to that class without the token (the share that deleting it changes is given per run). "
        "'Above chance' compares the hit rate with 1 / (number of words): a rare word, split into several "
        "subwords, can be ranked first more often than that without being a cause, so only 'finds' identifies "
        "the planted token as the cause. "
        + (CONTROL_NOTE + " " if "control_n" in detection and detection["control_n"].gt(0).any() else "")
        + PER_METHOD_NOTE + " " + RELIANCE_NOTE,
        f"{int(counts['relies'].sum())} of {len(counts)} trained models rely on their planted token"
        + (f" in most seeds ({int(relied_runs.sum())} of {len(relied_runs)} runs)" if several else "")
        + (f"; the seeds disagree for {', '.join(split)}" if split else "") + ".",
    ]
    scored = detection.loc[(detection["metric"] == "top1") & (detection["variant"] == variant)
                           & (detection["group"] == group)] if len(detection) else detection
    if len(scored):
        relying = {key for key, value in relied_runs.items() if value}  # each run's own verdict
        scored = scored.loc[[(d, m, s) in relying for d, m, s in zip(scored["dataset"], scored["model"],
                                                                       scored["seed"])]]
        scored = scored.loc[~ranks_nothing(scored, constant)]
    always, sometimes, never = across_runs(scored, "finds")
    left_out = sorted(constant & set(detection["model"])) if len(detection) else []
    crosses = "control_mean" in detection and detection["control_mean"].notna().any() if len(detection) else False
    detection_caption = ("Which methods rank the planted token first (filled: found; hollow: not found; dashed: "
                         "chance" + ("; a cross: the same model trained without the token" if crosses else "")
                         + ")? " + (f"Over the runs whose model relies on the token: found in every run where "
                                        f"computed: {_names_with_runs(always, scored)}; in some runs: "
                                        f"{_names(sometimes)}; in none: {_names(never)}."
                                        if len(scored) else "No model relies on its token, so no method is scored.")
                         + (f" Raw attention of {', '.join(left_out)} is {UNDEFINED}: not drawn, counted nowhere."
                            if left_out else "") + seeds_pooled_note(relying_runs_first(detection))
                         + (" Where only some seeds of a model rely on the token, only those are drawn." if split
                            else ""))
    captions = [
        ("shortcut_reliance", "Does each model rely on the planted token? " + "; ".join(
            f"{d}/{m}: {seeds_text(k, n)}" for (d, m), k, n in zip(counts.index, counts["relying"], counts["seeds"]))
         + "." + seeds_pooled_note(reliance)),
        ("shortcut_detection", detection_caption),
    ]
    methods = detection["method"].unique().tolist() if len(detection) else []
    return Part("Planted shortcuts (faithfulness against a known cause)", paragraphs, findings,
                _sorted_rows(rows, methods), captions)


# -------------------------------------------------------------------- plausibility
def plausibility_part(summary: pd.DataFrame | None, *, variant: str = "abs", group: str | None = None,
                      metric: str = "auprc", constant: frozenset[str] = frozenset(),
                      synthetic: frozenset[str] = frozenset()) -> Part | None:
    """Subsection on rationales: how plausible each method is, by run, and whether raw attention is more or less
    plausible than the other methods.

    ``group`` defaults to the variant's headline group (signed scores on correctly classified posts only). The
    intro names the datasets in the table (``synthetic`` ones have generated rationales: the words that decide the
    label); raw attention of a model in ``constant`` ranks nothing and gets no verdict."""
    if summary is None or summary.empty:
        return None
    group = group or headline_group(variant)
    rows_all = summary.loc[(summary["variant"] == variant) & (summary["group"] == group)]
    findings, rows = [], []
    for (dataset, model, seed), run in rows_all.groupby(["dataset", "model", "seed"], sort=True):
        main = run.loc[run["metric"] == metric].sort_values("mean", ascending=False)
        if main.empty:
            continue
        undefined = main.loc[ranks_nothing(main, constant), "method"].tolist()
        main = main.loc[~ranks_nothing(main, constant)]
        studied = main.loc[main["method"] != "random"]
        best = studied.iloc[0] if len(studied) else main.iloc[0]
        floor = main.loc[main["method"] == "random"]
        reference = f"random ranking {row_interval(floor.iloc[0], 2)}" if len(floor) else "no random ranking to compare"
        verdict = {v: studied.loc[studied["vs_random"] == v, "method"].tolist()
                   for v in ("above", "not distinguishable", "below", "untestable")}
        tested = ("tested against each method below" if best["method"] == attention_reference(main["method"])
                  and model not in constant else "the highest mean, not a test against each method")
        text = (f"Plausibility on {dataset}, {model} (seed {seed}; {int(best['n'])} examples with rationales): the "
                f"highest mean {metric.upper()} is {method_label(best['method'])}'s "
                f"{row_interval(best, 2)} ({tested}; {reference}); above the random ranking (paired test, "
                f"Holm-adjusted over the methods): {_names(verdict['above'])}; not distinguishable from it: "
                f"{_names(verdict['not distinguishable'])}")
        if verdict["below"]:
            text += f"; BELOW it (the ranking avoids the rationale words): {_names(verdict['below'])}"
        if verdict["untestable"]:
            text += f"; untestable at this n: {_names(verdict['untestable'])}"
        if undefined:
            text += f"; {_names(undefined)}: {UNDEFINED}"
        attention = _attention_sentence(main, metric, constant=model in constant)
        findings.append(f"{text}.{' ' + attention if attention else ''} This measures agreement with the rationales, "
                        "not faithfulness.")
        for method, part in run.groupby("method"):
            metrics = part.set_index("metric")
            undefined_row = model in constant and method in RAW_ATTENTION
            rows.append({"dataset": dataset, "model": model, "seed": seed, "method": method_label(method),
                         **{name: row_interval(metrics.loc[key], 2) if key in metrics.index else "n/a"
                            for key, name in PLAUSIBILITY_COLUMNS.items()},
                         "n": int(metrics["n"].max()),
                         "AUPRC vs random": (UNDEFINED if undefined_row
                                             else _versus_random(metrics.loc["auprc"]) if "auprc" in metrics.index
                                             else "n/a"),
                         "AUPRC vs raw attention": ("n/a" if model in constant
                                                    else _versus(metrics.loc["auprc"], "vs_attention", "p_attention")
                                                    if "auprc" in metrics.index and "vs_attention" in metrics
                                                    else "n/a")})
    paragraphs = [
        "Plausibility, kept apart from faithfulness: how well each method's top-ranked words match the rationales "
        f"of {_rationale_sources(sorted(set(rows_all['dataset'])), synthetic)}. Metrics per example (DeYoung et al. 2020): token F1 of the top-k words with k the "
        "rationale length (an oracle length: the ranking is told how many words to mark), the same of the top 5 "
        "words (no oracle; as HateXplain scores plausibility, Mathew et al. 2021, comparable with their RNN numbers "
        "only: they rank BERT's subword tokens, we rank words, and their ties go by position, ours at random), IOU "
        "F1 (a run of the top-k words, k = rationale length, matches a human span at IOU >= 0.5; the data tables "
        "also hold HateXplain's top-5 IOU F1), and AUPRC; means over examples with 95% bootstrap intervals"
        + (", on correctly classified posts only (signed scores are evidence for the predicted class, and the "
           "rationales say why a post is toxic)" if group == "correct" else "")
        + ". Each method is compared with the random ranking and with the model's raw attention (the RNN's attention "
        "layer, MiniLM's last-layer head mean) on the same examples (sign-flip test of the per-example differences, "
        "each Holm-adjusted over the methods of a run); 'untestable at this n' means that even the clearest outcome "
        "could not reach the test's level with so few examples, and 'not distinguishable' is not 'as plausible' "
        "(no equivalence test is made). A method can be plausible and unfaithful, or faithful and implausible.",
    ]
    verdicts = rows_all.loc[(rows_all["metric"] == metric) & (rows_all["method"] != "random")
                            & ~ranks_nothing(rows_all, constant)]
    always, sometimes, never = across_runs(verdicts.rename(columns={"vs_random": "verdict"}), "above")
    groups = [(f"above random in every run: {_names(always)}", always),
              (f"in some runs: {_names(sometimes)}", sometimes), (f"in none: {_names(never)}", never)]
    caption = (f"Plausibility of each method against the rationales (filled: above the random ranking; hollow: not). "
               f"By {metric.upper()}, " + "; ".join(text for text, names in groups if len(names))
               + ". Plausibility is not faithfulness." + seeds_pooled_note(rows_all))
    return Part("Human rationales (plausibility, not faithfulness)", paragraphs, findings,
                _sorted_rows(rows, rows_all["method"].unique().tolist()), [("plausibility", caption)])


def _rationale_sources(datasets: list[str], synthetic: frozenset[str]) -> str:
    """'hatexplain (marked by people)' and 'planted (the words that decide the label)', for the datasets scored."""
    return "; ".join(f"{d} ({'the words that decide the label' if d in synthetic else 'marked by people'})"
                     for d in datasets) or "no dataset"


PLAUSIBILITY_COLUMNS = {"token_f1": "token F1 (k = rationale)", "token_f1_top5": "token F1 (top 5)",
                        "iou_f1": "IOU F1 (k = rationale)", "auprc": "AUPRC"}
"""The metrics the report's plausibility table shows, with their headers (every metric is in the data table)."""


def _versus_random(row: pd.Series) -> str:
    """'above (Holm p = 0.003)', 'not distinguishable (Holm p = 0.4)', 'untestable at this n', 'reference'."""
    return _versus(row, "vs_random", "p_adjusted")


def _versus(row: pd.Series, verdict_column: str, p_column: str) -> str:
    """A comparison's verdict with its Holm p-value, as :func:`_versus_random` words it."""
    verdict = row.get(verdict_column)
    if pd.isna(verdict) or verdict == "untested":  # e.g. the random ranking, left out of the attention family
        return "n/a"
    if verdict == "untestable":
        return "untestable at this n"
    p = row.get(p_column, float("nan"))
    return f"{verdict} (Holm p = {p:.2g})" if pd.notna(p) else str(verdict)


def _attention_sentence(main: pd.DataFrame, metric: str, *, constant: bool) -> str:
    """Which methods are more, less or not distinguishably plausible than the run's raw attention, by ``metric``
    (paired, Holm): the study's question asked of the rationales."""
    if "vs_attention" not in main or main["vs_attention"].isna().all():
        return ""  # a table written before the comparison existed (alone, or gathered with newer ones)
    if constant or (main["vs_attention"] == "undefined").any():
        return "Raw attention is constant here, so it is compared with no method."
    if not (main["vs_attention"] == "reference").any():
        return "The run has no raw attention to compare the methods with."
    reference = method_label(main.loc[main["vs_attention"] == "reference", "method"].iloc[0])
    others = main.loc[~main["vs_attention"].isin(["reference", "untested"])]
    verdict = {v: others.loc[others["vs_attention"] == v, "method"].tolist()
               for v in ("above", "below", "not distinguishable", "untestable")}
    text = (f"Compared with raw attention ({reference}) by {metric.upper()} (paired, Holm-adjusted): more plausible "
            f"than it: {_names(verdict['above'])}; less plausible: {_names(verdict['below'])}; not distinguishable: "
            f"{_names(verdict['not distinguishable'])}")
    if verdict["untestable"]:
        text += f"; untestable at this n: {_names(verdict['untestable'])}"
    return text + "."


# -------------------------------------------------------------------------- sanity
def _at_verdict_step(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the step each verdict is read at (``verdict_step``; the last step in tables without it)."""
    step = frame["verdict_step"] if "verdict_step" in frame else frame["n_steps"]
    return frame.loc[frame["step_index"] == step]


def sanity_part(summary: pd.DataFrame | None, *, variant: str = "abs",
                constant: frozenset[str] = frozenset()) -> Part | None:
    """Subsection on the randomisation check: which methods' scores survive random weights.

    Each run's finding leads with what failed and what is inconclusive (the interval contains the threshold) on
    its number of examples; the caption counts every verdict over the runs where the method was computed. Raw
    attention of a model in ``constant`` ranks nothing and gets no verdict."""
    if summary is None or summary.empty:
        return None
    rows_all = summary.loc[summary["variant"] == variant]
    findings, rows = [], []
    for (dataset, model, seed), run in rows_all.groupby(["dataset", "model", "seed"], sort=True):
        final = _at_verdict_step(run).sort_values("mean", ascending=False)
        layers_only = len(final) and int(final["step_index"].iloc[0]) < int(final["n_steps"].iloc[0])
        undefined = final.loc[ranks_nothing(final, constant), "method"].tolist()
        final = final.loc[~ranks_nothing(final, constant)]
        head = run.loc[(run["step_index"] == 1) & ~ranks_nothing(run, constant)]
        threshold = float(run["threshold"].iloc[0])
        failing = [m for m in final.loc[final["verdict"] == "fails", "method"] if m != "random"]
        passing = final.loc[final["verdict"] == "passes", "method"].tolist()
        unclear = final.loc[final["verdict"] == "inconclusive", "method"].tolist()
        changed = float(final["prediction_changed"].iloc[0]) if len(final) else float("nan")
        n = int(run["n"].max())
        text = (f"Sanity check on {dataset}, {model} (seed {seed}; {n} examples): with every "
                f"{'layer above the embeddings' if layers_only else 'weight'} randomised ({changed:.0%} of "
                f"predictions changed), ")
        if failing:
            text += ("FAILED (scores barely change, Spearman's lower bound >= "
                     f"{threshold:.2f}): " + "; ".join(
                         f"{method_label(m)} {row_interval(final.set_index('method').loc[m], 2)}" for m in failing))
        else:
            text += f"no method failed (none kept a correlation whose lower bound reaches {threshold:.2f})"
        text += (f"; inconclusive on these {n} examples (the interval contains {threshold:.2f}): {_names(unclear)}"
                 if unclear else "; none is inconclusive")
        text += f". Passed: {_names(passing)}."
        if undefined:
            text += f" {_names(undefined)}: {UNDEFINED}."
        kept = head.loc[head["insensitive"].astype(bool) & (head["method"] != "random")]
        identical = kept.loc[kept["mean_low"] >= 1.0 - 1e-9, "method"].tolist()
        similar = [m for m in kept["method"] if m not in identical]
        if identical:
            text += (f" Randomising the classification head alone left the scores of {_names(identical)} exactly "
                     f"unchanged (ρ = 1): they are computed below the head and cannot reflect it.")
        head_changed = float(head["prediction_changed"].iloc[0]) if len(head) else float("nan")
        if similar and min(head_changed, 1 - head_changed) < 0.1:  # nearly the same decisions (or, two classes, all
            # reversed: the gradient's sign flips, |scores| keep their ranking)
            text += (f" Randomising the classification head alone changed {head_changed:.0%} of the predictions: it "
                     f"keeps (or, with two classes, reverses) nearly every decision, so that {_names(similar)} kept "
                     f"most of their ranking there is expected of any method.")
        elif similar:
            text += (f" After the head alone ({head_changed:.0%} of predictions changed), {_names(similar)} still "
                     f"kept most of their ranking (lower bound >= {threshold:.2f}).")
        if "random" in set(final["method"]):
            text += " The random baseline stays at 1 by construction (it reads no model)."
        findings.append(text)
        for method, part in run.groupby("method"):
            steps = part.set_index("step_index")
            decided = _at_verdict_step(part)
            rows.append({"dataset": dataset, "model": model, "seed": seed, "method": method_label(method),
                         "ρ, head randomised": row_interval(steps.loc[1], 2) if 1 in steps.index else "n/a",
                         **({"ρ, layers randomised (verdict)": row_interval(decided.iloc[0], 2) if len(decided)
                             else "n/a"} if layers_only else {}),
                         "ρ, all randomised": row_interval(steps.loc[steps.index.max()], 2),
                         "verdict": UNDEFINED if model in constant and method in RAW_ATTENTION
                         else part["verdict"].iloc[0]})
    paragraphs = [
        "Model-randomisation check (Adebayo et al. 2018): the trained weights are replaced by random ones in cascade, "
        "from the classification head down to the embeddings, and every method is recomputed on the same examples "
        "for the same (trained) predicted class. A method whose scores keep their rank correlation with the trained "
        "model's scores does not read what the model learned. The verdict is read with every layer above the "
        "embeddings random, the input representation kept (as Adebayo et al. keep the image): re-initialising the "
        "embeddings too replaces the input that gradient × input and the like multiply by, so almost any method "
        "passes there by construction; that last step is in the table and the figure. " + PER_METHOD_NOTE,
    ]
    final = _at_verdict_step(rows_all)
    final = final.loc[(final["method"] != "random") & ~ranks_nothing(final, constant)]
    failed_all, failed_some, _ = across_runs(final, "fails")
    passed_all, _, _ = across_runs(final, "passes")
    unclear_all, unclear_some, _ = across_runs(final, "inconclusive")
    counts = sorted({int(n) for n in final.groupby(["dataset", "model", "seed"])["n"].max()})
    examples = " to ".join(str(n) for n in (counts[:1] + counts[-1:] if len(counts) > 1 else counts))
    groups = [(f"failed (scores barely change with every layer random) in every run where computed: "
               f"{_names_with_runs(failed_all, final)}", failed_all),
              (f"failed in some runs: {_names(failed_some)}", failed_some),
              (f"inconclusive (the interval contains the threshold) in every run where computed: "
               f"{_names_with_runs(unclear_all, final)}", unclear_all),
              (f"inconclusive in some runs: {_names(unclear_some)}", unclear_some),
              (f"passed in every run where computed: {_names_with_runs(passed_all, final)}", passed_all)]
    listed = "; ".join(text for text, names in groups if len(names))
    caption = (f"Cascading randomisation, from the head down, on {examples} examples per run"
               + (f": {listed}" if listed else "") + ". The random baseline reads no model and "
               "fails by construction." + seeds_pooled_note(rows_all))
    return Part("Sanity check: randomised weights", paragraphs, findings,
                _sorted_rows(rows, rows_all["method"].unique().tolist()), [("sanity", caption)])


# --------------------------------------------------------------------------- output
def groundtruth_parts(tables: dict[str, pd.DataFrame], config: dict[str, Any] | None = None, *,
                      constant: list[str] | None = None, generated: list[str] | None = None) -> list[Part]:
    """The subsections that have data, in order: shortcuts, rationales, sanity.

    ``constant`` (models whose attention is frozen to uniform) and ``generated`` (datasets whose rationales are
    generated) default to what ``config`` declares; a caller without the whole config passes them."""
    config = config or {}
    settings = config.get("groundtruth", {})
    shortcut_variant = (settings.get("shortcut", {}).get("variants") or ["abs"])[0]
    plausibility_variant = (settings.get("plausibility", {}).get("variants") or ["abs"])[0]
    constant = frozenset(rnn_models(config, uniform=True) if constant is None else constant)
    synthetic = frozenset(generated_datasets(config) if generated is None else generated)
    parts = [
        shortcut_part(tables.get("groundtruth_shortcut"), tables.get("groundtruth_reliance"), variant=shortcut_variant,
                      constant=constant),
        plausibility_part(tables.get("groundtruth_plausibility"), variant=plausibility_variant, constant=constant,
                          synthetic=synthetic),
        sanity_part(tables.get("groundtruth_sanity"), constant=constant),
    ]
    return [p for p in parts if p is not None]


def part_group(part: Part, paths: dict[str, str]) -> Group:
    """A subsection as blocks: prose, findings, the table, the figures found in ``paths`` (by name)."""
    blocks: list[Block] = [Paragraph(text) for text in part.paragraphs]
    if part.findings:
        blocks.append(Findings(part.findings))
    for key, caption in part.figures:
        if key in paths:
            blocks.append(Figure(paths[key], caption, key=f"groundtruth/{key}"))
    if part.table is not None and len(part.table):
        blocks.append(Table(part.table, caption=part.title))
    return Group(part.title, blocks)


def part_markdown(part: Part, paths: dict[str, str]) -> str:
    return MarkdownRenderer().block(part_group(part, paths), level=3)


def part_html(part: Part, paths: dict[str, str]) -> str:
    return HtmlRenderer().block(part_group(part, paths), level=3)


def shortcut_lead(shortcut: pd.DataFrame | None, config: dict[str, Any],
                  concentration: pd.DataFrame | None = None) -> list[str]:
    """The first screen's sentence on the one place the cause is known, with explicit denominators: how many
    trained models rely on their planted token; of those with learned attention, in how many raw attention ranks
    it first (top-1 verdict "finds" in most of the seeds that rely on it), naming each miss with its hit rate beside chance's
    and whether its attention is near uniform (``concentration``, the attention concentration table); and in how
    many of all that rely on it leave-one-out does. Models whose attention is frozen to uniform rely or not like
    any other, but their attention ranks nothing, so they are not in the attention count."""
    if shortcut is None or shortcut.empty:
        return []
    rows = shortcut[(shortcut["metric"] == "top1") & (shortcut["variant"] == "abs") & (shortcut["group"] == "all")]
    if rows.empty:
        return []
    constant = set(rnn_models(config, uniform=True))
    near_uniform = near_uniform_runs(concentration, list(RAW_ATTENTION))
    relies: dict[str, bool] = {}
    loo: dict[str, bool] = {}
    attention: dict[str, bool] = {}
    flat: dict[str, bool] = {}
    unspecific: dict[str, bool] = {}  # raw attention also ranks it first on the control model
    hits: dict[str, tuple[float, float]] = {}  # raw attention's top-1 hit rate and chance (1 / n words)
    for (dataset, model), part in rows.groupby(["dataset", "model"], sort=True):
        name = f"{dataset} / {model}"
        relies[name] = bool(part.groupby("seed")["model_relies"].first().astype(bool).mean() > 0.5)
        if not relies[name]:
            continue
        part = part.loc[part["model_relies"].astype(bool)]  # the seeds where the token is a known cause
        finds = {method: (group["verdict"] == "finds").mean() > 0.5 for method, group in part.groupby("method")}
        loo[name] = finds.get("loo_delete", False)
        raw = next((m for m in RAW_ATTENTION if m in finds), None)
        if raw is not None and model not in constant:
            attention[name] = finds[raw]
            unspecific[name] = bool((part.loc[part["method"] == raw, "verdict"] == NOT_SPECIFIC).mean() > 0.5)
            hits[name] = (float(part.loc[part["method"] == raw, "mean"].mean()), float(part["chance"].mean()))
            seeds = part["seed"].unique()
            flat[name] = sum((dataset, model, int(seed)) in near_uniform for seed in seeds) > len(seeds) / 2
    relying = [name for name, value in relies.items() if value]
    if not relying:
        return []
    datasets = sorted({name.split(" / ")[0] for name in relies})
    missed = [f"{name}: first in {hits[name][0]:.0%} of examples, "
              + ("but also by the same model trained without the token" if unspecific[name]
                 else f"chance {hits[name][1]:.0%}")
              + ("; near-uniform attention" if flat[name] else "") for name, found in attention.items() if not found]
    text = (f"Where the cause is known (a token planted in {', '.join(datasets)} that decides the label), "
            f"{len(relying)} of {len(relies)} trained models rely on it")
    if attention:
        text += (f"; raw attention ranks it first in {sum(attention.values())} of the {len(attention)} with learned "
                 "attention" + (f" (not {'; '.join(missed)})" if missed else ""))
    return [text + f"; leave-one-out (deleting, as the reliance test does) in {sum(loo.values())} of "
            f"{len(relying)}."]


@REPORT_SECTIONS.register("groundtruth")
def groundtruth_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                        figures: dict[str, str]) -> Section | None:
    """The study summary's ground-truth section, or None when the study ran none of it."""
    parts = groundtruth_parts({k: v for k, v in tables.items() if k in TABLES}, config)
    if not parts:
        return None
    paths = {key[0]: path for key, path in figures_under(figures_by_key(figures), "groundtruth").items()}
    return Section(
        title="Ground truth: planted shortcuts, rationales, randomisation",
        blocks=[part_group(p, paths) for p in parts],
        findings=[f for p in parts for f in p.findings],
        order=60, id="groundtruth",
        lead=shortcut_lead(tables.get("groundtruth_shortcut"), config, tables.get("attention_concentration")),
    )
