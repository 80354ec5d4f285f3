"""The interface every classifier offers to attention, attribution and interventions.

Methods see a model only through :class:`TextClassifier`: encode words to token ids with
a token -> word map, run forward from token ids or from word embeddings (what gradient
methods attribute to), and return attention. One adapter per model family implements it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Encoded:
    """A padded batch of token ids with the token -> word map.

    ``word_index[b, t]`` is the word that token ``t`` belongs to, or -1 for special and
    padding tokens (which are therefore excluded from every word-level ranking).
    ``n_words_kept`` counts the words that survived truncation at ``max_length``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    word_index: torch.Tensor
    n_words: list[int]
    n_words_kept: list[int]

    @property
    def truncated(self) -> list[bool]:
        return [k < n for k, n in zip(self.n_words_kept, self.n_words)]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def select(self, rows: list[int] | torch.Tensor) -> Encoded:
        rows = torch.as_tensor(rows, dtype=torch.long)
        width = int(self.attention_mask[rows].sum(1).max()) if len(rows) else 0
        return Encoded(
            input_ids=self.input_ids[rows, :width],
            attention_mask=self.attention_mask[rows, :width],
            word_index=self.word_index[rows, :width],
            n_words=[self.n_words[i] for i in rows.tolist()],
            n_words_kept=[self.n_words_kept[i] for i in rows.tolist()],
        )

    def to(self, device: torch.device | str) -> Encoded:
        return Encoded(
            self.input_ids.to(device), self.attention_mask.to(device), self.word_index.to(device),
            self.n_words, self.n_words_kept,
        )


class TextClassifier(ABC):
    """A trained classifier seen through the operations the study needs.

    ``kind`` is "transformer" or "rnn"; methods declare which kinds they support.
    Every adapter keeps the model in eval mode (dropout off) outside training.
    """

    kind: str
    num_labels: int
    device: torch.device
    max_length: int

    @property
    @abstractmethod
    def module(self) -> torch.nn.Module:
        """The underlying network (for training and device moves)."""

    @abstractmethod
    def encode(self, words: list[list[str]]) -> Encoded:
        """Tokenise pre-split words, pad, truncate at ``max_length``; keep the word map."""

    @abstractmethod
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Word embeddings [B, T, D] of ``input_ids`` (the layer gradient methods attribute to)."""

    @abstractmethod
    def logits_from_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] from word embeddings."""

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.logits_from_embeddings(self.embed(input_ids), attention_mask)

    def probabilities(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(input_ids, attention_mask), dim=-1)

    def attention_maps(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Full self-attention probabilities [B, L, H, T, T] (transformers only)."""
        raise NotImplementedError(f"{type(self).__name__} has no layer-by-layer self-attention")

    def cls_attention(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Attention from the classification position to every token, [B, L, H, T].

        For a transformer the [CLS] row of every layer and head; for an attention RNN
        its single distribution over hidden states (L = H = 1).
        """
        return self.attention_maps(input_ids, attention_mask)[..., self.classification_position, :]

    @property
    @abstractmethod
    def pad_token_id(self) -> int: ...

    @property
    @abstractmethod
    def mask_token_id(self) -> int:
        """The token that replaces a removed word: [MASK] for transformers that have one, else
        their unknown-word token; for an RNN its reserved ``<mask>`` input, which is no word's own."""

    @property
    def classification_position(self) -> int:
        """The token position whose attention row is read as "what the model looked at"."""
        return 0

    @property
    def gradient_capable(self) -> bool:
        return True

    @abstractmethod
    def save(self, folder: str) -> None:
        """Save weights and everything needed to load the model again."""


# Tokens per forward pass on a CPU for the perturbation methods (leave-one-out, input ablations, value
# zeroing): beyond a few thousand the activations leave the cache and a pass gets slower per token.
# Measured on this project's 2-core machine (one thread, benchmarks/token_budget.py): MiniLM on 4 IMDB
# reviews of 218 tokens, rows-only batches against 4,096 tokens: leave-one-out 18.5 -> 12.1 s per review,
# value zeroing 31.1 -> 16.5 s. A backward pass keeps more activations, so gradient methods get half.
CPU_BATCH_TOKENS = 4096
CPU_GRADIENT_BATCH_TOKENS = CPU_BATCH_TOKENS // 2


def batch_token_budget(device: torch.device, setting: int | str | None, *, cpu: int = CPU_BATCH_TOKENS,
                       accelerator: int | None = None) -> int | None:
    """Tokens per forward pass: ``setting`` when it is a number; for ``"auto"`` (or None) ``cpu`` on a
    CPU and ``accelerator`` elsewhere (None: no cap; there, large batches are fast and the
    out-of-memory back-off bounds them)."""
    if setting not in (None, "auto"):
        return int(setting)
    return cpu if device.type == "cpu" else accelerator


def rows_per_batch(length: int, *, cap: int, max_tokens: int | None) -> int:
    """Rows of ``length`` tokens to run at once: at most ``cap`` rows and ``max_tokens`` tokens, at least one."""
    if max_tokens is None:
        return max(1, int(cap))
    return max(1, min(int(cap), int(max_tokens) // max(1, int(length))))


def length_sorted_chunks(lengths: Sequence[int] | np.ndarray, *, cap: int, max_tokens: int | None) -> list[np.ndarray]:
    """Row indices in ascending length (stable), in chunks of at most ``cap`` rows whose padded size
    (rows x the chunk's longest row) stays within ``max_tokens`` (a longer row runs alone)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    chunks, start = [], 0
    while start < len(order):
        rows = min(int(cap), len(order) - start) if max_tokens is None else 1
        # ascending lengths: the row being added is the chunk's longest
        while (max_tokens is not None and rows < cap and start + rows < len(order)
               and (rows + 1) * lengths[order[start + rows]] <= max_tokens):
            rows += 1
        chunks.append(order[start:start + rows])
        start += rows
    return chunks


def pad_sequences(sequences: Sequence[Sequence[int]], pad_value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad integer sequences; returns (ids [B, T], mask [B, T])."""
    width = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), max(width, 1)), pad_value, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
