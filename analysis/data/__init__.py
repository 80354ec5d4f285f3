"""Datasets: entries parsed into specs (built-in or from the config), loading (hub or local mirror), preparation."""

from analysis.data.loading import DataUnavailableError, class_label_names, load_split, words_of
from analysis.data.prepare import (
    explained_by,
    prepare_splits,
    prepare_validation,
    random_prefix,
    stratified_sample,
)
from analysis.data.specs import (
    BUILTIN_DATASETS,
    DATASETS,
    GENERATORS,
    HUB_CONVERTERS,
    DatasetEntryError,
    DatasetSpec,
    LabelFilterError,
    content_warning,
    dataset_spec,
    spec_from_entry,
)

__all__ = [
    "explained_by",
    "random_prefix",
    "BUILTIN_DATASETS",
    "DATASETS",
    "DataUnavailableError",
    "DatasetEntryError",
    "DatasetSpec",
    "GENERATORS",
    "HUB_CONVERTERS",
    "LabelFilterError",
    "class_label_names",
    "content_warning",
    "dataset_spec",
    "load_split",
    "prepare_splits",
    "prepare_validation",
    "spec_from_entry",
    "stratified_sample",
    "words_of",
]
