"""Model families: build (and train) or load a :class:`TextClassifier` from a config entry.

A config entry names a ``family`` (``transformer`` or ``rnn``) and its settings; a new
Hugging Face model is one such entry, a new family one :class:`ModelFamily` subclass.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from analysis.models.base import Encoded, TextClassifier
from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary
from analysis.models.training import TrainSettings, evaluate, predict, train_classifier
from analysis.models.transformer import CheckpointError, TransformerClassifier
from analysis.registry import Registry

log = logging.getLogger(__name__)

TRAIN_KEYS = ("epochs", "lr", "batch_size", "weight_decay", "warmup_ratio", "grad_clip")


class ModelFamily(ABC):
    """Builds, trains and loads one kind of model from its config entry."""

    kind: str

    @abstractmethod
    def build(self, entry: dict[str, Any], *, num_labels: int, train: pd.DataFrame,
              device: torch.device) -> TextClassifier:
        """A fresh (or pretrained) model ready for :func:`train_classifier`."""

    def needs_training(self, entry: dict[str, Any]) -> bool:
        return True

    @staticmethod
    def load(folder: str | Path, *, device: torch.device | str = "cpu") -> TextClassifier:
        """Load a model saved by the train stage (the family is read from ``adapter.json``)."""
        folder = Path(folder)
        meta_path = folder / "adapter.json"
        if not meta_path.exists():
            raise CheckpointError(f"{folder} is not a model saved by this pipeline (no adapter.json); rerun the train rule")
        family = json.loads(meta_path.read_text())["family"]
        if family == "rnn":
            return RNNClassifier.load(str(folder), device=device)
        return TransformerClassifier.load_trained(str(folder), device=device)


MODEL_FAMILIES: Registry[type[ModelFamily]] = Registry("model family")


@MODEL_FAMILIES.register("transformer")
class TransformerFamily(ModelFamily):
    """Any ``AutoModelForSequenceClassification`` checkpoint, fine-tuned unless ``fine_tune: false``."""

    kind = "transformer"

    def build(self, entry: dict[str, Any], *, num_labels: int, train: pd.DataFrame,
              device: torch.device) -> TextClassifier:
        return TransformerClassifier.load(entry["checkpoint"], num_labels=num_labels,
                                          max_length=int(entry.get("max_length", 128)), device=device)

    def needs_training(self, entry: dict[str, Any]) -> bool:
        return bool(entry.get("fine_tune", True))


@MODEL_FAMILIES.register("rnn")
class RNNFamily(ModelFamily):
    """Jain & Wallace models: ``encoder`` lstm/cnn/average, ``attention`` tanh/dot/uniform."""

    kind = "rnn"

    def build(self, entry: dict[str, Any], *, num_labels: int, train: pd.DataFrame,
              device: torch.device) -> TextClassifier:
        vocab = Vocabulary.build(list(train["words"]), min_count=int(entry.get("min_count", 1)),
                                 max_size=entry.get("max_vocab"))
        config = RNNConfig(
            vocab_size=len(vocab), num_labels=num_labels, encoder=entry.get("encoder", "lstm"),
            attention=entry.get("attention", "tanh"), embed_dim=int(entry.get("embed_dim", 128)),
            hidden_dim=int(entry.get("hidden_dim", 64)), attention_dim=int(entry.get("attention_dim", 64)),
            dropout=float(entry.get("dropout", 0.2)),
        )
        return RNNClassifier(AttentionRNN(config), vocab, max_length=int(entry.get("max_length", 256)), device=device)


def family_for(entry: dict[str, Any], *, where: str = "") -> ModelFamily:
    """The family object for a model config entry (error lists the known families)."""
    return MODEL_FAMILIES.get(entry.get("family", ""), where=where)()


def train_settings(entry: dict[str, Any]) -> TrainSettings:
    return TrainSettings(**{k: entry[k] for k in TRAIN_KEYS if k in entry})


def load_model(folder: str | Path, *, device: torch.device | str = "cpu") -> TextClassifier:
    return ModelFamily.load(folder, device=device)


__all__ = [
    "MODEL_FAMILIES",
    "CheckpointError",
    "Encoded",
    "ModelFamily",
    "RNNClassifier",
    "TextClassifier",
    "TrainSettings",
    "TransformerClassifier",
    "evaluate",
    "family_for",
    "load_model",
    "predict",
    "train_classifier",
    "train_settings",
]
