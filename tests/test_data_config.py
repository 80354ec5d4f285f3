"""Datasets from config: hub entries (mirror and hub code path), built-ins as entries, overrides, bad entries."""

from __future__ import annotations

import copy
from dataclasses import fields, replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.config import ConfigError, validate_config
from analysis.data import (
    BUILTIN_DATASETS,
    DATASETS,
    GENERATORS,
    DatasetEntryError,
    DataUnavailableError,
    dataset_spec,
    load_split,
    prepare_splits,
    prepare_validation,
    spec_from_entry,
)
from analysis.data.prepare import standardise

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["negative", "neutral", "positive"]
TWEET = {"hub": {"id": "cardiffnlp/tweet_eval", "config": "sentiment", "revision": None}, "text_column": "text",
         "label_column": "label", "label_names": None, "train_split": "train", "eval_split": "test",
         "validation_split": "validation"}

# The specs of the built-in datasets as the registry gave them before they became entries (written
# down from `DATASETS` before the change). `hub_converter` is given by name; `generator` was a bool
# and is now the generating function (truthy exactly where it was True).
OLD_SPECS = {
    "ag_news": {"name": "ag_news", "hub_id": "fancyzhx/ag_news", "label_names": ("World", "Sports", "Business", "Sci/Tech"), "splits": ("train", "test"), "train_split": "train", "eval_split": "test", "text_column": "text", "tokens_column": None, "label_column": "label", "rationale_column": None, "hub_config": None, "revision": None, "hub_converter": None, "generator": False, "validation_split": None, "citation": "Zhang et al. 2015 (NeurIPS)", "notes": {}, "base": None, "label_map": None, "read_label_names": None},  # noqa: E501
    "hatexplain": {"name": "hatexplain", "hub_id": "Hate-speech-CNERG/hatexplain", "label_names": ("non-toxic", "toxic"), "splits": ("train", "validation", "test"), "train_split": "validation", "eval_split": "test", "text_column": None, "tokens_column": "tokens", "label_column": "label", "rationale_column": "rationale", "hub_config": None, "revision": None, "hub_converter": "hatexplain_from_hub", "generator": False, "validation_split": None, "citation": "Mathew et al. 2021 (AAAI)", "notes": {"content_warning": "contains offensive language by design"}, "base": None, "label_map": None, "read_label_names": None},  # noqa: E501
    "imdb": {"name": "imdb", "hub_id": "stanfordnlp/imdb", "label_names": ("negative", "positive"), "splits": ("train", "test"), "train_split": "train", "eval_split": "test", "text_column": "text", "tokens_column": None, "label_column": "label", "rationale_column": None, "hub_config": None, "revision": None, "hub_converter": None, "generator": False, "validation_split": None, "citation": "Maas et al. 2011 (ACL)", "notes": {"validation": "no validation split: one would be a held-out stratified share of train", "overlap": "123 texts occur in both train and test, as in the original release"}, "base": None, "label_map": None, "read_label_names": None},  # noqa: E501
    "movie_rationales": {"name": "movie_rationales", "hub_id": "eraser-benchmark/movie_rationales", "label_names": ("negative", "positive"), "splits": ("train", "validation", "test"), "train_split": "train", "eval_split": "test", "text_column": None, "tokens_column": "tokens", "label_column": "label", "rationale_column": "rationale", "hub_config": None, "revision": None, "hub_converter": "eraser_movies_from_hub", "generator": False, "validation_split": "validation", "citation": "Zaidan et al. 2007 (NAACL); ERASER, DeYoung et al. 2020 (ACL)", "notes": {"local_mirror": "not in ../shared/data: hub only", "length": "long reviews (~700 words): rationales beyond max_length are truncated away and left out of the rationale metrics"}, "base": None, "label_map": None, "read_label_names": None},  # noqa: E501
    "sst2": {"name": "sst2", "hub_id": "stanfordnlp/sst2", "label_names": ("negative", "positive"), "splits": ("train", "validation"), "train_split": "train", "eval_split": "validation", "text_column": "sentence", "tokens_column": None, "label_column": "label", "rationale_column": None, "hub_config": None, "revision": None, "hub_converter": None, "generator": False, "validation_split": None, "citation": "Socher et al. 2013 (EMNLP); GLUE, Wang et al. 2019", "notes": {"unit": "GLUE's 67k training phrases (sub-sentence spans of the treebank); whole sentences are sst2_sentences"}, "base": None, "label_map": None, "read_label_names": None},  # noqa: E501
    "sst2_sentences": {"name": "sst2_sentences", "hub_id": "SetFit/sst2", "label_names": ("negative", "positive"), "splits": ("train", "validation", "test"), "train_split": "train", "eval_split": "test", "text_column": "text", "tokens_column": None, "label_column": "label", "rationale_column": None, "hub_config": None, "revision": None, "hub_converter": None, "generator": False, "validation_split": "validation", "citation": "Socher et al. 2013 (EMNLP); sentence-level binary split of Jain & Wallace 2019 (NAACL)", "notes": {"unit": "whole sentences, root labels of the treebank with neutral dropped (6,920 / 872 / 1,821)", "case": "the local mirror keeps the trees' case; the hub copy is lower-cased"}, "base": None, "label_map": None, "read_label_names": None},  # noqa: E501
    "synthetic": {"name": "synthetic", "hub_id": None, "label_names": ("negative", "positive"), "splits": ("train", "validation"), "train_split": "train", "eval_split": "validation", "text_column": "text", "tokens_column": None, "label_column": "label", "rationale_column": "gt_mask", "hub_config": None, "revision": None, "hub_converter": None, "generator": True, "validation_split": None, "citation": "this project (analysis.data.synthetic)", "notes": {}, "base": None, "label_map": None, "read_label_names": None},  # noqa: E501
}
OLD_DERIVED = {  # dataset_spec of derived entries, before the change
    "ag_news_binary": ({"base": "ag_news", "labels": {"World": 0, "Business": 1}},
                       {**OLD_SPECS["ag_news"], "name": "ag_news_binary", "label_names": ("World", "Business"),
                        "notes": {"base": "ag_news", "labels": {"World": 0, "Business": 1}}, "base": "ag_news",
                        "label_map": {0: 0, 2: 1}, "read_label_names": ("World", "Sports", "Business", "Sci/Tech")}),
    "sst2_anti": ({"base": "sst2", "shortcut": {"token": "zeugma"}},
                  {**OLD_SPECS["sst2"], "name": "sst2_anti", "base": "sst2",
                   "notes": {**OLD_SPECS["sst2"]["notes"], "base": "sst2", "shortcut": {"token": "zeugma"}}}),
}


def _as_old(spec) -> dict:
    """A spec's fields in the old spelling: converters by name, the generator as a bool."""
    out = {f.name: getattr(spec, f.name) for f in fields(spec)}
    out["hub_converter"] = out["hub_converter"].__name__ if out["hub_converter"] else None
    out["generator"] = out["generator"] is not None
    return out


def _write(folder: Path, splits: dict[str, pd.DataFrame], *, class_label: bool = True) -> Path:
    """``<folder>/<split>.parquet``: through ``datasets`` with a ClassLabel label column, or plain pandas."""
    import datasets

    folder.mkdir(parents=True, exist_ok=True)
    for split, frame in splits.items():
        if class_label:
            features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=NAMES)})
            datasets.Dataset.from_pandas(frame, features=features, preserve_index=False).to_parquet(
                str(folder / f"{split}.parquet"))
        else:
            frame.to_parquet(folder / f"{split}.parquet", index=False)
    return folder


def _tweets(n: int, split: str = "train") -> pd.DataFrame:
    return pd.DataFrame({"text": [f"{NAMES[i % 3]} tweet {split} {i}" for i in range(n)], "label": [i % 3 for i in range(n)]})


def _splits() -> dict[str, pd.DataFrame]:
    return {"train": _tweets(60), "validation": _tweets(15, "validation"), "test": _tweets(30, "test")}


@pytest.fixture
def tiny():
    return yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


@pytest.fixture(autouse=True)
def _fresh_hub_features():
    from analysis.data.loading import _hub_features

    _hub_features.cache_clear()
    yield
    _hub_features.cache_clear()


# ------------------------------------------------------------------------------ built-ins as entries
@pytest.mark.parametrize("name", sorted(OLD_SPECS))
def test_builtin_entries_give_the_specs_they_gave_before(name):
    assert sorted(DATASETS.names()) == sorted(OLD_SPECS) == sorted(BUILTIN_DATASETS)
    assert _as_old(DATASETS.get(name)) == OLD_SPECS[name]
    # through a config entry with only run settings, as every shipped config writes them
    config = {"datasets": {name: {"train_n": 100, "eval_n": 50, "explain_n": 10, "validation_n": None}}}
    assert _as_old(dataset_spec(config, name)) == OLD_SPECS[name]


def test_the_synthetic_generator_is_named_by_its_entry():
    assert DATASETS.get("synthetic").generator is GENERATORS.get("synthetic")
    assert all(DATASETS.get(n).generator is None for n in OLD_SPECS if n != "synthetic")


@pytest.mark.parametrize("name", sorted(OLD_DERIVED))
def test_derived_entries_give_the_specs_they_gave_before(name):
    entry, old = OLD_DERIVED[name]
    assert _as_old(dataset_spec({"datasets": {name: entry}}, name)) == old


def test_a_builtin_declaration_written_as_a_config_entry_gives_the_same_spec():
    """One mechanism: the built-in's declaration under a new name is the built-in under that name."""
    for name in ("imdb", "hatexplain", "synthetic"):
        entry = copy.deepcopy(BUILTIN_DATASETS[name])
        assert spec_from_entry(f"{name}_again", entry) == replace(DATASETS.get(name), name=f"{name}_again")


def test_a_config_entry_overrides_fields_of_a_builtin(tiny):
    config = copy.deepcopy(tiny)
    config["datasets"] = {
        "sst2": {"hub": {"revision": "0123abcd"}, "eval_split": "train", "train_n": 100, "eval_n": 50, "explain_n": 10},
        "sst2_sentences": {"validation_split": None, "citation": "Jain & Wallace 2019"},
        "sst2_anti": {"base": "sst2", "shortcut": {"token": "zeugma"}},
    }
    config = validate_config(config)
    sst2 = dataset_spec(config, "sst2")
    assert sst2 == replace(DATASETS.get("sst2"), revision="0123abcd", eval_split="train")
    assert sst2.hub_id == "stanfordnlp/sst2"  # `hub` merges key by key
    sentences = dataset_spec(config, "sst2_sentences")
    assert sentences == replace(DATASETS.get("sst2_sentences"), validation_split=None, citation="Jain & Wallace 2019")
    # a derived dataset reads its base as the config defines it: the same pinned revision
    anti = dataset_spec(config, "sst2_anti")
    assert (anti.revision, anti.eval_split, anti.data_name) == ("0123abcd", "train", "sst2")


# ------------------------------------------------------------------------------ hub entries: local mirror
def test_a_hub_entry_loads_from_a_local_mirror_by_the_same_name(tmp_path):
    data_dir = tmp_path / "data"
    _write(data_dir / "tweet_sentiment", _splits())
    config = {"data_dir": str(data_dir), "datasets": {"tweet_sentiment": dict(TWEET)}}
    spec = dataset_spec(config, "tweet_sentiment")
    assert spec.label_names == tuple(NAMES)  # from the ClassLabel the mirror's parquet metadata keeps
    assert (spec.hub_id, spec.hub_config, spec.splits) == ("cardiffnlp/tweet_eval", "sentiment",
                                                           ("train", "validation", "test"))
    train, evaluation, report = prepare_splits(spec, train_n=30, eval_n=None, seed=0, data_dir=data_dir)
    assert len(train) == 30 and len(evaluation) == 30 and set(train["label_name"]) == set(NAMES)
    assert train["example_id"].iloc[0].startswith("tweet_sentiment-train-")
    assert report["source"].tolist() == [f"local mirror {data_dir}"] * 2
    validation, _ = prepare_validation(spec, n=None, seed=0, data_dir=data_dir)
    assert len(validation) == 15 and (validation["split"] == "validation").all()


def test_a_hub_entry_with_a_label_filter_and_a_derived_entry_on_top(tmp_path):
    data_dir = tmp_path / "data"
    _write(data_dir / "tweets", _splits())
    entries = {"tweets": {**TWEET, "labels": {"negative": 0, "positive": 1}},
               "tweets_swapped": {"base": "tweets", "labels": {"positive": 0, "negative": 1}}}
    config = {"data_dir": str(data_dir), "datasets": entries}
    binary = dataset_spec(config, "tweets")
    assert binary.label_names == ("negative", "positive") and binary.labels_as_read == tuple(NAMES)
    train, _, report = prepare_splits(binary, train_n=None, eval_n=None, seed=0, data_dir=data_dir)
    assert len(train) == 40 and report["dropped_other_classes"].tolist() == [20, 10]
    swapped = dataset_spec(config, "tweets_swapped")
    assert swapped.data_name == "tweets" and swapped.label_names == ("positive", "negative")
    assert swapped.label_map == {0: 1, 2: 0}  # read ids -> the derived ids, through both filters
    out = standardise(_tweets(6), swapped, split="train")
    assert out["label_name"].tolist() == ["negative", "positive", "negative", "positive"]
    assert out["label"].tolist() == [1, 0, 1, 0]


def test_a_mirror_written_by_pandas_needs_label_names(tmp_path):
    data_dir = tmp_path / "data"
    _write(data_dir / "tweets", _splits(), class_label=False)
    entry = dict(TWEET)
    with pytest.raises(DatasetEntryError, match=r"datasets\.tweets\.label_names is missing .* not a ClassLabel"):
        spec_from_entry("tweets", entry, data_dir=data_dir)
    spec = spec_from_entry("tweets", {**entry, "label_names": NAMES}, data_dir=data_dir)
    assert spec.label_names == tuple(NAMES)
    assert len(load_split(spec, "test", data_dir=data_dir)) == 30


def test_the_data_stage_runs_a_hub_entry_from_the_mirror(tmp_path, tiny):
    from analysis.records import EXAMPLE_COLUMNS, read_table
    from analysis.stages.data import DataSettings, prepare_data

    data_dir = tmp_path / "data"
    _write(data_dir / "tweet_sentiment", _splits())
    config = copy.deepcopy(tiny)
    config.update(results_dir=str(tmp_path), data_dir=str(data_dir),
                  datasets={"tweet_sentiment": {**TWEET, "train_n": 30, "eval_n": 24, "explain_n": 6}})
    config = validate_config(config)
    paths = {k: str(tmp_path / f"{k}.parquet") for k in ("train", "eval", "explain", "report", "validation")}
    prepare_data(DataSettings.from_config(config, dataset="tweet_sentiment"), "tweet_sentiment", out_train=paths["train"],
                 out_eval=paths["eval"], out_explain=paths["explain"], out_report=paths["report"],
                 out_validation=paths["validation"])
    validation = read_table(paths["validation"], table="examples", columns=EXAMPLE_COLUMNS)
    assert len(validation) == 15  # the entry's validation split, all of it
    explain = read_table(paths["explain"], table="examples", columns=EXAMPLE_COLUMNS)
    assert len(explain) == 6 and set(explain["label_name"]) <= set(NAMES)


# ------------------------------------------------------------------------------ hub entries: hub code path
def _hub_repository(folder: Path) -> Path:
    """A local folder laid out as a hub dataset repository with a `sentiment` config (README `configs`)."""
    _write(folder / "sentiment", _splits())
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: sentiment\n  data_files:\n"
        + "".join(f"  - split: {s}\n    path: sentiment/{s}.parquet\n" for s in ("train", "validation", "test"))
        + "---\n")
    return folder


def test_the_hub_code_path_reads_classlabel_names_and_the_config(tmp_path):
    """datasets.load_dataset(<hub id>, <config>) with the hub id replaced by a local repository folder."""
    repo = _hub_repository(tmp_path / "tweet_eval")
    entry = {**TWEET, "hub": {"id": str(repo), "config": "sentiment", "revision": None}}
    config = {"data_dir": None, "datasets": {"tweets": entry}}
    spec = dataset_spec(config, "tweets")
    assert spec.label_names == tuple(NAMES)
    train, evaluation, report = prepare_splits(spec, train_n=30, eval_n=None, seed=0)
    assert len(train) == 30 and len(evaluation) == 30 and set(evaluation["label_name"]) == set(NAMES)
    assert report["source"].iloc[0] == f"hub {repo}, config sentiment, latest revision (not pinned)"


def test_the_revision_reaches_datasets_and_the_data_report(monkeypatch):
    import datasets

    calls = []
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=NAMES)})

    class Builder:
        info = datasets.DatasetInfo(features=features)

    def builder(path, name=None, **kwargs):
        calls.append(("builder", path, name, kwargs.get("revision")))
        return Builder()

    def load(path, name=None, *, split, **kwargs):
        calls.append(("load", path, name, kwargs.get("revision")))
        return datasets.Dataset.from_pandas(_tweets(30, split), features=features, preserve_index=False)

    monkeypatch.setattr(datasets, "load_dataset_builder", builder)
    monkeypatch.setattr(datasets, "load_dataset", load)
    entry = {**TWEET, "hub": {"id": "cardiffnlp/tweet_eval", "config": "sentiment", "revision": "f0e1d2c3"}}
    spec = dataset_spec({"data_dir": None, "datasets": {"tweets": entry}}, "tweets")
    assert spec.label_names == tuple(NAMES) and spec.revision == "f0e1d2c3"
    _, _, report = prepare_splits(spec, train_n=None, eval_n=None, seed=0)
    assert calls == [("builder", "cardiffnlp/tweet_eval", "sentiment", "f0e1d2c3"),
                     ("load", "cardiffnlp/tweet_eval", "sentiment", "f0e1d2c3"),
                     ("load", "cardiffnlp/tweet_eval", "sentiment", "f0e1d2c3")]
    assert (report["source"] == "hub cardiffnlp/tweet_eval, config sentiment, revision f0e1d2c3").all()


def test_an_unreachable_hub_without_label_names_says_both_fixes(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = {**TWEET, "hub": {"id": "no-such-owner/no-such-dataset-xyz"}}
    with pytest.raises(DataUnavailableError, match=r"datasets\.tweets: could not read the label names.*data_dir.*"
                                                   r"label_names"):
        spec_from_entry("tweets", entry)


# ------------------------------------------------------------------------------ columns, found when read
@pytest.mark.parametrize("key,column", [("text_column", "tweet"), ("label_column", "sentiment"),
                                        ("rationale_column", "mask")])
def test_an_unknown_column_is_found_when_the_data_is_read_with_the_columns_there(tmp_path, key, column):
    data_dir = tmp_path / "data"
    _write(data_dir / "tweets", _splits(), class_label=False)
    spec = spec_from_entry("tweets", {**TWEET, "label_names": NAMES, key: column}, data_dir=data_dir)
    with pytest.raises(ValueError, match=rf"'tweets' split 'train' has no {key.replace('_', ' ')} '{column}'; "
                                         rf"columns: \['text', 'label'\]\. Set datasets\.tweets\.{key}"):
        prepare_splits(spec, train_n=None, eval_n=None, seed=0, data_dir=data_dir)


def test_an_unknown_label_column_is_found_when_the_label_names_are_read(tmp_path):
    data_dir = tmp_path / "data"
    _write(data_dir / "tweets", _splits())
    with pytest.raises(DatasetEntryError, match=r"datasets\.tweets\.label_column: .* no column 'sentiment'; its "
                                                r"columns: \['text', 'label'\]"):
        spec_from_entry("tweets", {**TWEET, "label_column": "sentiment"}, data_dir=data_dir)


# ------------------------------------------------------------------------------ bad entries
HUB = {"hub": {"id": "owner/name"}, "label_names": ["a", "b"], "train_split": "train", "eval_split": "test"}


@pytest.mark.parametrize("datasets,message", [
    ({"tweets": {}}, r"datasets\.tweets: unknown dataset 'tweets'; choose one of \[.*'sst2'.*\], give the entry a "
                     r"`hub` block"),
    ({"tweets": {**HUB, "train_split": None}}, r"datasets\.tweets\.train_split"),
    ({"tweets": {k: v for k, v in HUB.items() if k != "eval_split"}}, r"datasets\.tweets\.eval_split is missing"),
    ({"tweets": {**HUB, "hub": {"config": "x"}}}, r"datasets\.tweets\.hub\.id is missing"),
    ({"tweets": {**HUB, "tokens_column": "tokens", "text_column": "text"}},
     r"datasets\.tweets: give text_column .* or tokens_column"),
    ({"tweets": {**HUB, "hub_converter": "nope"}},
     r"unknown hub converter 'nope' \(at datasets\.tweets\.hub_converter\); choose one of: eraser_movies, hatexplain"),
    ({"tweets": {**HUB, "generated_by": "synthetic"}}, r"datasets\.tweets: give `hub` .* or `generated_by`"),
    ({"tweets": {**HUB, "label_names": None, "hub_converter": "hatexplain"}},
     r"datasets\.tweets\.label_names is missing: a converted"),
    ({"tweets": {**HUB, "label_names": ["a", "a"]}}, r"datasets\.tweets\.label_names: give at least two distinct"),
    ({"tweets": {**HUB, "labels": {"c": 0, "a": 1}}}, r"datasets\.tweets\.labels: unknown label\(s\) 'c'"),
    ({"tweets": {**HUB, "shortcut": {"token": "zeugma"}}}, r"datasets\.tweets\.shortcut needs `base`"),
    ({"sst2_cased": {"base": "sst2", "text_column": "text"}},
     r"datasets\.sst2_cased\.text_column: a derived dataset reads the data of its base 'sst2'"),
    ({"a": {"base": "sst2"}, "b": {"base": "a"}}, r"datasets\.b\.base: 'a' is itself derived \(base: sst2\)"),
    ({"a": {"base": "tweets"}}, r"datasets\.a\.base: unknown dataset 'tweets'"),
    ({"synthetic": {"hub": {"id": "owner/name"}}}, r"datasets\.synthetic: give `hub` .* or `generated_by`"),
])
def test_bad_entries_give_short_errors_naming_the_key(tiny, datasets, message):
    config = copy.deepcopy(tiny)
    config["datasets"] = datasets
    with pytest.raises(ConfigError, match=message) as error:
        validate_config(config)
    problems = str(error.value).splitlines()[1:]
    assert all(len(line) < 400 for line in problems), problems


def test_a_mirror_without_the_dataset_is_a_config_error_that_says_both_fixes(tmp_path, tiny):
    data_dir = tmp_path / "data"
    _write(data_dir / "tweets", _splits())
    config = copy.deepcopy(tiny)
    config.update(data_dir=str(data_dir), datasets={"tweets": dict(TWEET), "tweets_typo": dict(TWEET),
                                                    "imdb": {}, "synthetic": {}})
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    lines = str(error.value).splitlines()[1:]
    assert len(lines) == 2  # tweets is there, synthetic needs no folder
    typo, imdb = sorted(lines, key=lambda line: "imdb" in line)
    assert typo.strip().startswith(f"datasets.tweets_typo: data_dir {data_dir} has no folder tweets_typo/")
    assert "train.parquet, validation.parquet, test.parquet" in typo
    assert "or set data_dir: null to read it from the Hugging Face hub (cardiffnlp/tweet_eval)" in typo
    assert "datasets.imdb: data_dir" in imdb and "(stanfordnlp/imdb)" in imdb
