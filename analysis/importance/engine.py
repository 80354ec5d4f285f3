"""Run importance methods over examples: batching, pooling, the output tables."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from analysis.importance.base import Batch, ImportanceMethod, MethodOutput
from analysis.importance.memory import batch_rows, cuda_batch_cap, explain_with_backoff
from analysis.importance.pooling import pool_to_words
from analysis.models.base import TextClassifier
from analysis.models.training import length_bucketed_batches, predict

log = logging.getLogger(__name__)

SCORE_COLUMNS = ("example_id", "word_index", "word", "score", "predicted", "label", "n_words")
DIAGNOSTIC_COLUMNS = ("example_id", "method", "seconds", "forward_passes", "completeness_gap", "n_steps", "converged")


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
    auto_batch: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Word-level scores of ``method`` for every example, and per-example diagnostics.

    Examples are batched by length; token scores are pooled to words with ``pooling``
    (special tokens excluded). A batch that runs out of memory is halved and retried
    (:func:`analysis.importance.memory.explain_with_backoff`); on CUDA, with
    ``auto_batch``, batches are also capped to what free memory holds. Neither changes
    the scores. Rows are kept as compact per-batch columns and become one table at the
    end. Returns the ``importance`` and ``diagnostics`` tables of :mod:`analysis.records`
    (without provenance columns).
    """
    method.check_model(model)
    words = list(map(list, examples["words"]))
    ids = examples["example_id"].astype(str).tolist()
    labels = examples["label"].to_numpy()
    encoded = model.encode(words)
    if targets is None:
        targets, _ = predict(model, words, batch_size=batch_size, encoded=encoded)
    max_rows = cuda_batch_cap(model, encoded) if auto_batch else None
    scores, diagnostics = [], []
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
        explained = explain_with_backoff(method, model, batch, max_rows=max_rows, batch_size=batch_size)
        word_scores = [pooled_word_scores(output, batch_rows(batch, rows), pooling) for rows, output in explained]
        seconds = (time.perf_counter() - start) / len(index)
        for (rows, output), part in zip(explained, word_scores):
            positions = index[rows]
            scores.append(score_columns(part, positions, ids, words, targets, labels))
            diagnostics.append(diagnostic_columns(output, [ids[i] for i in positions], method.name, seconds))
    table = pd.DataFrame(concatenate_columns(scores, SCORE_COLUMNS))
    table.insert(1, "method", method.name)
    table.insert(2, "family", method.family)
    table.insert(3, "signed", method.signed)
    return table, pd.DataFrame(concatenate_columns(diagnostics, DIAGNOSTIC_COLUMNS))


def pooled_word_scores(output: MethodOutput, batch: Batch, pooling: str) -> list[np.ndarray]:
    """Word scores of ``output``: its own, or its token scores pooled with the method's or the study's pooling."""
    if output.word_scores is not None:
        return [np.asarray(row, dtype=float) for row in output.word_scores]
    return pool_to_words(output.token_scores, batch.encoded.word_index, batch.encoded.n_words_kept,
                         output.pooling or pooling)


def score_columns(word_scores: list[np.ndarray], positions: list[int], ids: list[str], words: list[list[str]],
                  targets: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The importance rows of some examples as columns (one row per example and word)."""
    counts = np.asarray([len(row) for row in word_scores], dtype=np.int64)
    return {
        "example_id": np.repeat(np.asarray([ids[i] for i in positions], dtype=object), counts),
        "word_index": np.concatenate([np.arange(n, dtype=np.int64) for n in counts]),
        "word": np.asarray([w for i, n in zip(positions, counts) for w in words[i][:n]], dtype=object),
        "score": np.concatenate(word_scores).astype(float, copy=False),
        "predicted": np.repeat(np.asarray(targets)[positions].astype(np.int64), counts),
        "label": np.repeat(labels[positions].astype(np.int64), counts),
        "n_words": np.repeat(counts, counts),
    }


def diagnostic_columns(output: MethodOutput, example_ids: list[str], method: str,
                       seconds: float) -> dict[str, np.ndarray]:
    """Per-example cost and fidelity diagnostics of one method output as columns."""
    n = len(example_ids)
    return {
        "example_id": np.asarray(example_ids, dtype=object),
        "method": np.full(n, method, dtype=object),
        "seconds": np.full(n, seconds),
        "forward_passes": np.broadcast_to(np.asarray(output.forward_passes, dtype=float), (n,)).copy(),
        "completeness_gap": (np.asarray(output.completeness_gap, dtype=float) if output.completeness_gap is not None
                             else np.full(n, np.nan)),
        "n_steps": (np.asarray(output.n_steps, dtype=np.int64) if output.n_steps is not None
                    else np.zeros(n, dtype=np.int64)),
        "converged": (np.asarray(output.converged, dtype=bool) if output.converged is not None
                      else np.full(n, None, dtype=object)),
    }


def concatenate_columns(parts: list[dict[str, np.ndarray]], columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-batch column dicts joined column by column (empty, typed columns when there are none)."""
    if not parts:
        return {name: np.zeros(0, dtype=object) for name in columns}
    return {name: np.concatenate([part[name] for part in parts]) for name in columns}


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
