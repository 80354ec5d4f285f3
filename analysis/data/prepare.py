"""From raw rows to the ``examples`` table: words, labels, ground truth, subsamples.

Bad rows are handled visibly: empty texts are dropped and counted, labels outside the
label set stop the run with the offending rows named, and every count is written to the
data report that the study summary shows.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.data.loading import load_split, words_of
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


def standardise(frame: pd.DataFrame, spec: DatasetSpec, *, split: str, id_prefix: str | None = None) -> pd.DataFrame:
    """Map a split's rows to the ``examples`` columns and check the labels.

    Raises ``ValueError`` naming the rows whose label lies outside the spec's label set.
    """
    if spec.tokens_column:
        words = [list(map(str, tokens)) for tokens in frame[spec.tokens_column]]
        texts = [" ".join(w) for w in words]
    else:
        if spec.text_column not in frame.columns:
            raise ValueError(
                f"dataset {spec.name!r} split {split!r} has no text column {spec.text_column!r}; "
                f"columns: {list(frame.columns)}"
            )
        texts = [("" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t)) for t in frame[spec.text_column]]
        words = [words_of(t) for t in texts]
    labels = pd.to_numeric(frame[spec.label_column], errors="coerce")
    bad = ~labels.isin(range(spec.num_labels))
    if bad.any():
        rows = [int(r) for r in np.flatnonzero(bad.to_numpy())[:10]]
        raise ValueError(
            f"dataset {spec.name!r} split {split!r}: {int(bad.sum())} labels outside 0..{spec.num_labels - 1} "
            f"({', '.join(spec.label_names)}), first at rows {rows} with values "
            f"{frame[spec.label_column].iloc[rows].tolist()}. Fix the data or the dataset's label_names."
        )
    if spec.rationale_column and spec.rationale_column in frame.columns:
        gt = [None if m is None else [int(v) for v in m] for m in frame[spec.rationale_column]]
    else:
        gt = [None] * len(frame)
    prefix = id_prefix or f"{spec.name}-{split}"
    ids = frame["id"].astype(str) if "id" in frame.columns else frame.get("example_id", pd.Series(range(len(frame))))
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


def drop_empty(frame: pd.DataFrame, report: DataReport) -> pd.DataFrame:
    empty = frame["n_words"] == 0
    if empty.any():
        report.dropped_empty = int(empty.sum())
        log.warning("%s/%s: dropped %d empty or whitespace-only texts", report.dataset, report.split, report.dropped_empty)
        report.notes.append(f"dropped {report.dropped_empty} empty or whitespace-only texts")
    return frame.loc[~empty].reset_index(drop=True)


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

    When the train and evaluation splits are the same split (the IMDB sample in the local
    mirror has only ``test``), the split is partitioned into disjoint parts and the report
    says so.
    """
    train_split = train_split or spec.train_split
    eval_split = eval_split or spec.eval_split
    fallback_note = None
    if data_dir is not None and not spec.generator:
        present = {p.stem for p in (Path(data_dir) / spec.name).glob("*.parquet")}
        if train_split not in present and eval_split in present:
            # e.g. the IMDB sample of the local mirror: only `test` exists, so both come from it
            fallback_note = (f"the local mirror has no {train_split!r} split; train and eval both come from "
                             f"{eval_split!r}")
            log.warning("%s: %s", spec.name, fallback_note)
            train_split = eval_split
    source = "generated" if spec.generator else (f"local mirror {data_dir}" if data_dir else f"hub {spec.hub_id}")
    reports = {
        "train": DataReport(spec.name, "train", train_split, source),
        "eval": DataReport(spec.name, "eval", eval_split, source),
    }

    def read(split: str, role: str) -> pd.DataFrame:
        if spec.generator:
            from analysis.data.synthetic import SyntheticConfig, generate

            n = train_n if role == "train" else eval_n
            settings = dict(generator_settings or {})
            raw = generate(SyntheticConfig(n_examples=int(n or 1000), seed=seed, **settings), split=split)
            frame = standardise(raw.assign(id=raw["example_id"]), spec, split=split)
        else:
            frame = standardise(load_split(spec, split, data_dir=data_dir), spec, split=split)
        reports[role].rows_read = len(frame)
        return drop_empty(frame, reports[role])

    if train_split == eval_split and not spec.generator:
        pool = read(train_split, "train")
        reports["eval"].rows_read = reports["train"].rows_read
        reports["eval"].dropped_empty = reports["train"].dropped_empty
        shuffled = stratified_sample(pool, None, seed=derive_seed(seed, spec.name, "partition"))
        n_eval = min(eval_n or len(pool) // 2, len(pool) // 2)
        eval_pool = stratified_sample(shuffled, n_eval, seed=derive_seed(seed, spec.name, "eval-part"))
        train_pool = shuffled.loc[~shuffled["example_id"].isin(eval_pool["example_id"])].reset_index(drop=True)
        note = f"train and eval come from disjoint parts of split {train_split!r} ({len(train_pool)} / {len(eval_pool)})"
        for report in reports.values():
            report.notes.extend([n for n in (fallback_note, note) if n])
        pools = {"train": train_pool, "eval": eval_pool}
    else:
        pools = {"train": read(train_split, "train"), "eval": read(eval_split, "eval")}

    sizes = {"train": train_n, "eval": eval_n}
    out = {}
    for role, pool in pools.items():
        reports[role].rows_available = len(pool)
        sample = stratified_sample(pool, sizes[role], seed=derive_seed(seed, spec.name, role))
        reports[role].rows_kept = len(sample)
        reports[role].label_counts = {
            spec.label_names[k]: int(v) for k, v in sample["label"].value_counts().sort_index().items()
        }
        if sizes[role] is not None and sizes[role] > len(pool):
            reports[role].notes.append(f"asked for {sizes[role]} rows, only {len(pool)} available")
        out[role] = sample
    report = pd.DataFrame([reports["train"].as_row(), reports["eval"].as_row()])
    return out["train"], out["eval"], report
