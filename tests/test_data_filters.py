"""Label filters of derived datasets (AG News World vs Business), sentence-level SST, the full IMDB mirror."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.config import ConfigError, validate_config
from analysis.data import DATASETS, LabelFilterError, dataset_spec, load_split, prepare_splits, prepare_validation
from analysis.data.prepare import standardise

ROOT = Path(__file__).resolve().parent.parent
BINARY = {"World": 0, "Business": 1}


def _spec(labels=None, shortcut=None, name="ag_news_binary", base="ag_news"):
    entry = {"base": base, **({"labels": labels} if labels is not None else {}),
             **({"shortcut": shortcut} if shortcut else {})}
    return dataset_spec({"datasets": {name: entry}}, name)


def _news(n_per_class: int = 10) -> pd.DataFrame:
    """AG-News-shaped rows, classes interleaved: World, Sports, Business, Sci/Tech, World, ..."""
    names = DATASETS.get("ag_news").label_names
    return pd.DataFrame({"text": [f"{names[i % 4]} story number {i}" for i in range(4 * n_per_class)],
                         "label": [i % 4 for i in range(4 * n_per_class)]})


def _mirror(folder: Path, name: str, splits: dict[str, pd.DataFrame]) -> Path:
    (folder / name).mkdir(parents=True, exist_ok=True)
    for split, frame in splits.items():
        frame.to_parquet(folder / name / f"{split}.parquet", index=False)
    return folder


@pytest.fixture
def tiny():
    return yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


def test_filter_keeps_the_named_classes_and_relabels_them():
    spec = _spec(BINARY)
    assert spec.label_names == ("World", "Business") and spec.num_labels == 2
    assert spec.data_name == "ag_news" and spec.notes["labels"] == BINARY
    frame = _news(5)
    out = standardise(frame, spec, split="test")
    assert len(out) == 10 and set(out["label"]) == {0, 1}
    # ids keep the row number as read, so the example is the same one as in ag_news
    rows = [int(i.rsplit("-", 1)[1]) for i in out["example_id"]]
    assert out["example_id"].iloc[0] == "ag_news-test-0"
    assert frame["label"].iloc[rows].map({0: 0, 2: 1}).tolist() == out["label"].tolist()
    assert frame["text"].iloc[rows].tolist() == out["text"].tolist()
    assert all(text.startswith(name) for text, name in zip(out["text"], out["label_name"]))


def test_new_ids_set_the_order_and_shared_ids_merge_classes():
    swapped = _spec({"Business": 0, "World": 1})
    assert swapped.label_names == ("Business", "World")
    out = standardise(_news(2), swapped, split="test")
    assert dict(zip(out["label_name"], out["label"])) == {"Business": 0, "World": 1}
    merged = _spec({"World": 0, "Sports": 1, "Business": 1, "Sci/Tech": 1})
    assert merged.label_names == ("World", "Sports + Business + Sci/Tech")
    assert standardise(_news(2), merged, split="test")["label"].tolist() == [0, 1, 1, 1, 0, 1, 1, 1]


def test_a_corrupt_label_is_still_an_error_not_a_dropped_row():
    frame = pd.DataFrame({"text": ["a", "b"], "label": [0, 9]})
    with pytest.raises(ValueError, match=r"labels outside 0..3 \(World, Sports, Business, Sci/Tech\)"):
        standardise(frame, _spec(BINARY), split="train")


@pytest.mark.parametrize("labels,message", [
    ({"World": 0, "Busines": 1}, r"datasets\.ag_news_binary\.labels: unknown label\(s\) 'Busines' of dataset "
                                 r"'ag_news'; its labels are \['World', 'Sports', 'Business', 'Sci/Tech'\]"),
    ({"World": 0, "Business": 2}, r"datasets\.ag_news_binary\.labels: the new label ids must be 0\.\.1 .*\[0, 2\]"),
    ({"World": 0, "Business": 0}, r"datasets\.ag_news_binary\.labels: every named label maps to id 0"),
])
def test_bad_label_filters_name_the_key_the_label_and_the_allowed_names(tiny, labels, message):
    with pytest.raises(LabelFilterError, match=message):
        _spec(labels)
    config = copy.deepcopy(tiny)
    config["datasets"]["ag_news_binary"] = {"base": "ag_news", "labels": labels}
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_a_label_filter_needs_base_and_two_labels(tiny):
    config = copy.deepcopy(tiny)
    config["datasets"]["ag_news"] = {"labels": BINARY}
    with pytest.raises(ConfigError, match=r"datasets\.ag_news\.labels needs `base`.*ag_news_binary"):
        validate_config(config)
    config["datasets"] = {"ag_news_binary": {"base": "ag_news", "labels": {"World": 0}}}
    with pytest.raises(ConfigError, match=r"datasets\.ag_news_binary\.labels"):
        validate_config(config)


def test_a_valid_filter_passes_validation_and_a_shortcut_label_refers_to_the_new_classes(tiny):
    config = copy.deepcopy(tiny)
    config["datasets"]["ag_news_binary"] = {"base": "ag_news", "labels": BINARY,
                                            "shortcut": {"token": "zeugma", "label": 1}}
    validate_config(copy.deepcopy(config))
    config["datasets"]["ag_news_binary"]["shortcut"]["label"] = 3  # a class of ag_news, not of the binary task
    with pytest.raises(ConfigError, match=r"shortcut\.label: 3 is not a class.*\{0: 'World', 1: 'Business'\}"):
        validate_config(config)


def test_prepare_splits_filters_before_subsampling_and_reports_it(tmp_path):
    data_dir = _mirror(tmp_path, "ag_news", {"train": _news(50), "test": _news(20)})
    train, evaluation, report = prepare_splits(_spec(BINARY), train_n=30, eval_n=None, seed=0, data_dir=data_dir)
    assert len(train) == 30 and train["label"].value_counts().to_dict() == {0: 15, 1: 15}
    assert len(evaluation) == 40 and set(evaluation["label_name"]) == {"World", "Business"}
    assert report["rows_read"].tolist() == [200, 80]
    assert report["dropped_other_classes"].tolist() == [100, 40]
    assert report["rows_available"].tolist() == [100, 40]
    assert report["label_counts"].iloc[0] == "World: 15, Business: 15"
    assert "label filter on ag_news: World -> 0, Business -> 1; dropped 100 rows" in report["notes"].iloc[0]


def test_a_derived_spec_without_filter_subsamples_the_same_examples_as_its_base(tmp_path):
    data_dir = _mirror(tmp_path, "ag_news", {"train": _news(50), "test": _news(20)})
    derived = _spec(shortcut={"token": "zeugma"}, name="ag_news_shortcut")
    base = prepare_splits(DATASETS.get("ag_news"), train_n=30, eval_n=20, seed=0, data_dir=data_dir)
    same = prepare_splits(derived, train_n=30, eval_n=20, seed=0, data_dir=data_dir)
    for a, b in zip(base[:2], same[:2]):
        assert a["example_id"].tolist() == b["example_id"].tolist()
    assert (same[2]["dropped_other_classes"] == 0).all()


def test_a_filter_composes_with_a_planted_shortcut(tmp_path):
    from analysis.groundtruth.shortcuts import ShortcutConfig, plant_splits

    data_dir = _mirror(tmp_path, "ag_news", {"train": _news(50), "test": _news(20)})
    settings = {"token": "zeugma", "rate": 0.3, "mode": "anti", "label": 1}
    spec = _spec(BINARY, shortcut=settings, name="ag_news_binary_anti")
    assert spec.notes["shortcut"]["token"] == "zeugma" and spec.label_names == ("World", "Business")
    train, evaluation, report = prepare_splits(spec, train_n=None, eval_n=None, seed=0, data_dir=data_dir)
    train, evaluation, report = plant_splits(train, evaluation, report, ShortcutConfig.from_settings(settings),
                                             dataset=spec.name, seed=0, label_names=spec.label_names)
    planted = train["shortcut_index"] >= 0
    assert planted.sum() == 30 and (train.loc[planted, "label_name"] == "Business").all()
    assert (train.loc[planted, "original_label"] == 0).all()  # anti: taken from World, relabelled Business
    assert set(train["label"]) == {0, 1} and set(evaluation["label"]) == {0, 1}
    assert report["notes"].str.contains("label filter on ag_news").all()
    assert report["notes"].str.contains("planted into").all()


def test_the_data_stage_writes_a_filtered_two_class_dataset(tmp_path, tiny):
    from analysis.records import EXAMPLE_COLUMNS, read_table
    from analysis.stages.data import DataSettings, prepare_data

    data_dir = _mirror(tmp_path / "data", "ag_news", {"train": _news(50), "test": _news(20)})
    config = copy.deepcopy(tiny)
    config.update(results_dir=str(tmp_path), data_dir=str(data_dir),
                  datasets={"ag_news_binary": {"base": "ag_news", "labels": BINARY, "train_n": 40, "eval_n": 20,
                                               "explain_n": 10, "validation_n": 8}})
    config = validate_config(config)
    paths = {k: str(tmp_path / f"{k}.parquet") for k in ("train", "eval", "explain", "report", "validation")}
    prepare_data(DataSettings.from_config(config, dataset="ag_news_binary"), "ag_news_binary", out_train=paths["train"],
                 out_eval=paths["eval"], out_explain=paths["explain"], out_report=paths["report"],
                 out_validation=paths["validation"])
    train = read_table(paths["train"], table="examples", columns=EXAMPLE_COLUMNS)
    assert set(train["label"]) == {0, 1} and set(train["label_name"]) == {"World", "Business"}
    # AG News has no validation split: validation_n examples are held out of the training sample
    validation = read_table(paths["validation"], table="examples", columns=EXAMPLE_COLUMNS)
    assert len(validation) == 8 and len(train) == 32
    assert not set(validation["example_id"]) & set(train["example_id"])
    assert dataset_spec(config, "ag_news_binary").num_labels == 2
    # the data report counts the final tables: the training row after the hold-out, and a row for the held-out set
    report = pd.read_parquet(paths["report"]).set_index("role")
    for role, frame in (("train", train), ("validation", validation)):
        counts = {name: int(n) for name, n in (part.split(": ") for part in report.loc[role, "label_counts"].split(", "))}
        assert report.loc[role, "rows_kept"] == len(frame) == sum(counts.values())
        assert counts == {name: int(n) for name, n in frame["label_name"].value_counts().items()}
    assert report.loc["validation", "source"] == "held out of the training sample"


def test_sst2_sentences_and_imdb_specs():
    sentences = DATASETS.get("sst2_sentences")
    assert (sentences.train_split, sentences.validation_split, sentences.eval_split) == ("train", "validation", "test")
    assert sentences.hub_id == "SetFit/sst2" and "Jain & Wallace 2019" in sentences.citation
    imdb = DATASETS.get("imdb")
    assert (imdb.train_split, imdb.eval_split, imdb.validation_split) == ("train", "test", None)


def test_validation_examples_go_through_the_same_filter(tmp_path):
    data_dir = _mirror(tmp_path, "ag_news", {"test": _news(20)})
    validation, report = prepare_validation(_spec(BINARY), n=10, seed=0, data_dir=data_dir, split="test")
    assert len(validation) == 10 and validation["label"].value_counts().to_dict() == {0: 5, 1: 5}
    assert report["role"].tolist() == ["validation"] and report["dropped_other_classes"].tolist() == [40]
    with pytest.raises(ValueError, match=r"'imdb' has no validation split"):
        prepare_validation(DATASETS.get("imdb"), n=None, seed=0, data_dir=data_dir)


# ----------------------------------------------------------------------------- real mirror
def test_ag_news_binary_on_the_mirror_holds_world_and_business_articles(shared_data):
    spec = _spec(BINARY)
    train, evaluation, report = prepare_splits(spec, train_n=400, eval_n=None, seed=0, data_dir=shared_data)
    raw = load_split(DATASETS.get("ag_news"), "test", data_dir=shared_data)
    assert len(evaluation) == int(raw["label"].isin([0, 2]).sum()) == 3800  # 1,900 each in the official test set
    for frame in (train, evaluation):
        assert set(frame["label"]) == {0, 1}
    rows = [int(i.rsplit("-", 1)[1]) for i in evaluation["example_id"]]
    assert raw["label"].iloc[rows].map({0: 0, 2: 1}).tolist() == evaluation["label"].tolist()
    assert raw["text"].iloc[rows].tolist() == evaluation["text"].tolist()
    assert report["dropped_other_classes"].iloc[1] == 3800


def test_sst2_sentences_mirror_has_the_jain_wallace_split(shared_data):
    spec = DATASETS.get("sst2_sentences")
    sizes = {split: len(load_split(spec, split, data_dir=shared_data)) for split in spec.splits}
    assert sizes == {"train": 6920, "validation": 872, "test": 1821}
    train, evaluation, report = prepare_splits(spec, train_n=None, eval_n=None, seed=0, data_dir=shared_data)
    assert report["split"].tolist() == ["train", "test"]
    assert len(evaluation) == 1821 and set(train["label"]) == {0, 1}
    validation, _ = prepare_validation(spec, n=None, seed=0, data_dir=shared_data)
    assert len(validation) == 872 and (validation["split"] == "validation").all()
    assert not set(validation["text"]) & set(evaluation["text"])


def test_imdb_mirror_is_the_complete_dataset(shared_data):
    spec = DATASETS.get("imdb")
    present = sorted(p.stem for p in (shared_data / "imdb").glob("*.parquet"))
    assert present == sorted(spec.splits)
    for split in spec.splits:
        assert len(load_split(spec, split, data_dir=shared_data)) == 25000
