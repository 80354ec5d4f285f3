"""The one seeding helper: every stage calls :func:`seed_everything` first."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and ask for deterministic kernels.

    With ``deterministic`` the same config gives the same numbers on CPU at the same thread count
    (another count sums floats in another order, so training can end on other weights; the tables'
    ``versions`` record it as ``torch_threads``); on GPU some kernels have no deterministic variant
    and PyTorch only warns about them.
    """
    import torch

    # Python reads PYTHONHASHSEED only at start-up: this fixes string hashing in subprocesses (DataLoader workers,
    # tokenizer pools), not here; no result of this package depends on the iteration order of a set of strings
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed derived from any values (e.g. a base seed and an example id).

    Python's ``hash`` is salted per process, so this uses a fixed digest instead.
    """
    import hashlib

    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def random_states() -> dict[str, object]:
    """The state of every global random generator :func:`seed_everything` seeds (Python, NumPy,
    PyTorch CPU and CUDA), to be put back by :func:`restore_random_states`: a run resumed from a
    checkpoint then draws what the uninterrupted run would have drawn."""
    import torch

    states: dict[str, object] = {"python": random.getstate(), "numpy": np.random.get_state(),
                                 "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, object]) -> None:
    """Put back the generators' states recorded by :func:`random_states`."""
    import torch

    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
