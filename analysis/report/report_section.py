"""The report's core sections, registered like every analysis's: agreement, accuracy, methods, cost, data.

- ``agreement`` (first): each attention method's agreement with the causal reference against
  the ceiling and the floor, per run (findings from paired tests), with the study's forest plot
  and the plain-words answer on the first screen.
- ``accuracy``: whether each model learned its task (agreement means little near chance).
- ``methods``: generated from the declarations (:mod:`analysis.report.methods`).
- ``cost``: seconds and forward passes per example and method, IG completeness, and the cost
  of every workflow stage where the summary gets the benchmark folder (:mod:`analysis.report.cost`).
- ``data``: what was read, kept and explained, with each source's citation and licence.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import numpy as np
import pandas as pd

from analysis.attention.concentration import near_uniform_attention
from analysis.config import rnn_models
from analysis.plots.style import method_label, metric_short_label
from analysis.report.document import (
    FINDINGS_FOLD_ABOVE,
    Details,
    Figure,
    Findings,
    Group,
    Paragraph,
    Section,
    Table,
    counted,
)
from analysis.report.numbers import fixed
from analysis.report.sections import REPORT_SECTIONS, figures_by_key, figures_under
from analysis.report.summary import Finding, agreement_findings, ceilings, convergence_note, key_results
from analysis.stats.paired import corrected_label

AGREEMENT_INTRO = (
    "Does attention rank words the way causal importance does? Per explained example, the agreement ({metric}) "
    "between each attention method's weights and the |scores| of {reference}, averaged over the run's examples "
    "(95% studentised-bootstrap intervals). Two yardsticks on the same examples: the *ceiling*, another causal "
    "method's agreement with {reference} (how far two causal methods agree with each other; not an upper bound: "
    "other causal pairs may agree more, and on |scores| two signed methods lose agreement wherever their signs "
    "differ), and the *floor*, a random ranking's. *vs ceiling* and *vs random floor* come from paired sign-flip "
    "tests on the same examples, {corrected} within each run's family; parity with the ceiling is claimed only "
    "by an equivalence test (TOST, its p corrected within the same family). *share of ceiling* is the normalised "
    "agreement with its paired bootstrap interval.")


def agreement_lead(findings: list[Finding], summary: pd.DataFrame, *, reference: str, metric: str,
                   comparisons: pd.DataFrame | None, concentration: pd.DataFrame | None = None) -> list[str]:
    """The answer in plain words, from the findings' numbers and verdicts: first each model's raw attention (the
    question's subject; the answer's wording follows its paired verdicts), then every attention-based ranking.
    With the attention ``concentration`` table, the results below the ceiling on near-uniform attention are
    counted apart: the published claims count such rows as vacuous, so the lead says how many of its own are."""
    from analysis.plots.figures import headline_attention

    runs = {(f.dataset, f.model, f.seed) for f in findings}
    constant = [f for f in findings if not f.defined]
    findings = [f for f in findings if f.defined]
    if not findings:
        return []
    name = metric_short_label(metric)
    values = np.array([f.value for f in findings])
    left_out = f"{len(constant)} of constant attention left out" if constant else ""
    spread = (f"{fixed(values.min())} to {fixed(values.max())} (median {fixed(np.median(values))} of {len(findings)} "
              "results" + (f"; {left_out}" if left_out else "") + ")" if len(values) > 1
              else f"{fixed(values[0])}" + (f" ({left_out})" if left_out else ""))
    by_model = _raw_attention_by_model(findings, summary, reference)
    headline = headline_attention(summary, reference=reference)
    raw = [f for f in findings if headline.get(f.model) == f.method]
    split = len(by_model) > 1 and 0 < len(raw) < len(findings)
    tested = {f.verdict_ceiling for f in findings} != {"untested"}
    decisive = raw if split else findings
    answer = plain_answer(*_verdicts(decisive), len(decisive)) if tested else ""
    text = (f"Does attention point at the words a decision rests on? {answer}{' ' if answer else ''}Across "
            f"{counted(len(runs), 'run')} (dataset x model x seed), ")
    if len(by_model) > 1:
        constant_models = sorted({f.model for f in constant} - set(by_model))
        text += (f"each model's raw attention agrees with {method_label(reference)} at a {name} (the median over "
                 "its runs of each run's mean over examples) of "
                 + ", ".join(f"{model} {fixed(value)}" for model, value in by_model.items())
                 + (f" ({', '.join(constant_models)}: constant attention, no ranking)" if constant_models else ""))
        if not split:
            text += f"; all attention-based rankings (raw and variants): {spread}"
    else:
        text += f"attention agrees with {method_label(reference)} at a mean {name} of {spread}"
    # the yardsticks of the runs whose verdicts are counted (a model whose attention ranks nothing has none)
    compared = {(f.dataset, f.model, f.seed) for f in decisive}
    ceiling_means, ceiling_methods = [], set()
    for (dataset, model, seed), method in ceilings(summary, reference=reference, metric=metric,
                                                     comparisons=comparisons).items():
        if (dataset, model, seed) not in compared:
            continue
        ceiling_methods.add(method_label(method))
        rows = summary[(summary["dataset"] == dataset) & (summary["model"] == model) & (summary["seed"] == seed)
                       & (summary["metric"] == metric) & (summary["variant"] == "abs")
                       & (summary["group_by"] == "all")
                       & (((summary["method_a"] == method) & (summary["method_b"] == reference))
                          | ((summary["method_a"] == reference) & (summary["method_b"] == method)))]
        ceiling_means += rows["mean"].tolist()
    if ceiling_means:
        low, high = min(ceiling_means), max(ceiling_means)
        text += (f"; the ceiling ({' / '.join(sorted(ceiling_methods))} vs {method_label(reference)}): "
                 + _span(low, high))
    floor = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")
                    & (((summary["method_a"] == "random") & (summary["method_b"] == reference))
                       | ((summary["method_a"] == reference) & (summary["method_b"] == "random")))]
    floor = floor.loc[[run in compared for run in zip(floor["dataset"], floor["model"], floor["seed"])], "mean"]
    if floor.notna().any():
        text += "; the floor (a random ranking): " + _span(floor.min(), floor.max())
    sentences = [text + "."]
    near = near_uniform_attention(concentration)
    if not tested:
        sentences.append("No paired tests were run, so no difference from the ceiling or the floor is claimed.")
    elif split:  # the variants' counts open the agreement section (every_ranking_sentence)
        sentences.append(f"Paired tests on the same examples put raw attention "
                         f"{_verdict_counts(raw, near=near, detail=False)}.")
    else:
        sentences.append(f"Paired tests on the same examples put attention "
                         f"{_verdict_counts(findings, near=near, detail=False)}.")
    return sentences


def _span(low: float, high: float) -> str:
    """'0.28 to 0.49', or one number where both read the same at two decimals."""
    return fixed(low) if fixed(low) == fixed(high) else f"{fixed(low)} to {fixed(high)}"


def every_ranking_sentence(findings: list[Finding], *, metric: str, frozen: frozenset[str] = frozenset()) -> str:
    """Every attention-based ranking's (raw attention and its variants) spread and paired verdicts; empty where
    no paired tests ran or no agreement is defined. The models in ``frozen`` (attention frozen to uniform) are left
    out whole: their raw attention ranks nothing, and their variants (the gradient with respect to constant
    weights, times those weights) rank by the gradient alone, so none of them says anything about attention."""
    kept = [f for f in findings if f.model not in frozen]
    defined = [f for f in kept if f.defined]
    if not defined or {f.verdict_ceiling for f in defined} == {"untested"}:
        return ""
    values = np.array([f.value for f in defined])
    constant = len(kept) - len(defined)
    controls = sorted({f.model for f in findings} & frozen)
    left_out = [f"{constant} of constant attention"] if constant else []
    if controls:
        left_out.append(f"the {len(findings) - len(kept)} of {', '.join(controls)}, whose attention is frozen to "
                        "uniform (a control)")
    return (f"Every attention-based ranking (raw attention and its variants: {counted(len(defined), 'result')}, "
            f"{metric_short_label(metric)} {fixed(values.min())} to {fixed(values.max())}, median {fixed(np.median(values))}"
            + (f"; left out: {' and '.join(left_out)}" if left_out else "")
            + f"): paired tests put it {_verdict_counts(defined)}.")


def _verdicts(findings: list[Finding]) -> tuple[pd.Series, pd.Series]:
    """Counts of the findings' verdicts against the ceiling and against the floor."""
    return (pd.Series([f.verdict_ceiling for f in findings]).value_counts(),
            pd.Series([f.verdict_floor for f in findings]).value_counts())


def _verdict_counts(findings: list[Finding], *, near: Set[tuple[str, str, int, str]] = frozenset(),
                    detail: bool = True) -> str:
    """'below the ceiling in a of n, as good as it in b, above it in c (by model), undecided at this n in d; above
    the floor in e of n' (zero counts of the rarer verdicts left out). The results below the ceiling on attention
    in ``near`` (near uniform: the published claims count such rows as vacuous) are counted apart; with ``detail``,
    so are the results the equivalence test puts inside the margin although they differ from the ceiling."""
    ceiling, floor = _verdicts(findings)
    undecided = int(ceiling.get("overlapping", 0) + ceiling.get("untestable", 0)
                    + ceiling.get("indistinct_untestable", 0))
    above, below_floor = int(ceiling.get("above", 0)), int(floor.get("below", 0))
    flat = sum((f.dataset, f.model, f.seed, f.method) in near for f in findings if f.verdict_ceiling == "below")
    notes = [f"{flat} of them on near-uniform attention, which the claims count as vacuous"] if flat else []
    above_notes = [_by_model(findings, "above")]
    if detail:
        notes.append(_margin(findings, "below"))
        above_notes.append(_margin(findings, "above", " of them"))
    notes, above_notes = [n for n in notes if n], [n for n in above_notes if n]
    return (f"below the ceiling in {int(ceiling.get('below', 0))} of {len(findings)}"
            + (f" ({'; '.join(notes)})" if notes else "")
            + f", as good as it in {int(ceiling.get('equivalent', 0))}"
            + (f", above it in {above} ({'; '.join(above_notes)})" if above else "")
            + (f", undecided at this n in {undecided}" if undecided else "")
            + f"; above the floor in {int(floor.get('above', 0))} of "
            f"{len(findings)}" + (f", below it in {below_floor}" if below_floor else ""))


def _margin(findings: list[Finding], verdict: str, of: str = "") -> str:
    """'k within the equivalence margin' (``of`` after k) for the findings with ``verdict`` that the equivalence
    test also puts inside the margin (different from the ceiling, but by less than the margin); empty where none
    is."""
    k = sum(f.within_margin for f in findings if f.verdict_ceiling == verdict)
    return f"{k}{of} within the equivalence margin" if k else ""


def _by_model(findings: list[Finding], verdict: str) -> str:
    """'average_tanh 15, cnn_tanh 2': the findings with ``verdict`` per model, most first."""
    counts = pd.Series([f.model for f in findings if f.verdict_ceiling == verdict]).value_counts()
    return ", ".join(f"{model} {count}" for model, count in counts.items())


UNDECIDABLE = ("untested", "untestable", "indistinct_untestable")
"""Verdicts of results no test decided: left out of the counts :func:`plain_answer` words."""


def plain_answer(ceiling: pd.Series, floor: pd.Series, n: int) -> str:
    """The study's answer in words, from the paired tests' verdict counts over ``n`` results.

    ``ceiling``: counts of each result's verdict against a second causal method ("below",
    "equivalent", "above", ...); ``floor``: against a random ranking ("above", ...). Only
    results a test could decide count (:data:`UNDECIDABLE` left out); "partly", "largely" and
    "mostly not" need a strict majority of those, and every answer gives its counts, saying how
    many of the ``n`` a test could decide where that is fewer; "it depends on the model and the
    data" only where the verdicts against the ceiling differ. Not beating the floor is worded
    as "not shown better than", never as "no better than". The numbers and the tests follow
    in the lead's next sentences. Empty where no result was decided against the floor.
    """
    def decided(counts: pd.Series) -> int:
        return int(sum(int(v) for key, v in counts.items() if key not in UNDECIDABLE))

    against_floor, against_ceiling = decided(floor), decided(ceiling)
    if not against_floor:
        return ""
    beats_chance = int(floor.get("above", 0))
    short = int(ceiling.get("below", 0))
    matches = int(ceiling.get("equivalent", 0) + ceiling.get("above", 0))
    chance = f"better than chance in {_decided_of(beats_chance, against_floor, n)}"
    if 2 * beats_chance < against_floor:
        return (f"Mostly not: attention is not shown to rank words better than a random ranking does in "
                f"{_decided_of(against_floor - beats_chance, against_floor, n)}.")
    if 2 * beats_chance > against_floor and against_ceiling:
        if 2 * short > against_ceiling:
            return (f"Partly: {chance}, but less like causal importance than a second causal method is in "
                    f"{_decided_of(short, against_ceiling, n)}.")
        if 2 * matches > against_ceiling:
            return (f"Largely: {chance}, and as like causal importance as a second causal method is, or more, in "
                    f"{_decided_of(matches, against_ceiling, n)}.")
    if not against_ceiling:
        return (f"{chance[0].upper()}{chance[1:]}; whether it ranks words as a second causal method does cannot be "
                "decided at this n.")
    kinds = [(count, text) for count, text in ((matches, "as well as {}"), (short, "less well than {}"),
                                                (against_ceiling - matches - short, "not distinguishable from {} "
                                                                                    "(not parity)")) if count]
    parts = [text.format("a second causal method" if i == 0 else "one") + f" in {_k_of(count, against_ceiling)}"
             for i, (count, text) in enumerate(kinds)]
    undecided = f" ({n - against_ceiling} of {n} not decidable against it at this n)" if against_ceiling < n else ""
    if len(parts) == 1:  # one verdict against the ceiling: nothing depends on the model or the data
        return f"{chance[0].upper()}{chance[1:]}, and {parts[0]}{undecided}."
    return f"It depends on the model and the data: {chance}, {', '.join(parts)}{undecided}."


def _decided_of(k: int, decided: int, n: int) -> str:
    """'3 of 5 results', with 'a test could decide (of n)' where only ``decided`` of the ``n`` results could be
    decided: 'most' over 2 decided results of 6 is said as 'both results a test could decide (of 6)'."""
    noun = "result" if decided == 1 else "results"
    return f"{_k_of(k, decided)} {noun}" + (f" a test could decide (of {n})" if decided < n else "")


def _k_of(k: int, n: int) -> str:
    """'k of n', or where k == n: 'all 4', 'both', 'the one'."""
    if k != n:
        return f"{k} of {n}"
    return {1: "the one", 2: "both"}.get(n, f"all {n}")


def reference_sensitivity(summary: pd.DataFrame, *, reference: str, metric: str) -> str:
    """How each model's raw attention fares against the reference's siblings (the other methods of its family,
    e.g. leave-one-out by [MASK] beside leave-one-out by deletion): the median over runs of the agreement with
    each, so a reader sees how much the headline owes to the choice of reference. Empty without siblings."""
    from analysis.importance import IMPORTANCE_METHODS
    from analysis.plots.figures import headline_attention

    if reference not in IMPORTANCE_METHODS:
        return ""
    family = IMPORTANCE_METHODS.get(reference).family
    present = set(summary["method_a"]) | set(summary["method_b"])
    siblings = sorted(m for m in present if m != reference and m in IMPORTANCE_METHODS
                      and IMPORTANCE_METHODS.get(m).family == family)
    raw = headline_attention(summary, reference=reference)
    rows = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")]

    def median(model: str, method: str, other: str) -> float:
        pair = rows[(rows["model"] == model) & (((rows["method_a"] == method) & (rows["method_b"] == other))
                                                | ((rows["method_a"] == other) & (rows["method_b"] == method)))]
        return float(pair["mean"].median()) if len(pair) else float("nan")

    parts = []
    for sibling in siblings:
        values = {model: (median(model, method, reference), median(model, method, sibling))
                  for model, method in raw.items()}
        values = {model: pair for model, pair in values.items() if np.isfinite(pair).all()}
        if values:
            parts.append(f"against {method_label(sibling)} instead of {method_label(reference)}, each model's raw "
                         "attention agrees at " + ", ".join(f"{model} {fixed(new)} (was {fixed(old)})"
                                                            for model, (old, new) in values.items()))
    if not parts:
        return ""
    return (f"How much the answer owes to the reference (median {metric_short_label(metric)} over datasets and "
            "seeds, |scores|): " + "; ".join(parts) + ". The two references remove a word differently, so each "
            "agreement is with one definition of causal importance, not with importance itself.")


def _raw_attention_by_model(findings: list[Finding], summary: pd.DataFrame, reference: str) -> dict[str, float]:
    """Each model's raw attention (:func:`~analysis.plots.figures.headline_attention`): the median of its
    defined findings over datasets and seeds, highest first."""
    from analysis.plots.figures import headline_attention

    raw = headline_attention(summary, reference=reference)
    values = pd.DataFrame([(f.model, f.value) for f in findings if f.defined and raw.get(f.model) == f.method],
                          columns=["model", "value"])
    if values.empty:
        return {}
    return values.groupby("model")["value"].median().sort_values(ascending=False).to_dict()


def _finite_models(summary: pd.DataFrame, headline: dict[str, str], reference: str, metric: str) -> set[str]:
    """The models whose headline attention has a finite mean agreement with ``reference`` in some run: those
    with dots in the headline forest (the same rows)."""
    from analysis.plots.figures import forest_rows

    attention = forest_rows(summary, reference=reference, ceilings={}, metric=metric, variant="abs")[0]
    return {str(model) for model, method in zip(attention["model"], attention["method"])
            if headline.get(str(model)) == method}


def reference_table(summary: pd.DataFrame, *, reference: str, metric: str) -> pd.DataFrame:
    """Every method's agreement with ``reference`` per run (the headline metric, |scores|)."""
    rows = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")
                   & ((summary["method_b"] == reference) | (summary["method_a"] == reference))]
    rows = rows.assign(pair=[f"{method_label(a)} vs {method_label(b)}" for a, b in zip(rows["method_a"],
                                                                                     rows["method_b"])])
    return rows[["dataset", "model", "seed", "pair", "pair_kind", "n", "mean", "mean_low", "mean_high", "median",
                 "share_significant"]].sort_values(["dataset", "model", "seed", "pair_kind", "mean"])


def _run_title(key: tuple[str, ...]) -> str:
    return " / ".join(key[:2]) + (f" / seed {key[2]}" if len(key) > 2 else "")


@REPORT_SECTIONS.register("agreement")
def agreement_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                      figures: dict[str, str]) -> Section | None:
    """Attention vs causal importance, per run, with the forest plot and the answer for the first screen."""
    summary, evaluation = tables.get("agreement_summary"), tables.get("evaluation")
    if summary is None or summary.empty or evaluation is None:
        return None
    figures = figures_by_key(figures)
    reference = config["agreement"]["reference"]
    metric = config["figures"]["headline_metric"]
    comparisons = tables.get("comparisons")
    findings = agreement_findings(summary, evaluation, reference=reference, metric=metric, comparisons=comparisons)
    ceiling = " / ".join(sorted({method_label(m) for m in ceilings(summary, reference=reference, metric=metric,
                                                                     comparisons=comparisons).values()}))
    ceiling = f"{ceiling} against {method_label(reference)}" if ceiling else "another causal method against the reference"
    blocks: list = [Paragraph(AGREEMENT_INTRO.format(
        metric=metric_short_label(metric), reference=method_label(reference),
        corrected=corrected_label(config["agreement"].get("correction", "holm")))),
                    Table(key_results(findings), caption=f"Agreement of each attention method with "
                          f"{method_label(reference)}, per run", id="key-results")]
    every = every_ranking_sentence(findings, metric=metric, frozen=frozenset(rnn_models(config, uniform=True)))
    if every:
        blocks.insert(1, Paragraph(every))
    sensitivity = reference_sensitivity(summary, reference=reference, metric=metric)
    if sensitivity:
        blocks.append(Paragraph(sensitivity))
    statements = [f.text for f in findings] or ["No attention-vs-causal comparisons were computed."]
    shown = Findings(statements, id="findings")
    blocks.append(Group("Findings", [shown] if len(statements) <= FINDINGS_FOLD_ABOVE else [
        Details(f"All {len(statements)} generated findings, one per run and attention method", [shown])]))
    headline = reference_table(summary, reference=reference, metric=metric)
    blocks.append(Table(headline, caption=f"Every method's agreement with {method_label(reference)} "
                        f"({metric_short_label(metric)}, |scores|), per run", folded=True))
    # with several seeds, one matrix per dataset and model (seeds averaged) instead of one per run
    prefix = "seed_matrix" if figures_under(figures, "seed_matrix") else "matrix"
    matrices = figures_under(figures, prefix)
    if matrices:
        per = "dataset and model, seeds averaged" if prefix == "seed_matrix" else "run"
        blocks.append(Details(f"Agreement between every two methods, per {per} ({len(matrices)} matrices)", [
            Figure(path, f"Mean {metric_short_label(metric)} between every two methods: {_run_title(key)}"
                   + (" (mean over seeds)" if prefix == "seed_matrix" else "") + ". Compare the attention rows with "
                   "the cells between causal methods, the ceiling.", key=f"{prefix}/{'/'.join(key)}")
            for key, path in sorted(matrices.items())]))
    heatmaps = figures_under(figures, "heatmaps")
    if heatmaps:
        blocks.append(Details(f"Word importance of a few examples, per run ({len(heatmaps)} figures)", [
            Figure(path, f"|score| of each word divided by the method's largest, for a few examples: "
                   f"{_run_title(key)}. The per-example view shows explained examples of every run with signed scores.",
                   key=f"heatmaps/{'/'.join(key)}") for key, path in sorted(heatmaps.items())]))
    if "agreement_forest" in figures:
        blocks.insert(1, Figure(figures["agreement_forest"], (
            f"Every attention method: mean {metric_short_label(metric)} with {method_label(reference)} (dots: "
            "training seeds with 95% intervals over explained examples; diamonds: their mean), against the ceiling "
            f"(green band: {ceiling}) and the random floor (dashed). One panel per "
            "dataset and model; click to enlarge."),
            alt="Forest plot of every attention method's agreement with causal importance per dataset and model",
            key="agreement_forest", id="forest-all"))
    front = []
    if "agreement_headline" in figures:
        from analysis.plots.figures import headline_attention

        raw_attention = headline_attention(summary, reference=reference)
        raw = sorted({method_label(method) for method in raw_attention.values()})
        ranked = _finite_models(summary, raw_attention, reference, metric)
        constant = sorted(model for model in raw_attention if model not in ranked)
        front.append(Figure(figures["agreement_headline"], (
            f"Does attention agree with causal importance? Each model's raw attention ({' / '.join(raw)}) against "
            f"{method_label(reference)}: mean {metric_short_label(metric)} per training seed (dots, 95% intervals "
            "over explained examples; diamonds: their mean). On each row, the green band is that model's ceiling "
            f"({ceiling}) and the dashed tick its random floor. "
            + (f"No dots for {', '.join(constant)}: its attention is constant and ranks nothing. " if constant else "")
            + "[Every attention method](#forest-all) is in the next section."),
            alt="Forest plot of each model's raw attention against causal importance, one panel per dataset, with "
                "each model's causal ceiling as a band and its random floor as a dashed tick",
            key="agreement_headline", style="hero", id="forest"))
    return Section("Agreement with causal importance", blocks, findings=statements, order=1, id="agreement",
                   tables={"agreement_with_reference": headline},
                   lead=agreement_lead(findings, summary, reference=reference, metric=metric,
                                       comparisons=comparisons, concentration=tables.get("attention_concentration")),
                   front=front)


@REPORT_SECTIONS.register("accuracy")
def accuracy_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                     figures: dict[str, str]) -> Section | None:
    """Whether every model learned its task."""
    evaluation = tables.get("evaluation")
    if evaluation is None or evaluation.empty:
        return None
    figures = figures_by_key(figures)
    columns = [c for c in ("dataset", "model", "seed", "accuracy", "chance", "n_eval", "n_truncated", "max_length")
               if c in evaluation.columns]
    accuracy = evaluation[columns]
    blocks: list = [Paragraph("Agreement and intervention results mean something only for a model that learned its "
                              "task: accuracy on the evaluation split, against chance (the majority class).")]
    if "chance" in accuracy.columns:
        poor = accuracy[accuracy["accuracy"] < accuracy["chance"] + 0.1]
        if len(poor):
            blocks.append(Paragraph("Close to chance (within 10 points), so their explanations say little: " + "; ".join(
                f"{r.dataset} / {r.model} / seed {r.seed} ({r.accuracy:.1%})" for r in poor.itertuples()) + ".",
                style="warning"))
    if "accuracy" in figures:
        blocks.append(Figure(figures["accuracy"], "Accuracy of every model on the evaluation split: bars are seed "
                             "means, dots single seeds, the dashed line chance.", key="accuracy"))
    means = seed_means(accuracy)
    if means["seeds"].max() > 1:
        blocks.append(Table(means, caption="Accuracy over training seeds: the mean, and the lowest and highest seed"))
    blocks.append(Table(accuracy, caption="Accuracy per run"))
    return Section("Model accuracy", blocks, order=3, id="accuracy", tables={"accuracy": accuracy,
                                                                             "accuracy_seeds": means})


def seed_means(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model: the seeds' mean accuracy, their lowest and highest, and chance (the evaluation split's
    majority share, the same for every seed)."""
    grouped = accuracy.groupby(["dataset", "model"], sort=True)
    table = grouped["accuracy"].agg(seeds="size", mean="mean", lowest="min", highest="max").reset_index()
    if "chance" in accuracy.columns:
        table["chance"] = grouped["chance"].mean().to_numpy()
    return table


def _as_percent(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """``table`` with the shares in ``column`` shown as percentages ('12.3%', '<0.1%'), for display."""
    return table.assign(**{column: ["" if pd.isna(v) else "<0.1%" if 0 < v < 0.0005 else f"{100 * v:.1f}%"
                                    for v in table[column]]})


def method_cost(diagnostics: pd.DataFrame) -> pd.DataFrame:
    """Seconds and forward passes per example of every method per dataset and model, with IG's completeness."""
    if diagnostics is None or diagnostics.empty:
        return pd.DataFrame()
    if "converged" not in diagnostics.columns:
        diagnostics = diagnostics.assign(converged=None)
    from analysis.report.summary import _count_false

    return (diagnostics.groupby(["dataset", "model", "method"])
            .agg(seconds_per_example=("seconds", "mean"), forward_passes=("forward_passes", "mean"),
                 ig_gap_median=("completeness_gap", lambda s: s.abs().median()),
                 ig_gap_max=("completeness_gap", lambda s: s.abs().max()),
                 ig_not_converged=("converged", _count_false))
            .astype({"ig_not_converged": "Int64"})  # a count of examples (blank for other methods)
            .reset_index())


@REPORT_SECTIONS.register("cost")
def cost_section(config: dict[str, Any], tables: dict[str, pd.DataFrame], figures: dict[str, str]) -> Section | None:
    """What the methods and the workflow's stages cost."""
    from analysis.report.cost import cost_summary, projected_seconds

    cost = method_cost(tables.get("diagnostics"))
    stages = tables.get("stage_costs")
    configured = {int(s) for s in config.get("seeds", [])}
    if stages is not None and configured and "seed" in stages:  # benchmark files of seeds this config does not run
        seed = pd.to_numeric(stages["seed"], errors="coerce")
        stages = stages[seed.isna() | seed.isin(configured)]
    if cost.empty and (stages is None or stages.empty):
        return None
    blocks: list = []
    out = {}
    if not cost.empty:
        note = convergence_note(cost)
        blocks += [Paragraph("Seconds and forward passes per explained example, per method (means over examples and "
                             "seeds); for integrated gradients the completeness gap |sum of attributions - (f(x) - "
                             "f(baseline))| and the examples that missed its tolerance." + (f" {note}" if note else "")),
                   Table(cost.assign(method=cost["method"].map(method_label)), caption="Cost per method")]
        out["cost"] = cost
    if stages is not None and not stages.empty:
        per_rule = cost_summary(stages, by=("rule",))
        per_model = cost_summary(stages.assign(model=stages["model"].fillna("(data and study-wide stages)")),
                                 by=("model",))
        seeds = len(config.get("seeds", [])) or 1
        further = projected_seconds(stages, seeds + 1) - projected_seconds(stages, seeds)
        reused = int((stages["wall_seconds"] > stages["measured_seconds"]).sum()) if "measured_seconds" in stages else 0
        load = stages["cpu_seconds"].sum() / stages["wall_seconds"].sum()
        blocks += [Paragraph(f"Wall time of every workflow stage, from Snakemake's benchmark files, as measured "
                             f"(including any slowdown from concurrent jobs and other load: CPU time was {load:.0%} "
                             "of wall time): "
                             f"{stages['wall_seconds'].sum() / 3600:.2f} h in all over {len(stages)} benchmarked "
                             "jobs (the summary and its publishing are not benchmarked)"
                             + (f" ({reused} jobs that resumed after an interruption or reused finished methods or "
                                f"causal tests count at least the seconds that work took when it was computed)"
                                if reused else "") + " (serial; "
                             f"{stages['cpu_seconds'].sum() / 3600:.2f} h of CPU time, less where jobs waited for a "
                             f"core); a one-seed study takes about {projected_seconds(stages, 1) / 3600:.2f} h and "
                             f"each further seed adds about {further / 3600:.2f} h, serially, so this study's "
                             f"{counted(seeds, 'seed')} {'takes' if seeds == 1 else 'take'} about "
                             f"{projected_seconds(stages, seeds) / 3600:.2f} h; two "
                             "single-threaded jobs at a time (this workflow's default profile on two cores) take about "
                             "half that. `python benchmarks/stage_cost.py results/<study>` prints the same from the "
                             "benchmark files."),
                   Table(_as_percent(per_rule, "share"), caption="Cost per stage (most costly first)", digits=1),
                   Table(_as_percent(per_model, "share"), caption="Cost per model, all stages (most costly first)",
                         digits=1)]
        out["stage_costs"] = per_rule
        out["model_costs"] = per_model
    return Section("Cost", blocks, order=84, id="cost", tables=out)


@REPORT_SECTIONS.register("data")
def data_section(config: dict[str, Any], tables: dict[str, pd.DataFrame], figures: dict[str, str]) -> Section | None:
    """What was read and kept, and where it comes from."""
    from analysis.report.data import dataset_sources

    data = tables.get("data_report")
    if data is None or data.empty:
        return None
    blocks: list = [Paragraph("Rows read, dropped and kept per dataset and role (train, evaluation, validation), "
                              "with the label counts of each final table; where the notes say rows were held out of the "
                              "training sample for epoch selection, the train row counts what remains for training "
                              "and a validation row the held-out examples."),
                    Table(data, caption="Data per dataset and role")]
    sources = dataset_sources(config)
    if not sources.empty:
        blocks.append(Table(sources, caption="Sources, citations and licences"))
    reductions = config.get("report", {}).get("reductions", [])
    if reductions:
        from analysis.report.methods import REDUCTIONS_ID

        blocks.append(Paragraph(f"How the data and models were reduced from the published setups: "
                                f"[Methods, Reductions](#{REDUCTIONS_ID}) ({counted(len(reductions), 'item')})."))
    return Section("Data", blocks, order=90, id="data", tables={"data": data})


@REPORT_SECTIONS.register("methods")
def methods_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                    figures: dict[str, str]) -> Section | None:
    """Methods, metrics, statistics and reductions, from the registered declarations and the config."""
    from analysis.report.methods import methods_blocks

    return Section("Methods", methods_blocks(config, tables), order=80, id="methods")
