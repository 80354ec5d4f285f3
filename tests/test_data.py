"""Dataset loading (hub code path and local mirror), checks, subsampling, HateXplain conversion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import DATASETS, DataUnavailableError, load_split, prepare_splits, stratified_sample
from analysis.data.prepare import standardise
from analysis.data.specs import DatasetSpec, hatexplain_from_hub


def _write(folder, name, split, frame):
    (folder / name).mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / name / f"{split}.parquet", index=False)


def test_stratified_sample_is_deterministic_and_keeps_label_shares():
    frame = pd.DataFrame({"label": [0] * 300 + [1] * 100, "x": range(400)})
    a = stratified_sample(frame, 40, seed=3)
    b = stratified_sample(frame, 40, seed=3)
    assert a.equals(b)
    assert a["label"].value_counts().to_dict() == {0: 30, 1: 10}
    assert not a.equals(stratified_sample(frame, 40, seed=4))


def test_hub_code_path_reads_a_local_repository_folder(tmp_path):
    """datasets.load_dataset(<hub id>) with the hub id replaced by a local folder of split files."""
    _write(tmp_path, "repo", "train", pd.DataFrame({"sentence": ["good film", "bad film"], "label": [1, 0]}))
    _write(tmp_path, "repo", "validation", pd.DataFrame({"sentence": ["fine"], "label": [1]}))
    spec = DatasetSpec(name="toy", hub_id=str(tmp_path / "repo"), text_column="sentence",
                       label_names=("negative", "positive"), splits=("train", "validation"), train_split="train",
                       eval_split="validation")
    frame = load_split(spec, "validation")
    assert frame["sentence"].tolist() == ["fine"]


def test_unreachable_hub_says_to_set_data_dir(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = DatasetSpec(name="toy", hub_id="no-such-owner/no-such-dataset-xyz", label_names=("a", "b"),
                       splits=("train",), train_split="train", eval_split="train")
    with pytest.raises(DataUnavailableError, match="data_dir"):
        load_split(spec, "train")


def test_missing_split_names_the_splits_that_exist(tmp_path):
    _write(tmp_path, "sst2", "train", pd.DataFrame({"sentence": ["a"], "label": [0]}))
    with pytest.raises(DataUnavailableError, match=r"no split 'validation'.*\['train'\]"):
        load_split(DATASETS.get("sst2"), "validation", data_dir=tmp_path)


def test_labels_outside_the_label_set_are_an_error():
    frame = pd.DataFrame({"sentence": ["a b", "c"], "label": [1, 7]})
    with pytest.raises(ValueError, match=r"labels outside 0..1.*rows \[1\].*\[7\]"):
        standardise(frame, DATASETS.get("sst2"), split="train")


def test_empty_texts_are_dropped_and_counted(tmp_path):
    rows = pd.DataFrame({"sentence": ["good", "   ", "bad", "", "ok fine", "meh"], "label": [1, 0, 0, 1, 1, 0]})
    _write(tmp_path, "sst2", "train", rows)
    _write(tmp_path, "sst2", "validation", rows)
    train, evaluation, report = prepare_splits(DATASETS.get("sst2"), train_n=None, eval_n=None, seed=0,
                                               data_dir=tmp_path)
    assert len(train) == 4 and (train["n_words"] > 0).all()
    assert report["dropped_empty"].tolist() == [2, 2]
    assert "dropped 2 empty" in report["notes"].iloc[0]


def test_same_train_and_eval_split_is_partitioned_disjointly(tmp_path):
    rows = pd.DataFrame({"text": [f"review {i}" for i in range(40)], "label": [i % 2 for i in range(40)]})
    _write(tmp_path, "imdb", "test", rows)
    train, evaluation, report = prepare_splits(DATASETS.get("imdb"), train_n=None, eval_n=10, seed=0,
                                               data_dir=tmp_path, train_split="test", eval_split="test")
    assert len(evaluation) == 10 and len(train) == 30
    assert not set(train["example_id"]) & set(evaluation["example_id"])
    assert "disjoint" in report["notes"].iloc[1]


def test_hatexplain_hub_record_conversion():
    record = {
        "id": "p1",
        "post_tokens": ["you", "are", "a", "slur"],
        "annotators": {"label": [0, 2, 0], "annotator_id": [1, 2, 3], "target": [[], [], []]},
        "rationales": [[0, 0, 0, 1], [0, 1, 0, 1]],
    }
    normal = {"id": "p2", "post_tokens": ["nice", "day"], "annotators": {"label": [1, 1, 0]}, "rationales": []}
    undecided = {"id": "p3", "post_tokens": ["x"], "annotators": {"label": [0, 1, 2]}, "rationales": []}
    out = hatexplain_from_hub(pd.DataFrame([record, normal, undecided]))
    assert out["id"].tolist() == ["p1", "p2"]  # p3 (hate, normal, offensive) has no majority: dropped
    assert out.loc[0, "label"] == 1 and list(out.loc[0, "rationale"]) == [0, 1, 0, 1]
    assert out.loc[1, "label"] == 0 and list(out.loc[1, "rationale"]) == [0, 0]


def test_hatexplain_mirror_keeps_rationales(shared_data):
    train, evaluation, _ = prepare_splits(DATASETS.get("hatexplain"), train_n=50, eval_n=50, seed=0,
                                          data_dir=shared_data)
    toxic = evaluation[evaluation["label"] == 1]
    assert all(len(m) == n for m, n in zip(evaluation["gt_mask"], evaluation["n_words"]))
    assert np.mean([sum(m) > 0 for m in toxic["gt_mask"]]) > 0.8
    assert all(sum(m) == 0 for m in evaluation.loc[evaluation["label"] == 0, "gt_mask"])


@pytest.mark.parametrize("name,split", [("sst2", "validation"), ("ag_news", "test"), ("imdb", "test")])
def test_local_mirror_reads_real_data(shared_data, name, split):
    frame = load_split(DATASETS.get(name), split, data_dir=shared_data)
    spec = DATASETS.get(name)
    out = standardise(frame, spec, split=split)
    assert len(out) > 500 and set(out["label"]) == set(range(spec.num_labels))
    if name == "imdb":
        assert not any("<br" in w for words in out["words"] for w in words)


def test_mirror_without_train_split_partitions_the_eval_split(tmp_path):
    rows = pd.DataFrame({"text": [f"review number {i}" for i in range(30)], "label": [i % 2 for i in range(30)]})
    _write(tmp_path, "imdb", "test", rows)
    train, evaluation, report = prepare_splits(DATASETS.get("imdb"), train_n=None, eval_n=10, seed=0,
                                               data_dir=tmp_path)
    assert len(train) == 20 and len(evaluation) == 10
    assert "no 'train' split" in report["notes"].iloc[0]
