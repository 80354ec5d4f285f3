"""Model-side tests: permutation, uniform attention, zeroing and removal until the decision flips.

Each test takes an :class:`~analysis.interventions.attention.AttentionAdapter`, an
encoded batch and the example ids, and returns one tidy row per example (or per example
and variant). All variants of a batch go through the model in one batched call.

- Permutation (Jain & Wallace 2019, section 4.1): the attention weights are shuffled among
  the real tokens ``draws`` times; per example the median total-variation distance (TVD)
  between the original and the new output distributions, read against the maximum
  attention weight.
- Uniform attention (Wiegreffe & Pinter 2019): the attention is replaced by a uniform
  distribution over the tokens (per layer and for all intervened layers together in a
  transformer); TVD, output JSD and decision flips.
- Zeroing (Serrano & Smith 2019, section 4): the highest-attention word's weight is set to
  zero and the rest renormalised, versus a random other word; output JSD and decision flips.
- Removal until the decision flips (Serrano & Smith 2019, section 5): words are zeroed in
  the order of a ranking (attention, gradients, IG, leave-one-out, random) until the
  predicted class changes; the fraction of words and of attention mass removed by then.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from analysis.importance.pooling import pool_to_words
from analysis.interventions.attention import (
    AttentionAdapter,
    AttentionEdit,
    Reference,
    jensen_shannon,
    random_permutations,
    total_variation,
)
from analysis.models.base import Encoded
from analysis.seeding import derive_seed


def word_attention(reference: Reference, encoded: Encoded) -> list[np.ndarray]:
    """Explanation attention pooled to words (sum over subwords), one array per example."""
    return pool_to_words(reference.attention, encoded.word_index, encoded.n_words_kept, "sum")


def _generator(*parts: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(*parts))


def permutation_test(adapter: AttentionAdapter, encoded: Encoded, example_ids: list[str], *, draws: int,
                     seed: int, reference: Reference | None = None) -> pd.DataFrame:
    """Shuffle attention among the real tokens ``draws`` times per example (Jain & Wallace 2019).

    Columns: example_id, predicted, n_words, max_attention (largest word weight of the
    explanation attention), median_tvd, mean_tvd, max_tvd, flip_rate (share of draws that
    change the predicted class), draws.
    """
    reference = reference or adapter.reference(encoded)
    real = encoded.word_index >= 0
    permutations = torch.cat([random_permutations(real[b], draws, _generator(seed, "permutation", example_ids[b]))
                              for b in range(len(encoded))])
    rows = torch.arange(len(encoded)).repeat_interleave(draws)
    probs = adapter.run(encoded, rows, AttentionEdit(permutation=permutations)).view(len(encoded), draws, -1)
    # a draw that leaves every position in place is no intervention (one-word examples, or chance on two
    # words): its output is the reference, exactly, not the reference recomputed in another batch shape
    identity = (permutations == torch.arange(permutations.shape[1])).all(dim=1).view(len(encoded), draws)
    probs = torch.where(identity[..., None], reference.probs[:, None, :].to(probs.dtype), probs)
    tvd = total_variation(reference.probs[:, None, :], probs)
    flips = (probs.argmax(dim=-1) != reference.predicted[:, None]).double()
    words = word_attention(reference, encoded)
    return pd.DataFrame({
        "example_id": example_ids,
        "predicted": reference.predicted.numpy(),
        "n_words": encoded.n_words_kept,
        "max_attention": [float(w.max()) if len(w) else np.nan for w in words],
        "median_tvd": tvd.quantile(0.5, dim=1).numpy(),  # the midpoint of the two middle draws, as np.median
        "mean_tvd": tvd.mean(dim=1).numpy(),
        "max_tvd": tvd.max(dim=1).values.numpy(),
        "flip_rate": flips.mean(dim=1).numpy(),
        "draws": draws,
    })


def uniform_test(adapter: AttentionAdapter, encoded: Encoded, example_ids: list[str], *,
                 reference: Reference | None = None) -> pd.DataFrame:
    """Replace attention by a uniform distribution (per layer, and all layers, for a transformer).

    Columns: example_id, scope, predicted, tvd, output_jsd, flipped.
    """
    reference = reference or adapter.reference(encoded)
    rows = torch.arange(len(encoded))
    frames = []
    for label, layers in adapter.uniform_scopes():
        probs = adapter.run(encoded, rows, AttentionEdit(uniform=True), layers=layers)
        frames.append(pd.DataFrame({
            "example_id": example_ids, "scope": label, "predicted": reference.predicted.numpy(),
            "tvd": total_variation(reference.probs, probs).numpy(),
            "output_jsd": jensen_shannon(reference.probs, probs).numpy(),
            "flipped": (probs.argmax(dim=-1) != reference.predicted).numpy(),
        }))
    return pd.concat(frames, ignore_index=True)


def _keep_without(encoded: Encoded, rows: torch.Tensor, removed: list[np.ndarray]) -> torch.Tensor:
    """Key mask [N, T]: False at the tokens of the words ``removed[i]`` of example ``rows[i]``.

    Marks the removed words in an [N, words + 1] table and reads it at each token's word
    (column 0 stands for tokens of no word, index -1), so memory is N x (T + words), not the
    N x T x words of comparing every token with every removed word (12 GB for one block of
    the removal test on IMDB reviews).
    """
    word_index = encoded.word_index[rows].clamp_min(-1) + 1  # 0: special tokens and padding
    width = int(word_index.max()) + 1 if word_index.numel() else 1
    removed_words = torch.zeros((len(rows), width), dtype=torch.bool)
    lengths = torch.as_tensor([len(words) for words in removed], dtype=torch.long)
    if int(lengths.sum()):
        owner = torch.repeat_interleave(torch.arange(len(rows)), lengths)
        words = torch.cat([torch.as_tensor(w, dtype=torch.long) for w in removed if len(w)]) + 1
        inside = words < removed_words.shape[1]  # words past the example's tokens have none to mask
        removed_words[owner[inside], words[inside]] = True
    return ~removed_words.gather(1, word_index)


def zeroing_test(adapter: AttentionAdapter, encoded: Encoded, example_ids: list[str], *, seed: int,
                 reference: Reference | None = None) -> pd.DataFrame:
    """Zero the highest-attention word and renormalise, versus a random other word (Serrano & Smith 2019).

    Columns: example_id, predicted, n_words, attention_max, attention_random (word weights,
    normalised over the words), output_jsd_max, output_jsd_random, jsd_difference
    (max - random), flipped_max, flipped_random. Examples with one word have no random
    alternative (NaN).
    """
    reference = reference or adapter.reference(encoded)
    words = [w / w.sum() if w.sum() > 0 else w for w in word_attention(reference, encoded)]
    top, other = [], []
    for b, weights in enumerate(words):
        top.append(int(np.argmax(weights)) if len(weights) else -1)
        candidates = np.setdiff1d(np.arange(len(weights)), [top[-1]])
        rng = np.random.default_rng(derive_seed(seed, "zeroing", example_ids[b]))
        other.append(int(rng.choice(candidates)) if len(candidates) else -1)
    n = len(encoded)
    rows = torch.arange(n).repeat(2)
    keep = _keep_without(encoded, rows, [np.array([w]) for w in top + other])
    probs = adapter.run(encoded, rows, AttentionEdit(keep=keep)).view(2, n, -1)
    jsd = jensen_shannon(reference.probs[None], probs).numpy()
    flipped = (probs.argmax(dim=-1) != reference.predicted[None]).numpy()
    has_other = np.array(other) >= 0
    table = pd.DataFrame({
        "example_id": example_ids, "predicted": reference.predicted.numpy(), "n_words": encoded.n_words_kept,
        "attention_max": [w[t] if t >= 0 else np.nan for w, t in zip(words, top)],
        "attention_random": [w[o] if o >= 0 else np.nan for w, o in zip(words, other)],
        "output_jsd_max": jsd[0], "output_jsd_random": np.where(has_other, jsd[1], np.nan),
        "flipped_max": flipped[0], "flipped_random": np.where(has_other, flipped[1].astype(float), np.nan),
    })
    table["jsd_difference"] = table["output_jsd_max"] - table["output_jsd_random"]
    return table


def _doubling_blocks(longest: int) -> list[tuple[int, int]]:
    """Positions 1..longest in blocks [1,1], [2,2], [3,4], [5,8], ...: few batched calls, at most 2x waste."""
    blocks, low = [], 1
    while low <= longest:
        high = min(longest, max(low, 2 * low - 2) if low > 2 else low)
        blocks.append((low, high))
        low = high + 1
    return blocks


def prefix_sizes(n_words: int, max_steps: int | None) -> np.ndarray:
    """Numbers of words to remove that the removal test tries, in increasing order.

    Every count 1..n when ``max_steps`` is None or n <= max_steps; otherwise ``max_steps``
    evenly spaced counts ceil(i * n / max_steps), i = 1..max_steps, which always end at n, so
    a flip point is resolved to within ceil(n / max_steps) words.
    """
    if max_steps is None or n_words <= max_steps:
        return np.arange(1, n_words + 1)
    return np.unique(np.ceil(np.arange(1, max_steps + 1) * n_words / max_steps).astype(int))


def removal_test(adapter: AttentionAdapter, encoded: Encoded, example_ids: list[str],
                 rankings: dict[str, list[np.ndarray | None]], *, reference: Reference | None = None,
                 max_steps: int | None = None) -> pd.DataFrame:
    """Zero words' attention in ranking order until the decision flips (Serrano & Smith 2019).

    ``rankings[method][b]`` lists example ``b``'s word indices, most important first (None:
    the method did not score that example, which is skipped). For every (method, example)
    the prefix sizes of :func:`prefix_sizes` are tried in growing blocks, and pairs that have
    flipped drop out, so the cost follows the flip point. ``max_steps`` bounds the sizes tried
    per pair (long texts: a 230-word review would otherwise cost 230 forward passes per
    ranking); None tries every size, as the paper does. Columns: example_id, method, n_words,
    flipped (False when even removing every word keeps the decision), items_removed (the
    first size tried that flips; all words when none does), resolution_items (words between
    consecutive sizes tried: 1 when exact, so the true first flip lies within
    items_removed - resolution_items + 1 .. items_removed), fraction_items,
    fraction_attention (share of the explanation attention those words carried).
    """
    reference = reference or adapter.reference(encoded)
    words = [w / w.sum() if w.sum() > 0 else w for w in word_attention(reference, encoded)]
    pairs = [(method, b) for method in rankings for b in range(len(encoded)) if rankings[method][b] is not None]
    sizes = {pair: prefix_sizes(len(rankings[pair[0]][pair[1]]), max_steps) for pair in pairs}
    first_flip = {pair: 0 for pair in pairs}
    longest = max((len(steps) for steps in sizes.values()), default=0)
    active = [pair for pair in pairs if len(sizes[pair])]
    for low, high in _doubling_blocks(longest):
        jobs = [(pair, int(k)) for pair in active for k in sizes[pair][low - 1: high]]
        if not jobs:
            break
        rows = torch.as_tensor([pair[1] for pair, _ in jobs])
        keep = _keep_without(encoded, rows, [rankings[m][b][:k] for (m, b), k in jobs])
        flipped = (adapter.run(encoded, rows, AttentionEdit(keep=keep)).argmax(dim=-1)
                   != reference.predicted[rows]).numpy()
        for ((pair, k), flip) in zip(jobs, flipped):
            if flip and (first_flip[pair] == 0 or k < first_flip[pair]):
                first_flip[pair] = k
        active = [pair for pair in active if first_flip[pair] == 0 and len(sizes[pair]) > high]
    records = []
    for (method, b), k in first_flip.items():
        order = rankings[method][b]
        n = len(order)
        removed = k if k else n
        steps = sizes[(method, b)]
        records.append({
            "example_id": example_ids[b], "method": method, "n_words": n, "flipped": bool(k),
            "items_removed": removed, "resolution_items": int(np.diff(steps, prepend=0).max()) if n else 1,
            "fraction_items": removed / n if n else np.nan,
            "fraction_attention": float(words[b][order[:removed]].sum()) if n else np.nan,
        })
    return pd.DataFrame.from_records(records, columns=["example_id", "method", "n_words", "flipped", "items_removed",
                                                       "resolution_items", "fraction_items", "fraction_attention"])
