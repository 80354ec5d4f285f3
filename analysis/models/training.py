"""Training and evaluation loops shared by every model family."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from analysis.models.base import Encoded, TextClassifier

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


def train_classifier(model: TextClassifier, words: list[list[str]], labels: list[int], settings: TrainSettings,
                     *, seed: int) -> pd.DataFrame:
    """Fit ``model`` with AdamW and a linear warm-up/decay schedule; returns the loss history.

    Dropout is on during training only; the model is back in eval mode on return.
    """
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

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    history = []
    network.train()
    try:
        for epoch in range(settings.epochs):
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
            log.info("epoch %d/%d: mean loss %.4f (%.1f s)", epoch + 1, settings.epochs, history[-1]["loss"], seconds)
    finally:
        network.eval()
    return pd.DataFrame(history)


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
