"""The one formatter of the report's numbers: an estimate, or an estimate with its interval.

Every section writes "0.42 [0.38, 0.47]" through :func:`interval`, so a number reads the same
wherever it appears: ``digits`` decimals, more where a small value needs them for two significant
digits, a non-zero value below :data:`NEGLIGIBLE` in scientific notation (never "0.000"), a
percentage on request, "n/a" for an undefined estimate and no bounds where they are undefined.
"""

from __future__ import annotations

import math

import pandas as pd

NEGLIGIBLE = 1e-3
"""A value smaller than this in absolute value prints in scientific notation, and a difference whose whole
interval lies within it is "negligibly" larger or smaller: a real but tiny effect stays readable."""


def _decimals(value: float, digits: int) -> int:
    """``digits`` decimals, or more where ``value`` needs them for two significant digits (below 0.1)."""
    if pd.isna(value) or value == 0 or abs(value) < NEGLIGIBLE:
        return digits
    return max(digits, 1 - math.floor(math.log10(abs(value))))


def number(value: float | None, digits: int = 3, *, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals; a non-zero value below :data:`NEGLIGIBLE` in scientific notation:
    ``number(2e-5)`` is '2.0e-05', never '0.000'."""
    if value is None or pd.isna(value):
        return "n/a"
    sign = "+" if signed else ""
    if value != 0 and abs(value) < NEGLIGIBLE:
        return f"{value:{sign}.1e}"
    return f"{value:{sign}.{digits}f}"


def interval(mean: float | None, low: float | None, high: float | None, digits: int = 3, *, signed: bool = False,
             percent: bool = False) -> str:
    """'mean [low, high]' with the decimals the mean needs ('85% [80%, 90%]' with ``percent``); bounds omitted
    when undefined, 'n/a' when the mean is."""
    if mean is None or pd.isna(mean):
        return "n/a"
    defined = low is not None and pd.notna(low)
    if percent:
        text = f"{100 * mean:.0f}%"
        return text + (f" [{100 * low:.0f}%, {100 * high:.0f}%]" if defined else "")
    digits = _decimals(mean, digits)
    text = number(mean, digits, signed=signed)
    if not defined:
        return text
    return f"{text} [{number(low, digits, signed=signed)}, {number(high, digits, signed=signed)}]"
