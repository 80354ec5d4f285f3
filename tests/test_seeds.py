"""Seed-to-seed agreement: a method that ranks words the same way on every seed agrees perfectly with
itself, one whose ranking reverses agrees at -1, every seed pair is compared once, and the spread of a
headline number across seeds is computed over the seeds it has."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.stats.seeds import seed_agreement, seed_spread

N_WORDS = 7


def importance(seeds: list[int], *, n_examples: int = 12) -> pd.DataFrame:
    """Method ``stable`` ranks words identically on every seed; ``flipping`` reverses its ranking on odd seeds."""
    rng = np.random.default_rng(0)
    rows = []
    for example in range(n_examples):
        base = rng.permutation(N_WORDS).astype(float) + 1.0
        for seed in seeds:
            scores = {"stable": base * (1 + seed), "flipping": base if seed % 2 == 0 else N_WORDS + 1 - base}
            for method, values in scores.items():
                rows += [{"example_id": f"e{example}", "method": method, "family": "gradient", "signed": False,
                          "word_index": i, "word": f"w{i}", "score": float(v), "predicted": 1, "label": 1,
                          "n_words": N_WORDS, "seed": seed, "dataset": "d", "model": "m", "split": "test"}
                         for i, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_a_method_ranking_words_alike_on_every_seed_agrees_with_itself_at_one():
    instances, summary = seed_agreement(importance([0, 1]), n_resamples=200)
    by_method = summary.set_index("method")
    assert by_method.loc["stable", "mean"] == pytest.approx(1.0)
    assert by_method.loc["flipping", "mean"] == pytest.approx(-1.0)
    assert (by_method["n"] == 12).all()
    assert set(instances["method"]) == {"stable", "flipping"}  # never a method against another method
    assert (instances[["seed_a", "seed_b"]].drop_duplicates().to_numpy() == [[0, 1]]).all()


def test_every_seed_pair_is_compared_once():
    instances, summary = seed_agreement(importance([0, 1, 2]), n_resamples=200)
    pairs = {tuple(sorted(p)) for p in instances[["seed_a", "seed_b"]].itertuples(index=False)}
    assert pairs == set(itertools.combinations([0, 1, 2], 2))
    flipping = instances[instances["method"] == "flipping"]
    same_parity = flipping["seed_a"] % 2 == flipping["seed_b"] % 2
    assert flipping.loc[same_parity, "value"].to_numpy() == pytest.approx(1.0)
    assert flipping.loc[~same_parity, "value"].to_numpy() == pytest.approx(-1.0)
    # an example enters all three seed pairs: the summary counts (and resamples) examples, not pairs
    flipping_summary = summary.set_index("method").loc["flipping"]
    assert flipping_summary["n"] == 12
    assert flipping_summary["mean"] == pytest.approx((1 - 1 - 1) / 3)


def test_seed_spread_summarises_each_headline_number_over_its_seeds():
    rows = [{"dataset": "d", "model": "m", "seed": seed, "method_a": "rnn_attention", "method_b": "loo_delete",
             "metric": "kendall_tau", "variant": "abs", "group_by": "all", "mean": value}
            for seed, value in [(0, 0.1), (1, 0.2), (2, 0.3)]]
    rows.append({**rows[0], "model": "single_seed"})
    spread = seed_spread(pd.DataFrame(rows), reference="loo_delete")
    assert list(spread["model"]) == ["m"]  # a run with one seed has no spread
    row = spread.iloc[0]
    assert (row["method"], row["n_seeds"]) == ("rnn_attention", 3)
    assert row["mean_over_seeds"] == pytest.approx(0.2) and row["sd"] == pytest.approx(0.1)
    assert (row["min"], row["max"]) == (pytest.approx(0.1), pytest.approx(0.3))
