"""Plausibility: how well importance scores match human (or generated) rationales.

Agreement with a rationale says whether an explanation looks right to a person, not
whether it reflects what the model computed; the report keeps these plausibility
figures apart from the faithfulness ones (DeYoung et al. 2020, ERASER; Jacovi &
Goldberg 2020). Metrics, per example with a rationale (``gt_mask`` with at least one
marked word among the words the model kept), for the explained (predicted) class:

* token F1 at the rationale length: the top-k words by score, with k the number of
  rationale words, against the rationale (precision = recall = F1 at that k). This k is an
  oracle: it tells the ranking how many words to mark;
* IOU F1 (ERASER): the top-k words form contiguous predicted spans; a predicted span
  matches when its intersection-over-union with some human span is at least 0.5;
  precision = matched predicted spans / predicted spans, recall = matched human spans /
  human spans, F1 per example, averaged over examples (ERASER's "macro" IOU F1 is the F1 of
  the mean precision and recall instead, 0.01-0.02 higher on HateXplain);
* token F1 and IOU F1 of the top 5 words (all words of a shorter text), as HateXplain
  scores plausibility (Mathew et al. 2021, ``testing_with_rational.py``), with no oracle
  length: each of the five words is a predicted span of its own (so a human span of more
  than two words can never match at IOU >= 0.5), the human spans are the rationale's runs
  of words. Differences from their numbers: ties are broken at random (theirs by position,
  the later word first); IOU F1 is the mean of per-example F1 (theirs the F1 of the mean
  precision and recall, and ERASER's recall counts every predicted span that matches, so
  two predicted words inside one two-word span count twice); and MiniLM is scored on words
  (its subwords pooled), where they rank BERT's subword tokens, [CLS] and [SEP] included,
  so only the RNN numbers are comparable with their table;
* AUPRC: ERASER's area under the precision-recall curve of the scores against the mask
  (scikit-learn's ``auc(recall, precision)``, trapezoidal).

Ties are broken at random, never by word order: token F1 takes the expected value at the
k-th place (each tied word counts with its chance of being picked), IOU F1 the mean over 32
seeded random tie-breaks there, AUPRC the mean over 1,000 seeded random orders of all tied
words (ERASER's curve makes a tie block one threshold, and its trapezoid rewards ties). Methods with a non-finite score for an example (e.g.
attention flow beyond its token limit) are left out of that example.

Chance: the expected token F1 of a random ranking is the share of rationale words,
k / n (reported as ``chance``); a random ranking's expected AUPRC is higher than that
on short texts, so the ``random`` method, scored by the same code, is the floor every
method is compared with (``vs_random``): a paired sign-flip test on the same examples
(:func:`analysis.stats.hypothesis.paired_test`), Holm-adjusted over the methods of one
metric, variant and group.

The study's own question is asked of the rationales too: is raw attention more or less
plausible than the other methods? Each method is compared with the run's raw attention
(:func:`attention_reference`) by the same paired test, Holm-adjusted over the methods
(``vs_attention``).

Signed scores are evidence for the predicted class, and the rationales mark why a post is
toxic, so the signed variant is summarised only on correctly classified posts (group
``correct``): on a misclassified post it would score evidence for "normal" against a toxic
rationale (:func:`headline_group`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.groundtruth.intervals import mean_intervals
from analysis.seeding import derive_seed
from analysis.stats.hypothesis import paired_test
from analysis.stats.paired import adjust_p_values

PUBLISHED_TOP_K = 5
"""Words HateXplain's plausibility metrics take from each ranking (Mathew et al. 2021)."""

METRICS = {
    "token_f1": "token F1 of the top-k words, k = rationale length (an oracle length)",
    "iou_f1": "IOU F1: predicted top-k spans matching a human span at IOU >= 0.5 (ERASER), k = rationale length",
    "token_f1_top5": "token F1 of the top 5 words (as HateXplain scores them)",
    "iou_f1_top5": "IOU F1 of the top 5 words, each its own span, at IOU >= 0.5 (as HateXplain scores them)",
    "auprc": "area under the precision-recall curve of the scores against the rationale",
}
METRIC_RANGES = dict.fromkeys(METRICS, (0.0, 1.0))
"""Every plausibility metric lies in [0, 1]; the study table's intervals are intersected with that range."""
IOU_THRESHOLD = 0.5


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest scores as each word's probability of being among them, ties broken at random
    (:func:`analysis.metrics.agreement.top_k_membership`): 1 or 0 where no tie straddles the k-th place."""
    from analysis.metrics.agreement import top_k_membership

    return top_k_membership(np.asarray(scores, dtype=float), k)


def spans(mask: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of 1s as half-open (start, end) word intervals."""
    padded = np.concatenate([[0], np.asarray(mask, dtype=int), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union else 0.0


TIE_BREAKS = 32
"""Random tie-breaks IOU F1 averages over where a tie straddles the k-th place."""


def iou_f1(predicted: Sequence[float], truth: Sequence[int], threshold: float = IOU_THRESHOLD, *,
           word_spans: bool = False) -> float:
    """ERASER's IOU F1 of one example between a top-k mask and the rationale (see the module docstring).

    The predicted spans are the mask's runs of words, or with ``word_spans`` each marked word on its own (as
    HateXplain makes its top-5 predictions). ``predicted`` may hold fractional memberships (:func:`top_k_mask`
    where ties straddle the k-th place): the result is then the mean over :data:`TIE_BREAKS` seeded random
    choices of the tied words."""
    predicted = np.asarray(predicted, dtype=float)
    partial = (predicted > 0) & (predicted < 1)
    if partial.any():
        rng = np.random.default_rng(0)
        tied = np.flatnonzero(partial)
        places = int(round(predicted[tied].sum()))
        values = []
        for _ in range(TIE_BREAKS):
            mask = (predicted >= 1).astype(int)
            mask[rng.choice(tied, size=places, replace=False)] = 1
            values.append(iou_f1(mask, truth, threshold, word_spans=word_spans))
        return float(np.mean(values))
    marked = predicted.astype(int)
    pred_spans = [(i, i + 1) for i in np.flatnonzero(marked).tolist()] if word_spans else spans(marked)
    true_spans = spans(truth)
    if not pred_spans or not true_spans:
        return 0.0
    iou = np.array([[_iou(p, t) for t in true_spans] for p in pred_spans])
    precision = float((iou.max(axis=1) >= threshold).mean())
    recall = float((iou.max(axis=0) >= threshold).mean())
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def token_f1(predicted: Sequence[float], truth: Sequence[int]) -> float:
    """Token F1 of a top-k mask against the rationale; a fractional mask (ties at the k-th place) gives the
    expected F1, which is linear in the expected hits because k is fixed."""
    predicted, truth = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    hits = float((predicted * truth).sum())
    if not hits:
        return 0.0
    precision, recall = hits / predicted.sum(), hits / truth.sum()
    return 2 * precision * recall / (precision + recall)


TIE_ORDERS = 1000
"""Random orders of the tied words AUPRC averages over (standard error about 0.005 on a fully tied text)."""


def auprc(scores: Sequence[float], truth: Sequence[int]) -> float:
    """ERASER's AUPRC of one example (the trapezoid under scikit-learn's precision-recall curve), with tied
    scores broken at random: the mean over :data:`TIE_ORDERS` seeded orders of the tied words.

    Without that, a block of tied words is one point of the curve and the trapezoid's straight line across it
    rewards ties: constant scores got (1 + k/n) / 2 (k rationale words of n), more than a random ranking's
    expected AUPRC and than most methods' (uniform attention on HateXplain: 0.70, random 0.44).
    1.0 when the rationale is empty or covers every word (the curve has nothing to rank).
    """
    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth, dtype=int)
    if not 0 < truth.sum() < len(truth):
        return 1.0
    _, levels = np.unique(-scores, return_inverse=True)  # 0 = the highest score; ties share a level
    if levels.max() + 1 == len(scores):
        return float(ranked_auprc(truth[np.argsort(levels)][None, :])[0])
    keys = levels + np.random.default_rng(0).random((TIE_ORDERS, len(scores)))  # ties in a random order
    return float(ranked_auprc(truth[np.argsort(keys, axis=1)]).mean())


def ranked_auprc(labels: np.ndarray) -> np.ndarray:
    """The trapezoidal AUPRC of each row of ``labels`` (0/1, best-ranked word first, no ties), as
    ``sklearn.metrics.auc(recall, precision)`` of ``precision_recall_curve`` computes it: the curve runs from
    (recall 0, precision 1) through every rank up to the first at full recall."""
    labels = np.asarray(labels, dtype=float)
    hits = labels.cumsum(axis=1)
    total = hits[:, -1:]
    precision = hits / np.arange(1, labels.shape[1] + 1)
    recall = hits / total
    before = np.concatenate([np.zeros((len(labels), 1)), recall[:, :-1]], axis=1)
    precision_before = np.concatenate([np.ones((len(labels), 1)), precision[:, :-1]], axis=1)
    reached = np.concatenate([np.zeros((len(labels), 1), dtype=bool), (hits >= total)[:, :-1]], axis=1)
    steps = np.where(reached, 0.0, (recall - before) * (precision + precision_before) / 2)
    return steps.sum(axis=1)


def example_metrics(scores: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Token F1 and IOU F1 at the rationale length and of the top 5 words, and AUPRC, of one example's scores."""
    oracle = top_k_mask(scores, int(truth.sum()))
    top5 = top_k_mask(scores, min(PUBLISHED_TOP_K, len(scores)))
    return {"token_f1": token_f1(oracle, truth), "iou_f1": iou_f1(oracle, truth),
            "token_f1_top5": token_f1(top5, truth), "iou_f1_top5": iou_f1(top5, truth, word_spans=True),
            "auprc": auprc(scores, truth)}


def rationale_scores(importance: pd.DataFrame, examples: pd.DataFrame, *,
                     variants: Sequence[str] = ("abs",)) -> pd.DataFrame:
    """Per example x method x variant: every metric of :data:`METRICS`, the rationale size and chance.

    Only examples whose ``gt_mask`` marks at least one of the words the model kept (the
    mask is cut to ``n_words`` of the importance table, so truncation is respected).
    ``abs`` scores by |score|, ``signed`` by the score (evidence for the predicted
    class). Columns: example_id, method, family, variant, n_words, rationale_words,
    predicted, label, correct, constant (the method gave every word of the example the same
    score), the metrics, chance.
    """
    masks = {str(i): np.asarray(m, dtype=int) for i, m in zip(examples["example_id"], examples["gt_mask"])
             if m is not None and len(m) and np.asarray(m).sum() > 0}
    rows = []
    subset = importance.loc[importance["example_id"].astype(str).isin(masks)]
    for (example_id, method), part in subset.groupby([subset["example_id"].astype(str), "method"], sort=True):
        part = part.sort_values("word_index")
        n = len(part)
        truth = masks[example_id][part["word_index"].to_numpy()] if n else np.zeros(0, dtype=int)
        if truth.sum() == 0:
            continue  # every rationale word was truncated away
        first = part.iloc[0]
        if not np.isfinite(part["score"].to_numpy(dtype=float)).all():
            continue  # the method has no score for some word of this example (e.g. flow beyond its token limit)
        for variant in variants:
            values = part["score"].to_numpy(dtype=float)
            values = np.abs(values) if variant == "abs" else values
            rows.append({
                "example_id": example_id, "method": method, "family": first["family"], "variant": variant,
                "n_words": n, "rationale_words": int(truth.sum()), "predicted": int(first["predicted"]),
                "label": int(first["label"]), "correct": bool(first["predicted"] == first["label"]),
                "constant": bool(np.ptp(values) == 0) if n else True, **example_metrics(values, truth), "chance": float(truth.sum()) / n,
            })
    columns = ["example_id", "method", "family", "variant", "n_words", "rationale_words", "predicted", "label",
               "correct", "constant", *METRICS, "chance"]
    return pd.DataFrame(rows, columns=columns)


HEADLINE_GROUPS = {"abs": "all", "signed": "correct"}
"""The group each variant is read on: magnitudes on every post with a rationale, signed evidence for the
predicted class only where that class is the rationale's (see the module docstring)."""


def headline_group(variant: str) -> str:
    """The group the report reads ``variant`` on (:data:`HEADLINE_GROUPS`)."""
    return HEADLINE_GROUPS.get(variant, "all")


def attention_reference(methods: Sequence[str]) -> str | None:
    """The raw attention other methods are compared with: the first of ``methods`` in
    :data:`~analysis.interventions.comparisons.RAW_ATTENTION` (the RNN's attention layer, else the transformer's
    last-layer head mean, the attention the published claims edit), as the causal tests choose it; None when the
    run has none."""
    from analysis.interventions.comparisons import RAW_ATTENTION

    return next((m for m in RAW_ATTENTION if m in set(methods)), None)


def summarize_plausibility(scores: pd.DataFrame, *, n_resamples: int = 1000, level: float = 0.95,
                           seed: int = 0) -> pd.DataFrame:
    """Mean of each metric per method, variant and group, with bootstrap intervals, a test against random and
    one against raw attention.

    Groups: ``all`` (every example with a rationale) and ``correct`` (those the model
    classifies correctly: the rationale explains the gold label, which is then also the
    explained class); the signed variant only in ``correct`` (:data:`HEADLINE_GROUPS`).
    ``chance`` is the mean share of rationale words of the same examples. ``vs_random``
    and ``p_adjusted`` come from :func:`compare_with_random`, ``vs_attention`` and
    ``p_attention`` from :func:`compare_with_attention`.
    """
    keys = ["method", "family", "variant", "group"]
    grouped = pd.concat([scores.loc[scores["variant"] != "signed"].assign(group="all"),
                         scores.loc[scores["correct"].astype(bool)].assign(group="correct")], ignore_index=True)
    frames = []
    for metric in METRICS:
        summary = mean_intervals(grouped, keys, metric, n_resamples=n_resamples, level=level,
                                 seed=derive_seed(seed, metric))
        if len(grouped):
            summary = summary.merge(grouped.groupby(keys)["chance"].mean().reset_index(), on=keys, how="left")
        else:
            summary["chance"] = np.nan
        frames.append(summary.assign(metric=metric))
    summary = pd.concat(frames, ignore_index=True)
    columns = [*keys, "metric", "n", "mean", "mean_low", "mean_high", "chance"]
    summary = summary[columns] if len(summary) else pd.DataFrame(columns=columns)
    keys = ["method", "variant", "group", "metric"]
    summary = summary.merge(compare_with_random(grouped, alpha=1 - level, seed=seed), on=keys, how="left")
    summary["vs_random"] = summary["vs_random"].fillna("untested")
    summary = summary.merge(compare_with_attention(grouped, alpha=1 - level, seed=seed), on=keys, how="left")
    summary["vs_attention"] = summary["vs_attention"].fillna("untested")
    return summary


def compare_with_random(grouped: pd.DataFrame, *, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Each method against the ``random`` method on the same examples, per variant, group and metric.

    A paired sign-flip test of the per-example differences (method minus random, examples
    that both scored); the methods of one variant x group x metric are one family, Holm-
    adjusted. ``vs_random`` is ``above`` or ``below`` where the adjusted p-value is below
    ``alpha``, ``untestable`` where even all differences of one sign could not reach
    ``alpha`` (fewer than 6 examples at 5%), and ``not distinguishable`` otherwise (which
    is not parity); the random method itself is the ``reference``. Columns: method,
    variant, group, metric, vs_random, p_adjusted.
    """
    return _compare_with(grouped, "random", alpha=alpha, seed=seed).rename(
        columns={"verdict": "vs_random", "p": "p_adjusted"})


def compare_with_attention(grouped: pd.DataFrame, *, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Each method against the run's raw attention (:func:`attention_reference`) on the same examples, as
    :func:`compare_with_random` does against random (the random ranking is left out of this family: its
    comparison with attention is attention's ``vs_random``, so its ``vs_attention`` is ``untested``).
    ``vs_attention`` says where the method stands: ``above`` = more plausible than raw attention;
    ``undefined`` where the attention gives every word of every example the same weight (frozen uniform): it
    ranks nothing, and a comparison with it would be one with its random tie-breaks. Columns: method, variant,
    group, metric, vs_attention, p_attention; empty when the run has no raw attention."""
    reference = attention_reference(grouped["method"].unique()) if len(grouped) else None
    if reference is None:
        return pd.DataFrame(columns=["method", "variant", "group", "metric", "vs_attention", "p_attention"])
    return _compare_with(grouped, reference, alpha=alpha, seed=seed, leave_out=("random",)).rename(
        columns={"verdict": "vs_attention", "p": "p_attention"})


def _compare_with(grouped: pd.DataFrame, reference: str, *, alpha: float, seed: int,
                  leave_out: Sequence[str] = ()) -> pd.DataFrame:
    """Paired sign-flip tests of every method against ``reference`` per variant, group and metric, Holm-adjusted
    over the methods of one family; columns method, variant, group, metric, verdict, p."""
    rows = []
    for (variant, group), part in grouped.groupby(["variant", "group"], sort=True):
        for metric in METRICS:
            wide = part.pivot_table(index="example_id", columns="method", values=metric, aggfunc="first")
            if reference not in wide:
                continue
            methods = [m for m in wide if m != reference and m not in leave_out]
            if "constant" in part and part.loc[part["method"] == reference, "constant"].astype(bool).all():
                rows += [(m, variant, group, metric, "undefined", np.nan) for m in methods]
                rows.append((reference, variant, group, metric, "reference", np.nan))
                continue
            # only the test is used (the summary has each method's own interval): a token bootstrap
            name = "vs random" if reference == "random" else f"vs {reference}"
            decisions = [paired_test(wide[m].to_numpy() - wide[reference].to_numpy(), alpha=alpha, n_resamples=2,
                                     seed=derive_seed(seed, name, m, variant, group, metric)) for m in methods]
            adjusted = adjust_p_values(np.array([d.p_value for d in decisions], dtype=float), "holm")
            for method, decision, p in zip(methods, decisions, adjusted):
                if np.isfinite(p) and p < alpha and decision.estimate != 0:
                    verdict = "above" if decision.estimate > 0 else "below"
                elif decision.untestable(alpha):
                    verdict = "untestable"
                else:
                    verdict = "not distinguishable"
                rows.append((method, variant, group, metric, verdict, float(p)))
            rows.append((reference, variant, group, metric, "reference", np.nan))
    return pd.DataFrame.from_records(rows, columns=["method", "variant", "group", "metric", "verdict", "p"])
