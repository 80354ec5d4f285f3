"""Planted shortcuts: the transform, its config checks, the scoring, and a model trained on one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.data import DATASETS
from analysis.data.prepare import standardise
from analysis.data.synthetic import SyntheticConfig, generate
from analysis.groundtruth.shortcuts import (
    ShortcutConfig,
    ShortcutError,
    control_comparison,
    deletion_changes_prediction,
    plant_shortcut,
    reliance_outcomes,
    sample_explained,
    shortcut_ranks,
    summarize_reliance,
    summarize_shortcut_scores,
    with_control,
)

LABELS = ("negative", "positive")


def _synthetic(split: str, n: int, **settings) -> pd.DataFrame:
    raw = generate(SyntheticConfig(n_examples=n, seed=0, **settings), split=split)
    return standardise(raw.assign(id=raw["example_id"]), DATASETS.get("synthetic"), split=split)


@pytest.mark.parametrize("mode", ["plant", "anti"])
def test_transform_plants_exactly_one_token_where_asked_and_the_label_rule_holds(mode):
    before = _synthetic("train", 200)
    config = ShortcutConfig(token="zeugma", rate=0.3, mode=mode, label=1)
    after, notes = plant_shortcut(before, config, role="train", seed=7, label_names=LABELS)
    planted = after["shortcut_index"] >= 0
    assert planted.sum() == 60 and "planted into 60 of 200" in notes[-1]
    counts = after["words"].map(lambda words: sum(w == "zeugma" for w in words))
    assert (counts == planted.astype(int)).all()  # exactly one token in planted rows, none elsewhere
    for row, original in zip(after.itertuples(), before.itertuples()):
        words = list(row.words)
        if row.shortcut_index >= 0:
            assert words[row.shortcut_index] == "zeugma"
            assert words[: row.shortcut_index] + words[row.shortcut_index + 1:] == list(original.words)
            assert list(row.gt_mask) == list(original.gt_mask[: row.shortcut_index]) + [0] + list(
                original.gt_mask[row.shortcut_index:])
            assert row.n_words == original.n_words + 1 and row.text == " ".join(words)
        else:
            assert words == list(original.words) and row.label == original.label
    # the label rule: in the split, the token implies class 1
    assert (after.loc[planted, "label"] == 1).all()
    assert (after["label_name"] == [LABELS[v] for v in after["label"]]).all()
    if mode == "plant":  # planted only into class-1 examples, labels untouched
        assert (after.loc[planted, "original_label"] == 1).all() and (after["label"] == before["label"]).all()
    else:  # planted only into other-class examples, which were relabelled
        assert (after.loc[planted, "original_label"] == 0).all()
        assert (after.loc[~planted, "label"] == after.loc[~planted, "original_label"]).all()


def test_transform_is_deterministic_and_positions_cover_every_gap():
    frame = pd.DataFrame({"example_id": [f"e{i}" for i in range(400)], "text": ["a b"] * 400,
                          "words": [["a", "b"]] * 400, "n_words": 2, "label": 1, "label_name": "positive",
                          "gt_mask": [None] * 400})
    config = ShortcutConfig(token="!", rate=1.0)
    first, _ = plant_shortcut(frame, config, role="train", seed=3, label_names=LABELS)
    again, _ = plant_shortcut(frame, config, role="train", seed=3, label_names=LABELS)
    assert first["shortcut_index"].tolist() == again["shortcut_index"].tolist()
    assert set(first["shortcut_index"]) == {0, 1, 2}  # before, between and after the two words
    end, _ = plant_shortcut(frame, ShortcutConfig(token="!", rate=1.0, position="end"), role="train", seed=3,
                            label_names=LABELS)
    assert set(end["shortcut_index"]) == {2}


def test_examples_that_already_hold_the_token_are_dropped_and_counted():
    frame = _synthetic("train", 20)
    frame.loc[3, "words"] = list(frame.loc[3, "words"]) + ["Zeugma"]
    after, notes = plant_shortcut(frame, ShortcutConfig(token="zeugma", rate=0.25), role="train", seed=0,
                                  label_names=LABELS)
    assert len(after) == 19 and "dropped 1 examples" in notes[0]


def test_a_rate_the_data_cannot_meet_names_the_key_and_the_limit():
    frame = _synthetic("train", 100)  # balanced: 50 per class
    with pytest.raises(ShortcutError, match=r"datasets\.x\.shortcut\.rate: 0\.8 .* Use rate <= 0\.5"):
        plant_shortcut(frame, ShortcutConfig(token="zeugma", rate=0.8), role="train", seed=0, label_names=LABELS,
                       where="datasets.x.shortcut")
    with pytest.raises(ShortcutError, match="label: 2 is not a class"):
        plant_shortcut(frame, ShortcutConfig(token="zeugma", label=2), role="train", seed=0, label_names=LABELS)
    with pytest.raises(ShortcutError, match="unknown setting"):
        ShortcutConfig.from_settings({"token": "a", "share": 0.1})
    with pytest.raises(ShortcutError, match="one word"):
        ShortcutConfig(token="two words")


def test_explained_sample_has_the_asked_share_of_token_examples():
    frame, _ = plant_shortcut(_synthetic("validation", 200), ShortcutConfig(token="zeugma", rate=0.2),
                              role="eval", seed=0, label_names=LABELS)
    explained = sample_explained(frame, 40, seed=0, share=0.5)
    assert len(explained) == 40 and (explained["shortcut_index"] >= 0).sum() == 20
    assert explained["example_id"].is_unique
    mixed = sample_explained(frame, 50, seed=0, share=None)
    assert (mixed["shortcut_index"] >= 0).sum() == 10  # the split's 20%


def _importance(rows):
    frame = pd.DataFrame(rows, columns=["example_id", "method", "family", "word_index", "score"])
    n = frame.groupby(["example_id", "method"])["word_index"].transform("size")
    return frame.assign(signed=True, word="w", predicted=1, label=1, n_words=n)


def test_ranks_ties_share_and_truncation():
    examples = pd.DataFrame({"example_id": ["a", "b", "c", "d"], "shortcut_index": [1, 0, 2, -1]})
    importance = _importance([
        ("a", "m", "gradient", 0, 0.1), ("a", "m", "gradient", 1, -0.6), ("a", "m", "gradient", 2, 0.3),
        ("b", "m", "gradient", 0, 0.5), ("b", "m", "gradient", 1, 0.5), ("b", "m", "gradient", 2, 0.0),
        ("c", "m", "gradient", 0, 0.2), ("c", "m", "gradient", 1, 0.9),  # token index 2 was truncated away
        ("d", "m", "gradient", 0, 1.0),
    ])
    scores = shortcut_ranks(importance, examples, shortcut_label=1, variants=["abs", "signed"]).set_index(
        ["example_id", "variant"])
    assert set(scores.index.get_level_values(0)) == {"a", "b"}
    a = scores.loc[("a", "abs")]
    assert a["rank"] == 1 and a["top1"] == 1 and a["share"] == pytest.approx(0.6) and a["normalised_rank"] == 0
    assert scores.loc[("a", "signed"), "rank"] == 3 and scores.loc[("a", "signed"), "top1"] == 0
    b = scores.loc[("b", "abs")]  # tied with one other word at the top: expected rank 1.5, half a hit
    assert b["rank"] == 1.5 and b["top1"] == 0.5 and b["share"] == pytest.approx(0.5)
    assert a["chance_top1"] == pytest.approx(1 / 3)


def test_a_method_without_a_score_for_some_word_never_ranks_the_token_first():
    """NaN compares false with everything: counted as-is it left no word above the token (rank 1, top-1 hit)."""
    examples = pd.DataFrame({"example_id": ["a", "b"], "shortcut_index": [2, 0]})
    importance = _importance([
        ("a", "flow", "attention", 0, 0.1), ("a", "flow", "attention", 1, 0.5), ("a", "flow", "attention", 2, np.nan),
        ("b", "flow", "attention", 0, 0.9), ("b", "flow", "attention", 1, 0.1),
    ])
    scores = shortcut_ranks(importance, examples, shortcut_label=1, variants=["abs"])
    assert scores["example_id"].tolist() == ["b"] and scores["top1"].tolist() == [1.0]


def test_summary_verdicts_follow_the_intervals():
    rows = []
    for i in range(20):
        for method, hit in (("finder", 1.0), ("misser", 0.0)):
            rows.append({"example_id": f"e{i}", "method": method, "family": "ablation", "variant": "abs",
                         "n_words": 10, "shortcut_index": 0, "predicted": 1, "predicted_shortcut_class": True,
                         "decisive": True, "rank": 1.0 if hit else 10.0, "normalised_rank": 0.0 if hit else 1.0,
                         "top1": hit, "share": 0.9 if hit else 0.0, "chance_top1": 0.1, "chance_share": 0.1,
                         "chance_normalised_rank": 0.5})
    summary = summarize_shortcut_scores(pd.DataFrame(rows), top1_threshold=0.5, n_resamples=200)
    verdicts = summary.loc[(summary["metric"] == "top1") & (summary["group"] == "all")].set_index("method")["verdict"]
    assert verdicts.to_dict() == {"finder": "finds", "misser": "misses"}
    assert set(summary["group"]) == {"all", "decisive"}


def _hits(method: str, hits: list[float]) -> list[dict]:
    return [{"example_id": f"e{i}", "method": method, "family": "ablation", "variant": "abs", "n_words": 10,
             "shortcut_index": 0, "predicted": 1, "predicted_shortcut_class": True, "decisive": True,
             "rank": 1.0 if hit else 10.0, "normalised_rank": 0.0 if hit else 1.0, "top1": hit,
             "share": 0.9 if hit else 0.0, "chance_top1": 0.1, "chance_share": 0.1, "chance_normalised_rank": 0.5}
            for i, hit in enumerate(hits)]


def test_a_method_that_finds_the_token_on_a_model_that_never_saw_it_too_is_not_specific():
    """The control: the same examples ranked under the same architecture trained without the token. Found on
    both (the control's own lower bound passes the threshold): not specific; found much more often with the
    token in use: specific (paired test); a difference too small for 6 pairs: inconclusive, 'finds' kept."""
    run = pd.DataFrame(_hits("specific", [1.0] * 20) + _hits("reacts_to_token", [1.0] * 20)
                       + _hits("few", [1.0] * 6) + _hits("misser", [0.0] * 20))
    control = pd.DataFrame(_hits("specific", [0.0] * 20) + _hits("reacts_to_token", [1.0] * 19 + [0.0])
                           + _hits("few", [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]) + _hits("misser", [1.0] * 20))
    summary = summarize_shortcut_scores(run, top1_threshold=0.5, n_resamples=200)
    comparison = control_comparison(run, control, n_resamples=200)
    checked = with_control(summary, comparison)
    top1 = checked.loc[(checked["metric"] == "top1") & (checked["group"] == "all")].set_index("method")
    # the control decides only about methods that find the token: a miss gets no control verdict
    assert top1["control_verdict"].dropna().to_dict() == {"few": "inconclusive", "reacts_to_token": "not specific",
                                                          "specific": "specific"}
    assert top1["verdict"].to_dict() == {"few": "finds", "misser": "misses", "reacts_to_token": "not specific",
                                         "specific": "finds"}
    assert top1.loc["few", "control_mean"] == pytest.approx(0.5) and top1.loc["few", "control_n"] == 6
    assert top1.loc["specific", "control_difference"] == pytest.approx(1.0) and top1.loc["specific", "control_p"] < 1e-3
    assert top1["control_predicts_class"].isna().all()  # the control table did not record its own predictions
    control["control_predicted"] = np.where(control["example_id"].isin(["e0", "e1", "e2", "e3", "e4"]), 1, 0)
    shares = control_comparison(run, control, n_resamples=200).query("group == 'all'").set_index("method")
    assert shares["control_predicts_class"].to_dict() == {"few": pytest.approx(5 / 6), "misser": 0.25,
                                                          "reacts_to_token": 0.25, "specific": 0.25}
    # every metric row of a method carries its verdict; without a control nothing changes
    assert set(checked.loc[checked["method"] == "reacts_to_token", "verdict"]) == {"not specific"}
    unchanged = with_control(summary, None)
    assert unchanged["verdict"].equals(summary["verdict"]) and unchanged["control_verdict"].isna().all()


def test_a_control_that_reaches_the_threshold_is_not_specific_even_where_the_run_finds_the_token_more_often():
    """Run 100%, control 75% of 60: the paired difference is significant, but a method that ranks the token
    first on three of four texts of a model that never used it cannot be credited with finding the shortcut."""
    run = pd.DataFrame(_hits("gradient", [1.0] * 60))
    control = pd.DataFrame(_hits("gradient", [1.0] * 45 + [0.0] * 15))
    checked = with_control(summarize_shortcut_scores(run, top1_threshold=0.5, n_resamples=200),
                           control_comparison(run, control, n_resamples=200))
    top1 = checked.loc[(checked["metric"] == "top1") & (checked["group"] == "all")].iloc[0]
    assert top1["control_low"] >= 0.5 and top1["control_p"] < 0.05
    assert top1["control_verdict"] == "not specific" and top1["verdict"] == "not specific"


def test_the_control_p_values_are_holm_adjusted_over_a_runs_methods():
    """Every method of a run is asked the same question: its p-values are one family (Holm)."""
    from analysis.stats.hypothesis import paired_test
    from analysis.stats.paired import adjust_p_values

    runs = {"a": [1.0] * 12, "b": [1.0] * 9 + [0.0] * 3, "c": [1.0] * 12}
    controls = {"a": [0.0] * 6 + [1.0] * 6, "b": [0.0] * 3 + [1.0] * 9, "c": [1.0] * 12}
    run = pd.DataFrame([row for m, hits in runs.items() for row in _hits(m, hits)])
    control = pd.DataFrame([row for m, hits in controls.items() for row in _hits(m, hits)])
    comparison = control_comparison(run, control, n_resamples=200).query("group == 'all'").set_index("method")
    raw = [paired_test(np.subtract(runs[m], controls[m]), n_resamples=200).p_value for m in "abc"]
    assert comparison.loc[list("abc"), "control_p"].to_numpy() == pytest.approx(adjust_p_values(np.array(raw)))
    assert comparison.loc["a", "control_p"] > raw[0]


def test_tied_top_scores_share_the_hit_and_still_get_an_interval():
    """Uniform attention ties every word: each example scores a fractional hit of 1/n, summarised by the
    bootstrap (not an exact binomial interval, which needs 0/1 outcomes), with the verdict that follows."""
    rows = [{"example_id": f"e{i}", "method": method, "family": "attention", "variant": "abs", "n_words": n,
             "shortcut_index": 0, "predicted": 1, "predicted_shortcut_class": True, "decisive": False,
             "rank": (n + 1) / 2 if method == "uniform" else 1.0, "normalised_rank": 0.5 if method == "uniform" else 0.0,
             "top1": 1 / n if method == "uniform" else 1.0, "share": 1 / n, "chance_top1": 1 / n,
             "chance_share": 1 / n, "chance_normalised_rank": 0.5}
            for i, n in enumerate([5, 8, 10, 12, 20, 6, 9, 15]) for method in ("uniform", "finder")]
    summary = summarize_shortcut_scores(pd.DataFrame(rows), top1_threshold=0.5, n_resamples=200)
    top1 = summary.loc[(summary["metric"] == "top1") & (summary["group"] == "all")].set_index("method")
    uniform = top1.loc["uniform"]
    assert uniform["mean"] == pytest.approx(uniform["chance"])
    assert uniform["mean_low"] <= uniform["mean"] <= uniform["mean_high"] and uniform["verdict"] == "misses"
    assert top1.loc["finder", "verdict"] == "finds"


@pytest.fixture(scope="module")
def shortcut_model():
    """A small attention model trained on the synthetic task with an anti shortcut (about a second)."""
    from analysis.models import MODEL_FAMILIES, TrainSettings, train_classifier
    from analysis.seeding import seed_everything

    config = ShortcutConfig(token="zeugma", rate=0.3, mode="anti")
    train, _ = plant_shortcut(_synthetic("train", 800, distractor_rate=0.0), config, role="train", seed=1,
                              label_names=LABELS)
    evaluation, _ = plant_shortcut(_synthetic("validation", 200, distractor_rate=0.0), config, role="eval", seed=2,
                                   label_names=LABELS)
    seed_everything(0)
    entry = {"family": "rnn", "encoder": "average", "attention": "tanh", "embed_dim": 16, "hidden_dim": 16,
             "attention_dim": 8, "dropout": 0.0}
    model = MODEL_FAMILIES.get("rnn")().build(entry, num_labels=2, train=train, device=torch.device("cpu"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small only loses time to thread hand-offs on a busy machine
    try:
        train_classifier(model, list(map(list, train["words"])), train["label"].tolist(),
                         TrainSettings(epochs=10, lr=0.02, batch_size=32), seed=0)
    finally:
        torch.set_num_threads(threads)
    return model, evaluation, config


def test_leave_one_out_ranks_the_planted_token_first_on_a_model_trained_with_it(shortcut_model):
    from analysis.importance import compute_importance, make_method

    model, evaluation, config = shortcut_model
    summary = summarize_reliance(reliance_outcomes(model, evaluation, config, seed=0), threshold=0.5, n_resamples=200)
    assert summary["relies"].all()  # the model uses the token: inserting it flips other-class examples
    explained = sample_explained(evaluation, 30, seed=0, share=1.0)
    importance, _ = compute_importance(model, explained, make_method("loo_delete"), progress=False)
    scores = shortcut_ranks(importance, explained, shortcut_label=config.label,
                            decisive=deletion_changes_prediction(model, explained))
    assert len(scores) == 30
    assert scores["top1"].mean() >= 0.9 and (scores["rank"] == 1).mean() >= 0.9
    random_scores, _ = compute_importance(model, explained, make_method("random"), progress=False)
    assert shortcut_ranks(random_scores, explained, shortcut_label=1)["top1"].mean() < 0.5


def test_reliance_outcomes_measure_insertion_and_deletion(shortcut_model):
    """Accuracy splits the examples by the token; the removal drop is p(shortcut class) with the token minus
    without it; with two classes an insertion flip moves that probability past 1/2, so its gain is positive."""
    model, evaluation, config = shortcut_model
    outcomes = reliance_outcomes(model, evaluation, config, seed=0)
    assert set(outcomes["measure"]) == {"accuracy_with_token", "accuracy_without_token", "removal_flip",
                                        "removal_prob_drop", "insertion_flip", "insertion_prob_gain"}
    planted = evaluation[evaluation["shortcut_index"] >= 0]
    assert (outcomes["measure"] == "removal_flip").sum() == len(planted)
    assert (outcomes["measure"] == "accuracy_with_token").sum() == len(planted)
    assert (outcomes["measure"] == "accuracy_without_token").sum() == len(evaluation) - len(planted)
    flips = outcomes.loc[outcomes["measure"].isin(["removal_flip", "insertion_flip"]), "value"]
    assert set(np.unique(flips)) <= {0.0, 1.0}
    with_token = list(map(list, planted["words"]))
    without = [w[:i] + w[i + 1:] for w, i in zip(with_token, planted["shortcut_index"])]
    enc = model.encode(with_token + without)
    with torch.no_grad():
        p = model.probabilities(enc.input_ids, enc.attention_mask)[:, config.label].double().numpy()
    drop = outcomes[outcomes["measure"] == "removal_prob_drop"].set_index("example_id")["value"]
    assert np.allclose(drop.loc[planted["example_id"]], p[: len(planted)] - p[len(planted):], atol=1e-6)
    assert drop.abs().max() > 0.1
    wide = outcomes[outcomes["measure"].isin(["insertion_flip", "insertion_prob_gain"])].pivot(
        index="example_id", columns="measure", values="value")
    assert wide["insertion_flip"].any() and (wide.loc[wide["insertion_flip"] == 1, "insertion_prob_gain"] > 0).all()


def test_the_gathered_shortcut_table_keeps_every_interval_within_its_metrics_range(tmp_path):
    """A normalised rank near 0 whose studentised interval reached below 0 is gathered within [0, 1]; the
    rank's interval is cut at 1 (the first place), and the sanity check's correlations are not bounded here."""
    from analysis.records import write_table
    from analysis.stages.groundtruth import gather_groundtruth

    run = pd.DataFrame({"metric": ["normalised_rank", "rank", "top1"], "mean": [0.01, 1.2, 0.9],
                        "mean_low": [-0.03, 0.85, 0.8], "mean_high": [0.05, 1.6, 0.97]})
    paths = []
    for seed in (0, 1):
        paths.append(str(tmp_path / f"run{seed}.parquet"))
        write_table(run.assign(seed=seed), paths[-1])
    out = tmp_path / "study.parquet"
    gather_groundtruth(paths, str(out), table="groundtruth_shortcut")
    study = pd.read_parquet(out).set_index(["seed", "metric"])
    assert study.loc[(0, "normalised_rank"), "mean_low"] == 0.0 and study.loc[(1, "rank"), "mean_low"] == 1.0
    assert study.loc[(0, "top1"), "mean_low"] == 0.8 and len(study) == 6


def test_the_control_is_the_base_dataset_when_the_study_trains_on_it():
    from analysis.stages.groundtruth import shortcut_control

    planted = {"base": "sst2", "shortcut": {"token": "zeugma"}}
    config = {"datasets": {"sst2": {}, "sst2_anti": planted}, "groundtruth": {"shortcut": {"control": True}}}
    assert shortcut_control(config, "sst2_anti") == "sst2" and shortcut_control(config, "sst2") is None
    assert shortcut_control({**config, "datasets": {"sst2_anti": planted}}, "sst2_anti") is None  # no base run
    assert shortcut_control({**config, "groundtruth": {"shortcut": {"control": False}}}, "sst2_anti") is None
    # a base that carries a shortcut of its own is no control
    shortcut_base = {"sst2": {"shortcut": {"token": "qqq"}}, "sst2_anti": planted}
    assert shortcut_control({**config, "datasets": shortcut_base}, "sst2_anti") is None
    # nor one that trains on other examples or other class ids than the planted entry
    same = {"sst2": {"train_n": 500}, "sst2_anti": {**planted, "train_n": 500, "explain_n": 50}}
    assert shortcut_control({**config, "datasets": same}, "sst2_anti") == "sst2"
    for key, value in (("train_n", 800), ("eval_split", "test"), ("labels", {"positive": 0, "negative": 1})):
        other = {"sst2": {"train_n": 500}, "sst2_anti": {**planted, "train_n": 500, key: value}}
        assert shortcut_control({**config, "datasets": other}, "sst2_anti") is None, key
