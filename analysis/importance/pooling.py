"""Subword -> word pooling. Special and padding tokens (word index -1) are dropped."""

from __future__ import annotations

import numpy as np
import torch

POOLINGS = ("sum", "mean", "max", "first")


def pool_to_words(token_scores: torch.Tensor, word_index: torch.Tensor, n_words: list[int],
                  how: str = "sum") -> list[np.ndarray]:
    """Word scores per example from token scores [B, T] and the token -> word map.

    ``sum`` (default) keeps additive attributions additive (IG completeness survives
    pooling); ``max`` keeps the strongest subword; ``first`` the first subword's score.
    """
    if how not in POOLINGS:
        raise ValueError(f"unknown pooling {how!r}; choose one of {POOLINGS}")
    scores = token_scores.detach().double().cpu()
    index = word_index.cpu()
    width = max(max(n_words, default=0), 1)
    valid = index >= 0
    target = torch.where(valid, index, torch.full_like(index, width))  # spill column for specials
    if how == "first":
        positions = torch.arange(index.shape[1]).expand_as(index)
        big = torch.full_like(index, index.shape[1])
        first_pos = torch.full((index.shape[0], width + 1), index.shape[1], dtype=torch.long)
        first_pos.scatter_reduce_(1, target, torch.where(valid, positions, big), reduce="amin")
        first_pos = first_pos[:, :width]
        tokenless = first_pos >= index.shape[1]  # a word the tokenizer dropped (e.g. a lone U+200D): no score
        pooled = scores.gather(1, first_pos.clamp(max=index.shape[1] - 1)).masked_fill(tokenless, 0.0)
    else:
        reduce = {"sum": "sum", "mean": "mean", "max": "amax"}[how]
        init = torch.zeros((index.shape[0], width + 1), dtype=scores.dtype)
        pooled = init.scatter_reduce(1, target, torch.where(valid, scores, torch.zeros_like(scores)),
                                     reduce=reduce, include_self=False)[:, :width]
    return [pooled[row, :n].numpy().copy() for row, n in enumerate(n_words)]


def word_sums_on_tokens(token_scores: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
    """Each token's score replaced by the sum over its word's tokens: [B, T] (special and padding tokens: 0).

    For a method whose word score is not the sum of its tokens' scores: it computes a per-word
    quantity from these sums and hands it back on every token, pooled with ``first``.
    """
    valid = word_index >= 0
    index = torch.where(valid, word_index, torch.zeros_like(word_index))
    scores = torch.where(valid, token_scores, torch.zeros_like(token_scores))
    width = max(scores.shape[1], int(index.max()) + 1 if index.numel() else 1)  # word ids may pass T
    sums = scores.new_zeros(scores.shape[0], width).scatter_add(1, index, scores)
    return torch.where(valid, sums.gather(1, index), torch.zeros_like(scores))
