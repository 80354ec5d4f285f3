"""Provenance: which data, model, seed, settings and library versions produced a table."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

TRACKED_LIBRARIES = ("torch", "transformers", "captum", "datasets", "numpy", "scipy", "pandas", "snakemake")
CODE_PATHS = ("analysis", "workflow", "Snakefile", "config", "pyproject.toml")
"""What can change a job's numbers: an uncommitted change elsewhere (a regenerated report, the README) does not
mark the jobs' code as changed."""


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose behaviour shapes the numbers, and the code's commit (``code``:
    the git commit of this package's checkout, "+ uncommitted changes" when tracked files differ, "unknown"
    outside a git checkout), so that a study whose jobs ran under several commits says which ran under which."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    from analysis import __version__

    versions["analysis"] = __version__
    versions["code"] = code_version(Path(__file__).resolve().parent.parent, paths=CODE_PATHS)
    return versions


def code_version(root: Path, *, ignore: tuple[str, ...] = (), paths: tuple[str, ...] = (".",)) -> str:
    """The git commit of ``root`` (with "+ uncommitted changes" when tracked files differ), or "unknown".

    Only tracked files under ``paths`` (relative to ``root``) count as changes; ``ignore`` lists paths
    left out of them: the folder being published is tracked and is rewritten by the very step that asks.
    """
    inside = []
    for path in ignore:  # git refuses a pathspec outside the repository: a folder elsewhere cannot dirty it
        resolved = (Path(root) / path).resolve()
        if resolved.is_relative_to(Path(root).resolve()):
            inside.append(resolved.relative_to(Path(root).resolve()).as_posix())
    excludes = [f":(exclude){path}" for path in inside]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *paths, *excludes],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} + uncommitted changes" if dirty else commit


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
        "versions": canonical_json({**library_versions(), **thread_count()}),
    }


def thread_count() -> dict[str, int]:
    """``{"torch_threads": n}`` where torch is loaded, else nothing: on a CPU the same config gives the
    same numbers only at the same thread count (it sets the order of float sums, so training's last bits)."""
    torch = sys.modules.get("torch")
    return {"torch_threads": int(torch.get_num_threads())} if torch is not None else {}


def with_provenance(frame: pd.DataFrame, **provenance: Any) -> pd.DataFrame:
    """Return ``frame`` with the provenance columns added (or overwritten)."""
    cols = provenance_columns(**provenance)
    out = frame.copy()
    for key, value in cols.items():
        out[key] = value
    return out
