"""Datasets: the registry of specs, loading (hub or local mirror), preparation, synthetic task."""

from analysis.data.loading import DataUnavailableError, load_split, words_of
from analysis.data.prepare import prepare_splits, stratified_sample
from analysis.data.specs import DATASETS, DatasetSpec, content_warning, dataset_spec, register_dataset

__all__ = [
    "DATASETS",
    "DataUnavailableError",
    "DatasetSpec",
    "content_warning", "dataset_spec",
    "load_split",
    "prepare_splits",
    "register_dataset",
    "stratified_sample",
    "words_of",
]
