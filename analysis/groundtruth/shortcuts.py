"""Planted shortcuts: a token whose presence decides the label, inserted into real text.

Where the cause of a prediction is known, an importance method can be checked against
it instead of against another unverified method (Bastings et al. 2022, *Will you find
these shortcuts?*; Zhou et al. 2022, *Do feature attribution methods correctly
attribute features?*). The transform here works on any dataset's ``examples`` table.

The rule, per split (train and evaluation are transformed separately, each with its
own seed):

1. Examples that already contain the token (compared case-insensitively, as the
   uncased models and the RNN vocabulary see it) are dropped and counted, so that after
   the transform the token occurs exactly where it was planted, once.
2. ``round(rate * N)`` of the remaining ``N`` examples receive the token once, at a
   position drawn uniformly among the ``n + 1`` gaps around their ``n`` words
   (``position: random``), or first or last.
3. ``mode: plant``: the token goes only into examples whose label is the shortcut class
   ``label``; labels are unchanged. In the split the token therefore implies the label
   (it is sufficient, not necessary: the text still carries its usual signal).
   ``mode: anti``: the token goes only into examples of the other classes, and their
   label becomes ``label``. Every token-bearing example then contradicts its own text,
   so a model can fit them only by using the token.

The evaluation split keeps examples with and without the token, so reliance is
measured directly (:func:`reliance_outcomes`): accuracy with and without the token,
the effect of deleting it, and the effect of inserting it into examples of the other
classes. The examples table gains ``shortcut_index`` (the token's word index, -1
without it) and ``original_label``; scoring then needs no string search
(:func:`shortcut_ranks`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from analysis.groundtruth.intervals import mean_intervals
from analysis.seeding import derive_seed

SHORTCUT_MODES = ("plant", "anti")
POSITIONS = ("random", "start", "end")
VARIANTS = ("abs", "signed")
SHORTCUT_COLUMNS = ["shortcut_index", "original_label"]

RELIANCE_MEASURES = {
    "accuracy_with_token": "accuracy on evaluation examples that carry the token",
    "accuracy_without_token": "accuracy on evaluation examples without the token",
    "removal_flip": "share of token-bearing examples whose prediction changes when the token is deleted",
    "removal_prob_drop": "fall in the shortcut class's probability when the token is deleted",
    "insertion_flip": "share of other-class examples (not predicted as the shortcut class) that become the "
                      "shortcut class when the token is inserted",
    "insertion_prob_gain": "rise in the shortcut class's probability when the token is inserted into other-class "
                           "examples",
}
SCORE_METRICS = {
    "top1": "top-1 hit rate: the planted token has the highest score (ties share the hit)",
    "share": "share of the absolute importance that falls on the planted token",
    "normalised_rank": "rank of the token scaled to [0, 1] (0 = first, 1 = last; chance 0.5)",
    "rank": "rank of the token (1 = first; ties get the mean rank)",
}

SCORE_RANGES = {"top1": (0.0, 1.0), "share": (0.0, 1.0), "normalised_rank": (0.0, 1.0), "rank": (1.0, float("inf"))}
RELIANCE_RANGES = {**dict.fromkeys(("accuracy_with_token", "accuracy_without_token", "removal_flip", "insertion_flip"),
                                   (0.0, 1.0)),
                   **dict.fromkeys(("removal_prob_drop", "insertion_prob_gain"), (-1.0, 1.0))}
"""Ranges of the per-example values (rates and shares in [0, 1], a rank from 1, a change of probability in
[-1, 1]): the study tables' intervals are intersected with them."""

class ShortcutError(ValueError):
    """A shortcut setting cannot be applied to the data; the message names the key and the fix."""


@dataclass(frozen=True)
class ShortcutConfig:
    """Settings of a planted shortcut (a dataset entry's ``shortcut`` block).

    ``token``: one whitespace-free word (a rare word, a made-up word, a punctuation
    mark). ``rate``: share of the training split's examples that receive it;
    ``eval_rate``: the same for the evaluation split (``None``: ``rate``).
    ``explain_share``: share of the explained examples drawn from those with the token
    (``None``: their share in the evaluation split). ``mode``: ``plant`` or ``anti`` (see
    the module docstring). ``label``: the class the token stands for. ``position``:
    ``random``, ``start`` or ``end``. ``seed``: seed of the draw (combined with the
    study's data seed).
    """

    token: str
    rate: float = 0.2
    eval_rate: float | None = None
    explain_share: float | None = 0.5
    mode: str = "plant"
    label: int = 1
    position: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token or len(self.token.split()) != 1 \
                or self.token != self.token.strip():
            raise ShortcutError(f"token must be one word without whitespace, got {self.token!r}")
        for name in ("rate", "eval_rate"):
            value = getattr(self, name)
            if value is not None and not 0.0 < float(value) <= 1.0:
                raise ShortcutError(f"{name} must lie in (0, 1], got {value!r}")
        if self.explain_share is not None and not 0.0 <= float(self.explain_share) <= 1.0:
            raise ShortcutError(f"explain_share must lie in [0, 1], got {self.explain_share!r}")
        if self.mode not in SHORTCUT_MODES:
            raise ShortcutError(f"mode must be one of {SHORTCUT_MODES}, got {self.mode!r}")
        if self.position not in POSITIONS:
            raise ShortcutError(f"position must be one of {POSITIONS}, got {self.position!r}")
        if int(self.label) != self.label or self.label < 0:
            raise ShortcutError(f"label must be a class index (a non-negative integer), got {self.label!r}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ShortcutError(f"seed must be a non-negative integer, got {self.seed!r}")

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, where: str = "shortcut") -> ShortcutConfig:
        """Build from a config block; errors name ``where`` (e.g. ``datasets.sst2_shortcut.shortcut``)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ShortcutError(f"{where}: unknown setting(s) {unknown}; the settings are {sorted(known)}")
        if "token" not in settings:
            raise ShortcutError(f"{where}: `token` is required (e.g. token: zeugma)")
        try:
            return cls(**settings)
        except ShortcutError as error:
            raise ShortcutError(f"{where}.{error}") from None

    def rate_for(self, role: str) -> float:
        """The share of examples that get the token in the ``train`` or ``eval`` role."""
        return float(self.eval_rate if role == "eval" and self.eval_rate is not None else self.rate)

    def describe(self, label_names: Sequence[str]) -> str:
        """The planting rule in one sentence, for readers of the data (e.g. a data card)."""
        where = {"random": "at a random position", "start": "first", "end": "last"}[self.position]
        rates = (f"{self.rate:.0%} of each split's examples" if self.eval_rate is None else
                 f"{self.rate:.0%} of the training split's examples ({self.eval_rate:.0%} of the evaluation split's)")
        name = f"{self.label} ({label_names[self.label]})" if self.label < len(label_names) else str(self.label)
        rule = (f"chosen among those of class {name}, labels unchanged, so the token implies that class"
                if self.mode == "plant" else
                f"chosen among those of the other classes, which are relabelled {name}, so a model must use the token")
        share = ("" if self.explain_share is None
                 else f"; {self.explain_share:.0%} of the explained examples carry it where the split has enough")
        return (f"planted shortcut ({self.mode}): the token {self.token!r} inserted once, {where}, into {rates}, "
                f"{rule}; examples that already held the token are dropped{share}")

    def check_labels(self, label_names: Sequence[str], *, where: str = "shortcut") -> None:
        if self.label >= len(label_names):
            raise ShortcutError(f"{where}.label: {self.label} is not a class of this dataset; its classes are "
                                f"{dict(enumerate(label_names))}")


# ------------------------------------------------------------------------ transform
def contains_token(words: Sequence[str], token: str) -> bool:
    lowered = token.lower()
    return any(str(w).lower() == lowered for w in words)


def plant_shortcut(frame: pd.DataFrame, config: ShortcutConfig, *, role: str, seed: int,
                   label_names: Sequence[str], where: str = "shortcut") -> tuple[pd.DataFrame, list[str]]:
    """Apply the planting rule (module docstring) to one split's ``examples`` table.

    Returns the new table, with ``shortcut_index`` and ``original_label`` added and
    ``words``/``text``/``n_words``/``gt_mask`` (a 0 at the token)/``label``/``label_name``
    updated, and notes for the data report. Raises :class:`ShortcutError` when the split
    has too few eligible examples for the rate.
    """
    config.check_labels(label_names, where=where)
    present = np.array([contains_token(words, config.token) for words in frame["words"]], dtype=bool)
    notes = []
    if present.any():
        notes.append(f"dropped {int(present.sum())} examples that already contained the shortcut token "
                     f"{config.token!r}")
    out = frame.loc[~present].reset_index(drop=True).copy()
    labels = out["label"].to_numpy(dtype=int)
    eligible = np.flatnonzero(labels == config.label if config.mode == "plant" else labels != config.label)
    rate = config.rate_for(role)
    count = int(round(rate * len(out)))
    if count > len(eligible):
        pool = f"of class {config.label} ({label_names[config.label]})" if config.mode == "plant" else \
            f"outside class {config.label} ({label_names[config.label]})"
        key = "eval_rate" if role == "eval" and config.eval_rate is not None else "rate"
        raise ShortcutError(
            f"{where}.{key}: {rate} of the {role} split's {len(out)} examples is {count}, but only {len(eligible)} "
            f"examples are {pool}; mode {config.mode!r} plants only into those. Use {key} <= "
            f"{math.floor(100 * len(eligible) / max(len(out), 1)) / 100}."
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, size=count, replace=False)) if count else np.array([], dtype=int)
    lengths = out["n_words"].to_numpy(dtype=int)[chosen]
    positions = insertion_positions(lengths, config.position, rng)

    words = list(out["words"].map(list))
    masks = list(out["gt_mask"]) if "gt_mask" in out else [None] * len(out)
    texts = list(out["text"])
    index = np.full(len(out), -1, dtype=np.int64)
    for row, position in zip(chosen.tolist(), positions.tolist()):
        words[row] = insert_word(words[row], config.token, position)
        texts[row] = " ".join(words[row])
        if masks[row] is not None:
            masks[row] = insert_word(list(masks[row]), 0, position)
        index[row] = position
    out["original_label"] = labels.astype(np.int64)
    if config.mode == "anti" and count:
        labels = labels.copy()
        labels[chosen] = config.label
    out["words"] = words
    out["text"] = texts
    out["n_words"] = [len(w) for w in words]
    out["gt_mask"] = masks
    out["label"] = labels.astype(np.int64)
    out["label_name"] = [label_names[v] for v in labels]
    out["shortcut_index"] = index
    action = "relabelled to" if config.mode == "anti" else "all of class"
    notes.append(f"shortcut {config.token!r} ({config.mode}) planted into {count} of {len(out)} examples "
                 f"({action} {label_names[config.label]!r})")
    return out, notes


def plant_splits(train: pd.DataFrame, evaluation: pd.DataFrame, report: pd.DataFrame, config: ShortcutConfig, *,
                 dataset: str, seed: int, label_names: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Plant the shortcut of dataset entry ``dataset`` into both splits and update the data report.

    Each split draws with ``derive_seed(seed, config.seed, dataset, role)``. The report's
    notes, kept-row counts and label counts describe the planted splits.
    """
    where = f"datasets.{dataset}.shortcut"
    report = report.copy()
    planted = {}
    for role, frame in (("train", train), ("eval", evaluation)):
        planted[role], notes = plant_shortcut(frame, config, role=role, seed=derive_seed(seed, config.seed, dataset, role),
                                              label_names=label_names, where=where)
        rows = report["role"] == role
        report.loc[rows, "notes"] = ["; ".join(filter(None, [old, *notes])) for old in report.loc[rows, "notes"]]
        report.loc[rows, "rows_kept"] = len(planted[role])
        report.loc[rows, "label_counts"] = ", ".join(
            f"{label_names[k]}: {v}" for k, v in planted[role]["label"].value_counts().sort_index().items())
    return planted["train"], planted["eval"], report


def insertion_positions(lengths: np.ndarray, position: str, rng: np.random.Generator) -> np.ndarray:
    """Word index the token takes in each example: uniform over the ``n + 1`` gaps, first, or last."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if position == "start":
        return np.zeros_like(lengths)
    if position == "end":
        return lengths.copy()
    return rng.integers(0, lengths + 1) if lengths.size else lengths.copy()


def insert_word(words: list[Any], word: Any, position: int) -> list[Any]:
    return [*words[:position], word, *words[position:]]


def remove_word(words: Sequence[Any], position: int) -> list[Any]:
    return [w for i, w in enumerate(words) if i != position]


def sample_explained(evaluation: pd.DataFrame, n: int, *, seed: int, share: float | None) -> pd.DataFrame:
    """The explained examples of a planted dataset: ``share`` of them carry the token.

    Both parts are label-stratified samples; ``share=None`` keeps the evaluation split's
    mix (stratified on label x token). When one part has too few examples the other
    fills in, so ``n`` (at most the split's size) examples come back, in shuffled order.
    """
    from analysis.data.prepare import stratified_sample

    n = min(int(n), len(evaluation))
    planted = evaluation["shortcut_index"].to_numpy() >= 0
    if share is None:
        keyed = evaluation.assign(_stratum=[f"{int(p)}|{int(y)}" for p, y in zip(planted, evaluation["label"])])
        return stratified_sample(keyed, n, seed=seed, label_column="_stratum").drop(columns="_stratum")
    n_token = min(int(round(share * n)), int(planted.sum()))
    n_plain = min(n - n_token, int((~planted).sum()))
    n_token = min(n - n_plain, int(planted.sum()))
    parts = [
        stratified_sample(evaluation.loc[planted].reset_index(drop=True), n_token, seed=derive_seed(seed, "token")),
        stratified_sample(evaluation.loc[~planted].reset_index(drop=True), n_plain, seed=derive_seed(seed, "plain")),
    ]
    both = pd.concat(parts, ignore_index=True)
    order = np.random.default_rng(derive_seed(seed, "order")).permutation(len(both))
    return both.iloc[order].reset_index(drop=True)


# ------------------------------------------------------------------------- reliance
def _predict(model: Any, words: list[list[str]], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    from analysis.models.training import predict

    if not words:
        return np.zeros(0, dtype=int), np.zeros((0, model.num_labels))
    return predict(model, words, batch_size=batch_size)


def deletion_changes_prediction(model: Any, examples: pd.DataFrame, *, batch_size: int = 64) -> pd.Series:
    """Per token-bearing example: does deleting the token change the predicted class?

    Indexed by ``example_id``; examples without the token are left out.
    """
    planted = examples.loc[examples["shortcut_index"] >= 0]
    words = list(map(list, planted["words"]))
    before, _ = _predict(model, words, batch_size)
    after, _ = _predict(model, [remove_word(w, int(i)) for w, i in zip(words, planted["shortcut_index"])],
                        batch_size)
    return pd.Series(before != after, index=planted["example_id"].astype(str).to_numpy(), name="decisive")


def reliance_outcomes(model: Any, evaluation: pd.DataFrame, config: ShortcutConfig, *, seed: int,
                      batch_size: int = 64) -> pd.DataFrame:
    """Per-example outcomes that say whether the model uses the shortcut.

    Long table: example_id, measure (see :data:`RELIANCE_MEASURES`), value. Accuracy is
    against the split's labels (after the planting rule). Deletion acts on the
    token-bearing examples; insertion (at a position drawn as in training) on the
    examples without the token whose label is another class and whose prediction is not
    already the shortcut class.
    """
    target = int(config.label)
    ids = evaluation["example_id"].astype(str).to_numpy()
    words = list(map(list, evaluation["words"]))
    predicted, probs = _predict(model, words, batch_size)
    planted = evaluation["shortcut_index"].to_numpy() >= 0
    correct = (predicted == evaluation["label"].to_numpy()).astype(float)
    frames = [
        pd.DataFrame({"example_id": ids[planted], "measure": "accuracy_with_token", "value": correct[planted]}),
        pd.DataFrame({"example_id": ids[~planted], "measure": "accuracy_without_token", "value": correct[~planted]}),
    ]
    rows = np.flatnonzero(planted)
    if rows.size:
        removed = [remove_word(words[r], int(evaluation["shortcut_index"].iloc[r])) for r in rows]
        after, after_probs = _predict(model, removed, batch_size)
        frames += [
            pd.DataFrame({"example_id": ids[rows], "measure": "removal_flip",
                          "value": (after != predicted[rows]).astype(float)}),
            pd.DataFrame({"example_id": ids[rows], "measure": "removal_prob_drop",
                          "value": probs[rows, target] - after_probs[:, target]}),
        ]
    rows = np.flatnonzero(~planted & (evaluation["label"].to_numpy() != target) & (predicted != target))
    if rows.size:
        rng = np.random.default_rng(derive_seed(seed, "insertion"))
        positions = insertion_positions(np.array([len(words[r]) for r in rows]), config.position, rng)
        inserted = [insert_word(words[r], config.token, int(p)) for r, p in zip(rows, positions)]
        after, after_probs = _predict(model, inserted, batch_size)
        frames += [
            pd.DataFrame({"example_id": ids[rows], "measure": "insertion_flip",
                          "value": (after == target).astype(float)}),
            pd.DataFrame({"example_id": ids[rows], "measure": "insertion_prob_gain",
                          "value": after_probs[:, target] - probs[rows, target]}),
        ]
    return pd.concat(frames, ignore_index=True)


def summarize_reliance(outcomes: pd.DataFrame, *, threshold: float, n_resamples: int = 1000, level: float = 0.95,
                       seed: int = 0) -> pd.DataFrame:
    """Mean of every reliance measure with its bootstrap interval, and the verdict.

    ``relies`` (the same on every row) is true when the lower bound of the insertion
    flip rate reaches ``threshold``: inserting the token into examples of the other
    classes turns most of them into the shortcut class, whatever their text says.
    """
    summary = mean_intervals(outcomes, ["measure"], "value", n_resamples=n_resamples, level=level, seed=seed,
                             binary="auto")
    order = {m: i for i, m in enumerate(RELIANCE_MEASURES)}
    summary = summary.sort_values("measure", key=lambda s: s.map(order)).reset_index(drop=True)
    flip = summary.loc[summary["measure"] == "insertion_flip", "mean_low"]
    relies = bool(len(flip) and pd.notna(flip.iloc[0]) and flip.iloc[0] >= threshold)
    summary["description"] = summary["measure"].map(RELIANCE_MEASURES)
    summary["relies"] = relies
    summary["threshold"] = float(threshold)
    return summary


# -------------------------------------------------------------------------- scoring
def shortcut_ranks(importance: pd.DataFrame, examples: pd.DataFrame, *, shortcut_label: int,
                   variants: Sequence[str] = ("abs",), decisive: pd.Series | None = None) -> pd.DataFrame:
    """Where each method puts the planted token, per example x method x variant.

    For every explained example with the token: ``rank`` (1 = highest score; tied
    words share the mean of their ranks, i.e. the expected rank under random
    tie-breaking), ``normalised_rank`` = (rank - 1) / (n - 1), ``top1`` (1 when the token
    alone has the highest score, 1/k when it ties with k - 1 other words at the top, else
    0) and ``share`` = |s_token| / sum |s| (the same in both variants). ``abs`` ranks by
    |score|, ``signed`` by the score (evidence for the predicted class). Chance levels:
    ``chance_top1`` = ``chance_share`` = 1/n, ``chance_normalised_rank`` = 0.5.
    Examples whose token was cut off by truncation are left out (counted by
    :func:`truncated_tokens`), and so is a method on an example where any of its scores is
    not finite (e.g. attention flow beyond its token limit): a NaN compares false with
    everything, which would rank the token first.
    """
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    planted = examples.loc[examples["shortcut_index"] >= 0, ["example_id", "shortcut_index"]]
    planted = planted.assign(example_id=planted["example_id"].astype(str))
    rows = importance.assign(example_id=importance["example_id"].astype(str)).merge(planted, on="example_id")
    rows = rows.loc[rows["shortcut_index"] < rows["n_words"]]
    keys = ["example_id", "method"]
    finite = np.isfinite(rows["score"].to_numpy(dtype=float))
    rows = rows.loc[pd.Series(finite, index=rows.index).groupby([rows[k] for k in keys]).transform("all")]
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "family", "variant", "n_words", "shortcut_index", "predicted",
                                     "predicted_shortcut_class", "decisive", "rank", "normalised_rank", "top1",
                                     "share", "chance_top1", "chance_share", "chance_normalised_rank"])
    is_token = (rows["word_index"] == rows["shortcut_index"]).to_numpy()
    magnitude = rows["score"].abs()
    token_magnitude = magnitude.where(is_token).groupby([rows[k] for k in keys]).transform("max")
    first = rows.groupby(keys, sort=True)[["family", "n_words", "shortcut_index", "predicted"]].first()
    tables = []
    for variant in variants:
        value = magnitude if variant == "abs" else rows["score"]
        token_value = value.where(is_token).groupby([rows[k] for k in keys]).transform("max")
        parts = pd.DataFrame({
            "example_id": rows["example_id"], "method": rows["method"],
            "greater": ((value > token_value) & ~is_token).astype(int),
            "ties": ((value == token_value) & ~is_token).astype(int),
            "total": magnitude, "token": token_magnitude.where(is_token, 0.0),
        }).groupby(keys, sort=True).sum()
        table = first.join(parts).reset_index()
        n = table["n_words"].to_numpy(dtype=float)
        rank = 1.0 + table["greater"] + table["ties"] / 2.0
        table["variant"] = variant
        table["rank"] = rank
        table["normalised_rank"] = np.where(n > 1, (rank - 1.0) / np.maximum(n - 1.0, 1.0), np.nan)
        table["top1"] = np.where(table["greater"] == 0, 1.0 / (1.0 + table["ties"]), 0.0)
        table["share"] = np.where(table["total"] > 0, table["token"] / table["total"].where(table["total"] > 0, 1.0),
                                  np.nan)
        tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    out["predicted_shortcut_class"] = out["predicted"].astype(int) == int(shortcut_label)
    out["decisive"] = out["example_id"].map(decisive) if decisive is not None else np.nan
    out["chance_top1"] = 1.0 / out["n_words"]
    out["chance_share"] = 1.0 / out["n_words"]
    out["chance_normalised_rank"] = 0.5
    columns = ["example_id", "method", "family", "variant", "n_words", "shortcut_index", "predicted",
               "predicted_shortcut_class", "decisive", "rank", "normalised_rank", "top1", "share", "chance_top1",
               "chance_share", "chance_normalised_rank"]
    return out[columns]


def truncated_tokens(importance: pd.DataFrame, examples: pd.DataFrame) -> int:
    """Explained token-bearing examples whose token lies beyond the words the model kept."""
    kept = importance.groupby(importance["example_id"].astype(str))["n_words"].first()
    planted = examples.loc[examples["shortcut_index"] >= 0]
    limit = planted["example_id"].astype(str).map(kept)
    return int((planted["shortcut_index"].to_numpy() >= limit.to_numpy()).sum())


def score_groups(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores of each summary group, stacked with a ``group`` column.

    ``all``: the explained examples with the token that the model assigns to the
    shortcut class (the token can be the cause of that prediction). ``decisive``: those
    of them whose prediction changes when the token is deleted (the token is a cause).
    """
    base = scores.loc[scores["predicted_shortcut_class"].astype(bool)]
    decisive = base.loc[base["decisive"].fillna(False).astype(bool)]
    return pd.concat([base.assign(group="all"), decisive.assign(group="decisive")], ignore_index=True)


def summarize_shortcut_scores(scores: pd.DataFrame, *, top1_threshold: float, n_resamples: int = 1000,
                              level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean top-1 hit rate, share, and (normalised) rank per method, variant and group, with intervals.

    Long table: method, family, variant, group, metric, n, mean, mean_low, mean_high,
    chance (the mean chance level of the same examples; NaN for ``rank``) and
    ``verdict`` per method/variant/group: ``finds`` when the top-1 hit rate's lower bound
    reaches ``top1_threshold``, ``above chance`` when it only exceeds the chance level,
    ``misses`` otherwise, ``untested`` with fewer than two examples.
    """
    grouped = score_groups(scores)
    keys = ["method", "family", "variant", "group"]
    frames = []
    for metric in SCORE_METRICS:
        summary = mean_intervals(grouped, keys, metric, n_resamples=n_resamples, level=level,
                                 # top-1 hits are 0/1 (exact interval) unless ties share them (uniform attention)
                                 seed=derive_seed(seed, metric), binary="auto" if metric == "top1" else False)
        chance_column = f"chance_{metric}"
        if chance_column in grouped and len(grouped):
            chance = grouped.groupby(keys)[chance_column].mean().rename("chance").reset_index()
            summary = summary.merge(chance, on=keys, how="left")
        else:
            summary["chance"] = np.nan
        frames.append(summary.assign(metric=metric))
    summary = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    columns = [*keys, "metric", "n", "mean", "mean_low", "mean_high", "chance"]
    if summary.empty:
        return pd.DataFrame(columns=[*columns, "verdict", "threshold"])
    summary = summary[columns]
    top1 = summary.loc[summary["metric"] == "top1"].set_index(keys)
    verdicts = {key: shortcut_verdict(row["mean_low"], row["chance"], top1_threshold)
                for key, row in top1.iterrows()}
    summary["verdict"] = [verdicts.get(tuple(row)) for row in summary[keys].itertuples(index=False)]
    summary["threshold"] = float(top1_threshold)
    return summary


def shortcut_verdict(top1_low: float, chance: float, threshold: float) -> str:
    if pd.isna(top1_low):
        return "untested"
    if top1_low >= threshold:
        return "finds"
    if top1_low > chance:
        return "above chance"
    return "misses"


NOT_SPECIFIC = "not specific"
CONTROL_VERDICTS = {
    "specific": "ranks the token first more often than on the control (paired test)",
    NOT_SPECIFIC: "finds the token on the control too (its top-1 rate's lower bound there reaches the threshold)",
    "inconclusive": "neither: the paired difference is not significant at this n",
}
CONTROL_COLUMNS = ["control_n", "control_mean", "control_low", "control_high", "control_difference", "control_p",
                   "control_predicts_class", "control_verdict"]


def control_comparison(scores: pd.DataFrame, control: pd.DataFrame, *, n_resamples: int = 1000, level: float = 0.95,
                       seed: int = 0) -> pd.DataFrame:
    """Top-1 hit rates on the same examples under a control model that never saw the token, paired with the run's.

    ``scores`` are the run's :func:`shortcut_ranks` (a model that relies on the token), ``control`` the same
    examples ranked under the same architecture trained on the data without the token. A method that ranks
    the token first there too reacts to the token (an unusual or unknown word), not to the model's use
    of it. Per method x variant x group of :func:`score_groups` (membership from the run): ``control_n``
    pairs, the control's mean top-1 rate with its interval, ``control_difference`` (run minus control) and
    ``control_p``, the two-sided paired sign-flip p-value of no difference
    (:func:`analysis.stats.hypothesis.paired_test`), Holm-adjusted over the methods of each variant x group
    (every method of a run is asked the same question, so a run's family is its methods), and
    ``control_predicts_class``, the share of the pairs whose control model itself predicts the class both models
    explain (``control``'s ``predicted``; from its ``control_predicted`` column, NaN without it): the control
    explains that class whatever it predicts, and where the token flips the label (``mode: anti``) it mostly
    predicts the other one.
    """
    from analysis.stats.hypothesis import paired_test
    from analysis.stats.paired import adjust_p_values

    keys = ["method", "family", "variant", "group"]
    if scores.empty or control.empty:
        return pd.DataFrame(columns=[*keys, *CONTROL_COLUMNS[:-1]])
    control = control.assign(control_agrees=(control["control_predicted"] == control["predicted"]).astype(float)
                             if "control_predicted" in control else np.nan)
    pairs = score_groups(scores).merge(
        control[["example_id", "method", "variant", "top1", "control_agrees"]].rename(columns={"top1": "control_top1"}),
        on=["example_id", "method", "variant"])
    intervals = mean_intervals(pairs, keys, "control_top1", n_resamples=n_resamples, level=level,
                               seed=derive_seed(seed, "control"), binary="auto")
    tests = []
    for key, part in pairs.groupby(keys, sort=True):
        decision = paired_test(part["top1"].to_numpy(dtype=float) - part["control_top1"].to_numpy(dtype=float),
                               alpha=1.0 - level, level=level, n_resamples=n_resamples,
                               seed=derive_seed(seed, "control", *key))
        tests.append({**dict(zip(keys, key)), "control_difference": decision.estimate,
                      "control_p": decision.p_value, "control_predicts_class": part["control_agrees"].mean()})
    tests = pd.DataFrame(tests)
    tests["control_p"] = tests.groupby(["variant", "group"])["control_p"].transform(
        lambda p: adjust_p_values(p.to_numpy(), "holm"))
    out = intervals.rename(columns={"n": "control_n", "mean": "control_mean", "mean_low": "control_low",
                                    "mean_high": "control_high"}).merge(tests, on=keys)
    # a rate's bootstrap interval (ties make hits fractional) can reach past [0, 1]
    out[["control_low", "control_high"]] = out[["control_low", "control_high"]].clip(0.0, 1.0)
    return out[[*keys, *CONTROL_COLUMNS[:-1]]]


def with_control(summary: pd.DataFrame, comparison: pd.DataFrame | None, *, level: float = 0.95) -> pd.DataFrame:
    """``summary`` (:func:`summarize_shortcut_scores`) with the control's columns on its top-1 rows and a
    ``control_verdict`` (:data:`CONTROL_VERDICTS`): *not specific* where the control's own top-1 rate passes
    the run's threshold (the method would "find" the token on a model that does not use it, so finding it on the
    run's model is no evidence, even where it does so more often there), *specific* where the run's rate is above
    the control's (paired sign-flip test at ``1 - level``, two-sided, Holm-adjusted over the methods),
    *inconclusive* otherwise. The control decides only about a method that finds the token (the others get no
    control verdict): one that is not specific gets the verdict ``not specific``; an inconclusive control leaves
    "finds" as it was.

    Without a comparison the columns are empty and the verdicts unchanged: no control was run.
    """
    keys = ["method", "family", "variant", "group"]
    summary = summary.drop(columns=[c for c in CONTROL_COLUMNS if c in summary])
    if comparison is None or comparison.empty:
        return summary.assign(**dict.fromkeys(CONTROL_COLUMNS[:-1], np.nan), control_verdict=None)
    top1 = (summary["metric"] == "top1").to_numpy()
    merged = summary.loc[top1, [*keys, "threshold", "verdict"]].merge(comparison, on=keys, how="left")
    paired = merged["control_n"].gt(0) & merged["verdict"].eq("finds")
    merged["control_verdict"] = np.select(
        [~paired, merged["control_low"] >= merged["threshold"],
         (merged["control_p"] < 1.0 - level) & (merged["control_difference"] > 0)],
        [None, NOT_SPECIFIC, "specific"], default="inconclusive")
    for column in CONTROL_COLUMNS:
        summary[column] = None if column == "control_verdict" else np.nan
        summary.loc[top1, column] = merged[column].to_numpy()
    demoted = top1 & (summary["verdict"] == "finds").to_numpy() & (summary["control_verdict"] == NOT_SPECIFIC)
    # the verdict belongs to the method x variant x group: every metric row of it carries the top-1 row's
    key = summary[keys].apply(tuple, axis=1)
    summary.loc[key.isin(set(key[demoted])), "verdict"] = NOT_SPECIFIC
    return summary
