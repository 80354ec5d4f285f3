"""Layer x head heatmaps and per-layer curves of attention-vs-causal agreement (pure functions returning a Figure).

They use the plotting kit (:mod:`analysis.plots.kit`: the width rule, the house style, labels and
colours from the registries) and build a matplotlib Figure without pyplot, never saving or showing it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from analysis.heads.agreement import MEAN
from analysis.heads.layers import LAYER_METHODS
from analysis.plots.kit import MAX_DESIGN_WIDTH_IN, method_palette, new_figure, no_data_figure, styled
from analysis.plots.style import method_label, metric_kind, metric_label, metric_title, sort_methods
from analysis.records import require_columns

NUMBERS_UP_TO_HEADS = 8
"""Cells carry their value only up to this many heads; wider grids are read by colour (the picks are in a table)."""
WHOLE_MODEL_METHODS = ("attention_all_mean", "attention_rollout", "attention_flow", "attention_norm_all",
                       "value_zeroing", "attention_x_gradient", "alti")
"""Attention-derived methods computed from every layer: horizontal lines beside the per-layer curve."""

LAYER_LABELS = {"attention_norm_last": "Attention norm ‖αf(x)‖ of each layer"}
"""Legend labels of the layer-by-layer curves whose method's own label names one layer (else: "..., through each
layer")."""

SPLIT_TITLES = {"selection": "selection split (picks)", "explain": "explained examples (reported)"}


def _grid(rows: pd.DataFrame, n_layers: int, n_heads: int) -> np.ndarray:
    """[layers, heads + 1] of means; the last column is each layer's head mean."""
    grid = np.full((n_layers, n_heads + 1), np.nan)
    for layer, head, mean in zip(rows["layer"], rows["head"], rows["mean"]):
        if layer < 0 or (head < 0 and head != MEAN):  # all-layer mean; whole-model methods by layer
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
    """Heads as columns, layers as rows (layer 1 at the top), the head-mean column set apart; values written in
    the cells up to :data:`NUMBERS_UP_TO_HEADS` heads."""
    n_layers = grid.shape[0]
    ax.imshow(grid[:, :n_heads], cmap=cmap, norm=norm, aspect="auto",
              extent=(-0.5, n_heads - 0.5, n_layers - 0.5, -0.5))
    ax.imshow(grid[:, n_heads:], cmap=cmap, norm=norm, aspect="auto",
              extent=(n_heads - 0.15, n_heads + 0.85, n_layers - 0.5, -0.5))
    for layer in range(n_layers if n_heads <= NUMBERS_UP_TO_HEADS else 0):
        for column in range(n_heads + 1):
            value = grid[layer, column]
            if np.isfinite(value):
                x = column + (0.35 if column == n_heads else 0.0)
                shade = cmap_luminance(cmap, norm, value)
                ax.text(x, layer, f"{value:.2f}", ha="center", va="center", fontsize=7.5,
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


@styled
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
        return no_data_figure(heading, "the heads summary table is empty")
    require_columns(summary, ["subset", "method_b", "metric", "layer", "head", "mean", "n"], table="heads_summary")
    rows = summary[(summary["metric"] == metric) & summary["layer"].notna()]
    if rows.empty:
        return no_data_figure(heading, f"no per-head rows for metric {metric!r}")
    methods = sort_methods(rows["method_b"].unique())
    splits = [s for s in ("selection", "explain") if s in set(rows["subset"])]
    n_layers = int(rows["layer"].max()) + 1
    n_heads = int(rows["head"].max()) + 1
    grids = {(m, s): _grid(rows[(rows["method_b"] == m) & (rows["subset"] == s)], n_layers, n_heads)
             for m in methods for s in splits}
    cmap, norm = _color_scale(metric, np.concatenate([g.ravel() for g in grids.values()]))

    cell = 0.42 if n_heads <= NUMBERS_UP_TO_HEADS else 0.26
    panel_width = 0.9 + cell * (n_heads + 1)
    panel_height = 0.75 + 0.26 * n_layers
    figure = new_figure(min(panel_width * len(splits) + 1.2, MAX_DESIGN_WIDTH_IN), panel_height * len(methods) + 1.3)
    axes = figure.subplots(len(methods), len(splits), squeeze=False)
    picks = selection[selection["metric"] == metric] if selection is not None and len(selection) else None
    for r, method in enumerate(methods):
        for c, split in enumerate(splits):
            ax = axes[r, c]
            _panel(ax, grids[(method, split)], cmap, norm, n_heads)
            n = rows[(rows["method_b"] == method) & (rows["subset"] == split)]["n"].max()
            ax.set_title(f"vs {method_label(method)}: {SPLIT_TITLES[split]}, n={int(n)}", fontsize=8.5)
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


def _layer_rows(heads: pd.DataFrame, method: str, metric: str, head: int = MEAN) -> pd.DataFrame:
    rows = heads[(heads["metric"] == metric) & (heads["method_b"] == method) & (heads["head"] == head)
                 & (heads["layer"] >= 0)]
    if "subset" in rows:
        rows = rows[rows["subset"] == "explain"]
    if "group_by" in rows:
        rows = rows[rows["group_by"] == "all"]
    return rows.assign(layer=rows["layer"].astype(int) + 1)


@styled
def layer_agreement_curves(heads: pd.DataFrame, summary: pd.DataFrame, *, reference: str,
                           metric: str = "kendall_tau", ceilings: dict[tuple[str, str, int], str] | None = None
                           ) -> Figure:
    """How does each layer's attention agree with causal importance, raw and combined through the layers?

    Caption: as Abnar & Zuidema (2020) plot it, layer by layer: the black curve is the mean
    agreement (per-example ``metric`` of |scores| with ``reference``) of each layer's raw [CLS]
    attention averaged over heads (thin grey curves: single seeds; band: their 95% intervals);
    coloured curves are rollout and flow computed through that layer and the attention norm of
    that layer (:mod:`analysis.heads.layers`), each ending at its whole-model value. Dashed
    horizontal lines are the whole-model methods without a layer-by-layer version (value zeroing,
    attention x gradient, ALTI), the green band the ceiling (another causal method against the
    reference) where known. One panel per dataset and transformer.

    Computed from the heads summary (per-layer units on the explained examples) and the study's
    ``agreement_summary`` (whole-model methods, ``group_by == "all"``, |scores|).
    """
    title = f"Layer by layer: [CLS] attention vs {method_label(reference)}"
    if heads is None or heads.empty:
        return no_data_figure(title, "the heads summary table is empty")
    require_columns(heads, ["dataset", "model", "seed", "method_b", "metric", "layer", "head", "mean"],
                    table="heads_summary")
    method = reference if reference in set(heads["method_b"]) else sorted(heads["method_b"].unique())[0]
    layers = _layer_rows(heads, method, metric)
    if layers.empty:
        return no_data_figure(title, f"no per-layer rows for {method!r} and metric {metric!r}")
    panels = sorted({(str(d), str(m)) for d, m in zip(layers["dataset"], layers["model"])})
    whole = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")
                    & (((summary["method_a"] == method) & summary["method_b"].isin(WHOLE_MODEL_METHODS))
                       | ((summary["method_b"] == method) & summary["method_a"].isin(WHOLE_MODEL_METHODS)))]
    whole = whole.assign(attention=np.where(whole["method_a"] == method, whole["method_b"], whole["method_a"]))
    by_code = {code: _layer_rows(heads, method, metric, head=code) for code in LAYER_METHODS}
    curved = {code: name for code, name in LAYER_METHODS.items() if not by_code[code].empty}
    palette = method_palette([*whole["attention"].unique(), *curved.values()])
    n_cols = min(len(panels), 3)
    n_rows = int(np.ceil(len(panels) / n_cols))
    figure = new_figure(min(3.2 * n_cols + 2.6, MAX_DESIGN_WIDTH_IN), 2.7 * n_rows + 0.8)
    axes = figure.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
    for ax, (dataset, model) in zip(axes, panels):
        part = layers[(layers["dataset"] == dataset) & (layers["model"] == model)]
        for _, seed_rows in part.groupby("seed"):
            seed_rows = seed_rows.sort_values("layer")
            ax.plot(seed_rows["layer"], seed_rows["mean"], color="0.7", linewidth=0.8)
        by_layer = part.groupby("layer").agg(mean=("mean", "mean"), low=("mean_low", "min"), high=("mean_high", "max"))
        ax.fill_between(by_layer.index, by_layer["low"], by_layer["high"], color="0.5", alpha=0.15, linewidth=0)
        ax.plot(by_layer.index, by_layer["mean"], color="black", marker="o", markersize=3.5, linewidth=1.8)
        for code, name in curved.items():
            rows = by_code[code]
            by_layer_method = (rows[(rows["dataset"] == dataset) & (rows["model"] == model)]
                               .groupby("layer")["mean"].mean())
            ax.plot(by_layer_method.index, by_layer_method.to_numpy(), color=palette[name], marker="s",
                    markersize=3, linewidth=1.5)
        runs = whole[(whole["dataset"] == dataset) & (whole["model"] == model) & ~whole["attention"].isin(
            set(curved.values()))]
        for attention, rows in runs.groupby("attention"):
            ax.axhline(rows["mean"].mean(), color=palette[attention], linestyle="--", linewidth=1.2)
        if ceilings:
            ceiling = summary[(summary["dataset"] == dataset) & (summary["model"] == model)
                              & (summary["metric"] == metric) & (summary["variant"] == "abs")
                              & (summary["group_by"] == "all")
                              & np.array([ceilings.get((dataset, model, int(s))) in (a, b) and method in (a, b)
                                          for s, a, b in zip(summary["seed"], summary["method_a"],
                                                             summary["method_b"])], dtype=bool)]
            if len(ceiling):
                ax.axhspan(ceiling["mean_low"].min(), ceiling["mean_high"].max(), color="#009E73", alpha=0.15,
                           linewidth=0)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_xticks(by_layer.index)
        ax.set_xlabel("layer")
        ax.set_title(f"{dataset} / {model}", fontsize=10, loc="left")
    for ax in axes[len(panels):]:
        figure.delaxes(ax)
    axes[0].set_ylabel(f"mean {metric_title(metric)}")
    handles = [Line2D([], [], color="black", marker="o", markersize=3.5, label="one layer's heads (mean over seeds)"),
               Line2D([], [], color="0.7", label="single seeds")]
    handles += [Line2D([], [], color=palette[name], marker="s", markersize=3, label=LAYER_LABELS.get(
                    name, f"{method_label(name)}, through each layer")) for name in sort_methods(curved.values())]
    handles += [Line2D([], [], color=palette[m], linestyle="--", label=method_label(m))
                for m in sort_methods(set(whole["attention"].unique()) - set(curved.values()))]
    if ceilings:
        handles.append(Patch(color="#009E73", alpha=0.15, label="ceiling: causal vs causal (95% intervals)"))
    figure.legend(handles=handles, loc="outside right center", fontsize=8)
    figure.suptitle(f"{title}: {metric_title(metric)} of |scores|", fontsize=11)
    return figure
