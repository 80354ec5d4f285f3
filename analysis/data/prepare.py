"""From raw rows to the ``examples`` table: words, labels, ground truth, subsamples.

Bad rows are handled visibly: empty texts are dropped and counted, labels outside the
label set stop the run with the offending rows named, rows of classes a label filter
leaves out (``labels`` in a dataset's entry) are dropped and counted before any
subsampling, columns the entry names but the rows lack stop the run with the columns
there are, and every count is written to the data report that the study summary shows.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.data.loading import hub_source, load_split, mirror_folder, words_of
from analysis.data.specs import DatasetSpec
from analysis.seeding import derive_seed

log = logging.getLogger(__name__)


@dataclass
class DataReport:
    """What happened to the rows of one split on the way to the examples table."""

    dataset: str
    role: str
    split: str
    source: str
    rows_read: int = 0
    dropped_other_classes: int = 0
    dropped_empty: int = 0
    rows_available: int = 0
    rows_kept: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        row = dict(self.__dict__)
        row["label_counts"] = ", ".join(f"{k}: {v}" for k, v in self.label_counts.items())
        row["notes"] = "; ".join(self.notes)
        return row


def check_columns(frame: pd.DataFrame, spec: DatasetSpec, *, split: str) -> None:
    """Every column the dataset's entry names must be in the rows read; the error lists the columns there are."""
    named = {"text_column": None if spec.tokens_column else spec.text_column, "tokens_column": spec.tokens_column,
             "label_column": spec.label_column, "rationale_column": spec.rationale_column}
    for key, column in named.items():
        if column and column not in frame.columns:
            raise ValueError(
                f"dataset {spec.name!r} split {split!r} has no {key.replace('_', ' ')} {column!r}; columns: "
                f"{list(frame.columns)}. Set datasets.{spec.data_name}.{key} to one of them."
            )


def map_labels(frame: pd.DataFrame, spec: DatasetSpec, *, split: str) -> tuple[pd.Series, np.ndarray]:
    """The split's labels in the spec's ids, and which rows keep a label (all but a filter's left-out classes).

    Every label is first checked against the label set as read (the base's, for a
    filtered dataset), so a corrupt label is an error rather than a dropped row. Raises
    ``ValueError`` naming the rows whose label lies outside it.
    """
    names = spec.labels_as_read
    labels = pd.to_numeric(frame[spec.label_column], errors="coerce")
    bad = ~labels.isin(range(len(names)))
    if bad.any():
        rows = [int(r) for r in np.flatnonzero(bad.to_numpy())[:10]]
        raise ValueError(
            f"dataset {spec.name!r} split {split!r}: {int(bad.sum())} labels outside 0..{len(names) - 1} "
            f"({', '.join(names)}), first at rows {rows} with values "
            f"{frame[spec.label_column].iloc[rows].tolist()}. Fix the data or the dataset's label_names."
        )
    labels = labels.astype(int)
    if spec.label_map is None:
        return labels, np.ones(len(frame), dtype=bool)
    keep = labels.isin(list(spec.label_map)).to_numpy()
    return labels.map(spec.label_map), keep


def describe_label_filter(spec: DatasetSpec, dropped: int) -> str:
    """The label filter in words, for the data report.

    E.g. ``label filter on ag_news: World -> 0, Business -> 1; dropped 5,031 rows of other classes``.
    """
    pairs = ", ".join(f"{spec.labels_as_read[old]} -> {new}" for old, new in sorted((spec.label_map or {}).items()))
    return f"label filter on {spec.data_name}: {pairs}; dropped {dropped:,} rows of other classes"


def standardise(frame: pd.DataFrame, spec: DatasetSpec, *, split: str, id_prefix: str | None = None) -> pd.DataFrame:
    """Map a split's rows to the ``examples`` columns and check the labels.

    With a label filter (``spec.label_map``) the rows of the classes it leaves out are
    dropped and the rest relabelled; example ids keep the row numbers as read, so an
    example has the same id in the filtered dataset as in its base. Raises ``ValueError``
    naming the rows whose label lies outside the label set as read.
    """
    check_columns(frame, spec, split=split)
    labels, keep = map_labels(frame, spec, split=split)
    prefix = id_prefix or f"{spec.data_name}-{split}"
    ids = frame["id"].astype(str) if "id" in frame.columns else frame.get("example_id", pd.Series(range(len(frame))))
    ids = pd.Series(list(ids))[keep].tolist()
    frame = frame.loc[keep].reset_index(drop=True)
    labels = labels[keep].reset_index(drop=True)
    if spec.tokens_column:
        words = [list(map(str, tokens)) for tokens in frame[spec.tokens_column]]
        texts = [" ".join(w) for w in words]
    else:
        texts = [("" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t)) for t in frame[spec.text_column]]
        words = [words_of(t) for t in texts]
    if spec.rationale_column:
        gt = [None if m is None else [int(v) for v in m] for m in frame[spec.rationale_column]]
    else:
        gt = [None] * len(frame)
    out = pd.DataFrame(
        {
            "example_id": [i if str(i).startswith(prefix) else f"{prefix}-{i}" for i in ids],
            "dataset": spec.name,
            "split": split,
            "text": texts,
            "words": words,
            "n_words": [len(w) for w in words],
            "label": labels.astype(int).to_numpy(),
            "label_name": [spec.label_names[int(v)] for v in labels],
            "gt_mask": gt,
        }
    )
    for i, (w, m) in enumerate(zip(out["words"], out["gt_mask"])):
        if m is not None and len(m) != len(w):
            raise ValueError(
                f"dataset {spec.name!r} split {split!r} row {i}: ground-truth mask has {len(m)} entries for "
                f"{len(w)} words"
            )
    return out


def stratified_sample(frame: pd.DataFrame, n: int | None, *, seed: int, label_column: str = "label") -> pd.DataFrame:
    """A deterministic, label-stratified subsample of ``n`` rows in shuffled order.

    Each label keeps its share (largest-remainder rounding); ``n`` of ``None`` or at least
    the frame's length keeps every row, still shuffled.
    """
    rng = np.random.default_rng(seed)
    if n is None or n >= len(frame):
        return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    counts = frame[label_column].value_counts().sort_index()
    exact = counts / counts.sum() * n
    take = np.floor(exact).astype(int)
    remainder = n - int(take.sum())
    for label in (exact - take).sort_values(ascending=False, kind="stable").index[:remainder]:
        take[label] += 1
    parts = []
    for label, k in take.items():
        rows = np.flatnonzero((frame[label_column] == label).to_numpy())
        parts.append(rng.choice(rows, size=int(k), replace=False))
    chosen = np.concatenate(parts) if parts else np.array([], dtype=int)
    chosen = chosen[rng.permutation(len(chosen))]
    return frame.iloc[chosen].reset_index(drop=True)


def random_prefix(examples: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """The first ``n`` rows of a prepared table (all when ``None``), in its order.

    The train and explain tables are written in the random order of :func:`stratified_sample`
    (or of the shortcut sampler), so any prefix is a random subsample, and a smaller cap gives
    a subset of a larger one: every model, seed and stage that caps the examples agrees on
    which ones it keeps. Never sort by id first: ids follow
    the source file, which may be ordered by label (IMDB is negative reviews, then positive).
    """
    return examples if n is None else examples.head(int(n)).reset_index(drop=True)


def explained_by(examples: pd.DataFrame, importance: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``examples`` that ``importance`` has scores for (the model's own explained set), in order."""
    return examples[examples["example_id"].isin(set(importance["example_id"]))].reset_index(drop=True)


def drop_empty(frame: pd.DataFrame, report: DataReport) -> pd.DataFrame:
    empty = frame["n_words"] == 0
    if empty.any():
        report.dropped_empty = int(empty.sum())
        log.warning("%s/%s: dropped %d empty or whitespace-only texts", report.dataset, report.split, report.dropped_empty)
        report.notes.append(f"dropped {report.dropped_empty} empty or whitespace-only texts")
    return frame.loc[~empty].reset_index(drop=True)


def source_of(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> str:
    """Where the rows come from, for the data report: the hub's id with its config name and revision."""
    return "generated" if spec.generator else (f"local mirror {data_dir}" if data_dir else f"hub {hub_source(spec)}")


def read_examples(spec: DatasetSpec, split: str, report: DataReport, *, data_dir: str | os.PathLike | None = None,
                  generate_n: int | None = None, seed: int = 0,
                  generator_settings: dict[str, Any] | None = None) -> pd.DataFrame:
    """One split's rows as an ``examples`` table: label filter applied, empty texts dropped, all counted in ``report``.

    A generated dataset (``spec.generator``) is generated with ``generate_n`` examples
    (1,000 when unset) instead of read.
    """
    if spec.generator:
        raw = spec.generator(int(generate_n or 1000), seed=seed, split=split, settings=generator_settings)
    else:
        raw = load_split(spec, split, data_dir=data_dir)
    frame = standardise(raw, spec, split=split)
    report.rows_read = len(raw)
    if spec.label_map is not None:
        report.dropped_other_classes = len(raw) - len(frame)
        report.notes.append(describe_label_filter(spec, report.dropped_other_classes))
    return drop_empty(frame, report)


def subsample(pool: pd.DataFrame, n: int | None, spec: DatasetSpec, report: DataReport, *, seed: int) -> pd.DataFrame:
    """A stratified subsample of ``n`` rows of ``pool`` (seeded per dataset read and role), counted in ``report``."""
    report.rows_available = len(pool)
    sample = stratified_sample(pool, n, seed=derive_seed(seed, spec.data_name, report.role))
    report.rows_kept = len(sample)
    report.label_counts = {spec.label_names[k]: int(v) for k, v in sample["label"].value_counts().sort_index().items()}
    if n is not None and n > len(pool):
        report.notes.append(f"asked for {n} rows, only {len(pool)} available")
    return sample


def prepare_splits(
    spec: DatasetSpec,
    *,
    train_n: int | None,
    eval_n: int | None,
    seed: int,
    data_dir: str | os.PathLike | None = None,
    train_split: str | None = None,
    eval_split: str | None = None,
    generator_settings: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The train and evaluation ``examples`` tables of one dataset, and the data report.

    ``spec`` is the dataset's spec as :func:`~analysis.data.specs.dataset_spec` gives it:
    a derived one reads its base's rows, and its label filter drops the classes it leaves
    out before any subsampling (counted in ``dropped_other_classes``). Seeds and example
    ids follow the dataset read (``spec.data_name``), so a derived dataset without a label
    filter subsamples the same examples as its base. When the train and evaluation splits
    are the same split (set so in the config, or a mirror that lacks the training split),
    the split is partitioned into disjoint parts and the report says so.
    """
    train_split = train_split or spec.train_split
    eval_split = eval_split or spec.eval_split
    fallback_note = None
    if data_dir is not None and not spec.generator:
        present = {p.stem for p in mirror_folder(spec, data_dir).glob("*.parquet")}
        if train_split not in present and eval_split in present:
            # a partial mirror with only the evaluation split: both come from it, disjointly
            fallback_note = (f"the local mirror has no {train_split!r} split; train and eval both come from "
                             f"{eval_split!r}")
            log.warning("%s: %s", spec.name, fallback_note)
            train_split = eval_split
    source = source_of(spec, data_dir)
    reports = {
        "train": DataReport(spec.name, "train", train_split, source),
        "eval": DataReport(spec.name, "eval", eval_split, source),
    }
    sizes = {"train": train_n, "eval": eval_n}

    def read(split: str, role: str) -> pd.DataFrame:
        return read_examples(spec, split, reports[role], data_dir=data_dir, generate_n=sizes[role], seed=seed,
                             generator_settings=generator_settings)

    if train_split == eval_split and not spec.generator:
        pool = read(train_split, "train")
        for key in ("rows_read", "dropped_other_classes", "dropped_empty"):
            setattr(reports["eval"], key, getattr(reports["train"], key))
        reports["eval"].notes = list(reports["train"].notes)
        shuffled = stratified_sample(pool, None, seed=derive_seed(seed, spec.data_name, "partition"))
        n_eval = min(eval_n or len(pool) // 2, len(pool) // 2)
        eval_pool = stratified_sample(shuffled, n_eval, seed=derive_seed(seed, spec.data_name, "eval-part"))
        train_pool = shuffled.loc[~shuffled["example_id"].isin(eval_pool["example_id"])].reset_index(drop=True)
        note = f"train and eval come from disjoint parts of split {train_split!r} ({len(train_pool)} / {len(eval_pool)})"
        for report in reports.values():
            report.notes.extend([n for n in (fallback_note, note) if n])
        pools = {"train": train_pool, "eval": eval_pool}
    else:
        pools = {"train": read(train_split, "train"), "eval": read(eval_split, "eval")}

    out = {role: subsample(pool, sizes[role], spec, reports[role], seed=seed) for role, pool in pools.items()}
    report = pd.DataFrame([reports["train"].as_row(), reports["eval"].as_row()])
    return out["train"], out["eval"], report


def prepare_validation(spec: DatasetSpec, *, n: int | None, seed: int, data_dir: str | os.PathLike | None = None,
                       split: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``examples`` table of the dataset's validation split (for epoch selection) and its data-report row.

    ``split`` defaults to ``spec.validation_split``; the rows go through the same label
    filter and checks as the other splits, and ``n`` takes a stratified subsample (``None``
    keeps all). A dataset without a validation split (IMDB, AG News) is an error that
    says so: its validation examples would have to be carved from the training split
    before it is subsampled, which this function does not do.
    """
    split = split or spec.validation_split
    if split is None:
        raise ValueError(f"dataset {spec.name!r} has no validation split (its splits: {list(spec.splits)}); "
                         f"leave out patience / epoch selection for it")
    report = DataReport(spec.name, "validation", split, source_of(spec, data_dir))
    pool = read_examples(spec, split, report, data_dir=data_dir, seed=seed)
    sample = subsample(pool, n, spec, report, seed=seed)
    return sample, pd.DataFrame([report.as_row()])
