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
from analysis.models.embeddings import EmbeddingsError, load_vectors, vector_dimension
from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary, initialise_embeddings
from analysis.models.training import TrainSettings, evaluate, predict, train_classifier
from analysis.models.transformer import CheckpointError, TransformerClassifier
from analysis.registry import Registry

log = logging.getLogger(__name__)

TRAIN_KEYS = ("epochs", "lr", "batch_size", "weight_decay", "warmup_ratio", "grad_clip", "patience")


class ModelFamily(ABC):
    """Builds, trains and loads one kind of model from its config entry."""

    kind: str

    @abstractmethod
    def build(self, entry: dict[str, Any], *, num_labels: int, train: pd.DataFrame,
              device: torch.device) -> TextClassifier:
        """A fresh (or pretrained) model ready for :func:`train_classifier`."""

    def needs_training(self, entry: dict[str, Any]) -> bool:
        return True

    def describe(self, entry: dict[str, Any]) -> str:
        """The architecture in a few words, for the report's tables (here: the checkpoint)."""
        return str(entry.get("checkpoint", ""))

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
        for key in ("embeddings", "freeze_embeddings"):
            if entry.get(key):
                raise ValueError(f"`{key}` is an rnn setting; a transformer keeps its checkpoint's embeddings")
        return TransformerClassifier.load(entry["checkpoint"], num_labels=num_labels, revision=entry.get("revision"),
                                          max_length=int(entry.get("max_length", 128)), device=device)

    def needs_training(self, entry: dict[str, Any]) -> bool:
        return bool(entry.get("fine_tune", True))


@MODEL_FAMILIES.register("rnn")
class RNNFamily(ModelFamily):
    """Jain & Wallace models: ``encoder`` lstm/cnn/average, ``attention`` tanh/dot/uniform.

    ``embeddings`` (a named vector set or a path, see :mod:`analysis.models.embeddings`)
    initialises the embedding table (:func:`analysis.models.rnn.initialise_embeddings`);
    ``embed_dim`` must then equal the vectors' dimension or be left out.
    """

    kind = "rnn"

    def describe(self, entry: dict[str, Any]) -> str:
        """Encoder and attention, e.g. "cnn encoder, tanh attention" (the family covers all of them)."""
        return (f"{entry.get('encoder', RNNConfig.encoder)} encoder, "
                f"{entry.get('attention', RNNConfig.attention)} attention")

    def build(self, entry: dict[str, Any], *, num_labels: int, train: pd.DataFrame,
              device: torch.device) -> TextClassifier:
        min_count = entry.get("min_count", 1)
        if isinstance(min_count, dict):
            raise ValueError("min_count is a mapping per dataset: resolve the model entry for one dataset first "
                             "(analysis.config.model_entry_for)")
        vocab = Vocabulary.build(list(train["words"]), min_count=int(min_count),
                                 max_size=entry.get("max_vocab"))
        source = entry.get("embeddings")
        embed_dim = entry.get("embed_dim")
        if source:
            dim = vector_dimension(source)
            if embed_dim is not None and int(embed_dim) != dim:
                raise EmbeddingsError(f"embed_dim is {embed_dim} but the vectors of `embeddings: {source}` are {dim}-d: "
                                      f"set embed_dim: {dim} or leave embed_dim out (it is then taken from them)")
            embed_dim = dim
        config = RNNConfig(
            vocab_size=len(vocab), num_labels=num_labels, encoder=entry.get("encoder", RNNConfig.encoder),
            attention=entry.get("attention", RNNConfig.attention), embed_dim=128 if embed_dim is None else int(embed_dim),
            hidden_dim=int(entry.get("hidden_dim", 64)), attention_dim=int(entry.get("attention_dim", 64)),
            dropout=float(entry.get("dropout", 0.2)), embeddings=source or None,
            freeze_embeddings=bool(entry.get("freeze_embeddings", False)),
        )
        network = AttentionRNN(config)
        if source:
            initialise_embeddings(network, vocab, load_vectors(source, words=vocab.lookup_spellings()))
        elif config.freeze_embeddings:
            log.warning("freeze_embeddings without embeddings: the random embedding table stays as initialised")
        return RNNClassifier(network, vocab, max_length=int(entry.get("max_length", 256)), device=device)


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
