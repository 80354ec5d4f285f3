"""Run importance methods over examples: batching, pooling, the output tables."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from analysis.importance.base import Batch, ImportanceMethod
from analysis.importance.pooling import pool_to_words
from analysis.models.base import TextClassifier
from analysis.models.training import length_bucketed_batches, predict

log = logging.getLogger(__name__)


def explained_classes(model: TextClassifier, examples: pd.DataFrame, *, batch_size: int = 64) -> np.ndarray:
    """The class each example is explained for: the model's prediction, not the gold label."""
    predicted, _ = predict(model, list(map(list, examples["words"])), batch_size=batch_size)
    return predicted


def compute_importance(
    model: TextClassifier,
    examples: pd.DataFrame,
    method: ImportanceMethod,
    *,
    batch_size: int = 32,
    pooling: str = "sum",
    seed: int = 0,
    targets: np.ndarray | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Word-level scores of ``method`` for every example, and per-example diagnostics.

    Examples are batched by length; token scores are pooled to words with ``pooling``
    (special tokens excluded). Returns the ``importance`` and ``diagnostics`` tables of
    :mod:`analysis.records` (without provenance columns).
    """
    method.check_model(model)
    words = list(map(list, examples["words"]))
    ids = examples["example_id"].astype(str).tolist()
    labels = examples["label"].to_numpy()
    encoded = model.encode(words)
    if targets is None:
        targets, _ = predict(model, words, batch_size=batch_size, encoded=encoded)
    rows, diagnostics = [], []
    batches = length_bucketed_batches(encoded.n_words_kept, batch_size)
    for index in tqdm(batches, desc=method.name, disable=not progress, mininterval=5):
        index = index.tolist()
        batch = Batch(
            encoded=encoded.select(index).to(model.device),
            target=torch.as_tensor(targets[index], device=model.device),
            example_ids=[ids[i] for i in index],
            words=[words[i] for i in index],
            seed=seed,
        )
        start = time.perf_counter()
        output = method.explain(model, batch)
        if output.word_scores is None:
            output.word_scores = pool_to_words(output.token_scores, batch.encoded.word_index,
                                               batch.encoded.n_words_kept, output.pooling or pooling)
        seconds = (time.perf_counter() - start) / len(index)
        passes = np.broadcast_to(np.asarray(output.forward_passes, dtype=float), (len(index),))
        for k, i in enumerate(index):
            scores = np.asarray(output.word_scores[k], dtype=float)
            n = len(scores)
            rows.append(pd.DataFrame({
                "example_id": ids[i], "word_index": np.arange(n), "word": words[i][:n], "score": scores,
            }).assign(predicted=int(targets[i]), label=int(labels[i]), n_words=n))
            diagnostics.append({
                "example_id": ids[i], "method": method.name, "seconds": seconds, "forward_passes": float(passes[k]),
                "completeness_gap": float(output.completeness_gap[k]) if output.completeness_gap is not None else np.nan,
                "n_steps": int(output.n_steps[k]) if output.n_steps is not None else 0,
                "converged": bool(output.converged[k]) if output.converged is not None else None,
            })
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["example_id", "word_index", "word", "score", "predicted", "label", "n_words"])
    table.insert(1, "method", method.name)
    table.insert(2, "family", method.family)
    table.insert(3, "signed", method.signed)
    return table, pd.DataFrame(diagnostics)


def attention_heads_table(model: TextClassifier, examples: pd.DataFrame, *, batch_size: int = 32,
                          pooling: str = "sum") -> pd.DataFrame:
    """Raw [CLS]-row attention per layer and head, pooled to words (long format).

    Columns: example_id, layer, head, word_index, weight. Used for per-layer and per-head
    analysis; the summaries (last-layer mean, all-layer mean) are methods of their own.
    """
    words = list(map(list, examples["words"]))
    ids = examples["example_id"].astype(str).tolist()
    encoded = model.encode(words)
    frames = []
    for index in length_bucketed_batches(encoded.n_words_kept, batch_size):
        index = index.tolist()
        enc = encoded.select(index).to(model.device)
        with torch.no_grad():
            cls = model.cls_attention(enc.input_ids, enc.attention_mask)  # [B, L, H, T]
        b, n_layers, n_heads, t = cls.shape
        flat = cls.reshape(b, n_layers * n_heads, t)
        for k, i in enumerate(index):
            pooled = pool_to_words(flat[k], enc.word_index[k].expand(n_layers * n_heads, t),
                                   [enc.n_words_kept[k]] * (n_layers * n_heads), pooling)
            weights = np.stack(pooled)  # [L*H, n]
            n = weights.shape[1]
            frames.append(pd.DataFrame({
                "example_id": ids[i],
                "layer": np.repeat(np.arange(n_layers), n_heads * n),
                "head": np.tile(np.repeat(np.arange(n_heads), n), n_layers),
                "word_index": np.tile(np.arange(n), n_layers * n_heads),
                "weight": weights.reshape(-1),
            }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["example_id", "layer", "head", "word_index", "weight"])
