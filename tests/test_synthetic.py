"""Properties of the synthetic sentiment task: its ground truth must be right by construction."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data.synthetic import (
    INTENSIFIERS,
    NEGATORS,
    SyntheticConfig,
    check_lexicon,
    generate,
    label_of,
    sentiment_words,
)

POLARITY = sentiment_words()
DECISIVE = set(POLARITY) | set(NEGATORS)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(SyntheticConfig(n_examples=1000, seed=3), split="train")


def test_lexicon_is_consistent():
    check_lexicon()
    assert 20 <= sum(POLARITY.values()) <= 30
    assert 20 <= sum(1 - p for p in POLARITY.values()) <= 30
    assert set(NEGATORS) == {"not", "never"}


def test_columns_and_text(frame):
    assert list(frame.columns) == [
        "example_id", "text", "words", "n_words", "label", "label_name", "gt_mask", "negated", "n_distractors",
    ]
    assert frame["example_id"].tolist() == [f"synthetic-train-{i}" for i in range(1000)]
    for row in frame.itertuples():
        assert row.text.split() == list(row.words)
        assert row.text == row.text.lower()
        assert all(w.isalpha() for w in row.words)
        assert row.n_words == len(row.words) == len(row.gt_mask)
        assert row.label_name == ("positive" if row.label == 1 else "negative")


def test_gt_mask_marks_exactly_the_deciding_words(frame):
    for row in frame.itertuples():
        words, mask = list(row.words), list(row.gt_mask)
        assert set(mask) <= {0, 1}
        marked = [w for w, m in zip(words, mask) if m]
        sentiment = [w for w in words if w in POLARITY]
        negators = [w for w in words if w in NEGATORS]
        assert len(sentiment) == 1
        assert len(negators) == int(row.negated)
        assert sorted(marked) == sorted(sentiment + negators)
        if row.negated:
            # the negator governs the sentiment word: only intensifiers between them
            i, j = words.index(negators[0]), words.index(sentiment[0])
            assert i < j and all(w in INTENSIFIERS for w in words[i + 1 : j])


def test_label_rule_matches_oracle(frame):
    for row in frame.itertuples():
        sentiment = next(w for w in row.words if w in POLARITY)
        assert row.label == POLARITY[sentiment] ^ int(row.negated)
        assert label_of(row.words) == row.label


def test_unmarked_words_are_never_decisive(frame):
    for row in frame.itertuples():
        assert not [w for w, m in zip(row.words, row.gt_mask) if not m and w in DECISIVE]


def test_oracle_rejects_sentences_outside_the_task():
    assert label_of(["the", "film", "was", "very", "good"]) == 1
    assert label_of(["the", "film", "was", "not", "very", "good"]) == 0
    assert label_of(["never", "dreadful", "is", "the", "word"]) == 1
    with pytest.raises(ValueError):
        label_of(["the", "film", "was", "good", "and", "bad"])
    with pytest.raises(ValueError):
        label_of(["the", "film", "was", "blue"])
    with pytest.raises(ValueError):
        label_of(["not", "the", "film", "was", "good"])


@pytest.mark.parametrize("n", [10, 200, 1000])
def test_balance(n):
    labels = generate(SyntheticConfig(n_examples=n, seed=1), split="train")["label"]
    assert (labels == 0).sum() == (labels == 1).sum() == n // 2


def test_odd_and_unbalanced_counts():
    labels = generate(SyntheticConfig(n_examples=7, seed=1), split="train")["label"]
    assert sorted([(labels == 0).sum(), (labels == 1).sum()]) == [3, 4]
    free = generate(SyntheticConfig(n_examples=400, balance=False, seed=1), split="train")["label"]
    assert set(free) == {0, 1} and abs(free.mean() - 0.5) < 0.1


def test_determinism_and_split_difference():
    config = SyntheticConfig(n_examples=200, seed=5)
    a = generate(config, split="train")
    pd.testing.assert_frame_equal(a, generate(config, split="train"))
    other_split = generate(config, split="validation")
    other_seed = generate(SyntheticConfig(n_examples=200, seed=6), split="train")
    assert other_split["example_id"].iloc[0] == "synthetic-validation-0"
    assert a["text"].tolist() != other_split["text"].tolist()
    assert a["text"].tolist() != other_seed["text"].tolist()
    assert len(set(a["text"]) & set(other_split["text"])) < 20


def test_offset_shifts_ids():
    shifted = generate(SyntheticConfig(n_examples=5, seed=0), split="train", offset=100)
    assert shifted["example_id"].tolist() == [f"synthetic-train-{i}" for i in range(100, 105)]


def test_lengths_and_distractors_vary():
    small = generate(SyntheticConfig(n_examples=200, seed=2), split="train")
    assert small["n_words"].nunique() >= 3
    assert set(small["n_distractors"]) == {0, 1, 2}
    plain = generate(SyntheticConfig(n_examples=100, distractor_rate=0.0, seed=2), split="train")
    assert (plain["n_distractors"] == 0).all()


def test_rates_roughly_match_config(frame):
    assert abs(frame["negated"].mean() - 0.3) < 0.1
    assert abs((frame["n_distractors"] > 0).mean() - 0.5) < 0.1
    high = generate(SyntheticConfig(n_examples=1000, negation_rate=0.8, seed=4), split="train")
    assert abs(high["negated"].mean() - 0.8) < 0.1
    none = generate(SyntheticConfig(n_examples=100, negation_rate=0.0, seed=4), split="train")
    assert not none["negated"].any()


def test_negator_alone_carries_no_label_information(frame):
    # negation is drawn independently of the label, so only its interaction with the word decides
    rate_pos = frame.loc[frame["label"] == 1, "negated"].mean()
    rate_neg = frame.loc[frame["label"] == 0, "negated"].mean()
    assert abs(rate_pos - rate_neg) < 0.1


def test_many_distractors_keep_the_ground_truth():
    many = generate(SyntheticConfig(n_examples=300, distractor_rate=1.0, max_distractors=5, seed=7), split="train")
    assert set(many["n_distractors"]) == {1, 2, 3, 4, 5}
    for row in many.itertuples():
        assert label_of(row.words) == row.label
        assert [int(w in DECISIVE) for w in row.words] == list(row.gt_mask)


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError):
        SyntheticConfig(n_examples=-1)
    with pytest.raises(ValueError):
        SyntheticConfig(n_examples=10, negation_rate=1.5)
    with pytest.raises(ValueError):
        SyntheticConfig(n_examples=10, max_distractors=100)
    with pytest.raises(ValueError):
        generate(SyntheticConfig(n_examples=10), split="")
