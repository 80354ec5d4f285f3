"""Where a job runs: its torch device (which GPU, on a machine with several) and its CPU threads.

The ``device`` setting (config key ``device``; ``--device`` of ``attention-study explain``
and of the benchmarks):

- ``cpu``: the CPU, also where a GPU is visible;
- ``cuda:N``: GPU ``N`` of the visible ones, an error when there is no such GPU;
- ``cuda``: a GPU chosen as below, an error when none is visible;
- ``auto``: a GPU chosen as below when one is visible, else the CPU.

Which GPU (``auto`` and ``cuda``). Rules that use a GPU declare ``resources: gpu=1``;
Snakemake counts these against ``--resources gpu=N`` but hands a local job no GPU index,
so the job picks one itself:

1. ``CUDA_VISIBLE_DEVICES`` names one device: a scheduler assigned it (SLURM sets it per
   job from ``--gpus``/``--gres``), and it is ``cuda:0`` inside the job.
2. Otherwise, given a lock folder (the stages pass ``results/<study>/.gpu_locks``, see
   :func:`device_for`), the job takes the first free visible GPU: it holds an exclusive
   ``flock`` on ``<host>-gpu<id>-slot0.lock`` until the process ends (the kernel drops the
   lock also when the job is killed, so no stale lock survives a crash). ``<id>`` is the
   GPU's entry in ``CUDA_VISIBLE_DEVICES`` (its index when that is unset), so jobs on other
   hosts of a shared results folder, or with other visible GPUs, never block each other.
   When every GPU is taken, the job shares one rather than wait: it takes the first free
   ``slot1`` lock, then ``slot2``, so shared GPUs fill evenly and the log says so. One job
   per GPU is what Snakemake's ``--resources gpu=N`` (N GPUs) guarantees; the locks only
   spread the jobs over the GPUs.
3. Otherwise (no lock folder: :mod:`analysis.api`, the benchmarks) ``cuda:0``.

The chosen GPU is logged and becomes torch's current device, so calls that default to
the current device (``torch.cuda.empty_cache``) act on the job's GPU.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

DEVICE_SETTINGS = ("auto", "cpu", "cuda", "cuda:N")
GPU_LOCK_FOLDER = ".gpu_locks"
"""Folder of the GPU lock files, under the study's results folder."""


@dataclass
class GpuClaim:
    """A GPU this process holds: its index among the visible GPUs and the open, locked file."""

    index: int
    device_id: str
    slot: int
    path: Path
    handle: IO[str]


_CLAIMS: dict[Path, GpuClaim] = {}  # lock folder -> this process's claim (kept open until exit)


def visible_devices() -> list[str] | None:
    """The entries of ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs), None when it is unset."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def claim_gpu(lock_dir: str | os.PathLike, device_ids: list[str]) -> int:
    """Index (into ``device_ids``) of the first free GPU, locked for this process until it exits.

    Tries slot 0 of every GPU in order, then slot 1 of every GPU, and so on (see the module
    docstring); never waits. A second call with the same folder returns the same GPU.
    """
    if not device_ids:
        raise ValueError("claim_gpu needs at least one visible GPU")
    folder = Path(lock_dir).resolve()
    if folder in _CLAIMS:
        return _CLAIMS[folder].index
    folder.mkdir(parents=True, exist_ok=True)
    host = _file_safe(socket.gethostname())
    for slot in itertools.count():
        for index, device_id in enumerate(device_ids):
            path = folder / f"{host}-gpu{_file_safe(device_id)}-slot{slot}.lock"
            handle = open(path, "a+")  # held open on purpose: closing it would release the lock
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")  # who holds it, for a reader of the folder
            handle.flush()
            _CLAIMS[folder] = GpuClaim(index, device_id, slot, path, handle)
            if slot:
                log.warning("all %d visible GPUs are taken by other jobs: sharing GPU %d (CUDA id %s) with %d of "
                            "them; give Snakemake --resources gpu=%d to run one job per GPU", len(device_ids), index,
                            device_id, slot, len(device_ids))
            return index
    raise AssertionError("unreachable: itertools.count() does not end")


def release_gpu_claims() -> None:
    """Give back every GPU this process holds (done anyway when the process ends)."""
    for claim in _CLAIMS.values():
        claim.handle.close()
    _CLAIMS.clear()


def choose_device(setting: str = "auto", *, lock_dir: str | os.PathLike | None = None):
    """The torch device for ``setting`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``; see the module docstring).

    ``lock_dir``: the folder of the GPU lock files; with it, jobs on a machine with several
    GPUs take different ones. ``cuda`` or ``cuda:N`` without such a GPU is an error.
    """
    import torch

    setting = str(setting)
    explicit = re.fullmatch(r"cuda:(\d+)", setting)
    if setting not in ("auto", "cpu", "cuda") and explicit is None:
        raise ValueError(f"device {setting!r} is not one of {', '.join(DEVICE_SETTINGS)} (N a GPU index)")
    if setting == "cpu":
        return torch.device("cpu")
    n_visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = visible_devices()
    if n_visible == 0:
        if setting == "auto":
            return torch.device("cpu")
        shown = "unset" if visible is None else repr(",".join(visible))
        raise RuntimeError(f"device: {setting} was asked for but no CUDA device is visible (CUDA_VISIBLE_DEVICES "
                           f"{shown}); set device: auto or cpu")
    if explicit is not None:
        index = int(explicit.group(1))
        if index >= n_visible:
            raise RuntimeError(f"device: {setting} was asked for but {n_visible} CUDA device(s) are visible "
                               f"(cuda:0 to cuda:{n_visible - 1}); set device: auto, cuda or a visible index")
        how = f"as the setting device: {setting} asks"
    elif visible is not None and len(visible) == 1:
        index, how = 0, f"the one CUDA_VISIBLE_DEVICES names ({visible[0]}, assigned by the scheduler)"
    elif lock_dir is not None:
        ids = visible[:n_visible] if visible else [str(i) for i in range(n_visible)]
        index = claim_gpu(lock_dir, ids)
        claim = _CLAIMS[Path(lock_dir).resolve()]
        how = f"the first free of {n_visible} (CUDA id {claim.device_id}, lock {claim.path})"
    else:
        index, how = 0, f"the first of {n_visible} visible"
    torch.cuda.set_device(index)
    log.info("running on GPU cuda:%d, %s", index, how)
    return torch.device("cuda", index)


def device_for(config: dict[str, Any]):
    """The device of one of the study's jobs: ``config["device"]``, GPUs shared out by lock files
    in ``results/<study>/.gpu_locks`` (see the module docstring)."""
    from analysis.config import results_root

    return choose_device(config["device"], lock_dir=results_root(config) / GPU_LOCK_FOLDER)


def set_threads(threads: int | None) -> None:
    """Torch's CPU threads: the rule's ``threads`` (None or 0 keeps torch's default)."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))
