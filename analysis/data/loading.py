"""Read a dataset split from the Hugging Face hub or from a local mirror.

Both paths go through :func:`datasets.load_dataset`: the hub path with the spec's hub id
and pinned revision, the mirror path with the ``parquet`` builder on
``<data_dir>/<dataset>/<split>.parquet``. Rows come back in the mirror's columns. A
derived dataset (``base`` in its config entry) reads its base's folder and hub id.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pandas as pd

from analysis.data.specs import DatasetSpec

log = logging.getLogger(__name__)

_HTML_BREAK = re.compile(r"<br\s*/?>", flags=re.IGNORECASE)


class DataUnavailableError(RuntimeError):
    """The data could not be read; the message says why and how to fix it."""


def mirror_folder(spec: DatasetSpec, data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / spec.data_name


def mirror_path(spec: DatasetSpec, split: str, data_dir: str | os.PathLike) -> Path:
    return mirror_folder(spec, data_dir) / f"{split}.parquet"


def check_split(spec: DatasetSpec, split: str, *, data_dir: str | os.PathLike | None = None) -> None:
    """Fail early, naming the splits that exist, when ``split`` does not."""
    if data_dir is not None and not spec.generator:
        folder = mirror_folder(spec, data_dir)
        if not folder.is_dir():
            raise DataUnavailableError(
                f"dataset {spec.data_name!r}: no folder {folder} in data_dir={data_dir}. A local mirror is laid out as "
                f"<data_dir>/<dataset>/<split>.parquet; point data_dir at such a folder or set data_dir: null to "
                f"use the Hugging Face hub."
            )
        present = sorted(p.stem for p in folder.glob("*.parquet"))
        if split not in present:
            raise DataUnavailableError(
                f"dataset {spec.name!r} has no split {split!r} in {folder}; splits there: {present}. "
                f"Set datasets.{spec.name}.train_split / eval_split in the config to one of them."
            )
    elif split not in spec.splits:
        raise DataUnavailableError(
            f"dataset {spec.name!r} has no split {split!r}; its splits are {list(spec.splits)}. "
            f"Set datasets.{spec.name}.train_split / eval_split in the config to one of them."
        )


def load_split(spec: DatasetSpec, split: str, *, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Rows of one split as a DataFrame in the mirror's columns.

    ``data_dir`` set: read the local mirror. Unset: read the hub (the code path users run
    on a networked machine); an unreachable hub raises :class:`DataUnavailableError` that
    says to set ``data_dir``.
    """
    import datasets

    check_split(spec, split, data_dir=data_dir)
    if data_dir is not None:
        path = mirror_path(spec, split, data_dir)
        log.info("reading %s/%s from local mirror %s", spec.name, split, path)
        table = datasets.load_dataset("parquet", data_files={split: str(path)}, split=split)
        return table.to_pandas()
    if spec.hub_id is None:
        raise DataUnavailableError(f"dataset {spec.name!r} has no hub id; it is generated, not loaded")
    log.info("reading %s/%s from the Hugging Face hub (%s, revision %s)", spec.name, split, spec.hub_id, spec.revision)
    try:
        table = datasets.load_dataset(spec.hub_id, spec.hub_config, revision=spec.revision, split=split)
    except Exception as error:  # the hub raises many types (HTTP, offline mode, missing cache)
        raise DataUnavailableError(
            f"could not load dataset {spec.name!r} ({spec.hub_id}, split {split!r}) from the Hugging Face hub: "
            f"{type(error).__name__}: {error}. Without network access, point the pipeline at a local mirror: "
            f"`snakemake --config data_dir=PATH` (or data_dir: PATH in the config), where PATH holds "
            f"<dataset>/<split>.parquet files, e.g. ../shared/data."
        ) from error
    frame = table.to_pandas()
    return spec.hub_converter(frame) if spec.hub_converter else frame


def words_of(text: str) -> list[str]:
    """Whitespace words of a text, with HTML line breaks (IMDB's ``<br />``) removed.

    Words are the unit every importance method scores; subword scores are pooled to them.
    """
    return _HTML_BREAK.sub(" ", text).split()
