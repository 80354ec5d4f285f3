"""The one unit of Jensen-Shannon divergence in this project: nats (natural logarithm).

Jain & Wallace (2019) measure how far adversarial attention moves from the original with
JSD computed with natural logarithms, so its maximum (two distributions with disjoint
support) is ln 2 = 0.693; their "very different attention" threshold of 0.3 lives on that
scale. Every JSD here (agreement metric, adversarial search, zeroing and uniform tests)
uses the same unit, and every figure, table and claim that shows one says so.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

JSD_UNIT = "nats"
JSD_MAX = math.log(2.0)
"""The largest possible JSD in :data:`JSD_UNIT` (disjoint supports)."""


def jensen_shannon(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    """JSD(p, q) in nats along ``axis`` (``0 log 0 = 0``), clipped to ``[0, ln 2]`` against rounding."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    middle = 0.5 * (p + q)
    divergence = 0.5 * (special.rel_entr(p, middle).sum(axis=axis) + special.rel_entr(q, middle).sum(axis=axis))
    return np.clip(divergence, 0.0, JSD_MAX)
