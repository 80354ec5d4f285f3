"""Rationale metrics: token F1 at the rationale length, ERASER's IOU F1, AUPRC, and their summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, average_precision_score, precision_recall_curve

from analysis.groundtruth.plausibility import (
    example_metrics,
    headline_group,
    iou_f1,
    rationale_scores,
    spans,
    summarize_plausibility,
    token_f1,
    top_k_mask,
)


def test_spans_and_top_k():
    assert spans([0, 1, 1, 0, 1]) == [(1, 3), (4, 5)]
    assert spans([0, 0]) == []
    assert top_k_mask(np.array([0.1, 0.9, 0.5, 0.9]), 2).tolist() == [0, 1, 0, 1]  # ties: earlier word first


def test_token_f1_and_iou_f1_by_hand():
    truth = np.array([0, 1, 1, 1, 0, 0, 1, 0])  # human spans (1, 4) and (6, 7)
    predicted = np.array([0, 0, 1, 1, 1, 0, 0, 0])  # one span (2, 5): IOU with (1, 4) = 2/4 = 0.5 -> a match
    assert token_f1(predicted, truth) == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    # precision 1/1 predicted spans matched, recall 1/2 human spans matched
    assert iou_f1(predicted, truth) == pytest.approx(2 * 1 * 0.5 / 1.5)
    shifted = np.array([0, 0, 0, 1, 1, 1, 0, 0])  # IOU with (1, 4) = 1/5: no match
    assert iou_f1(shifted, truth) == 0.0
    assert iou_f1(truth, truth) == 1.0 and token_f1(truth, truth) == 1.0


def test_example_metrics_match_sklearn_and_the_definitions():
    truth = np.array([0, 1, 0, 0, 1, 0])
    scores = np.array([0.1, 0.8, 0.3, 0.9, 0.7, 0.0])
    metrics = example_metrics(scores, truth)
    precision, recall, _ = precision_recall_curve(truth, scores)
    assert metrics["auprc"] == pytest.approx(auc(recall, precision))  # ERASER's _auprc, not average precision
    assert metrics["auprc"] != pytest.approx(average_precision_score(truth, scores))
    assert metrics["token_f1"] == pytest.approx(0.5)  # top-2 = words 3 and 1: one of the two rationale words
    perfect = example_metrics(truth.astype(float), truth)
    assert {k: perfect[k] for k in ("token_f1", "iou_f1", "auprc")} == {"token_f1": 1.0, "iou_f1": 1.0, "auprc": 1.0}


def test_top5_metrics_take_five_words_whatever_the_rationale_length():
    """As HateXplain scores plausibility: the five highest-ranked words, no oracle length. With two rationale words
    ranked first of eight, precision 2/5 and recall 1 give token F1 4/7; a rationale word in sixth place is missed.
    For IOU F1 each top word is a span of its own (their testing_with_rational.py): each of words 0 and 1 has IOU
    1/2 with the human span (0, 2), so 2 of 5 predicted spans match and the one human span is found (F1 4/7),
    where the top five as one run of words (0-5) would have IOU 2/5 and match nothing; a three-word human span can
    never be matched by one word."""
    truth = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    scores = np.array([8.0, 7, 6, 5, 4, 3, 2, 1])
    metrics = example_metrics(scores, truth)
    assert metrics["token_f1"] == 1.0 and metrics["token_f1_top5"] == pytest.approx(4 / 7)
    assert metrics["iou_f1_top5"] == pytest.approx(4 / 7)
    assert iou_f1(top_k_mask(scores, 5), truth) == 0.0  # the same five words as one span
    three = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    assert example_metrics(scores, three)["iou_f1_top5"] == 0.0 and example_metrics(scores, three)["iou_f1"] == 1.0
    sixth = np.array([0, 0, 0, 0, 0, 1, 0, 0])
    assert example_metrics(scores, sixth)["token_f1_top5"] == 0.0
    short = example_metrics(np.array([3.0, 2, 1]), np.array([0, 1, 0]))  # fewer than five words: all of them
    assert short["token_f1_top5"] == pytest.approx(2 * (1 / 3) / (1 / 3 + 1))


def test_constant_scores_pick_no_words_by_position():
    """Uniform attention has no top k: its token F1 is the chance level k / n whichever words the rationale
    marks (breaking ties by position gave 1 to a rationale at the start of the text and 0 to one at its end)."""
    flat = np.full(8, 0.125)
    start, end = np.r_[1, 1, np.zeros(6, dtype=int)], np.r_[np.zeros(6, dtype=int), 1, 1]
    for truth in (start, end):
        assert example_metrics(flat, truth)["token_f1"] == pytest.approx(2 / 8)
    assert 0 < example_metrics(flat, start)["iou_f1"] < 1


def test_auprc_equals_scikit_learns_trapezoid_on_untied_scores():
    rng = np.random.default_rng(3)
    for n in (3, 8, 40):
        for _ in range(50):
            truth = (rng.random(n) < 0.3).astype(int)
            truth[rng.integers(n)] = 1
            truth[rng.integers(n)] = 0 if truth.sum() > 1 else truth[0]
            if not 0 < truth.sum() < n:
                continue
            scores = rng.normal(size=n)
            precision, recall, _ = precision_recall_curve(truth, scores)
            assert example_metrics(scores, truth)["auprc"] == pytest.approx(auc(recall, precision), abs=1e-12)


def test_tied_scores_get_a_random_rankings_auprc_wherever_the_rationale_is():
    """ERASER's trapezoid across one tie block gave constant scores (1 + k/n) / 2, above a random ranking's expected
    AUPRC (uniform attention beat every real method on HateXplain); ties are now broken at random, so constant
    scores get a random ranking's expected AUPRC whether the rationale opens, sits inside or ends the text."""
    rng = np.random.default_rng(1)
    n, k = 20, 4
    expected = np.mean([auc(*precision_recall_curve(np.r_[np.ones(k), np.zeros(n - k)], rng.permutation(n))[1::-1])
                        for _ in range(20000)])
    for start in (0, 8, n - k):
        truth = np.zeros(n, dtype=int)
        truth[start:start + k] = 1
        assert example_metrics(np.full(n, 0.05), truth)["auprc"] == pytest.approx(expected, abs=0.015)
    truth = np.r_[np.ones(k, dtype=int), np.zeros(n - k, dtype=int)]
    # ties only among non-rationale words change nothing: the rationale still comes first
    assert example_metrics(np.r_[np.full(k, 0.9), np.full(n - k, 0.1)], truth)["auprc"] == pytest.approx(1.0)


def _importance(scores: dict[str, dict[str, list[float]]], predicted: int = 1) -> pd.DataFrame:
    rows = []
    for example_id, methods in scores.items():
        for method, values in methods.items():
            for i, value in enumerate(values):
                rows.append({"example_id": example_id, "method": method, "family": "gradient", "signed": True,
                             "word_index": i, "word": f"w{i}", "score": value, "predicted": predicted, "label": 1,
                             "n_words": len(values)})
    return pd.DataFrame(rows)


def test_rationale_scores_use_only_examples_with_a_rationale_among_kept_words():
    examples = pd.DataFrame({"example_id": ["a", "b", "c", "d"],
                             "gt_mask": [[0, 1, 0], [0, 0, 0], None, [0, 0, 0, 1]]})
    importance = _importance({
        "a": {"m": [0.1, -0.9, 0.2]}, "b": {"m": [1.0, 0.0, 0.0]}, "c": {"m": [1.0]},
        "d": {"m": [0.5, 0.2, 0.1]},  # the rationale word (index 3) was truncated away
    })
    scores = rationale_scores(importance, examples, variants=["abs", "signed"]).set_index("variant")
    assert scores["example_id"].unique().tolist() == ["a"]
    assert scores.loc["abs", "token_f1"] == 1.0 and scores.loc["abs", "auprc"] == 1.0
    assert scores.loc["signed", "token_f1"] == 0.0  # the rationale word has the lowest signed score
    assert scores.loc["abs", "chance"] == pytest.approx(1 / 3)


def test_summary_compares_every_method_with_the_random_ranking():
    rng = np.random.default_rng(0)
    scores = {}
    masks = []
    for i in range(30):
        mask = np.zeros(12, dtype=int)
        mask[rng.choice(12, size=3, replace=False)] = 1
        masks.append(mask.tolist())
        scores[f"e{i}"] = {"oracle": (mask + 0.01 * rng.random(12)).tolist(), "random": rng.random(12).tolist()}
    examples = pd.DataFrame({"example_id": list(scores), "gt_mask": masks})
    table = rationale_scores(_importance(scores), examples)
    summary = summarize_plausibility(table, n_resamples=200)
    auprc = summary.loc[(summary["metric"] == "auprc") & (summary["group"] == "all")].set_index("method")
    assert auprc.loc["oracle", "mean"] == 1.0 and auprc.loc["oracle", "vs_random"] == "above"
    assert auprc.loc["random", "vs_random"] == "reference"
    assert auprc.loc["random", "chance"] == pytest.approx(0.25)


def _paired_scores(n: int, shift: float, seed: int = 0) -> pd.DataFrame:
    """Per-example metrics of ``random`` (spread over examples) and of methods on the same examples:
    ``shifted`` = random + ``shift``, ``lowered`` = random - ``shift``, ``noisy`` = random + symmetric noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        floor = rng.uniform(0.1, 0.9)
        for method, value in (("random", floor), ("shifted", floor + shift), ("lowered", floor - shift),
                              ("noisy", floor + (-1) ** i * shift)):
            rows.append({"example_id": f"e{i}", "method": method, "family": "x", "variant": "abs",
                         "correct": True, "token_f1": value, "iou_f1": value, "token_f1_top5": value,
                         "iou_f1_top5": value, "auprc": value, "chance": 0.25})
    return pd.DataFrame(rows)


def test_a_small_shift_on_the_same_examples_is_found_although_the_marginal_intervals_overlap():
    summary = summarize_plausibility(_paired_scores(30, 0.02), n_resamples=200)
    auprc = summary.loc[(summary["metric"] == "auprc") & (summary["group"] == "all")].set_index("method")
    shifted, floor = auprc.loc["shifted"], auprc.loc["random"]
    assert shifted["mean_low"] < floor["mean_high"]  # the old interval comparison would say "overlapping"
    assert shifted["vs_random"] == "above" and shifted["p_adjusted"] < 0.05
    assert auprc.loc["lowered", "vs_random"] == "below"
    assert auprc.loc["noisy", "vs_random"] == "not distinguishable"
    assert floor["vs_random"] == "reference" and np.isnan(floor["p_adjusted"])
    # Holm over the three methods of this metric, variant and group: all 30 differences positive gives the
    # smallest p of 10,000 sign flips, 1 / 10,001, ranked first of three (tied with "lowered"): times 3
    assert shifted["p_adjusted"] == pytest.approx(3 / 10001)


def test_four_examples_are_untestable_whatever_the_data():
    summary = summarize_plausibility(_paired_scores(4, 0.2), n_resamples=200)
    studied = summary.loc[summary["method"] != "random"]
    assert (studied["vs_random"] == "untestable").all()
    assert (studied["p_adjusted"] >= 0.05).all()


def test_methods_are_compared_with_raw_attention_on_the_same_examples():
    """The study's question asked of the rationales: each method against the run's raw attention, paired and
    Holm-adjusted; the random ranking is left out of that family (attention's vs_random already compares them)."""
    frame = _paired_scores(30, 0.02)
    frame["method"] = frame["method"].replace({"shifted": "rnn_attention"})  # attention = random + 0.02
    summary = summarize_plausibility(frame, n_resamples=200)
    auprc = summary.loc[(summary["metric"] == "auprc") & (summary["group"] == "all")].set_index("method")
    assert auprc.loc["rnn_attention", "vs_attention"] == "reference"
    assert auprc.loc["lowered", "vs_attention"] == "below"  # random - 0.02 against random + 0.02
    assert auprc.loc["noisy", "vs_attention"] == "below"  # random +- 0.02: equal to or below attention
    assert auprc.loc["random", "vs_attention"] == "untested"
    # noisy's 15 non-zero differences all negative: exact two-sided p = 2 / 2**15, the smaller of the two; Holm
    # over the two methods doubles it, and lowered (p = 1 / 10,001 from sign flips) keeps that as its floor
    assert auprc.loc["noisy", "p_attention"] == pytest.approx(2**-13)
    assert auprc.loc["lowered", "p_attention"] == pytest.approx(2**-13)


def test_constant_attention_is_compared_with_no_method():
    """Attention frozen to uniform ranks nothing: comparing a method with it would compare it with its random
    tie-breaks, so every method's vs_attention is undefined there, decided from the scores themselves."""
    importance = pd.DataFrame([
        {"example_id": e, "method": method, "family": "x", "word_index": i, "predicted": 1, "label": 1,
         "score": 1.0 if method == "rnn_attention" else float(i == rationale)}
        for e, rationale in (("a", 0), ("b", 2), ("c", 1)) for method in ("rnn_attention", "saliency", "random")
        for i in range(4)])
    examples = pd.DataFrame({"example_id": ["a", "b", "c"],
                             "gt_mask": [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]})
    scores = rationale_scores(importance, examples)
    assert scores.loc[scores["method"] == "rnn_attention", "constant"].all()
    assert not scores.loc[scores["method"] == "saliency", "constant"].any()
    summary = summarize_plausibility(scores, n_resamples=20).query("group == 'all'").set_index(["method", "metric"])
    assert summary.loc[("saliency", "auprc"), "vs_attention"] == "undefined"
    assert summary.loc[("rnn_attention", "auprc"), "vs_attention"] == "reference"
    assert summary.loc[("saliency", "auprc"), "vs_random"] != "undefined"


def test_signed_scores_are_read_on_correctly_classified_posts_only():
    """Signed evidence for the predicted class is compared with a toxic rationale only where the model predicts
    the rationale's class; on a misclassified post it would explain the other class."""
    frame = pd.concat([_paired_scores(10, 0.1).assign(variant="abs"), _paired_scores(10, 0.1).assign(variant="signed")])
    frame.loc[frame["example_id"].isin(["e0", "e1"]), "correct"] = False
    summary = summarize_plausibility(frame, n_resamples=50)
    groups = summary.groupby("variant")["group"].unique().map(sorted).to_dict()
    assert groups == {"abs": ["all", "correct"], "signed": ["correct"]}
    assert summary.loc[summary["variant"] == "signed", "n"].max() == 8
    assert headline_group("signed") == "correct" and headline_group("abs") == "all"
