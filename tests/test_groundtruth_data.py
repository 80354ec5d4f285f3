"""Rationale sources (HateXplain and ERASER movie reviews from the hub format) and derived datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.config import ConfigError, load_config
from analysis.data import DATASETS, dataset_spec, load_split
from analysis.data.prepare import standardise
from analysis.data.specs import eraser_movies_from_hub, find_span, hatexplain_from_hub
from analysis.records import EXAMPLE_COLUMNS, read_table

ROOT = Path(__file__).resolve().parent.parent


def _through_datasets(records: list[dict]) -> pd.DataFrame:
    """Rows as the hub path hands them over: a datasets.Dataset turned into pandas (NumPy arrays, not lists)."""
    import datasets

    return datasets.Dataset.from_list(records).to_pandas()


def test_hatexplain_hub_rows_convert_after_the_datasets_round_trip():
    records = [
        {"id": "p1", "post_tokens": ["you", "are", "a", "slur"],
         "annotators": {"label": [0, 2, 0], "annotator_id": [1, 2, 3]},
         "rationales": [[0, 0, 0, 1], [0, 1, 0, 1]]},
        {"id": "p2", "post_tokens": ["nice", "day"], "annotators": {"label": [1, 1, 0], "annotator_id": [4, 5, 6]},
         "rationales": []},
        {"id": "p3", "post_tokens": ["x"], "annotators": {"label": [0, 1, 2], "annotator_id": [7, 8, 9]},
         "rationales": []},
    ]
    out = hatexplain_from_hub(_through_datasets(records))
    assert out["id"].tolist() == ["p1", "p2"]  # p3 has no majority label
    assert out.loc[0, "label"] == 1 and list(out.loc[0, "rationale"]) == [0, 1, 0, 1]  # majority toxic, union mask
    assert out.loc[1, "label"] == 0 and list(out.loc[1, "rationale"]) == [0, 0]
    examples = standardise(out, DATASETS.get("hatexplain"), split="test")
    assert examples.loc[0, "gt_mask"] == [0, 1, 0, 1] and examples.loc[0, "words"] == ["you", "are", "a", "slur"]


def test_find_span_finds_every_occurrence():
    words = "a b c a b".split()
    assert find_span(words, ["a", "b"]) == [0, 3]
    assert find_span(words, ["b", "a"]) == []
    assert find_span(words, []) == []


def test_eraser_movie_record_converts_to_a_word_mask_and_label():
    review = "the plot is thin .\nbut the acting is superb and the score is superb ."
    records = [{"review": review, "label": 1, "evidences": ["the acting is superb", "score is superb", "not here"]}]
    out = eraser_movies_from_hub(_through_datasets(records))
    words = review.split()
    expected = [0] * len(words)
    for start, length in ((6, 4), (12, 3)):  # "the acting is superb", "score is superb"
        expected[start:start + length] = [1] * length
    assert out.loc[0, "tokens"] == words and out.loc[0, "rationale"] == expected
    assert out.loc[0, "label"] == 1 and out.loc[0, "unmatched_evidences"] == 1
    examples = standardise(out, DATASETS.get("movie_rationales"), split="test")
    assert examples.loc[0, "gt_mask"] == expected and examples.loc[0, "label_name"] == "positive"


def test_movie_rationales_hub_path_with_a_constructed_local_repository(tmp_path):
    """The hub code path (datasets.load_dataset on a repository id) with a local folder standing in for the hub."""
    from dataclasses import replace

    repo = tmp_path / "movie_rationales"
    repo.mkdir()
    pd.DataFrame({"review": ["a dull , lifeless film .", "a warm and funny story ."], "label": [0, 1],
                  "evidences": [["dull , lifeless"], ["warm and funny"]]}).to_parquet(repo / "test.parquet")
    spec = replace(DATASETS.get("movie_rationales"), hub_id=str(repo))
    frame = load_split(spec, "test")
    examples = standardise(frame, spec, split="test")
    assert examples["gt_mask"].tolist() == [[0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 0, 0]]
    assert examples["label"].tolist() == [0, 1]


def _config(tmp_path, datasets):
    return load_config(ROOT / "config" / "tiny.yaml", {"results_dir": str(tmp_path), "datasets": datasets})


def test_derived_dataset_spec_and_prepared_tables(tmp_path):
    from analysis.stages.data import DataSettings, prepare_data

    config = _config(tmp_path, {"synthetic_shortcut": {
        "base": "synthetic", "train_n": 200, "eval_n": 100, "explain_n": 20,
        "shortcut": {"token": "zeugma", "rate": 0.3, "mode": "anti"}}})
    spec = dataset_spec(config, "synthetic_shortcut")
    assert spec.name == "synthetic_shortcut" and spec.label_names == DATASETS.get("synthetic").label_names
    assert spec.notes["base"] == "synthetic" and spec.notes["shortcut"]["token"] == "zeugma"
    paths = {k: tmp_path / f"{k}.parquet" for k in ("train", "eval", "explain", "report")}
    prepare_data(DataSettings.from_config(config, dataset="synthetic_shortcut"), "synthetic_shortcut",
                 out_train=str(paths["train"]), out_eval=str(paths["eval"]), out_explain=str(paths["explain"]),
                 out_report=str(paths["report"]))
    columns = [*EXAMPLE_COLUMNS, "shortcut_index", "original_label"]
    train = read_table(paths["train"], table="examples", columns=columns)
    explain = read_table(paths["explain"], table="examples", columns=columns)
    assert (train["dataset"] == "synthetic_shortcut").all()
    assert (train["shortcut_index"] >= 0).sum() == 60 and (train.loc[train["shortcut_index"] >= 0, "label"] == 1).all()
    assert (explain["shortcut_index"] >= 0).sum() == 10  # explain_share 0.5 by default
    report = read_table(paths["report"], table="data_report")
    assert report["notes"].str.contains("planted into").all()


@pytest.mark.parametrize("entry,message", [
    ({"shortcut": {"token": "zeugma"}}, "needs `base`"),
    ({"base": "no_such", "shortcut": {"token": "zeugma"}}, "unknown dataset 'no_such'"),
    ({"base": "synthetic", "shortcut": {"token": "zeugma", "label": 5}}, "label: 5 is not a class"),
])
def test_bad_derived_entries_are_config_errors(tmp_path, entry, message):
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, {"planted": {"train_n": 100, "eval_n": 50, "explain_n": 10, **entry}})


def test_a_derived_entry_cannot_take_a_registered_name(tmp_path):
    with pytest.raises(ConfigError, match="cannot take the name of the registered dataset 'sst2'"):
        _config(tmp_path, {"sst2": {"base": "synthetic", "train_n": 100, "eval_n": 50, "explain_n": 10}})
