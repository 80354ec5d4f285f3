"""What the stages share (as ``workflow/rules/common.smk`` for the rules): settings blocks, a job's device, gathering.

:class:`StageSettings` is the base of every stage's typed settings block;
:class:`DeviceSettings` adds where a stage that loads a model runs. ``reads`` on each
block declares the config keys it is built from (dotted paths; ``*`` stands for any
dataset, model or method name, or, alone, for the whole config): ``tests/test_settings.py``
checks that they exist in the schema, and that changing any config value changes exactly
the blocks that declare it.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from analysis.records import read_table, write_table
from analysis.stats.intervals import within_range


def plain(value: Any) -> Any:
    """``value`` with tuples turned into lists, recursively: what a rule's params hold and a script hands back."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


@dataclass(frozen=True)
class StageSettings:
    """Exactly the config values one stage reads (subclasses add the fields and ``from_config``).

    ``wildcards`` names the wildcards ``from_config`` takes (as keywords) where the block
    differs by dataset, model, figure or kind; ``reads`` the config keys it is built from.
    """

    wildcards: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls, config: dict[str, Any], **wildcards: str) -> StageSettings:
        raise NotImplementedError

    def as_params(self) -> dict[str, Any]:
        """The block as the rule's ``params: settings`` (plain values; ``cls(**params)`` rebuilds it)."""
        return plain(asdict(self))


DEVICE_FIELDS = ("device", "gpu_locks")


@dataclass(frozen=True)
class DeviceSettings(StageSettings):
    """The block of a stage that loads a model: the ``device`` setting and the GPU lock folder of the study.

    GPUs are shared out by lock files under ``results/<study>/.gpu_locks``
    (:func:`analysis.runtime.choose_device`).
    """

    device: str
    gpu_locks: str

    reads: ClassVar[tuple[str, ...]] = ("device", "results_dir", "study")

    @staticmethod
    def runtime(config: dict[str, Any]) -> dict[str, str]:
        """The two device fields of a config, for a subclass's ``from_config``."""
        from analysis.config import results_root
        from analysis.runtime import GPU_LOCK_FOLDER

        return {"device": str(config["device"]), "gpu_locks": str(results_root(config) / GPU_LOCK_FOLDER)}

    def torch_device(self):
        """The job's torch device (the GPU it takes, on a machine with several)."""
        from analysis.runtime import choose_device

        return choose_device(self.device, lock_dir=self.gpu_locks)

    def analysis_settings(self) -> dict[str, Any]:
        """The block without where it runs: what a stage records as its settings."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name not in DEVICE_FIELDS}


def gather_tables(paths: list[str], out: str, *, table: str, ranges: Mapping[str, tuple[float, float]] | None = None,
                  key: str = "metric") -> pd.DataFrame:
    """Concatenate per-run tables into one study table.

    ``ranges`` maps a value of column ``key`` (a metric or measure) to the range of its per-example values; the
    study table's intervals are intersected with it (:func:`analysis.stats.intervals.within_range`).
    """
    frame = concat_tables(paths, table)
    if ranges:
        frame = within_range(frame, ranges, key=key)
    write_table(frame, out)
    return frame


def concat_tables(paths: list[str], table: str) -> pd.DataFrame:
    """The tables at ``paths`` (of kind ``table``) in one frame; an empty frame for no paths."""
    frames = [read_table(p, table=table) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def folder_fingerprint(folder: str | Path) -> str:
    """A hash of the names and contents of a folder's files: changes when a model is retrained.

    Hidden files (Snakemake's ``.snakemake_timestamp``) are left out and times are not read, so
    touching or copying a model keeps the caches keyed by it; retraining changes its weights.
    """
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()
