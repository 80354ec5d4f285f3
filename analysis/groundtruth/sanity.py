"""Model-randomisation sanity check (Adebayo et al. 2018, *Sanity Checks for Saliency Maps*).

An explanation that reads the model must change when the model's weights are replaced
by random ones. The check re-initialises the trained model's weights in cascade, from
the top down, and after each step recomputes every importance method on the same
examples, for the same explained class (the trained model's prediction), and measures
the Spearman rank correlation between the trained and the randomised scores per
example. A method whose correlation stays high once every layer is random does not
depend on what the model learned.

The verdict is taken at the last step before the embeddings (every layer above the input
representation random), the text counterpart of Adebayo et al.'s cascade, which keeps the
image itself: re-initialising the embeddings replaces the input that gradient x input,
integrated gradients and the like multiply by, so nearly any method "passes" there by
construction. That last step is still computed and reported beside the verdict.

Cascade order (each step adds to the previous ones):

* transformer: the classification head (every parameter after the last encoder layer:
  pooler, pre-classifier, classifier), then the encoder layers from the top down, then
  the embeddings. Layers are found from the probe attention modules
  (:mod:`analysis.models.attention_probe`), so no family needs its own table.
* attention RNN (Jain & Wallace 2019): classifier, attention (projection, vector or
  query), encoder (BiLSTM, CNN or projection), embeddings.

The first step, the head alone, is the classification-head randomisation; it is
reported under its own name (``head``). Re-initialisation follows each model's own
scheme: PyTorch's ``reset_parameters`` for the RNNs (how they were built), and for
transformers the Hugging Face scheme (normal with the config's ``initializer_range``
for weights and embeddings, zero biases, unit LayerNorm).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from analysis.groundtruth.intervals import mean_intervals
from analysis.logs import timed
from analysis.models.base import TextClassifier
from analysis.seeding import derive_seed, seed_everything

log = logging.getLogger(__name__)

RNN_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("head", ("classifier",)),
    ("attention", ("attn_proj", "attn_v", "attn_query")),
    ("encoder", ("encoder", "convs", "projection")),
    ("embeddings", ("embedding",)),
)
"""Cascade of an attention RNN: step name -> top-level parameter owners, top down."""


@dataclass
class RandomisationStep:
    """One step of the cascade: the parameters it re-initialises (names within the network)."""

    name: str
    parameters: list[str]


def find_layer_list(network: nn.Module) -> tuple[str, int]:
    """The ``nn.ModuleList`` that holds the encoder layers, and its length.

    It is the list whose items each contain exactly the probe attention modules of one
    layer (``module._study_layer``, set when the model was loaded).
    """
    attention = [name for name, module in network.named_modules() if hasattr(module, "_study_layer")]
    if not attention:
        raise RuntimeError(f"{type(network).__name__}: no probe attention modules; load the model through "
                           "TransformerClassifier so its layers are indexed")
    for name, module in network.named_modules():
        if not isinstance(module, nn.ModuleList) or not len(module):
            continue
        owners = {next((i for i in range(len(module)) if a.startswith(f"{name}.{i}.")), None) for a in attention}
        if owners == set(range(len(module))):
            return name, len(module)
    raise RuntimeError(f"{type(network).__name__}: found no module list holding one attention module per layer")


def cascade_steps(model: TextClassifier) -> list[RandomisationStep]:
    """The cascade of :data:`RNN_GROUPS` or of head, layers top-down and embeddings (module docstring)."""
    names = [name for name, _ in model.module.named_parameters()]
    if model.kind == "rnn":
        owner = {prefix: step for step, prefixes in RNN_GROUPS for prefix in prefixes}
        unknown = sorted({n.split(".")[0] for n in names} - set(owner))
        if unknown:
            raise RuntimeError(f"parameters {unknown} belong to no cascade step; add them to RNN_GROUPS")
        steps = [RandomisationStep(step, [n for n in names if owner[n.split(".")[0]] == step]) for step, _ in RNN_GROUPS]
        return [s for s in steps if s.parameters]
    layer_list, n_layers = find_layer_list(model.module)
    layer_of = {n: next((i for i in range(n_layers) if n.startswith(f"{layer_list}.{i}.")), None) for n in names}
    in_layers = [k for k, n in enumerate(names) if layer_of[n] is not None]
    first, last = min(in_layers), max(in_layers)
    steps = [RandomisationStep("head", names[last + 1:])]
    steps += [RandomisationStep(f"layer {i + 1}", [n for n in names if layer_of[n] == i])
              for i in reversed(range(n_layers))]
    steps.append(RandomisationStep("embeddings", names[:first]))
    return [s for s in steps if s.parameters]


@torch.no_grad()
def reinitialise(model: TextClassifier, step: RandomisationStep, *, seed: int) -> None:
    """Replace the step's parameters, in place, by fresh draws of the model's own initialisation."""
    network = model.module
    torch.manual_seed(seed)
    owners: dict[str, list[str]] = {}
    for name in step.parameters:
        owner, _, leaf = name.rpartition(".")
        owners.setdefault(owner, []).append(leaf)
    std = float(getattr(getattr(network, "config", None), "initializer_range", None) or 0.02)
    for owner_name, leaves in owners.items():
        owner = network.get_submodule(owner_name) if owner_name else network
        if model.kind == "rnn" and owner_name and hasattr(owner, "reset_parameters"):
            owner.reset_parameters()
            continue
        for leaf in leaves:
            parameter = getattr(owner, leaf)
            if model.kind == "rnn":  # a bare parameter (the dot-attention query): its construction draw
                parameter.normal_(0.0, 1.0 / math.sqrt(parameter.shape[-1]))
            elif "norm" in type(owner).__name__.lower():
                parameter.fill_(1.0 if leaf == "weight" else 0.0)
            elif leaf == "bias":
                parameter.zero_()
            else:
                parameter.normal_(0.0, std)
                padding = getattr(owner, "padding_idx", None)
                if isinstance(owner, nn.Embedding) and padding is not None:
                    parameter[padding].zero_()


def recorded_steps(n_steps: int, max_steps: int | None) -> list[int]:
    """1-based cascade steps at which scores are recomputed: all, or ``max_steps`` evenly spaced.

    The head step (1), the verdict's step (:func:`verdict_step`, the last before the embeddings) and the fully
    randomised model (``n_steps``) are always included.
    """
    if max_steps is None or max_steps >= n_steps:
        return list(range(1, n_steps + 1))
    spaced = {int(round(x)) for x in np.linspace(1, n_steps, max(2, int(max_steps)))}
    return sorted(spaced | {verdict_step(n_steps)})


def verdict_step(n_steps: int) -> int:
    """The cascade step the verdict is read at: the last before the embeddings (always the last step of
    :func:`cascade_steps`), i.e. every layer above the input representation random; the only step of a
    one-step cascade."""
    return max(1, n_steps - 1)


def rank_correlation(frame: pd.DataFrame, a: str, b: str, by: str | Sequence[str]) -> pd.Series:
    """Spearman's rho between columns ``a`` and ``b`` within each group (mid-ranks for ties).

    NaN where either column is constant in a group (rho is undefined there).
    """
    by = [by] if isinstance(by, str) else list(by)
    groups = [frame[k] for k in by]
    ra = frame[a].groupby(groups).rank()
    rb = frame[b].groupby(groups).rank()
    da = ra - ra.groupby(groups).transform("mean")
    db = rb - rb.groupby(groups).transform("mean")
    parts = pd.DataFrame({"ab": da * db, "aa": da * da, "bb": db * db}).groupby(groups).sum()
    denominator = np.sqrt(parts["aa"] * parts["bb"])
    return (parts["ab"] / denominator.where(denominator > 1e-12)).rename("spearman")


def compare_scores(trained: pd.DataFrame, randomised: pd.DataFrame, *, variants: Sequence[str],
                   signed: bool) -> pd.DataFrame:
    """Per example and variant: Spearman between trained and randomised word scores."""
    merged = trained[["example_id", "word_index", "score"]].merge(
        randomised[["example_id", "word_index", "score"]], on=["example_id", "word_index"],
        suffixes=("_trained", "_random"))
    frames = []
    for variant in variants:
        if variant == "signed" and not signed:
            continue  # identical to abs for a non-negative method
        values = merged if variant == "signed" else merged.assign(score_trained=merged["score_trained"].abs(),
                                                                  score_random=merged["score_random"].abs())
        rho = rank_correlation(values, "score_trained", "score_random", "example_id")
        n_words = values.groupby("example_id").size().rename("n_words")
        frames.append(pd.concat([rho, n_words], axis=1).reset_index().assign(variant=variant))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["example_id", "spearman", "n_words", "variant"])


def sanity_scores(model: TextClassifier, examples: pd.DataFrame, methods: dict, trained: pd.DataFrame, *,
                  max_steps: int | None = None, variants: Sequence[str] = ("abs",), batch_size: int = 32,
                  pooling: str = "sum", seed: int = 0) -> pd.DataFrame:
    """Cascading randomisation of ``model`` (in place) with every method recomputed.

    ``methods`` maps names to :class:`~analysis.importance.ImportanceMethod` objects;
    ``trained`` is the ``importance`` table of the trained model (it must hold those
    methods for ``examples``); its ``predicted`` column fixes the explained class.
    Returns one row per recorded step x method x example x variant: step_index, step,
    n_steps, method, family, example_id, variant, spearman, n_words, and
    prediction_changed (the randomised model predicts another class than the trained one).
    """
    from analysis.importance import compute_importance
    from analysis.models.training import predict

    ids = examples["example_id"].astype(str)
    trained = trained.assign(example_id=trained["example_id"].astype(str))
    targets = trained.groupby("example_id")["predicted"].first().reindex(ids).to_numpy()
    if np.isnan(targets.astype(float)).any():
        missing = ids[pd.isna(trained.groupby("example_id")["predicted"].first().reindex(ids)).to_numpy()].tolist()
        raise ValueError(f"the trained importance table has no scores for examples {missing[:5]}")
    targets = targets.astype(int)
    steps = cascade_steps(model)
    recorded = recorded_steps(len(steps), max_steps)
    words = list(map(list, examples["words"]))
    frames = []
    for index, step in enumerate(steps, start=1):
        reinitialise(model, step, seed=derive_seed(seed, "sanity", step.name))
        if index not in recorded:
            continue
        predicted, _ = predict(model, words, batch_size=batch_size)
        changed = pd.Series(predicted != targets, index=ids.to_numpy(), name="prediction_changed")
        with timed(f"sanity step {index}/{len(steps)} ({step.name} randomised): {len(methods)} methods on "
                   f"{len(examples)} examples", log):
            for name, method in methods.items():
                seed_everything(seed)
                randomised, diagnostics = compute_importance(model, examples, method, batch_size=batch_size,
                                                             pooling=pooling, seed=seed, targets=targets,
                                                             progress=False)
                log.info("  %s: %.2f s per example", name, diagnostics["seconds"].mean())
                reference = trained.loc[trained["method"] == name]
                scores = compare_scores(reference, randomised.assign(example_id=randomised["example_id"].astype(str)),
                                        variants=variants, signed=method.signed)
                frames.append(scores.assign(step_index=index, step=step.name, n_steps=len(steps), method=name,
                                            family=method.family,
                                            prediction_changed=scores["example_id"].map(changed).astype(bool)))
    columns = ["step_index", "step", "n_steps", "method", "family", "example_id", "variant", "spearman", "n_words",
               "prediction_changed"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def summarize_sanity(scores: pd.DataFrame, *, threshold: float, n_resamples: int = 1000, level: float = 0.95,
                     seed: int = 0) -> pd.DataFrame:
    """Mean Spearman per method, variant and step with bootstrap intervals, and the verdicts.

    ``insensitive`` (per row): the interval's lower bound reaches ``threshold`` (the
    scores barely changed). ``verdict`` (per method and variant, at ``verdict_step``, every
    layer above the embeddings random, :func:`verdict_step`): ``fails`` when insensitive
    there, ``passes`` when the upper bound lies below ``threshold``, ``inconclusive``
    otherwise. ``prediction_changed`` is the share of examples whose predicted class changed.
    """
    keys = ["method", "family", "variant", "step_index", "step", "n_steps"]
    summary = mean_intervals(scores, keys, "spearman", n_resamples=n_resamples, level=level, seed=seed)
    if summary.empty:
        return summary.assign(prediction_changed=[], insensitive=[], verdict=[])
    changed = scores.groupby("step_index")["prediction_changed"].mean().rename("prediction_changed")
    summary = summary.merge(changed.reset_index(), on="step_index", how="left")
    summary["insensitive"] = summary["mean_low"] >= threshold
    summary["verdict_step"] = [verdict_step(int(n)) for n in summary["n_steps"]]
    final = summary.loc[summary["step_index"] == summary["verdict_step"]].set_index(["method", "variant"])
    verdict = {}
    for key, row in final.iterrows():
        if pd.isna(row["mean_low"]) or pd.isna(row["mean_high"]):  # constant scores (rho undefined) or n < 2
            verdict[key] = "untested"
            continue
        verdict[key] = ("fails" if row["mean_low"] >= threshold else
                        "passes" if row["mean_high"] < threshold else "inconclusive")
    summary["verdict"] = [verdict.get((m, v), "untested") for m, v in zip(summary["method"], summary["variant"])]
    summary["threshold"] = float(threshold)
    return summary.sort_values(["method", "variant", "step_index"]).reset_index(drop=True)
