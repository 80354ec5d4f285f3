"""Provenance: which data, model, seed, settings and library versions produced a table."""

from __future__ import annotations

import hashlib
import json
import platform
from functools import lru_cache
from importlib import metadata
from typing import Any

import pandas as pd

TRACKED_LIBRARIES = ("torch", "transformers", "captum", "datasets", "numpy", "scipy", "pandas", "snakemake")


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose behaviour shapes the numbers."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    from analysis import __version__

    versions["analysis"] = __version__
    return versions


def canonical_json(value: Any) -> str:
    """Deterministic JSON for hashing and for storing settings in a table cell."""
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def settings_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:12]


def provenance_columns(
    *, dataset: str, split: str, model: str, seed: int, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Constant columns appended to every output table."""
    return {
        "dataset": dataset,
        "split": split,
        "model": model,
        "seed": int(seed),
        "settings": canonical_json(settings or {}),
        "versions": canonical_json(library_versions()),
    }


def with_provenance(frame: pd.DataFrame, **provenance: Any) -> pd.DataFrame:
    """Return ``frame`` with the provenance columns added (or overwritten)."""
    cols = provenance_columns(**provenance)
    out = frame.copy()
    for key, value in cols.items():
        out[key] = value
    return out
