"""Ablation-based importance: leave-one-out by deletion and by [MASK] replacement.

Both explain the predicted-class probability: score(word) = p(y|x) - p(y|x without the
word). Deleting the word and replacing it by [MASK] differ, and both are used in the
literature, so both are methods. An RNN has no [MASK]: its replacement is the reserved
``<mask>`` input, a zero embedding that is no word's input. It is not ``<unk>``, which is
the input of every out-of-vocabulary word already, so replacing such a word by ``<unk>``
would change nothing and give it a zero score by construction. Replacement uses Captum's
``FeatureAblation`` with a word-level ``feature_mask``; deletion, which Captum cannot
express (it changes the length), builds the shortened inputs and batches them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from captum.attr import FeatureAblation

from analysis.importance.base import Batch, ImportanceMethod, MethodOutput, register_method, target_probability
from analysis.models.base import TextClassifier, pad_sequences
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
                        batch_size: int) -> np.ndarray:
    """p(target | sequence) for many (possibly shortened) token sequences, in batches."""
    probs = np.zeros(len(sequences))
    order = np.argsort([len(s) for s in sequences], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, mask = pad_sequences([sequences[i] for i in rows], model.pad_token_id)
        target = torch.as_tensor([targets[i] for i in rows], device=model.device)
        logits = model.logits(ids.to(model.device), mask.to(model.device))
        probs[rows] = target_probability(logits, target).double().cpu().numpy()
    return probs


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
    defaults: ClassVar[dict[str, Any]] = {"batch_size": 256}

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
        probs = batched_probability(model, sequences, targets, batch_size=self.settings["batch_size"])
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
    defaults: ClassVar[dict[str, Any]] = {"perturbations_per_eval": 16}

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        enc = batch.encoded
        width = max(enc.n_words_kept, default=0)
        # specials and padding share one extra feature id; its attribution is ignored
        feature_mask = torch.where(enc.word_index >= 0, enc.word_index, torch.full_like(enc.word_index, width))

        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return torch.softmax(model.logits(input_ids, attention_mask), dim=-1)

        with torch.no_grad():
            attr = FeatureAblation(forward).attribute(
                enc.input_ids, baselines=model.mask_token_id, target=batch.target,
                additional_forward_args=(enc.attention_mask,), feature_mask=feature_mask,
                perturbations_per_eval=self.settings["perturbations_per_eval"],
            )
        # Captum ablates every feature id in every row of the batch: the baseline pass, then one per word of the
        # longest example and one for the special tokens (no-ops for shorter rows, but run all the same)
        return MethodOutput(token_scores=attr.double(), pooling="first",
                            forward_passes=np.full(len(batch), width + 2.0))


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

    def explain(self, model: TextClassifier, batch: Batch) -> MethodOutput:
        scores = []
        for example_id, n in zip(batch.example_ids, batch.encoded.n_words_kept):
            rng = np.random.default_rng(derive_seed(batch.seed, "random", example_id))
            scores.append(rng.random(n))
        return MethodOutput(word_scores=scores, forward_passes=0.0)
