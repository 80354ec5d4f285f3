"""Agreement metrics: equal to SciPy, hand-checked values, and the agreement table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.metrics.agreement import (
    METRICS,
    PairBatch,
    compute_agreement,
    length_bucket,
    length_bucket_labels,
    pair_kind,
    prepare_pair,
)
from analysis.records import AGREEMENT_COLUMNS, IMPORTANCE_COLUMNS
from analysis.registry import UnknownNameError
from analysis.seeding import derive_seed

EDGES = [0, 10, 20, 40]


def _vector_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Hand-made pairs (ties, reversals, short vectors) and random ones of many lengths."""
    pairs = [
        (np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([5.0, 6.0, 7.0, 8.0, 7.0])),
        (np.array([1.0, 2.0, 2.0, 3.0, 3.0, 3.0]), np.array([1.0, 1.0, 2.0, 2.0, 3.0, 1.0])),
        (np.array([0.1, 0.4, 0.2, 0.3]), np.array([0.4, 0.1, 0.3, 0.2])),
        (np.array([3.0, 1.0]), np.array([1.0, 3.0])),
        (np.array([0.5, 0.5, 0.1]), np.array([0.2, 0.3, 0.1])),
        (np.arange(40.0), np.arange(40.0)[::-1]),  # beyond the exact-test size, out of order everywhere
        (np.arange(200.0), np.arange(200.0)),  # exact test with an underflowing p-value
    ]
    rng = np.random.default_rng(0)
    for trial in range(150):
        n = int(rng.integers(3, 70))
        if trial % 3 == 0:
            a, b = rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)
        else:
            a = rng.normal(size=n)
            b = a + rng.normal(scale=0.2 + trial % 2, size=n)
        pairs.append((a, b))
    return pairs


@pytest.mark.parametrize("name, reference", [("kendall_tau", stats.kendalltau), ("spearman", stats.spearmanr)])
def test_rank_correlations_equal_scipy(name: str, reference) -> None:
    metric = METRICS.get(name)
    for a, b in _vector_pairs():
        value, p_value = metric(a, b)
        expected = reference(a, b)
        assert value == pytest.approx(expected.statistic, abs=1e-12)
        # Identical rankings give rho exactly 1 here (p = 0) where SciPy's corrcoef gives
        # 1 - 2e-16 (p ~ 1e-60): an absolute tolerance covers both.
        assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-20, nan_ok=True)


def test_weighted_tau_equals_scipy() -> None:
    metric = METRICS.get("weighted_tau")
    for a, b in _vector_pairs():
        value, p_value = metric(a, b)
        assert value == pytest.approx(stats.weightedtau(a, b).statistic, abs=1e-12)
        assert np.isnan(p_value)


def test_batch_equals_single_pairs() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(3, 4, 12))  # 3 examples, 4 methods, 12 words
    scores[1, 2] = np.round(scores[1, 2])  # ties
    rows_a, rows_b = np.array([0, 0, 1, 2]), np.array([1, 3, 2, 3])
    batch = PairBatch(scores, rows_a, rows_b, block_elements=50)  # tiny blocks: exercise the blocking
    for name in METRICS.names():
        values, p_values = METRICS.get(name).evaluate(batch)
        for example in range(3):
            for p, (a, b) in enumerate(zip(rows_a, rows_b)):
                value, p_value = METRICS.get(name)(scores[example, a], scores[example, b])
                assert values[example * 4 + p] == pytest.approx(value, abs=1e-12, nan_ok=True)
                assert p_values[example * 4 + p] == pytest.approx(p_value, abs=1e-12, nan_ok=True)


def test_undefined_correlations_are_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("kendall_tau", "spearman", "weighted_tau"):
            for a, b in [(np.ones(5), np.arange(5.0)), (np.array([1.0]), np.array([2.0])), (np.zeros(0), np.zeros(0))]:
                value, p_value = METRICS.get(name)(a, b)
                assert np.isnan(value) and np.isnan(p_value)
        value, _ = METRICS.get("kendall_tau")(np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, 3.0]))
        assert np.isnan(value)


def test_top_k_overlap_by_hand() -> None:
    a = np.array([0.9, 0.1, 0.8, 0.3, 0.7, 0.2])  # top: 0, 2, 4, 3
    b = np.array([0.1, 0.9, 0.8, 0.7, 0.3, 0.2])  # top: 1, 2, 3, 4
    assert METRICS.get("top1_overlap")(a, b)[0] == 0.0
    assert METRICS.get("top3_overlap")(a, b)[0] == pytest.approx(1 / 3)  # {0,2,4} & {1,2,3}
    assert METRICS.get("top5_overlap")(a, b)[0] == pytest.approx(4 / 5)  # {0,2,4,3,5} & {1,2,3,4,5}
    assert METRICS.get("top20pct_overlap")(a, b)[0] == pytest.approx(1 / 2)  # k = ceil(1.2) = 2: {0,2} & {1,2}


def test_top_k_sizes_and_ties() -> None:
    # k larger than n uses n; identical vectors agree fully.
    assert METRICS.get("top5_overlap")(np.array([1.0, 2.0]), np.array([2.0, 1.0]))[0] == 1.0
    # Ties at the k-th place are broken at random (the expected overlap), never by word order: a's top-1 is
    # word 0 or word 1 with probability 1/2 each, whichever word b puts first.
    assert METRICS.get("top1_overlap")(np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0]))[0] == 0.5
    assert METRICS.get("top1_overlap")(np.array([1.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0]))[0] == 0.5
    # a tie above the boundary is no tie at the k-th place: {0, 1} is a's top 2 for sure
    assert METRICS.get("top3_overlap")(np.array([2.0, 2.0, 1.0, 1.0]), np.array([0.0, 3.0, 2.0, 1.0]))[0] == \
        pytest.approx((1 + 0.5 + 0.5) / 3)


def test_top_k_overlap_of_a_constant_vector_is_chance_not_word_order() -> None:
    """Uniform attention has no top k: its expected overlap with any ranking is k / n (it was 1 with a ranking
    that put the first words first), the level the random floor sits at."""
    n = 12
    uniform = np.full(n, 1.0 / n)
    first_words_first = np.arange(n, 0, -1.0)
    for k in (1, 3, 5):
        value = METRICS.get(f"top{k}_overlap")(uniform, first_words_first)[0]
        assert value == pytest.approx(k / n)
    # 20% of 15 words is exactly 3 (integer ceiling, no floating-point 3.0000000000000004).
    a = np.arange(15.0)[::-1]
    b = a.copy()
    b[[2, 3]] = b[[3, 2]]  # swap ranks 3 and 4: top-3 of b is {0, 1, 3}
    assert METRICS.get("top20pct_overlap")(a, b)[0] == pytest.approx(2 / 3)


def test_jsd_properties() -> None:
    jsd = METRICS.get("jsd")
    a = np.array([0.2, 0.5, 0.3])
    assert jsd(a, a)[0] == 0.0
    assert jsd(a, 3 * a)[0] == pytest.approx(0.0, abs=1e-15)  # normalised first
    # disjoint supports give the maximum of the declared unit: ln 2 nats (Jain & Wallace's scale)
    assert jsd(np.array([1.0, 0.0]), np.array([0.0, 1.0]))[0] == pytest.approx(np.log(2))
    assert jsd.range == (0.0, pytest.approx(np.log(2)))
    b = np.array([-0.9, 0.05, 0.3])
    assert jsd(a, b)[0] == jsd(b, a)[0]
    assert 0.0 < jsd(a, b)[0] < np.log(2)
    assert jsd(np.zeros(3), np.ones(3))[0] == pytest.approx(0.0, abs=1e-15)  # all zeros -> uniform
    assert np.isnan(jsd(a, b)[1])


def test_metric_declarations() -> None:
    assert METRICS.names() == sorted(["kendall_tau", "spearman", "weighted_tau", "top1_overlap", "top3_overlap",
                                      "top5_overlap", "top20pct_overlap", "jsd"])
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.family in ("rank correlation", "top-k overlap", "distribution distance")
        assert metric.range[0] < metric.range[1]
    assert not METRICS.get("jsd").higher_is_better
    assert METRICS.get("kendall_tau").has_p_value


def test_abs_and_signed_variants_differ_when_signs_differ() -> None:
    attention = np.array([0.1, 0.6, 0.3])
    attribution = np.array([0.2, -0.9, 0.4])  # the most important word counts against the class
    tau_abs = METRICS.get("kendall_tau")(*prepare_pair(attention, attribution, "abs"))[0]
    tau_signed = METRICS.get("kendall_tau")(*prepare_pair(attention, attribution, "signed"))[0]
    assert tau_abs == pytest.approx(1.0)  # same order of magnitudes
    assert tau_signed == pytest.approx(-1 / 3)  # the negative word drops from first to last
    same_sign = np.array([0.2, 0.9, 0.4])
    assert prepare_pair(attention, same_sign, "abs")[1] == pytest.approx(prepare_pair(attention, same_sign, "signed")[1])
    with pytest.raises(ValueError, match="abs, signed"):
        prepare_pair(attention, attribution, "absolute")


def test_pair_kind() -> None:
    assert pair_kind("attention", "gradient") == "attention_vs_causal"
    assert pair_kind("ablation", "attention") == "attention_vs_causal"
    assert pair_kind("gradient", "ablation") == "causal_vs_causal"
    assert pair_kind("random", "ablation") == "random_vs_causal"
    assert pair_kind("attention", "attention") == "attention_vs_attention"
    assert pair_kind("attention", "random") == "random_vs_attention"
    with pytest.raises(ValueError, match="unknown method family"):
        pair_kind("attention", "lime")


def test_length_bucket_edges() -> None:
    assert length_bucket_labels(EDGES) == ["1-10", "11-20", "21-40", ">40"]
    assert [length_bucket(n, EDGES) for n in (1, 10, 11, 20, 21, 40, 41, 500)] == [
        "1-10", "1-10", "11-20", "11-20", "21-40", "21-40", ">40", ">40"]
    with pytest.raises(ValueError, match="strictly increasing"):
        length_bucket(5, [0, 10, 10])
    with pytest.raises(ValueError, match="below the first"):
        length_bucket(0, EDGES)


def _importance(scores: dict[str, tuple[str, dict[str, list[float]]]], predicted: dict[str, int]) -> pd.DataFrame:
    """An importance table from {method: (family, {example_id: scores})}."""
    rows = []
    for method, (family, per_example) in scores.items():
        for example_id, values in per_example.items():
            for index, score in enumerate(values):
                rows.append({"example_id": example_id, "method": method, "family": family,
                             "signed": family != "attention", "word_index": index, "word": f"w{index}",
                             "score": score, "predicted": predicted[example_id], "label": 0,
                             "n_words": len(values)})
    return pd.DataFrame(rows, columns=IMPORTANCE_COLUMNS)


@pytest.fixture
def importance() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    lengths = {"e1": 5, "e2": 12, "e3": 5, "e4": 45}
    methods = {"attention": "attention", "loo": "ablation", "saliency": "gradient", "random": "random"}
    scores = {m: (family, {e: list(rng.normal(size=n) if family != "attention" else rng.random(n))
                           for e, n in lengths.items()})
              for m, family in methods.items()}
    del scores["saliency"][1]["e3"]  # a method missing for one example
    frame = _importance(scores, {"e1": 0, "e2": 1, "e3": 1, "e4": 0})
    return frame.sample(frac=1.0, random_state=0)  # row order must not matter


def test_compute_agreement_table(importance: pd.DataFrame) -> None:
    metrics = ["kendall_tau", "jsd", "top3_overlap"]
    table = compute_agreement(importance, metrics=metrics, variants=["abs", "signed"], length_edges=EDGES)
    assert list(table.columns) == AGREEMENT_COLUMNS
    # 6 pairs on 3 examples, 3 pairs on e3 (no saliency); x 2 variants x 3 metrics.
    assert len(table) == (6 * 3 + 3) * 2 * 3
    pairs = table[["method_a", "method_b", "pair_kind"]].drop_duplicates()
    assert set(map(tuple, pairs.to_numpy())) == {
        ("random", "attention", "random_vs_attention"),
        ("random", "saliency", "random_vs_causal"),
        ("random", "loo", "random_vs_causal"),
        ("attention", "saliency", "attention_vs_causal"),
        ("attention", "loo", "attention_vs_causal"),
        ("saliency", "loo", "causal_vs_causal"),
    }
    assert list(table["example_id"].drop_duplicates()) == ["e1", "e2", "e3", "e4"]
    assert set(table.loc[table.example_id == "e3", "method_b"]) == {"attention", "loo"}
    e4 = table[table.example_id == "e4"]
    assert set(e4["length_bucket"]) == {">40"} and set(e4["n_words"]) == {45} and set(e4["predicted"]) == {0}

    def scores(method: str, example: str) -> np.ndarray:
        rows = importance[(importance.method == method) & (importance.example_id == example)]
        return rows.sort_values("word_index")["score"].to_numpy()

    for row in table[table.metric == "kendall_tau"].itertuples():
        a, b = scores(row.method_a, row.example_id), scores(row.method_b, row.example_id)
        if row.variant == "abs":
            a, b = np.abs(a), np.abs(b)
        expected = stats.kendalltau(a, b)
        assert row.value == pytest.approx(expected.statistic, abs=1e-12)
        assert row.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert table.loc[table.metric == "jsd", "p_value"].isna().all()


def test_compute_agreement_with_causal_pairs_and_missing_words(importance: pd.DataFrame) -> None:
    table = compute_agreement(importance, metrics=["spearman"], variants=["abs"], length_edges=EDGES,
                              pairs="with_causal")
    assert set(table["pair_kind"]) == {"attention_vs_causal", "random_vs_causal", "causal_vs_causal"}

    # Drop one word of one method: that example's pairs with it use the common words.
    gap = importance[~((importance.method == "loo") & (importance.example_id == "e2") & (importance.word_index == 3))]
    table = compute_agreement(gap, metrics=["spearman"], variants=["signed"], length_edges=EDGES)
    row = table[(table.example_id == "e2") & (table.method_a == "attention") & (table.method_b == "loo")].iloc[0]
    a = importance[(importance.method == "attention") & (importance.example_id == "e2")].sort_values("word_index")
    b = gap[(gap.method == "loo") & (gap.example_id == "e2")].sort_values("word_index")
    keep = a["word_index"].isin(b["word_index"]).to_numpy()
    assert row.value == pytest.approx(stats.spearmanr(a["score"].to_numpy()[keep], b["score"].to_numpy()).statistic)


def test_compute_agreement_errors(importance: pd.DataFrame) -> None:
    with pytest.raises(UnknownNameError, match="kendall_tau"):
        compute_agreement(importance, metrics=["kendall"], variants=["abs"], length_edges=EDGES)
    with pytest.raises(ValueError, match="abs, signed"):
        compute_agreement(importance, metrics=["jsd"], variants=["magnitude"], length_edges=EDGES)
    with pytest.raises(ValueError, match="all, with_causal"):
        compute_agreement(importance, metrics=["jsd"], variants=["abs"], length_edges=EDGES, pairs="some")
    with pytest.raises(ValueError, match="several scores"):
        compute_agreement(pd.concat([importance, importance.iloc[:1]]), metrics=["jsd"], variants=["abs"],
                          length_edges=EDGES)
    empty = compute_agreement(importance.iloc[:0], metrics=["jsd"], variants=["abs"], length_edges=EDGES)
    assert list(empty.columns) == AGREEMENT_COLUMNS and empty.empty


# --------------------------------------------------------------------------- the random floor

FLOOR_METRICS = ["kendall_tau", "spearman", "weighted_tau", "top1_overlap", "top3_overlap", "jsd"]


def test_one_floor_draw_is_the_single_ranking(importance: pd.DataFrame) -> None:
    """floor_draws=1 is the behaviour before the floor was averaged: the random method's own scores, with p-values."""
    kwargs = {"metrics": FLOOR_METRICS, "variants": ["abs", "signed"], "length_edges": EDGES}
    single = compute_agreement(importance, floor_draws=1, seed=5, **kwargs)
    pd.testing.assert_frame_equal(single, compute_agreement(importance, **kwargs))  # 1 is the function's default
    floor = single[single.family_a == "random"]
    assert not floor.empty
    for row in floor[floor.metric == "kendall_tau"].itertuples():
        a, b = (importance[(importance.method == m) & (importance.example_id == row.example_id)]
                .sort_values("word_index")["score"].to_numpy() for m in (row.method_a, row.method_b))
        if row.variant == "abs":
            a, b = np.abs(a), np.abs(b)
        expected = stats.kendalltau(a, b)
        assert row.value == pytest.approx(expected.statistic, abs=1e-12)
        assert row.p_value == pytest.approx(expected.pvalue, rel=1e-9)

    # More draws change the floor rows only; the rest of the table stays as it was.
    averaged = compute_agreement(importance, floor_draws=10, seed=5, **kwargs)
    pd.testing.assert_frame_equal(averaged.drop(columns=["value", "p_value"]), single.drop(columns=["value", "p_value"]))
    is_floor = (averaged.family_a == "random").to_numpy()
    np.testing.assert_array_equal(averaged.loc[~is_floor, "value"], single.loc[~is_floor, "value"])
    np.testing.assert_array_equal(averaged.loc[~is_floor, "p_value"], single.loc[~is_floor, "p_value"])
    assert averaged.loc[is_floor, "p_value"].isna().all()  # a mean over draws has no single p-value
    changed = averaged.loc[is_floor & (averaged.metric == "kendall_tau").to_numpy(), "value"].to_numpy()
    assert not np.allclose(changed, single.loc[is_floor & (single.metric == "kendall_tau").to_numpy(), "value"])


def _uniform_importance(n_examples: int, n_words: int, methods: dict[str, str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scores = {m: (family, {f"x{e}": list(rng.random(n_words)) for e in range(n_examples)})
              for m, family in methods.items()}
    return _importance(scores, {f"x{e}": e % 2 for e in range(n_examples)})


def test_many_floor_draws_reach_the_expected_floor() -> None:
    """With 200 draws each example's floor is close to a random ranking's expectation.

    Against a fixed ranking of n distinct values a uniformly random ranking has E[tau] = 0
    with Var[tau] = 2(2n+5) / (9n(n-1)), and its top-k overlap is hypergeometric with
    mean k/n and variance (k/n)((n-k)/n)((n-k)/(n-1)) / k. The mean of D independent draws
    has standard error sd / sqrt(D); every example must lie within 4.5 of them (a chance
    of about 7e-6 each to fail were the draws not fixed by the seed).
    """
    n, draws = 12, 200
    frame = _uniform_importance(6, n, {"attention": "attention", "loo": "ablation", "random": "random"}, seed=11)
    table = compute_agreement(frame, metrics=["kendall_tau", "top1_overlap", "top3_overlap"], variants=["abs"],
                              length_edges=EDGES, floor_draws=draws, seed=0)
    floor = table[table.family_a == "random"]
    assert set(floor["pair_kind"]) == {"random_vs_attention", "random_vs_causal"} and len(floor) == 6 * 2 * 3
    tau_se = np.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)) / draws)
    tau = floor.loc[floor.metric == "kendall_tau", "value"].to_numpy()
    assert np.all(np.abs(tau) < 4.5 * tau_se), (tau, tau_se)
    for k in (1, 3):
        share = k / n
        top_se = np.sqrt(share * (n - k) / n * (n - k) / (n - 1) / k / draws)
        overlap = floor.loc[floor.metric == f"top{k}_overlap", "value"].to_numpy()
        assert np.all(np.abs(overlap - share) < 4.5 * top_se), (k, overlap, top_se)
    # Not one lucky draw: a single ranking is far from the expectation on some example.
    single = compute_agreement(frame, metrics=["kendall_tau"], variants=["abs"], length_edges=EDGES, floor_draws=1)
    assert np.abs(single.loc[single.family_a == "random", "value"]).max() > 4.5 * tau_se


def test_floor_is_deterministic_and_independent_of_other_methods(importance: pd.DataFrame) -> None:
    kwargs = {"metrics": FLOOR_METRICS, "variants": ["abs", "signed"], "length_edges": EDGES, "floor_draws": 10,
              "seed": 3}
    full = compute_agreement(importance, **kwargs)
    pd.testing.assert_frame_equal(full, compute_agreement(importance.sample(frac=1.0, random_state=1), **kwargs))
    other_seed = compute_agreement(importance, **{**kwargs, "seed": 4})
    floor_rows = (full.family_a == "random") & (full.metric == "kendall_tau")
    assert not np.allclose(full.loc[floor_rows, "value"], other_seed.loc[floor_rows, "value"])

    def floor_values(table: pd.DataFrame, partner: str) -> pd.Series:
        rows = table[(table.method_a == "random") & (table.method_b == partner)]
        return rows.set_index(["example_id", "variant", "metric"])["value"].sort_index()

    # The same floor with only random and attention in the table ...
    alone = compute_agreement(importance[importance.method.isin(["random", "attention"])], **kwargs)
    pd.testing.assert_series_equal(floor_values(alone, "attention"), floor_values(full, "attention"),
                                   rtol=0, atol=1e-12)
    # ... and when another method lacks a word of e2, which sends e2 down the pair-by-pair path.
    gap = importance[~((importance.method == "loo") & (importance.example_id == "e2") & (importance.word_index == 3))]
    pd.testing.assert_series_equal(floor_values(compute_agreement(gap, **kwargs), "attention"),
                                   floor_values(full, "attention"), rtol=0, atol=1e-12)
    # On that path the pair with the gap itself is the mean over the documented draws on the common words:
    # draw 0 the method's own scores, draw d those scores reordered by derive_seed(seed, "random floor", ...).
    e2 = compute_agreement(gap, **kwargs)
    row = e2[(e2.example_id == "e2") & (e2.method_a == "random") & (e2.method_b == "loo")
             & (e2.metric == "kendall_tau") & (e2.variant == "signed")].iloc[0]
    own = importance[(importance.method == "random") & (importance.example_id == "e2")].sort_values("word_index")
    loo = gap[(gap.method == "loo") & (gap.example_id == "e2")].sort_values("word_index")
    keep = own["word_index"].isin(loo["word_index"]).to_numpy()
    scores = own["score"].to_numpy()
    draws = [scores] + [scores[np.random.default_rng(derive_seed(3, "random floor", "random", "e2", d)).permutation(12)]
                        for d in range(1, 10)]
    expected = np.mean([stats.kendalltau(draw[keep], loo["score"].to_numpy()).statistic for draw in draws])
    assert row.value == pytest.approx(expected, abs=1e-12) and np.isnan(row.p_value)


def test_floor_draws_must_be_a_positive_integer(importance: pd.DataFrame) -> None:
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="agreement.floor_draws"):
            compute_agreement(importance, metrics=["jsd"], variants=["abs"], length_edges=EDGES, floor_draws=bad)
