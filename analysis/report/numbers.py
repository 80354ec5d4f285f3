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


def _significant(value: float) -> int | None:
    """Decimals that give ``value`` two significant digits; None for zero, NaN or a negligible value."""
    if value is None or pd.isna(value) or value == 0 or abs(value) < NEGLIGIBLE:
        return None
    return 1 - math.floor(math.log10(abs(value)))


def _fixed(value: float, decimals: int, sign: str) -> str:
    """``value`` with ``decimals`` decimals; one that rounds to zero prints without a sign ('0.00', not '-0.00')."""
    if round(value, decimals) == 0:
        value = 0.0
    return f"{value:{sign}.{decimals}f}"


def fixed(value: float, decimals: int = 2) -> str:
    """``value`` with ``decimals`` decimals for running text ('0.00', never '-0.00'); unlike :func:`number`, a
    negligible value reads as the rounded zero it is at that precision."""
    return _fixed(float(value), decimals, "")


def number(value: float | None, digits: int = 3, *, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals; a non-zero value below :data:`NEGLIGIBLE` in scientific notation:
    ``number(2e-5)`` is '2.0e-05', never '0.000'."""
    if value is None or pd.isna(value):
        return "n/a"
    sign = "+" if signed else ""
    if value != 0 and abs(value) < NEGLIGIBLE:
        return f"{value:{sign}.1e}"
    return _fixed(value, digits, sign)


def interval(mean: float | None, low: float | None, high: float | None, digits: int = 3, *, signed: bool = False,
             percent: bool = False) -> str:
    """'mean [low, high]' ('85% [80%, 90%]' with ``percent``); bounds omitted when undefined, 'n/a' when the
    mean is.

    One notation and one number of decimals for the whole interval: at least ``digits``, more where a small mean
    needs them for two significant digits, but never more than two significant digits of the interval's
    half-width (a mean of 0.004 in [-0.035, 0.043] prints '0.004 [-0.035, 0.043]'); scientific notation only
    where every value is below :data:`NEGLIGIBLE` (a real but tiny effect stays readable).
    """
    if mean is None or pd.isna(mean):
        return "n/a"
    defined = all(v is not None and pd.notna(v) for v in (low, high))
    if percent:
        text = f"{100 * mean:.0f}%"
        return text + (f" [{100 * low:.0f}%, {100 * high:.0f}%]" if defined else "")
    sign = "+" if signed else ""
    values = [mean, low, high] if defined else [mean]
    if any(v != 0 for v in values) and all(abs(v) < NEGLIGIBLE for v in values):
        return " ".join([f"{mean:{sign}.1e}"] + ([f"[{low:{sign}.1e}, {high:{sign}.1e}]"] if defined else []))
    needed = [d for d in (_significant(mean), _significant((high - low) / 2) if defined else None) if d is not None]
    decimals = max(digits, min(needed)) if needed else digits
    text = _fixed(mean, decimals, sign)
    return text + (f" [{_fixed(low, decimals, sign)}, {_fixed(high, decimals, sign)}]" if defined else "")


def row_interval(row: pd.Series, digits: int = 3, *, percent: bool = False) -> str:
    """:func:`interval` of a summary row's ``mean``, ``mean_low`` and ``mean_high`` (the tidy summaries' columns)."""
    return interval(row["mean"], row["mean_low"], row["mean_high"], digits, percent=percent)
