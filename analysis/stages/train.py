"""Stage of ``workflow/rules/train.smk``: build, train and evaluate one model on one dataset and seed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.logs import timed
from analysis.provenance import settings_hash, with_provenance
from analysis.records import EXAMPLE_COLUMNS, read_table, write_table
from analysis.seeding import seed_everything
from analysis.stages.common import DeviceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings(DeviceSettings):
    """What training one model reads: the model's entry and the number of classes of the dataset."""

    model: dict[str, Any]  # the model's entry (models.<model>)
    num_labels: int  # of the dataset's spec (its entry, with a label filter, and the data source)

    wildcards = ("dataset", "model")
    reads = (*DeviceSettings.reads, "models.*", "datasets.*", "data_dir")

    @classmethod
    def from_config(cls, config: dict[str, Any], *, dataset: str, model: str) -> TrainSettings:
        from analysis.config import model_entry_for
        from analysis.data import dataset_spec

        return cls(**cls.runtime(config), model=model_entry_for(config, dataset, model),
                   num_labels=dataset_spec(config, dataset).num_labels)


def train_model(settings: TrainSettings, dataset: str, model_name: str, seed: int, *, train_path: str,
                eval_path: str, out_model: str, out_evaluation: str, out_predictions: str,
                out_history: str, validation_path: str | None = None) -> None:
    """Build (and fine-tune or train) a model, save it, and record its evaluation accuracy.

    With a non-empty validation table the epoch with the best validation accuracy is kept
    (:func:`analysis.models.training.train_classifier`); the evaluation summary records it.
    """
    from analysis.models import evaluate, family_for, train_classifier, train_settings
    from analysis.models.training import TrainingCheckpoint, chosen_epoch

    seed_everything(seed)
    entry = settings.model
    family = family_for(entry, where=f"models.{model_name}.family")
    from analysis.config import dataset_cap
    from analysis.data import random_prefix

    train = read_table(train_path, table="examples", columns=EXAMPLE_COLUMNS)
    cap = dataset_cap(entry.get("train_n"), dataset)
    if cap is not None and cap < len(train):  # a prefix of the table's random stratified order
        log.info("%s trains on the first %d of %d %s training examples (models.%s.train_n)", model_name, cap,
                 len(train), dataset, model_name)
        train = random_prefix(train, cap)
    evaluation = read_table(eval_path, table="examples", columns=EXAMPLE_COLUMNS)
    validation = read_table(validation_path, table="examples", columns=EXAMPLE_COLUMNS) if validation_path else None
    if validation is not None and validation.empty:
        validation = None
    device = settings.torch_device()
    model = family.build(entry, num_labels=settings.num_labels, train=train, device=device)
    start = time.perf_counter()
    # an interrupted training resumes after its last finished epoch
    checkpoint = TrainingCheckpoint(Path(out_model).parent / "training_checkpoint.pt", settings_hash({
        "model": entry, "dataset": dataset, "seed": seed, "train": train["example_id"].tolist(),
        "validation": None if validation is None else validation["example_id"].tolist()}))
    if family.needs_training(entry):
        with timed(f"training {model_name} on {dataset} (seed {seed}, {len(train)} examples)", log):
            history = train_classifier(model, list(map(list, train["words"])), train["label"].tolist(),
                                       train_settings(entry), seed=seed, validation=validation,
                                       checkpoint=checkpoint)
    else:
        history = pd.DataFrame(columns=["epoch", "loss", "seconds"])
    train_seconds = time.perf_counter() - start
    model.save(out_model)
    with timed(f"evaluating {model_name} on {len(evaluation)} {dataset} examples", log):
        predictions = evaluate(model, evaluation)
    # chance is the majority share of the examples the accuracy is measured on, not of train
    majority = float(predictions["label"].value_counts(normalize=True).max())
    accuracy = float(predictions["correct"].mean())
    n_truncated = int(predictions["truncated"].sum())
    log.info("%s on %s seed %d: accuracy %.3f (majority class %.3f); %d of %d examples truncated at %d tokens",
             model_name, dataset, seed, accuracy, majority, n_truncated, len(predictions), model.max_length)
    summary = pd.DataFrame([{
        "accuracy": accuracy, "n_eval": len(predictions), "chance": majority, "n_truncated": n_truncated,
        "max_length": model.max_length, "train_seconds": train_seconds, "kind": model.kind,
        "family": entry["family"], "device": str(device),
        # what was loaded: the checkpoint's resolved commit for a hub id (a hash of config.json for a folder)
        "resolved_revision": getattr(model, "provenance", {}).get("resolved_revision"),
        "n_train": len(train), "n_validation": 0 if validation is None else len(validation),
        "epoch_chosen": chosen_epoch(history) if validation is not None else None,
        "validation_accuracy": (float(history.loc[history["chosen"].astype(bool), "validation_accuracy"].iloc[0])
                                if validation is not None and "chosen" in history else np.nan),
    }])
    provenance = {"dataset": dataset, "split": evaluation["split"].iloc[0], "model": model_name, "seed": seed,
                  "settings": entry}
    write_table(with_provenance(summary, **provenance), out_evaluation)
    write_table(with_provenance(predictions, **provenance), out_predictions)
    write_table(with_provenance(history, **provenance), out_history)
    checkpoint.clear()
