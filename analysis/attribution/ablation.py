"""Ablation-based importance: leave-one-out by deletion and by [MASK] replacement.

Both explain the predicted-class probability: score(word) = p(y|x) - p(y|x without the
word). Deleting the word and replacing it by [MASK] differ, and both are used in the
literature, so both are methods. An RNN has no [MASK]: its replacement is the reserved
``<mask>`` input, a zero embedding that is no word's input. It is not ``<unk>``, which is
the input of every out-of-vocabulary word already, so replacing such a word by ``<unk>``
would change nothing and give it a zero score by construction. Replacement uses Captum's
``FeatureAblation`` with a word-level ``feature_mask``, one example at a time; deletion,
which Captum cannot express (it changes the length), builds the shortened inputs and
batches them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from captum.attr import FeatureAblation
from tqdm.auto import tqdm

from analysis.importance.base import (
    Batch,
    ImportanceMethod,
    MethodOutput,
    class_probabilities,
    register_method,
    target_probability,
)
from analysis.models.base import (
    TextClassifier,
    batch_token_budget,
    length_sorted_chunks,
    pad_sequences,
    rows_per_batch,
)
from analysis.records import PartialResult
from analysis.seeding import derive_seed


def delete_words(input_ids: torch.Tensor, attention_mask: torch.Tensor, word_index: torch.Tensor,
                 drop: list[set[int]]) -> list[list[int]]:
    """Token sequences with the tokens of the words in ``drop[b]`` removed (specials kept)."""
    out = []
    for row, words in enumerate(drop):
        length = int(attention_mask[row].sum())
        ids = input_ids[row, :length].tolist()
        owners = word_index[row, :length].tolist()
        out.append([t for t, w in zip(ids, owners) if w < 0 or w not in words])
    return out


@torch.no_grad()
def batched_probability(model: TextClassifier, sequences: Sequence[Sequence[int] | np.ndarray], targets: list[int], *,
                        batch_size: int, max_tokens: int | str | None = "auto",
                        checkpoint: Path | None = None, save_every: float = 120.0,
                        progress: str | None = None) -> np.ndarray:
    """p(target | sequence) for many (possibly shortened) token sequences, in length-sorted batches
    of at most ``batch_size`` rows and ``max_tokens`` padded tokens (:func:`batch_token_budget`).

    With ``checkpoint``, the probabilities finished so far are saved there at most every
    ``save_every`` seconds, and a rerun on the same sequences, targets and batching reads them
    back and runs only the batches left: the result equals an uninterrupted run's, value for
    value (each batch is the same batch). The file is removed when all are done. ``progress``
    names a progress bar (none when None).
    """
    budget = batch_token_budget(model.device, max_tokens)
    chunks = list(length_sorted_chunks([len(s) for s in sequences], cap=batch_size, max_tokens=budget))
    probs, done = np.zeros(len(sequences)), np.zeros(len(sequences), dtype=bool)
    saved = PartialResult(checkpoint, _fingerprint(sequences, targets, batch_size, budget)) if checkpoint else None
    if saved is not None:
        probs, done = saved.load(probs, done)
    last_save = time.monotonic()
    for rows in tqdm(chunks, desc=progress, disable=progress is None, mininterval=10):
        if done[rows].all():
            continue
        ids, mask = pad_sequences([sequences[i] for i in rows], model.pad_token_id)
        target = torch.as_tensor([targets[i] for i in rows], device=model.device)
        logits = model.logits(ids.to(model.device), mask.to(model.device))
        probs[rows] = target_probability(logits, target).double().cpu().numpy()
        done[rows] = True
        if saved is not None and time.monotonic() - last_save >= save_every:
            saved.save(probs, done)
            last_save = time.monotonic()
    if saved is not None:
        saved.remove()
    return probs


def _fingerprint(sequences: Sequence[Sequence[int] | np.ndarray], targets: list[int], batch_size: int,
                 budget: int | None) -> str:
    """A hash of the sequences, their targets and the batching: what decides each saved value."""
    digest = hashlib.sha256(f"{len(sequences)}|{batch_size}|{budget}".encode())
    for sequence, target in zip(sequences, targets):
        digest.update(np.asarray(sequence, dtype=np.int64).tobytes())
        digest.update(f"|{int(target)};".encode())
    return digest.hexdigest()


class _Ablation(ImportanceMethod):
    family = "ablation"
    signed = True


@register_method
class LeaveOneOutDelete(_Ablation):
    name = "loo_delete"
    label = "Leave-one-out (delete)"
    short_label = "LOO delete"
    order = 8
    description = "leave-one-out: fall in predicted-class probability when the word is deleted"
    citation = "Li et al. 2016; Jain & Wallace 2019"
    unit = "change in the predicted class's probability: p with the word − p with it deleted"
    defaults: ClassVar[dict[str, Any]] = {"batch_size": 256, "max_batch_tokens": "auto"}

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        kept = enc.n_words_kept
        sequences, targets, owners = [], [], []
        base = delete_words(enc.input_ids, enc.attention_mask, enc.word_index, [set()] * len(batch))
        for row in range(len(batch)):
            variants = delete_words(enc.input_ids[[row] * kept[row]], enc.attention_mask[[row] * kept[row]],
                                    enc.word_index[[row] * kept[row]], [{j} for j in range(kept[row])])
            sequences += [base[row], *variants]
            targets += [int(batch.target[row])] * (kept[row] + 1)
            owners.append(len(sequences) - kept[row] - 1)
        probs = batched_probability(model, sequences, targets, batch_size=self.settings["batch_size"],
                                    max_tokens=self.settings["max_batch_tokens"])
        word_scores = [probs[start] - probs[start + 1 : start + 1 + kept[row]] for row, start in enumerate(owners)]
        return MethodOutput(word_scores=word_scores, forward_passes=np.asarray(kept, dtype=float) + 1)


@register_method
class LeaveOneOutMask(_Ablation):
    name = "loo_mask"
    label = "Leave-one-out ([MASK])"
    short_label = "LOO [MASK]"
    order = 9
    description = ("leave-one-out: fall in predicted-class probability when the word's tokens become [MASK] "
                   "(for an RNN its reserved <mask> input, a zero embedding)")
    citation = "Captum FeatureAblation; Kim et al. 2020"
    unit = "change in the predicted class's probability: p with the word − p with its tokens [MASK]ed"
    defaults: ClassVar[dict[str, Any]] = {"perturbations_per_eval": 256, "max_batch_tokens": "auto"}

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        budget = batch_token_budget(model.device, self.settings["max_batch_tokens"])

        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return class_probabilities(model.logits(input_ids, attention_mask))

        # One example at a time at its own length: Captum ablates every feature id of the mask in every row
        # of its input, so a batch would run each row for the longest row's words, padded (3.5x slower on
        # MiniLM than this). Specials share one extra feature id, whose attribution is ignored.
        scores = torch.zeros(enc.input_ids.shape, dtype=torch.float64, device=enc.input_ids.device)
        for row, words in enumerate(enc.n_words_kept):
            length = int(enc.attention_mask[row].sum())
            owners = enc.word_index[row : row + 1, :length]
            with torch.no_grad():
                attr = FeatureAblation(forward).attribute(
                    enc.input_ids[row : row + 1, :length], baselines=model.mask_token_id, target=batch.target[row],
                    additional_forward_args=(enc.attention_mask[row : row + 1, :length],),
                    feature_mask=torch.where(owners >= 0, owners, torch.full_like(owners, words)),
                    perturbations_per_eval=rows_per_batch(length, cap=self.settings["perturbations_per_eval"],
                                                          max_tokens=budget),
                )
            scores[row, :length] = attr[0].double()
        # the unablated pass, one per word, and one for the special tokens
        return MethodOutput(token_scores=scores, pooling="first",
                            forward_passes=np.asarray(enc.n_words_kept, dtype=float) + 2)


@register_method
class RandomRanking(ImportanceMethod):
    """Uniform random scores: the floor every agreement figure is compared with."""

    name = "random"
    label = "Random"
    short_label = "Random"
    order = 10
    family = "random"
    signed = False
    description = "uniform random scores, seeded per example (the chance floor)"
    unit = "uniform noise in [0, 1), no unit"

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        scores = []
        for example_id, n in zip(batch.example_ids, batch.encoded.n_words_kept):
            rng = np.random.default_rng(derive_seed(batch.seed, "random", example_id))
            scores.append(rng.random(n))
        return MethodOutput(word_scores=scores, forward_passes=0.0)
