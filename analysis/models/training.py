"""Training and evaluation loops shared by every model family (RNNs and transformer fine-tuning)."""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from analysis.models.base import Encoded, TextClassifier
from analysis.seeding import random_states, restore_random_states

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (from the model's config entry)."""

    epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    grad_clip: float = 1.0
    patience: int | None = None  # with a validation split: stop after this many epochs without improvement


def length_bucketed_batches(lengths: list[int], batch_size: int, *, rng: np.random.Generator | None = None,
                            pool: int = 50) -> list[np.ndarray]:
    """Batches of indices with similar lengths (little padding).

    With ``rng`` (training) the order is shuffled, sorted by length only inside pools of
    ``pool`` batches, and the batches shuffled; without it (inference) fully sorted.
    """
    index = np.arange(len(lengths))
    lengths_arr = np.asarray(lengths)
    if rng is None:
        order = index[np.argsort(lengths_arr, kind="stable")]
    else:
        order = rng.permutation(index)
        chunk = batch_size * pool
        order = np.concatenate([
            part[np.argsort(lengths_arr[part], kind="stable")] for part in np.array_split(order, max(1, math.ceil(len(order) / chunk)))
        ]) if len(order) else order
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class TrainingCheckpoint:
    """The state of a training run after its last finished epoch, kept on disk so that a run
    killed part-way (a preempted GPU job, a session that ended) resumes from there and ends
    with the weights and history of an uninterrupted run.

    ``key`` names what decides the run (model settings, training and validation examples,
    seed); a checkpoint written under another key is ignored and replaced. The file is
    written atomically after every epoch, and :meth:`clear` removes it once the trained
    model is saved.
    """

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self.key = key

    def load(self) -> dict[str, Any] | None:
        """The saved state under this key, or None."""
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("key") != self.key:
            log.info("ignoring the training checkpoint %s: it belongs to another configuration", self.path)
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        try:
            torch.save({**state, "key": self.key}, tmp)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def train_classifier(model: TextClassifier, words: list[list[str]], labels: list[int], settings: TrainSettings,
                     *, seed: int, validation: pd.DataFrame | None = None,
                     checkpoint: TrainingCheckpoint | None = None) -> pd.DataFrame:
    """Fit ``model`` with AdamW and a linear warm-up/decay schedule; returns the epoch history.

    Dropout is on during training only; the model is back in eval mode on return.

    Without ``validation`` every epoch runs and the last epoch's weights are kept; the
    history has columns ``epoch``, ``loss`` (mean training loss) and ``seconds``.

    With ``validation`` (a table with ``words`` and ``label`` columns, e.g. an ``examples``
    table of a validation split; never the split the model is evaluated on) the accuracy on
    it is measured after each epoch, and the weights of the epoch with the highest accuracy
    (the earliest among ties) are restored at the end. ``settings.patience`` stops training
    after that many epochs without improvement (None: all epochs run); the learning-rate
    schedule stays the one planned for ``settings.epochs``, so the epochs that do run are
    the same as without early stopping. The history gains ``validation_accuracy``,
    ``validation_seconds`` and ``chosen`` (True on the restored epoch's row).

    With ``checkpoint`` the whole state (weights, optimiser, schedule, random generators,
    history, best epoch so far) is saved after every epoch, and a run that finds a
    checkpoint of the same configuration resumes after its last epoch: on a CPU the result
    equals an uninterrupted run's, weight for weight.
    """
    if settings.patience is not None and validation is None:
        raise ValueError("patience needs a validation split to measure improvement on: pass `validation` or set "
                         "patience: null")
    rng = np.random.default_rng(seed)
    encoded = model.encode(words)
    targets = torch.as_tensor(labels, dtype=torch.long)
    network = model.module
    params = [p for p in network.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(words) / settings.batch_size)
    total = max(1, steps_per_epoch * settings.epochs)
    warmup = int(settings.warmup_ratio * total)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    selector = None if validation is None else EpochSelector(model, validation, batch_size=settings.batch_size,
                                                             patience=settings.patience)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    history: list[dict[str, Any]] = []
    done = 0  # epochs finished (by an interrupted run, when resuming)
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        network.load_state_dict(saved["network"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        rng.bit_generator.state = saved["batch_order"]
        restore_random_states(saved["random"])
        history, done = saved["history"], len(saved["history"])
        if selector is not None:
            selector.load_state(saved["selector"])
        log.info("resuming training after epoch %d of %d from %s", done, settings.epochs, checkpoint.path)
    network.train()
    try:
        stopped = selector is not None and done > 0 and selector.should_stop(done)  # patience ran out before
        for epoch in range(done, done if stopped else settings.epochs):
            start, losses = time.perf_counter(), []
            batches = length_bucketed_batches(encoded.n_words_kept, settings.batch_size, rng=rng)
            for rows in tqdm(batches, desc=f"epoch {epoch + 1}/{settings.epochs}", leave=False, mininterval=5):
                batch = encoded.select(rows.tolist()).to(model.device)
                logits = model.logits(batch.input_ids, batch.attention_mask)
                loss = torch.nn.functional.cross_entropy(logits, targets[rows].to(model.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if settings.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
            seconds = time.perf_counter() - start
            history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": seconds})
            if selector is None:
                log.info("epoch %d/%d: mean loss %.4f (%.1f s)", epoch + 1, settings.epochs, history[-1]["loss"],
                         seconds)
                _save_epoch(checkpoint, network, optimizer, scheduler, rng, history, selector)
                continue
            network.eval()
            history[-1].update(selector.after_epoch(epoch + 1))
            network.train()
            _save_epoch(checkpoint, network, optimizer, scheduler, rng, history, selector)
            log.info("epoch %d/%d: mean loss %.4f (%.1f s); validation accuracy %.4f (%.1f s)%s", epoch + 1,
                     settings.epochs, history[-1]["loss"], seconds, history[-1]["validation_accuracy"],
                     history[-1]["validation_seconds"], ", the best so far" if selector.best_epoch == epoch + 1 else "")
            if selector.should_stop(epoch + 1):
                log.info("stopping after epoch %d: no improvement for %d epochs (patience %d)", epoch + 1,
                         settings.patience, settings.patience)
                break
    finally:
        network.eval()
    frame = pd.DataFrame(history)
    if selector is not None:
        selector.restore(settings.epochs, len(history))
        frame["chosen"] = frame["epoch"] == selector.best_epoch if len(frame) else pd.Series(dtype=bool)
    return frame


def _save_epoch(checkpoint: TrainingCheckpoint | None, network: torch.nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, rng: np.random.Generator,
                history: list[dict[str, Any]], selector: EpochSelector | None) -> None:
    """Everything the next epoch depends on, into ``checkpoint`` (nothing without one)."""
    if checkpoint is None:
        return
    checkpoint.save({
        "network": {k: v.detach().to("cpu", copy=True) for k, v in network.state_dict().items()},
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "batch_order": rng.bit_generator.state, "random": random_states(), "history": history,
        "selector": selector.state() if selector is not None else None,
    })


def validation_accuracy(model: TextClassifier, encoded: Encoded, labels: np.ndarray, *, batch_size: int) -> float:
    """Accuracy of ``model`` (in eval mode) on encoded validation examples."""
    predicted, _ = predict(model, [], batch_size=batch_size, encoded=encoded)
    return float(np.mean(predicted == labels))


class EpochSelector:
    """Measures validation accuracy after each epoch and keeps the best epoch's weights.

    The best weights are copied to the CPU (a second copy of a large model on the GPU would
    halve the memory left for training).
    """

    def __init__(self, model: TextClassifier, validation: pd.DataFrame, *, batch_size: int,
                 patience: int | None) -> None:
        missing = {"words", "label"} - set(validation.columns)
        if missing:
            raise ValueError(f"the validation table needs columns words and label; it lacks {sorted(missing)}")
        if not len(validation):
            raise ValueError("the validation table is empty: epoch selection needs validation examples")
        self.model = model
        self.encoded = model.encode(list(map(list, validation["words"])))
        self.labels = validation["label"].to_numpy()
        self.batch_size = batch_size
        self.patience = patience
        self.best_epoch = 0
        self.best_accuracy = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None

    def after_epoch(self, epoch: int) -> dict[str, float]:
        start = time.perf_counter()
        accuracy = validation_accuracy(self.model, self.encoded, self.labels, batch_size=self.batch_size)
        if accuracy > self.best_accuracy:  # strictly better: among ties the earlier epoch stays
            self.best_epoch, self.best_accuracy = epoch, accuracy
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.module.state_dict().items()}
        return {"validation_accuracy": accuracy, "validation_seconds": time.perf_counter() - start}

    def state(self) -> dict[str, Any]:
        """The best epoch so far, its accuracy and weights (for a training checkpoint)."""
        return {"best_epoch": self.best_epoch, "best_accuracy": self.best_accuracy, "best_state": self.best_state}

    def load_state(self, state: dict[str, Any]) -> None:
        self.best_epoch, self.best_accuracy, self.best_state = (state["best_epoch"], state["best_accuracy"],
                                                                state["best_state"])

    def should_stop(self, epoch: int) -> bool:
        return self.patience is not None and epoch - self.best_epoch >= self.patience

    def restore(self, planned: int, run: int) -> None:
        if self.best_state is None:
            return
        self.model.module.load_state_dict(self.best_state)
        log.info("kept the weights of epoch %d of %d run (%d planned): validation accuracy %.4f", self.best_epoch,
                 run, planned, self.best_accuracy)


def chosen_epoch(history: pd.DataFrame) -> int | None:
    """The epoch whose weights :func:`train_classifier` kept with a validation split (None without one)."""
    if "chosen" not in history or not history["chosen"].any():
        return None
    return int(history.loc[history["chosen"], "epoch"].iloc[0])


@torch.no_grad()
def predict(model: TextClassifier, words: list[list[str]], *, batch_size: int = 64,
            encoded: Encoded | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class and full probability vectors [N, C], in input order."""
    encoded = encoded or model.encode(words)
    probs = np.zeros((len(encoded), model.num_labels), dtype=np.float64)
    for rows in length_bucketed_batches(encoded.n_words_kept, batch_size):
        batch = encoded.select(rows.tolist()).to(model.device)
        probs[rows] = model.probabilities(batch.input_ids, batch.attention_mask).double().cpu().numpy()
    return probs.argmax(1), probs


def evaluate(model: TextClassifier, examples: pd.DataFrame, *, batch_size: int = 64) -> pd.DataFrame:
    """The ``predictions`` table for ``examples`` (see :mod:`analysis.records`)."""
    words = list(map(list, examples["words"]))
    encoded = model.encode(words)
    predicted, probs = predict(model, words, batch_size=batch_size, encoded=encoded)
    labels = examples["label"].to_numpy()
    return pd.DataFrame({
        "example_id": examples["example_id"].to_numpy(),
        "label": labels,
        "predicted": predicted,
        "prob_predicted": probs[np.arange(len(probs)), predicted],
        "correct": predicted == labels,
        "n_words": encoded.n_words,
        "n_words_kept": encoded.n_words_kept,
        "truncated": encoded.truncated,
    })
