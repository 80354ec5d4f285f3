"""The plotting kit every analysis's figures use: one width rule, compact grids, highlighted curves.

A figure is designed in inches at the size it is read, and stored at about 1.5x its display
width in pixels: :func:`new_figure` sets the resolution once (:func:`stored_dpi`), so a stage
that saves with ``figure.savefig(path)`` and :func:`save_figure` store the same pixels, and
the report embeds it at :func:`display_width` (sharp on high-density screens, small on disk).
Figures wider than :data:`MAX_DESIGN_WIDTH_IN` keep :data:`STORED_WIDTH_PX`: their text shrinks
on screen, so the functions here wrap panels instead of widening.

- :func:`dot_grid`: means with intervals as dots on a grid of small panels (rows, columns),
  categories on y, optional per-seed points; the compact alternative to a tall stack of panels.
- :func:`forest`: a :func:`dot_grid` with a reference band (a ceiling) and a reference line
  (a floor) per panel row.
- :func:`highlighted_lines`: a handful of curves in colour, the rest grey.
- Labels and colours come from the registries (:mod:`analysis.plots.style`): :func:`method_label`,
  :func:`method_palette`, :func:`metric_label` ... are re-exported here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis.plots.style import (
    RANDOM_COLOR,
    method_label,
    method_palette,
    method_rank,
    metric_label,
    metric_short_label,
    metric_title,
    sort_methods,
    style_context,
)

__all__ = [
    "DISPLAY_DPI",
    "DISPLAY_WIDTH_PX",
    "GREY",
    "MAX_DESIGN_WIDTH_IN",
    "NO_DATA_TEXT",
    "STORED_SCALE",
    "STORED_WIDTH_PX",
    "display_width",
    "dot_grid",
    "forest",
    "highlighted_lines",
    "method_label",
    "method_palette",
    "metric_label",
    "metric_short_label",
    "metric_title",
    "new_figure",
    "no_data_figure",
    "robust_limits",
    "save_figure",
    "sort_methods",
    "stored_dpi",
    "styled",
    "write_no_data",
]

DISPLAY_WIDTH_PX = 900
"""Width of the report's figure column: no figure is shown wider."""
DISPLAY_DPI = 90
"""Pixels per inch of a figure as shown (a 10-inch figure fills the column; 10 pt text is about 12 px)."""
STORED_SCALE = 1.5
"""Stored pixels per displayed pixel."""
STORED_WIDTH_PX = int(DISPLAY_WIDTH_PX * STORED_SCALE)
"""The widest stored figure (1350 px); wider files are downsampled when a report embeds or publishes them."""
MAX_DESIGN_WIDTH_IN = DISPLAY_WIDTH_PX / DISPLAY_DPI
"""Widest design width (inches) whose text keeps its size on screen."""
NO_DATA_TEXT = "no data"
"""Text shown (large, centred) by every figure built from an empty selection."""
GREY = "#c4c4c4"
"""Colour of the curves that are not highlighted."""

P = ParamSpec("P")


# ------------------------------------------------------------------------ the width rule
def stored_dpi(width_in: float) -> float:
    """Resolution that stores a ``width_in``-inch figure at 1.5x its display width (at most :data:`STORED_WIDTH_PX`)."""
    return min(DISPLAY_DPI * STORED_SCALE, STORED_WIDTH_PX / max(width_in, 0.1))


def display_width(stored_px: int) -> int:
    """Width (px) at which a report shows an image stored ``stored_px`` wide."""
    return int(min(DISPLAY_WIDTH_PX, round(stored_px / STORED_SCALE)))


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure on an Agg canvas (outside pyplot), at the resolution of the width rule."""
    figure = Figure(figsize=(width, height), layout="constrained", dpi=stored_dpi(width))
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Save ``figure`` as PNG at the width rule's resolution (tight bounding box); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=stored_dpi(figure.get_figwidth()), bbox_inches="tight", facecolor="white")
    return path


def styled(function: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the figure inside the house style (:func:`~analysis.plots.style.style_context`), leaving global state alone."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with style_context():
            return function(*args, **kwargs)

    return wrapper


def write_no_data(ax: Axes, detail: str) -> None:
    """Turn ``ax`` into a "no data" message with the reason underneath."""
    ax.set_axis_off()
    ax.text(0.5, 0.6, NO_DATA_TEXT, ha="center", va="center", fontsize=16, color="0.3", transform=ax.transAxes)
    if detail:
        ax.text(0.5, 0.3, detail, ha="center", va="center", fontsize=10, color="0.4", transform=ax.transAxes,
                wrap=True)


def no_data_figure(title: str, detail: str) -> Figure:
    """A small figure that says "no data" and why, instead of an exception."""
    with style_context():
        figure = new_figure(6.5, 2.6)
        write_no_data(figure.add_subplot(), detail)
        figure.suptitle(title)
    return figure


# ------------------------------------------------------------------------------- grids
def robust_limits(rows: pd.DataFrame, *, x: str = "mean", low: str = "mean_low", high: str = "mean_high",
                  bounds: tuple[float, float] = (-1.0, 1.0), include_zero: bool = True) -> tuple[float, float]:
    """Axis limits that show every mean and most intervals (5th to 95th percentile of their ends), within ``bounds``.

    An interval that runs far outside (a bootstrap on four examples) is cut at the axis, not allowed to squash the rest.
    """
    values = pd.to_numeric(rows[x], errors="coerce").dropna()
    lows = pd.to_numeric(rows[low], errors="coerce").dropna() if low in rows else values
    highs = pd.to_numeric(rows[high], errors="coerce").dropna() if high in rows else values
    if values.empty:
        return bounds
    lo = min(values.min(), lows.quantile(0.05) if len(lows) else values.min())
    hi = max(values.max(), highs.quantile(0.95) if len(highs) else values.max())
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.05 * max(hi - lo, 1e-6)
    return max(bounds[0], lo - pad), min(bounds[1], hi + pad)


def _levels(frame: pd.DataFrame, column: str | None, order: Sequence[Any] | None) -> list[Any]:
    if column is None:
        return [None]
    present = list(dict.fromkeys(frame[column]))
    if order is None:
        return sorted(present, key=str)
    return [v for v in order if v in set(present)] + sorted((v for v in present if v not in set(order)), key=str)


def _y_order(values: Iterable[str], order: Sequence[str] | None) -> list[str]:
    values = list(dict.fromkeys(values))
    if order is not None:
        known = [v for v in order if v in set(values)]
        return known + [v for v in values if v not in set(known)]
    return sorted(values, key=lambda v: (method_rank(v), str(v)))


TITLE_CHARS_PER_INCH = 13
"""Characters of a 9-point panel title that fit in an inch of panel width (about 0.075 in each)."""


def dot_grid(rows: pd.DataFrame, *, x: str = "mean", low: str | None = "mean_low", high: str | None = "mean_high",
             y: str = "method", col: str | None = None, row: str | None = None, hue: str | None = None,
             points: str | None = None, y_order: Sequence[str] | None = None,
             y_label: Callable[[str], str] = method_label, col_order: Sequence[Any] | None = None,
             row_order: Sequence[Any] | None = None, row_label: Callable[[Any], str] = str,
             col_label: Callable[[Any], str] = str, palette: Mapping[Any, str] | None = None,
             hue_label: Callable[[Any], str] = str, xlabel: str = "", title: str = "",
             xlim: tuple[float, float] | None = None, zero_line: bool = False, filled: str | None = None,
             band: pd.DataFrame | None = None, line: pd.DataFrame | None = None, band_label: str = "",
             line_label: str = "", panel_width: float = 2.1, category_height: float = 0.2,
             max_columns: int = 4, legend: bool = True, references_per_category: bool = False) -> Figure:
    """Means with intervals as dots, one small panel per ``row`` x ``col`` value, categories (``y``) on the y axis.

    Each panel row shows only the categories present in it (models with different methods
    keep short panels). With ``points`` (e.g. ``"seed"``) each value of that column is drawn
    as its own small dot with its interval, offset slightly, and the mean over them as a
    larger dot; otherwise each row of ``rows`` is one dot. ``hue`` colours (and offsets) a
    second grouping (e.g. removal mode); without it, categories take ``palette`` colours by
    their ``y`` value (method colours by default). ``filled`` names a boolean column: hollow
    dots where it is false. ``band`` (columns: the ``row``/``col`` keys present, ``low``,
    ``high``) shades a vertical band per panel (a ceiling); ``line`` (the keys and ``value``)
    draws a dashed vertical line (a floor); with ``references_per_category`` both tables also
    have the ``y`` column and each category gets its own, across its row. Columns wrap after
    ``max_columns`` panels; each row of panels lists only the categories of its panels, so
    columns with the same categories are best kept together (``col_order``).
    """
    col_values = _levels(rows, col, col_order)
    row_values = _levels(rows, row, row_order)
    wraps = math.ceil(len(col_values) / max_columns)
    n_cols = min(len(col_values), max_columns)
    # each row of panels lists the categories of its own panels: a block of RNN panels has no transformer rows
    categories = {}
    for block in range(wraps):
        shown = rows[rows[col].isin(col_values[block * max_columns:(block + 1) * max_columns])] if col else rows
        for r in row_values:
            categories[block, r] = _y_order(shown.loc[shown[row] == r, y] if row else shown[y], y_order)
    label_width = 0.3 + 0.065 * max((len(y_label(c)) for cs in categories.values() for c in cs), default=8)
    heights = [category_height * max(len(categories[block, r]), 1) + 0.32 for block in range(wraps)
               for r in row_values]
    width = min(label_width + panel_width * n_cols + 0.3, MAX_DESIGN_WIDTH_IN * 1.15)
    has_legend = legend and (hue is not None or points is not None or band is not None or line is not None)
    legend_height = 0.45 if has_legend else 0.0
    panels_height = sum(heights) + 0.55
    figure = new_figure(width, panels_height + legend_height + (0.25 if title else 0.0))
    # the legend gets its own strip under the panels: constrained layout would draw an "outside"
    # figure legend over the figure's x label
    panels, legend_strip = (figure.subfigures(2, 1, height_ratios=[panels_height, legend_height]) if has_legend
                            else (figure, None))
    axes = panels.subplots(len(row_values) * wraps, n_cols, squeeze=False, sharex=True,
                           gridspec_kw={"height_ratios": heights})
    hues = _levels(rows, hue, None) if hue else [None]
    hue_colors = dict(palette) if (palette and hue) else {h: c for h, c in zip(hues, ("0.15", "#0072B2", "#D55E00",
                                                                                          "#009E73", "#CC79A7"))}
    colors = dict(palette) if (palette and not hue) else method_palette(rows[y].unique()) if y == "method" else {}
    hue_offsets = dict(zip(hues, np.linspace(-0.18, 0.18, len(hues)) if len(hues) > 1 else [0.0]))
    for index, col_value in enumerate(col_values):
        block, column = divmod(index, max_columns)
        for r, row_value in enumerate(row_values):
            ax = axes[block * len(row_values) + r, column]
            part = rows
            if col is not None:
                part = part[part[col] == col_value]
            if row is not None:
                part = part[part[row] == row_value]
            cats = categories[block, row_value]
            position = {c: i for i, c in enumerate(cats)}
            keys = {k: v for k, v in ((col, col_value), (row, row_value)) if k is not None}
            by_row = {"y": y, "position": position} if references_per_category else {}
            _reference(ax, band, keys, kind="band", **by_row)
            _reference(ax, line, keys, kind="line", **by_row)
            if zero_line:
                ax.axvline(0.0, color="0.55", linewidth=0.8, zorder=1)
            for hue_value in hues:
                group = part if hue is None else part[part[hue] == hue_value]
                for category, values in group.groupby(y, sort=False):
                    if category not in position:
                        continue
                    y0 = position[category] + hue_offsets[hue_value]
                    color = hue_colors.get(hue_value) if hue else colors.get(category, "0.2")
                    _draw_dots(ax, values, y0, color, x=x, low=low, high=high, points=points, filled=filled)
            ax.set_yticks(range(len(cats)), [y_label(c) for c in cats] if column == 0 else [""] * len(cats),
                          fontsize=8.5)
            ax.set_ylim(len(cats) - 0.5, -0.5)
            ax.grid(axis="y", visible=False)
            ax.tick_params(axis="x", labelsize=8)
            if xlim is not None:
                ax.set_xlim(*xlim)
            # every panel names its own facet: with wrapped columns a title row or column far away is easy to misread
            title_parts = [label(value) for key, label, value in ((col, col_label, col_value), (row, row_label, row_value))
                           if key is not None]
            if title_parts:
                title_text = " · ".join(title_parts)
                if len(title_text) > TITLE_CHARS_PER_INCH * panel_width:  # would run into the next panel's
                    title_text = "\n".join(title_parts)
                ax.set_title(title_text, fontsize=9, loc="left")
    for index in range(len(col_values), wraps * n_cols):
        block, column = divmod(index, max_columns)
        for r in range(len(row_values)):
            axes[block * len(row_values) + r, column].set_axis_off()
    if xlabel and n_cols == 1:
        [ax for ax in axes[:, 0] if ax.axison][-1].set_xlabel(xlabel, fontsize=8.5)
    elif xlabel:
        panels.supxlabel(xlabel, fontsize=8.5)
    if has_legend:
        handles: list[Any] = []
        if hue:
            handles += [Line2D([], [], marker="o", linestyle="", color=hue_colors[h], label=hue_label(h)) for h in hues]
        if points:
            handles += [Line2D([], [], marker="o", linestyle="-", linewidth=0.8, markersize=3, color="0.35",
                               label=f"one {points} (95% interval)"),
                        Line2D([], [], marker="D", linestyle="", markersize=5, color="0.15",
                               label=f"mean over {points}s")]
        if band is not None:
            handles.append(Patch(color="#009E73", alpha=0.18, label=band_label or "reference band"))
        if line is not None:
            handles.append(Line2D([], [], color=RANDOM_COLOR, linestyle="--", label=line_label or "reference"))
        legend_strip.legend(handles=handles, loc="center", ncols=min(len(handles), 4), fontsize=8, frameon=False)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def _draw_dots(ax: Axes, values: pd.DataFrame, y0: float, color: str, *, x: str, low: str | None,
               high: str | None, points: str | None, filled: str | None) -> None:
    """One category's dot(s): per-``points`` dots with intervals and their mean, or one dot per row."""
    values = values[np.isfinite(pd.to_numeric(values[x], errors="coerce").to_numpy(dtype=float))]
    if values.empty:
        return
    solid = values[filled].astype(bool).to_numpy() if filled else np.ones(len(values), dtype=bool)
    if points is None or values[points].nunique() <= 1:
        offsets = np.zeros(len(values)) if points else np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 \
            else np.zeros(1)
        for (_, item), offset, full in zip(values.iterrows(), offsets, solid):
            if low and high and pd.notna(item[low]) and pd.notna(item[high]):
                ax.plot([item[low], item[high]], [y0 + offset] * 2, color=color, linewidth=1.6, solid_capstyle="butt",
                        zorder=2)
            ax.scatter([item[x]], [y0 + offset], s=26, color=color if full else "white", edgecolors=color,
                       linewidths=1.3, zorder=3)
        return
    ordered = values.sort_values(points)
    offsets = np.linspace(-0.16, 0.16, len(ordered))
    for (_, item), offset, full in zip(ordered.iterrows(), offsets, solid):
        if low and high and pd.notna(item[low]) and pd.notna(item[high]):
            ax.plot([item[low], item[high]], [y0 + offset] * 2, color=color, linewidth=0.8, alpha=0.7, zorder=2)
        ax.scatter([item[x]], [y0 + offset], s=9, color=color if full else "white", edgecolors=color,
                   linewidths=0.8, zorder=3)
    ax.scatter([ordered[x].astype(float).mean()], [y0], s=30, marker="D", color=color, edgecolors="white",
               linewidths=0.6, zorder=4)


def _reference(ax: Axes, table: pd.DataFrame | None, keys: Mapping[str, Any], *, kind: str, y: str = "",
               position: Mapping[Any, int] | None = None) -> None:
    """A shaded band (kind="band": columns low/high) or a dashed line (kind="line": column value) for this panel.

    With ``y`` and ``position`` (each category's row), each category of the panel gets its own band
    or line from the rows of ``table`` whose ``y`` column names it, across its row only; otherwise
    one spans the panel.
    """
    if table is None or table.empty:
        return
    part = table
    for column, value in keys.items():
        if column in part.columns:
            part = part[part[column] == value]
    if part.empty:
        return
    spans = ([(part[part[y] == category], (row - 0.42, row + 0.42)) for category, row in position.items()]
             if y and position is not None else [(part, None)])
    for rows, extent in spans:
        if kind == "band":
            lo = pd.to_numeric(rows["low"], errors="coerce").min()
            hi = pd.to_numeric(rows["high"], errors="coerce").max()
            if not (np.isfinite(lo) and np.isfinite(hi)):
                continue
            if extent is None:
                ax.axvspan(lo, hi, color="#009E73", alpha=0.18, linewidth=0, zorder=0)
            else:
                ax.fill_betweenx(extent, lo, hi, color="#009E73", alpha=0.18, linewidth=0, zorder=0)
        else:
            value = pd.to_numeric(rows["value"], errors="coerce").mean()
            if not np.isfinite(value):
                continue
            if extent is None:
                ax.axvline(value, color=RANDOM_COLOR, linestyle="--", linewidth=1.2, zorder=1)
            else:
                ax.plot([value, value], extent, color=RANDOM_COLOR, linestyle="--", linewidth=1.2, zorder=1)


def forest(rows: pd.DataFrame, *, ceiling: pd.DataFrame | None = None, floor: pd.DataFrame | None = None,
           ceiling_label: str = "ceiling (causal vs causal, 95% intervals over seeds)",
           floor_label: str = "random floor", **options: Any) -> Figure:
    """A forest plot: :func:`dot_grid` with seeds as points, a ceiling band and a floor line per panel."""
    options.setdefault("points", "seed" if "seed" in rows.columns else None)
    return dot_grid(rows, band=ceiling, line=floor, band_label=ceiling_label, line_label=floor_label, **options)


# ----------------------------------------------------------------------------- curves
def highlighted_lines(ax: Axes, curves: pd.DataFrame, *, x: str, y: str, group: str, highlight: Sequence[str],
                      palette: Mapping[str, str] | None = None, label: Callable[[str], str] = method_label,
                      low: str | None = None, high: str | None = None, marker: str | None = None) -> list[Line2D]:
    """Every ``group``'s curve: the ``highlight`` ones in colour (with bands from ``low``/``high``), the rest thin grey.

    Returns legend handles for the highlighted curves (grey ones get one "other" handle).
    """
    groups = list(dict.fromkeys(curves[group]))
    palette = dict(palette or method_palette(groups))
    shown = [g for g in highlight if g in set(groups)]
    for name in groups:
        if name in shown:
            continue
        line = curves[curves[group] == name].sort_values(x)
        ax.plot(line[x], line[y], color=GREY, linewidth=0.9, zorder=1)
    handles = []
    for name in shown:
        line = curves[curves[group] == name].sort_values(x)
        color = palette.get(name, "0.2")
        style = ":" if name == "random" else "-"
        ax.plot(line[x], line[y], color=color, linewidth=2.0, linestyle=style, marker=marker, markersize=3, zorder=3)
        if low and high and line[low].notna().any():
            ax.fill_between(line[x], line[low], line[high], color=color, alpha=0.15, linewidth=0, zorder=2)
        handles.append(Line2D([], [], color=color, linewidth=2.0, linestyle=style, label=label(name)))
    if len(groups) > len(shown):
        handles.append(Line2D([], [], color=GREY, linewidth=0.9, label="other methods"))
    return handles
