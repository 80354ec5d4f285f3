"""Read a dataset split from the Hugging Face hub or from a local mirror.

Both paths go through :func:`datasets.load_dataset`: the hub path with the spec's hub id,
config name and revision, the mirror path with the ``parquet`` builder on
``<data_dir>/<dataset>/<split>.parquet``. Rows come back in the mirror's columns. A
derived dataset (``base`` in its config entry) reads its base's folder and hub id. An
entry without ``label_names`` takes them from the label column's ClassLabel feature
(:func:`class_label_names`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path

import pandas as pd

from analysis.data.specs import DatasetEntryError, DatasetSpec

log = logging.getLogger(__name__)

_HTML_BREAK = re.compile(r"<br\s*/?>", flags=re.IGNORECASE)


class DataUnavailableError(RuntimeError):
    """The data could not be read; the message says why and how to fix it."""


#: ``data_dir: auto`` (the default) reads this local mirror, relative to the working directory (the mirror beside
#: the repository), when the folder exists, and the hub otherwise. Kept as written, not made absolute, so that
#: the data rules' params are the same as with ``data_dir: ../shared/data`` written out.
DEFAULT_MIRROR = "../shared/data"
AUTO = "auto"


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face hub cannot be reached from here (offline mode, no answer), or ``None``."""
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(variable, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return f"{variable}={os.environ[variable]}"
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # any answer, an error status too, means the hub is there
    except (OSError, ValueError) as error:
        return f"{endpoint} does not answer: {getattr(error, 'reason', error)}"
    return None


def choose_data_dir(data_dir: str | None, *, reads_data: bool = True) -> str | None:
    """The local mirror to read, or ``None`` for the hub: ``data_dir`` itself, or the choice ``auto`` stands for.

    ``auto``: :data:`DEFAULT_MIRROR` when that folder exists, else the hub. When neither is
    there (no mirror, and ``reads_data`` but the hub cannot be reached) this raises
    :class:`DataUnavailableError` with both ways to fix it. An explicit folder or ``None``
    is returned as given (a missing folder or an unreachable hub is reported where it is read).
    """
    if data_dir != AUTO:
        return data_dir
    if Path(DEFAULT_MIRROR).is_dir():
        return DEFAULT_MIRROR
    why = hub_unreachable() if reads_data else None
    if why:
        raise DataUnavailableError(
            f"data_dir: auto found no local mirror at {DEFAULT_MIRROR} (relative to {Path.cwd()}) and cannot reach "
            f"the Hugging Face hub ({why}). Either put a mirror there or set data_dir: PATH to one "
            f"(PATH/<dataset>/<split>.parquet), or read from the hub on a machine with network access, without "
            f"HF_HUB_OFFLINE (data_dir: null reads the hub, or its local cache when offline).")
    return None


def describe_data_source(data_dir: str | None) -> str:
    """One line for the log: where the study's datasets are read (after :func:`choose_data_dir`)."""
    if data_dir is not None:
        return f"datasets: read from the local mirror {data_dir}"
    missing = "" if Path(DEFAULT_MIRROR).is_dir() else f" (no local mirror at {DEFAULT_MIRROR})"
    return f"datasets: read from the Hugging Face hub{missing}"


def mirror_folder(spec: DatasetSpec, data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / spec.data_name


def mirror_path(spec: DatasetSpec, split: str, data_dir: str | os.PathLike) -> Path:
    return mirror_folder(spec, data_dir) / f"{split}.parquet"


def hub_source(spec: DatasetSpec) -> str:
    """The hub id with its config name and revision, for logs, errors and the data report."""
    config = f", config {spec.hub_config}" if spec.hub_config else ""
    revision = f"revision {spec.revision}" if spec.revision else "latest revision (not pinned)"
    return f"{spec.hub_id}{config}, {revision}"


def missing_mirror_message(spec: DatasetSpec, data_dir: str | os.PathLike) -> str:
    """The error for a local mirror without the dataset's folder: both ways to fix it."""
    hub = f"from the Hugging Face hub ({spec.hub_id})" if spec.hub_id else "from the Hugging Face hub"
    return (f"datasets.{spec.name}: data_dir {data_dir} has no folder {spec.data_name}/ for dataset "
            f"{spec.data_name!r}. Either add its splits there as <data_dir>/{spec.data_name}/<split>.parquet "
            f"({', '.join(f'{s}.parquet' for s in spec.splits)}) with the columns its entry names, or set "
            f"data_dir: null to read it {hub} on a machine that can reach it.")


def mirror_problem(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> str | None:
    """Why an existing ``data_dir`` cannot serve ``spec`` (no folder for it), or ``None``.

    Config validation calls this; a ``data_dir`` that does not exist (yet, or relative to
    another working directory) is left to the read, which says so.
    """
    if data_dir is None or spec.generator or not Path(data_dir).is_dir() or mirror_folder(spec, data_dir).is_dir():
        return None
    return missing_mirror_message(spec, data_dir)


def check_split(spec: DatasetSpec, split: str, *, data_dir: str | os.PathLike | None = None) -> None:
    """Fail early, naming the splits that exist, when ``split`` does not."""
    if data_dir is not None and not spec.generator:
        folder = mirror_folder(spec, data_dir)
        if not folder.is_dir():
            raise DataUnavailableError(missing_mirror_message(spec, data_dir))
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
    log.info("reading %s/%s from the Hugging Face hub (%s)", spec.name, split, hub_source(spec))
    try:
        table = datasets.load_dataset(spec.hub_id, spec.hub_config, revision=spec.revision, split=split)
    except Exception as error:  # the hub raises many types (HTTP, offline mode, missing cache)
        raise DataUnavailableError(
            f"could not load dataset {spec.name!r} ({hub_source(spec)}, split {split!r}) from the Hugging Face hub: "
            f"{type(error).__name__}: {error}. Without network access, point the pipeline at a local mirror: "
            f"`snakemake --config data_dir=PATH` (or data_dir: PATH in the config), where PATH holds "
            f"<dataset>/<split>.parquet files, e.g. ../shared/data."
        ) from error
    frame = table.to_pandas()
    return spec.hub_converter(frame) if spec.hub_converter else frame


def class_label_names(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The class names of the label column's ClassLabel feature, for an entry without ``label_names``.

    With ``data_dir``: the ``datasets`` features a mirror's parquet file keeps in its
    metadata (files written by ``Dataset.to_parquet`` keep them, files written by pandas
    do not: such a mirror needs ``label_names`` in its entry). Without: the hub's
    features (the dataset card's, else those of the streamed training split) at the
    entry's config name and revision, asked once per process. Raises
    :class:`DataUnavailableError` when neither can be read and
    :class:`~analysis.data.specs.DatasetEntryError` when the label column is missing or
    not a ClassLabel; both say how to fix it.
    """
    import datasets

    fix = (f"or list the class names in label-id order in the entry (datasets.{spec.name}.label_names: "
           f"[<name of 0>, <name of 1>, ...])")
    if data_dir is not None:
        folder = mirror_folder(spec, data_dir)
        if not folder.is_dir():
            raise DataUnavailableError(missing_mirror_message(spec, data_dir))
        files = [f for f in (folder / f"{s}.parquet" for s in (spec.train_split, *spec.splits)) if f.is_file()]
        files = files or sorted(folder.glob("*.parquet"))
        if not files:
            raise DataUnavailableError(f"datasets.{spec.name}: no <split>.parquet files in {folder}")
        import pyarrow.parquet as pq

        features, source = datasets.Features.from_arrow_schema(pq.read_schema(files[0])), f"the local mirror {files[0]}"
    else:
        try:
            features = _hub_features(spec.hub_id, spec.hub_config, spec.revision, spec.train_split)
        except Exception as error:  # the hub raises many types (HTTP, offline mode, missing cache)
            raise DataUnavailableError(
                f"datasets.{spec.name}: could not read the label names of {hub_source(spec)} from the Hugging Face "
                f"hub: {type(error).__name__}: {error}. Point data_dir at a local mirror that holds "
                f"{spec.data_name}/<split>.parquet, {fix}.") from error
        source = f"the hub's {hub_source(spec)}"
    if not features or spec.label_column not in features:
        raise DatasetEntryError(f"datasets.{spec.name}.label_column: {source} has no column {spec.label_column!r}; "
                                f"its columns: {list(features or [])}")
    feature = features[spec.label_column]
    if not isinstance(feature, datasets.ClassLabel):
        raise DatasetEntryError(f"datasets.{spec.name}.label_names is missing and column {spec.label_column!r} of "
                                f"{source} holds {feature}, not a ClassLabel with class names: make it one "
                                f"(Dataset.cast_column) {fix}")
    return tuple(feature.names)


@functools.cache
def _hub_features(hub_id: str, hub_config: str | None, revision: str | None, split: str):
    """The hub dataset's features: from its card when it lists them, else from the streamed split's files."""
    import datasets

    features = datasets.load_dataset_builder(hub_id, hub_config, revision=revision).info.features
    if features is None:
        features = datasets.load_dataset(hub_id, hub_config, revision=revision, split=split, streaming=True).features
    return features


def words_of(text: str) -> list[str]:
    """Whitespace words of a text, with HTML line breaks (IMDB's ``<br />``) removed.

    Words are the unit every importance method scores; subword scores are pooled to them.
    """
    return _HTML_BREAK.sub(" ", text).split()
