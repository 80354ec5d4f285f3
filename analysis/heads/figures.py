"""Layer x head heatmaps of attention-vs-causal agreement (pure functions returning a Figure).

Like :mod:`analysis.plots.figures`, whose helpers and house style they use, the
functions build a matplotlib Figure without pyplot and never save or show it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from analysis.heads.agreement import MEAN
from analysis.plots.figures import _new_figure, _no_data_figure, _styled
from analysis.plots.style import method_label, metric_kind, metric_label, metric_title, sort_methods
from analysis.records import require_columns

SPLIT_TITLES = {"selection": "selection split (heads are chosen here)",
                "explain": "explained examples (results are reported here)"}


def _grid(rows: pd.DataFrame, n_layers: int, n_heads: int) -> np.ndarray:
    """[layers, heads + 1] of means; the last column is each layer's head mean."""
    grid = np.full((n_layers, n_heads + 1), np.nan)
    for layer, head, mean in zip(rows["layer"], rows["head"], rows["mean"]):
        if layer < 0:
            continue
        grid[int(layer), n_heads if head == MEAN else int(head)] = mean
    return grid


def _color_scale(metric: str, values: np.ndarray) -> tuple[str, Normalize]:
    finite = values[np.isfinite(values)]
    if metric_kind(metric) == "correlation":
        limit = max(0.05, float(np.abs(finite).max()) if finite.size else 1.0)
        return "RdBu_r", Normalize(-limit, limit)
    if metric_kind(metric) == "overlap":
        return "mako_r", Normalize(0.0, max(0.05, float(finite.max()) if finite.size else 1.0))
    return "mako", Normalize(0.0, max(0.05, float(finite.max()) if finite.size else 1.0))


def _box(ax: Axes, layer: int, head: int, n_heads: int, *, style: str) -> None:
    column = n_heads if head == MEAN else head
    x = column + (0.35 if head == MEAN else 0.0)
    ax.add_patch(Rectangle((x - 0.5, layer - 0.5), 1, 1, fill=False, linewidth=2.2, edgecolor="black",
                           linestyle=style, zorder=4))


def _panel(ax: Axes, grid: np.ndarray, cmap: str, norm: Normalize, n_heads: int) -> None:
    """Heads as columns, layers as rows (layer 1 at the top), the head-mean column set apart."""
    n_layers = grid.shape[0]
    ax.imshow(grid[:, :n_heads], cmap=cmap, norm=norm, aspect="auto",
              extent=(-0.5, n_heads - 0.5, n_layers - 0.5, -0.5))
    ax.imshow(grid[:, n_heads:], cmap=cmap, norm=norm, aspect="auto",
              extent=(n_heads - 0.15, n_heads + 0.85, n_layers - 0.5, -0.5))
    for layer in range(n_layers):
        for column in range(n_heads + 1):
            value = grid[layer, column]
            if np.isfinite(value):
                x = column + (0.35 if column == n_heads else 0.0)
                shade = cmap_luminance(cmap, norm, value)
                ax.text(x, layer, f"{value:.2f}", ha="center", va="center", fontsize=6.5,
                        color="white" if shade < 0.45 else "black")
    ax.set_xlim(-0.5, n_heads + 0.85)
    ax.set_ylim(n_layers - 0.5, -0.5)
    ax.set_xticks([*range(n_heads), n_heads + 0.35], [*(str(h + 1) for h in range(n_heads)), "mean"], fontsize=8)
    ax.set_yticks(range(n_layers), [str(layer + 1) for layer in range(n_layers)], fontsize=8)
    ax.grid(False)
    ax.tick_params(length=0)


def cmap_luminance(cmap: str, norm: Normalize, value: float) -> float:
    """Perceived brightness (0 dark - 1 light) of ``value``'s colour, to pick a readable text colour."""
    import matplotlib as mpl

    red, green, blue, _ = mpl.colormaps[cmap](norm(value))
    return 0.299 * red + 0.587 * green + 0.114 * blue


@_styled
def head_heatmaps(summary: pd.DataFrame, selection: pd.DataFrame, *, metric: str = "kendall_tau",
                  title: str = "") -> Figure:
    """Agreement of every layer's and head's [CLS] attention with each causal method.

    Caption: is there a layer or head whose attention tracks causal importance? Each
    cell is the mean per-instance agreement (e.g. Kendall τ of |scores|) between one
    head's [CLS] attention row and a causal method; the "mean" column is the layer's
    head mean (layer 6's is the usual last-layer attention). Red cells agree, blue
    cells disagree, white is chance. Solid boxes mark the head (and layer) chosen on
    the selection split (left panel of each row), which is reported on the explained
    examples (right panel); dashed boxes mark the post-hoc best on the explained examples, whose
    number is optimistic because it was picked on the data that reports it. A grid
    that looks different between the two splits means single-head rankings are
    noise at this sample size.

    Computed from the heads summary (``analysis.heads.summarize_heads``, one table per
    split, column ``subset``: "selection" or "explain") and the selection table (``analysis.heads.select_units``).
    """
    heading = title or "Per-head [CLS] attention vs causal importance"
    if summary is None or summary.empty:
        return _no_data_figure(heading, "the heads summary table is empty")
    require_columns(summary, ["subset", "method_b", "metric", "layer", "head", "mean", "n"], table="heads_summary")
    rows = summary[(summary["metric"] == metric) & summary["layer"].notna()]
    if rows.empty:
        return _no_data_figure(heading, f"no per-head rows for metric {metric!r}")
    methods = sort_methods(rows["method_b"].unique())
    splits = [s for s in ("selection", "explain") if s in set(rows["subset"])]
    n_layers = int(rows["layer"].max()) + 1
    n_heads = int(rows["head"].max()) + 1
    grids = {(m, s): _grid(rows[(rows["method_b"] == m) & (rows["subset"] == s)], n_layers, n_heads)
             for m in methods for s in splits}
    cmap, norm = _color_scale(metric, np.concatenate([g.ravel() for g in grids.values()]))

    panel_width = 1.2 + 0.42 * (n_heads + 1)
    panel_height = 0.75 + 0.32 * n_layers
    figure = _new_figure(panel_width * len(splits) + 1.2, panel_height * len(methods) + 1.3)
    axes = figure.subplots(len(methods), len(splits), squeeze=False)
    picks = selection[selection["metric"] == metric] if selection is not None and len(selection) else None
    for r, method in enumerate(methods):
        for c, split in enumerate(splits):
            ax = axes[r, c]
            _panel(ax, grids[(method, split)], cmap, norm, n_heads)
            n = rows[(rows["method_b"] == method) & (rows["subset"] == split)]["n"].max()
            ax.set_title(f"vs {method_label(method)}: {SPLIT_TITLES[split]}, n={int(n)}", fontsize=9)
            if c == 0:
                ax.set_ylabel("layer")
            if r == len(methods) - 1:
                ax.set_xlabel("head")
            if picks is None:
                continue
            for pick in picks[picks["method_b"] == method].itertuples():
                if pick.choice == "held_out":
                    _box(ax, pick.layer, pick.head, n_heads, style="solid")
                elif split == "explain":
                    _box(ax, pick.layer, pick.head, n_heads, style="dashed")
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.6,
                    label=metric_label(metric).replace(" (", "\n("))
    handles = [Line2D([], [], color="black", linewidth=2, label="chosen on the selection split (held out)"),
               Line2D([], [], color="black", linewidth=2, linestyle="--", label="best on the explained examples (post hoc)")]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9)
    figure.suptitle(f"{heading}: {metric_title(metric)} of |scores|")
    return figure
