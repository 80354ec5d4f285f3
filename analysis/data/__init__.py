"""Datasets: the registry of specs, loading (hub or local mirror), preparation, synthetic task."""

from analysis.data.loading import DataUnavailableError, load_split, words_of
from analysis.data.prepare import prepare_splits, prepare_validation, stratified_sample
from analysis.data.specs import (
    DATASETS,
    DatasetSpec,
    LabelFilterError,
    content_warning,
    dataset_spec,
    derived_spec,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "DataUnavailableError",
    "DatasetSpec",
    "LabelFilterError",
    "content_warning", "dataset_spec", "derived_spec",
    "load_split",
    "prepare_splits",
    "prepare_validation",
    "register_dataset",
    "stratified_sample",
    "words_of",
]
