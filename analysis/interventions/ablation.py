"""Change the input, for every importance ranking: ERASER faithfulness and deletion/insertion curves.

One code path serves every ranking, attention variants, attributions and a random
ranking alike: words are ranked by a method's scores (ties broken at random, seeded),
the perturbed inputs of every (example, method, removal, size) are built as token
sequences, identical sequences are evaluated once, and all of them go through the model
in length-sorted batches (:func:`analysis.attribution.ablation.batched_probability`).

Definitions (DeYoung et al. 2020, ERASER), for the predicted class y and the top-k% words
r_k of a ranking (the top ceil(k * n / 100) of n words):

- comprehensiveness(k) = p(y | x) - p(y | x without r_k)  (higher = more faithful)
- sufficiency(k) = p(y | x) - p(y | r_k only)             (lower = more faithful)
- AOPC = the mean over the bins k of either (as in the ERASER code).

Deletion and insertion curves (Petsiuk et al. 2018, in the word-level form common in
NLP): p(y) after removing the top fraction f of words, and with only the top fraction f
kept, on an even grid of f in [0, 1]; their areas (trapezoid rule) are the deletion AUC
(lower = more faithful) and the insertion AUC (higher = more faithful).

A word is removed by deleting its tokens (the sequence gets shorter) or by replacing
each of them by the model's [MASK] token (for an RNN its reserved ``<mask>`` input, a zero
embedding, the replacement leave-one-out uses too); both are settings and the
choice is recorded in every row. Special tokens are never removed, so the "empty
input" is the input with every word removed: [CLS] [SEP] for a transformer, no token at
all for an RNN (which then outputs its classifier bias).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.attribution.ablation import batched_probability
from analysis.models.base import Encoded, TextClassifier
from analysis.seeding import derive_seed

log = logging.getLogger(__name__)

REMOVALS = ("delete", "mask")
RANKINGS = ("signed", "abs")


@dataclass(frozen=True)
class AblationSettings:
    """Bins, curve grid, removal modes and how scores are ranked."""

    percents: tuple[float, ...] = (1, 5, 10, 20, 50)
    curve_points: int = 11
    removal: tuple[str, ...] = ("delete", "mask")
    batch_size: int = 256

    def __post_init__(self) -> None:
        bad = [r for r in self.removal if r not in REMOVALS]
        if bad or not self.removal:
            raise ValueError(f"interventions.ablation.removal: {bad or 'empty'}; choose from {list(REMOVALS)}")
        if any(not 0 < p <= 100 for p in self.percents) or not self.percents:
            raise ValueError(f"interventions.ablation.percents must lie in (0, 100], got {list(self.percents)}")
        if self.curve_points < 2:
            raise ValueError(f"interventions.ablation.curve_points must be at least 2, got {self.curve_points}")


def rank_words(scores: np.ndarray, *, ranking: str, seed: int, example_id: str, method: str) -> np.ndarray:
    """Word indices by decreasing score; ties in random order (seeded per example and method).

    ``ranking="signed"`` puts the strongest evidence for the explained class first
    (what comprehensiveness removes); ``"abs"`` ranks by magnitude.
    """
    if ranking not in RANKINGS:
        raise ValueError(f"interventions.ranking must be one of {list(RANKINGS)}, got {ranking!r}")
    values = np.abs(scores) if ranking == "abs" else np.asarray(scores, dtype=float)
    tiebreak = np.random.default_rng(derive_seed(seed, "rank", example_id, method)).random(len(values))
    return np.lexsort((tiebreak, -values))


def rankings_from_importance(importance: pd.DataFrame, example_ids: Sequence[str], n_words: Sequence[int], *,
                             methods: Sequence[str] | None, ranking: str, seed: int,
                             random_ranking: bool = True) -> dict[str, list[np.ndarray | None]]:
    """Per method, one ranking per example (word indices, best first) from an ``importance`` table.

    ``n_words[b]`` is the number of words the model kept for example ``b``; a method must
    score exactly those words (otherwise the table is stale and this raises). A method
    that skipped an example (e.g. a length limit) gets ``None`` there, and the tests skip
    that pair. With ``random_ranking`` a seeded random ranking named ``random`` is added
    when the table has none, so the floor is always there.
    """
    available = list(dict.fromkeys(importance["method"]))
    chosen = available if methods is None else [m for m in methods if m in available]
    missing = [] if methods is None else [m for m in methods if m not in available]
    if missing:
        raise ValueError(
            f"interventions.methods: {missing} are not in the importance table (it has {available}); "
            f"list only computed methods or set interventions.methods to null for all of them"
        )
    groups = {key: frame for key, frame in importance[importance["method"].isin(chosen)].groupby(
        ["method", "example_id"], sort=False)}
    rankings: dict[str, list[np.ndarray | None]] = {}
    for method in chosen:
        per_example: list[np.ndarray | None] = []
        for example_id, n in zip(example_ids, n_words):
            frame = groups.get((method, example_id))
            if frame is None:
                per_example.append(None)
                continue
            if len(frame) != n:
                raise ValueError(
                    f"importance table: method {method!r} scores {len(frame)} words of example {example_id!r}, the "
                    f"model keeps {n}; the importance table is stale (rerun the explain rule)"
                )
            scores = frame.sort_values("word_index")["score"].to_numpy(dtype=float)
            if not np.isfinite(scores).all():  # e.g. attention flow past its length bound: no ranking
                per_example.append(None)
                continue
            per_example.append(rank_words(scores, ranking=ranking, seed=seed, example_id=example_id, method=method))
        skipped = sum(r is None for r in per_example)
        if skipped == len(per_example):
            log.warning("method %s scored none of the %d examples; it is left out of the causal tests", method,
                        len(per_example))
            continue
        if skipped:
            log.warning("method %s did not score %d of %d examples; they are left out for it", method, skipped,
                        len(per_example))
        rankings[method] = per_example
    if random_ranking and "random" not in rankings:
        rankings["random"] = [np.random.default_rng(derive_seed(seed, "random ranking", e)).permutation(n)
                              for e, n in zip(example_ids, n_words)]
    return rankings


def bin_sizes(n_words: np.ndarray | int, percent: float) -> np.ndarray:
    """Words in the top-``percent``% of each example: ceil(percent * n / 100), at least one, at most n."""
    n = np.asarray(n_words, dtype=int)
    return np.clip(np.ceil(percent * n / 100 - 1e-9).astype(int), np.minimum(1, n), n)


def curve_sizes(n_words: np.ndarray | int, fraction: float) -> np.ndarray:
    """Words selected at curve point ``fraction``: round(fraction * n)."""
    return np.rint(fraction * np.asarray(n_words, dtype=float)).astype(int)


def selection_sizes(n_words: int, percents: Sequence[float], curve_points: int) -> np.ndarray:
    """Every selection size one example needs (ERASER bins and curve points), distinct and sorted."""
    bins = [int(bin_sizes(n_words, p)) for p in percents]
    grid = [int(curve_sizes(n_words, f)) for f in np.linspace(0.0, 1.0, curve_points)]
    return np.unique(np.asarray(bins + grid, dtype=int))


REQUEST_COLUMNS = ["example", "method", "removal", "operation", "size", "sequence"]
"""One perturbed input: example (row), ranking method, removal mode, operation ("remove_top" for
comprehensiveness and deletion, "keep_top" for sufficiency and insertion), number of words
selected, and the index of its (deduplicated) token sequence."""


def perturbed_tokens(ids: np.ndarray, owners: np.ndarray, rank_of_word: np.ndarray, sizes: np.ndarray, *,
                     operation: str, removal: str, mask_token_id: int) -> list[np.ndarray]:
    """Token sequences of one example for every selection size (vectorised over tokens), as ``ids``'s dtype.

    ``owners[t]`` is token t's word (-1 for special tokens, which are always kept);
    ``rank_of_word[w]`` is word w's position in the ranking.
    """
    rank = np.where(owners >= 0, rank_of_word[np.clip(owners, 0, None)], np.iinfo(np.int64).max)
    selected = rank[None, :] < sizes[:, None]
    removed = selected if operation == "remove_top" else (~selected & (owners >= 0)[None, :])
    if removal == "delete":
        return [ids[~row] for row in removed]
    return [np.where(row, mask_token_id, ids).astype(ids.dtype) for row in removed]


def input_ablation(model: TextClassifier, encoded: Encoded, example_ids: list[str], targets: np.ndarray,
                   rankings: dict[str, list[np.ndarray | None]], settings: AblationSettings, *,
                   checkpoint: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Comprehensiveness, sufficiency and deletion/insertion curves for every ranking.

    Returns ``(eraser, curves, n_sequences)``: the ERASER table (example_id, method,
    removal, measure, percent, n_words, n_selected, prob_full, prob_perturbed, value),
    the curve table (example_id, method, removal, curve, fraction, n_words, n_selected,
    probability) and how many distinct sequences the model ran. With ``checkpoint``, the
    probabilities finished so far are kept there, so a rerun after an interruption runs
    only the rest (:func:`~analysis.attribution.ablation.batched_probability`).
    """
    # sequences as int32 arrays, told apart by their bytes: Python tuples of ints took 8x the memory
    # (12 GB for 500 IMDB reviews x 10 rankings)
    unique: dict[tuple[int, bytes], int] = {}
    sequences: list[np.ndarray] = []
    sequence_targets: list[int] = []
    requests: list[tuple[int, str, str, str, int, int]] = []

    def index_of(example: int, tokens: np.ndarray) -> int:
        key = (example, tokens.tobytes())
        if key not in unique:
            unique[key] = len(sequences)
            sequences.append(tokens)
            sequence_targets.append(int(targets[example]))
        return unique[key]

    full = []
    for b in range(len(encoded)):
        length = int(encoded.attention_mask[b].sum())
        ids = encoded.input_ids[b, :length].numpy().astype(np.int32)
        owners = encoded.word_index[b, :length].numpy()
        n = encoded.n_words_kept[b]
        full.append(index_of(b, ids))
        sizes = selection_sizes(n, settings.percents, settings.curve_points)
        for method, per_example in rankings.items():
            if per_example[b] is None:
                continue
            rank_of_word = np.empty(n, dtype=np.int64)
            rank_of_word[per_example[b]] = np.arange(n)
            for removal in settings.removal:
                for operation in ("remove_top", "keep_top"):
                    tokens = perturbed_tokens(ids, owners, rank_of_word, sizes, operation=operation, removal=removal,
                                              mask_token_id=model.mask_token_id)
                    requests += [(b, method, removal, operation, int(size), index_of(b, seq))
                                 for size, seq in zip(sizes, tokens)]
    probs = batched_probability(model, sequences, sequence_targets, batch_size=settings.batch_size,
                                checkpoint=checkpoint, progress="input ablation")
    frame = pd.DataFrame.from_records(requests, columns=REQUEST_COLUMNS)
    example = frame["example"].to_numpy(dtype=int)
    frame["probability"] = probs[frame["sequence"].to_numpy(dtype=int)]
    frame["prob_full"] = probs[np.asarray(full, dtype=int)[example]]
    frame["n_words"] = np.asarray(encoded.n_words_kept, dtype=int)[example]
    frame["example_id"] = np.asarray(example_ids, dtype=object)[example]
    return _eraser_rows(frame, settings), _curve_rows(frame, settings), len(sequences)


def _eraser_rows(frame: pd.DataFrame, settings: AblationSettings) -> pd.DataFrame:
    columns = ["example_id", "method", "removal", "measure", "percent", "n_words", "n_selected", "prob_full",
               "prob_perturbed", "value"]
    rows = []
    for percent in settings.percents:
        size = bin_sizes(frame["n_words"].to_numpy(), percent)
        at_size = frame[frame["size"].to_numpy() == size]
        for operation, measure in (("remove_top", "comprehensiveness"), ("keep_top", "sufficiency")):
            part = at_size[at_size["operation"] == operation]
            rows.append(pd.DataFrame({
                "example_id": part["example_id"], "method": part["method"], "removal": part["removal"],
                "measure": measure, "percent": float(percent), "n_words": part["n_words"], "n_selected": part["size"],
                "prob_full": part["prob_full"], "prob_perturbed": part["probability"],
                "value": part["prob_full"] - part["probability"],
            }))
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def _curve_rows(frame: pd.DataFrame, settings: AblationSettings) -> pd.DataFrame:
    columns = ["example_id", "method", "removal", "curve", "fraction", "n_words", "n_selected", "probability"]
    rows = []
    for fraction in np.linspace(0.0, 1.0, settings.curve_points):
        size = curve_sizes(frame["n_words"].to_numpy(), fraction)
        at_size = frame[frame["size"].to_numpy() == size]
        for operation, curve in (("remove_top", "deletion"), ("keep_top", "insertion")):
            part = at_size[at_size["operation"] == operation]
            rows.append(pd.DataFrame({
                "example_id": part["example_id"], "method": part["method"], "removal": part["removal"],
                "curve": curve, "fraction": float(fraction), "n_words": part["n_words"], "n_selected": part["size"],
                "probability": part["probability"],
            }))
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def per_example_scores(eraser: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """AOPC (mean over bins) of comprehensiveness and sufficiency, and deletion/insertion AUCs, per example.

    Long format: example_id, method, removal, measure ("aopc_comprehensiveness",
    "aopc_sufficiency", "deletion_auc", "insertion_auc"), value.
    """
    keys = ["example_id", "method", "removal"]
    aopc = eraser.groupby([*keys, "measure"], sort=False)["value"].mean().reset_index()
    aopc["measure"] = "aopc_" + aopc["measure"]
    curves = curves.sort_values([*keys, "curve", "fraction"])
    grid = np.sort(curves["fraction"].unique())
    weights = np.zeros(len(grid))  # trapezoid rule on the shared grid
    if len(grid) > 1:
        steps = np.diff(grid)
        weights[:-1] += steps / 2
        weights[1:] += steps / 2
    weighted = curves.assign(value=curves["probability"].to_numpy() * weights[np.searchsorted(grid, curves["fraction"])])
    areas = weighted.groupby([*keys, "curve"], sort=False)["value"].sum().reset_index()
    areas["measure"] = areas.pop("curve") + "_auc"
    return pd.concat([aopc, areas[[*keys, "measure", "value"]]], ignore_index=True)
