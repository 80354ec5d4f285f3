"""Tidy tables passed between stages, their columns, and how they are written.

Every table is a long-format parquet file with provenance columns (see
:func:`analysis.provenance.provenance_columns`). The column contracts below are the
interface between stages; tests check producers against them.

``examples`` (one row per example; written by the data stage)
    example_id str, dataset str, split str, text str, words list[str], n_words int,
    label int, label_name str, gt_mask list[int] | None (1 = word decides the label;
    synthetic ground truth or human rationale), truncated bool (set by the model stage)

``predictions`` (one row per evaluated example)
    example_id, label, predicted, prob_predicted float, correct bool, n_words,
    n_words_kept (words that survived truncation), truncated bool

``importance`` (one row per example x method x word; written per method)
    example_id str, method str, family str ("attention" | "gradient" | "ablation" |
    "random"), signed bool, word_index int, word str, score float, predicted int,
    label int, n_words int

``diagnostics`` (one row per example x method)
    example_id, method, seconds float, forward_passes float, completeness_gap float
    (integrated gradients; NaN otherwise), n_steps int (IG; 0 otherwise), converged bool
    (IG: |gap| within the method's tolerance at the final step count; None otherwise)

``agreement`` (one row per example x method pair x variant x metric)
    example_id, method_a, method_b, family_a, family_b, pair_kind ("attention_vs_causal",
    "causal_vs_causal", "random_vs_causal", "attention_vs_attention", "random_vs_attention"), variant ("abs" |
    "signed"), metric, value float (for pairs with a random method: the mean over
    agreement.floor_draws random rankings), p_value float (NaN where the metric has none, and
    on those averaged random-floor rows), n_words int, length_bucket str, predicted int

``agreement_summary`` (one row per method pair x variant x metric x grouping)
    method_a, method_b, pair_kind, variant, metric, group_by ("all" | "predicted" |
    "length_bucket"), group str, n int, mean, mean_low, mean_high, median, median_low,
    median_high, share_significant float (share of instances with p < 0.05; NaN where
    the metric has no p-value)
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.provenance import settings_hash

log = logging.getLogger(__name__)

EXAMPLE_COLUMNS = ["example_id", "dataset", "split", "text", "words", "n_words", "label", "label_name", "gt_mask"]
PREDICTION_COLUMNS = [
    "example_id", "label", "predicted", "prob_predicted", "correct", "n_words", "n_words_kept", "truncated",
]
IMPORTANCE_COLUMNS = [
    "example_id", "method", "family", "signed", "word_index", "word", "score", "predicted", "label", "n_words",
]
DIAGNOSTIC_COLUMNS = [
    "example_id", "method", "seconds", "forward_passes", "completeness_gap", "n_steps", "converged",
]
AGREEMENT_COLUMNS = [
    "example_id", "method_a", "method_b", "family_a", "family_b", "pair_kind", "variant", "metric", "value",
    "p_value", "n_words", "length_bucket", "predicted",
]
SUMMARY_COLUMNS = [
    "method_a", "method_b", "pair_kind", "variant", "metric", "group_by", "group", "n", "mean", "mean_low",
    "mean_high", "median", "median_low", "median_high", "share_significant",
]

FAMILIES = ("attention", "gradient", "ablation", "random")
"""The method families, the values of the ``family`` column (each method declares one)."""

CAUSAL_FAMILIES = ("gradient", "ablation")
"""The families whose scores measure causal importance: the references and the ceiling of agreement."""


def require_columns(frame: pd.DataFrame, columns: list[str], *, table: str, path: str | os.PathLike = "") -> None:
    """Raise a clear error when ``frame`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        where = f" in {path}" if path else ""
        raise ValueError(
            f"table {table!r}{where} lacks columns {missing}; it has {list(frame.columns)}. "
            "It was probably written by an older version of the pipeline: delete it and rerun."
        )


def write_table(frame: pd.DataFrame, path: str | os.PathLike, *, index: bool | None = False) -> Path:
    """Write ``frame`` as parquet atomically (temporary file, then rename).

    An interrupted run never leaves a half-written table behind, so a rerun can trust
    every file it finds. ``index``: as :meth:`pandas.DataFrame.to_parquet` (default: not written).
    """
    return write_atomically(path, lambda tmp: frame.to_parquet(tmp, index=index))


def write_atomically(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path``: a kill
    while writing leaves the previous file (or none), never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


#: The provenance columns that repeat one long JSON string on every row: a reader that does not report
#: provenance can leave them out (on a per-run agreement table of 1.3 million rows they are three quarters of the
#: read time and most of its memory).
PROVENANCE_STRINGS = ("settings", "versions")


def read_table(path: str | os.PathLike, *, table: str, columns: list[str] | None = None,
               exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a parquet table (without the columns ``exclude`` names) and check it has the columns its contract
    names."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{table} table {path} does not exist; run the stage that writes it first")
    if exclude:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        frame = pd.read_parquet(path, columns=[name for name in names if name not in exclude])
    else:
        frame = pd.read_parquet(path)
    if columns:
        require_columns(frame, columns, table=table, path=path)
    return frame


class PartialResult:
    """Values of a long computation finished so far, on disk, for the rerun after an interruption.

    One ``.npz`` file with the values, a done mask and the ``fingerprint`` of what decides
    them; a file whose fingerprint differs (other inputs) is ignored. Written to a temporary
    file and renamed (:func:`write_atomically`), so a kill while saving leaves the previous save.
    """

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint

    def load(self, values: np.ndarray, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The saved values and done mask, or the given ones when nothing matching was saved."""
        if not self.path.exists():
            return values, done
        with np.load(self.path) as saved:
            if str(saved["fingerprint"]) != self.fingerprint or saved["values"].shape != values.shape:
                log.info("%s holds other inputs' values; starting afresh", self.path)
                return values, done
            values, done = saved["values"].copy(), saved["done"].copy()
        log.info("resuming from %s: %d of %d values already computed", self.path, int(done.sum()), len(done))
        return values, done

    def save(self, values: np.ndarray, done: np.ndarray) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, values=values, done=done, fingerprint=np.asarray(self.fingerprint))

        write_atomically(self.path, write)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class ResultCache:
    """The finished steps of one job on disk, so a rerun after an interruption (a killed job, a
    machine that went away, a method added to the config) redoes only the unfinished ones.

    A step's tables are ``<folder>/<step>-<key>.<table>.parquet``; ``key`` hashes the step's
    name (as ``kind``: "method", "test") with ``context`` and the step's own ``decides``:
    whatever decides its result (the model files, the examples, the settings that change
    scores, the seed), never batch sizes. The last table a step writes marks it finished, so
    a step killed while writing is redone, not half read.
    """

    def __init__(self, folder: str | Path, context: dict[str, Any], *, kind: str) -> None:
        self.folder = Path(folder)
        self.context = context
        self.kind = kind

    def _stem(self, step: str, decides: dict[str, Any]) -> str:
        slug = re.sub(r"[^a-z0-9]+", "_", step.lower()).strip("_")
        return f"{slug}-{settings_hash({self.kind: step, **decides, **self.context})}"

    def get(self, step: str, *, last: str, decides: dict[str, Any] | None = None) -> dict[str, pd.DataFrame] | None:
        """The tables of ``step``, by name, if it finished (its ``last`` table exists); else None."""
        stem = self._stem(step, decides or {})
        if not (self.folder / f"{stem}.{last}.parquet").exists():
            return None
        log.info("%s: reusing the finished result in %s", step, self.folder / f"{stem}.*.parquet")
        return {path.name[len(stem) + 1 : -len(".parquet")]: pd.read_parquet(path)
                for path in sorted(self.folder.glob(f"{stem}.*.parquet"))}

    def partial(self, step: str, *, decides: dict[str, Any] | None = None) -> Path:
        """Where ``step`` keeps its values finished so far (:class:`PartialResult`) until it is done."""
        return self.folder / f"{self._stem(step, decides or {})}.partial.npz"

    def put(self, step: str, tables: dict[str, pd.DataFrame], *, decides: dict[str, Any] | None = None) -> None:
        """Keep ``step``'s tables, in order: the last one marks it finished."""
        stem = self._stem(step, decides or {})
        for name, table in tables.items():
            write_table(table, self.folder / f"{stem}.{name}.parquet", index=None)
