"""Figures of the causal tests: pure functions from a tidy table to a matplotlib Figure.

Each takes the concatenated per-run tables of one dataset (provenance columns ``model``
and ``seed`` identify the run), draws one panel per run, and returns the figure without
saving or showing it; the house style (:mod:`analysis.plots.style`) is applied inside a
context, and figures are built without pyplot. An empty table gives a "no data" figure.
The first line of each docstring is the figure's caption.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.plots.figures import NO_DATA_TEXT
from analysis.plots.style import method_label, method_palette, sort_methods, style_context
from analysis.stats.divergence import JSD_UNIT

MAX_COLUMNS = 5
REMOVAL_MARKERS = {"delete": "o", "mask": "s"}
CLASS_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")


def _runs(table: pd.DataFrame) -> list[tuple[str, int]]:
    return sorted({(str(m), int(s)) for m, s in zip(table["model"], table["seed"])})


def _run_title(model: str, seed: int, n_seeds: int) -> str:
    return model if n_seeds == 1 else f"{model} (seed {seed})"


def _grid(n_panels: int, *, rows_per_panel: int = 1, width: float = 3.2, height: float = 2.8,
          sharey: bool = False) -> tuple[Figure, list[list[Axes]]]:
    """A figure with one column block per panel (wrapped at :data:`MAX_COLUMNS`)."""
    columns = min(MAX_COLUMNS, max(1, n_panels))
    blocks = math.ceil(max(1, n_panels) / columns)
    figure = Figure(figsize=(width * columns, height * rows_per_panel * blocks), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows_per_panel * blocks, columns, squeeze=False, sharey=sharey)
    panels = []
    for index in range(columns * blocks):
        block, column = divmod(index, columns)
        cells = [axes[block * rows_per_panel + r][column] for r in range(rows_per_panel)]
        if index >= n_panels:
            for cell in cells:
                cell.set_axis_off()
        else:
            panels.append(cells)
    return figure, panels


def _no_data(title: str, detail: str) -> Figure:
    figure = Figure(figsize=(6.5, 2.6), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.6, NO_DATA_TEXT, ha="center", va="center", fontsize=16, color="0.3", transform=ax.transAxes)
    ax.text(0.5, 0.3, detail, ha="center", va="center", fontsize=10, color="0.4", transform=ax.transAxes)
    figure.suptitle(title)
    return figure


def _dataset_title(table: pd.DataFrame, what: str) -> str:
    datasets = sorted(set(table["dataset"])) if "dataset" in table else []
    return f"{what}: {', '.join(datasets)}" if datasets else what


def permutation_scatter(permutation: pd.DataFrame) -> Figure:
    """Median output change (TVD) under 100 random permutations of attention, against the maximum attention weight.

    One point per example (colour: predicted class); the black line joins the medians of
    the maximum-attention bins. Points near zero mean that scrambling attention barely
    moves the output (Jain & Wallace 2019, Figure 3); a rising line means the output
    depends on the arrangement when attention is peaked.
    """
    with style_context():
        if permutation.empty:
            return _no_data("Attention permutation", "the permutation test was not run")
        runs = _runs(permutation)
        n_seeds = len({s for _, s in runs})
        figure, panels = _grid(len(runs))
        edges = np.linspace(0, 1, 5)
        for (model, seed), (ax,) in zip(runs, panels):
            part = permutation[(permutation["model"] == model) & (permutation["seed"] == seed)]
            for k, (label, group) in enumerate(part.groupby("predicted")):
                ax.scatter(group["max_attention"], group["median_tvd"], s=14, alpha=0.7,
                           color=CLASS_COLORS[k % len(CLASS_COLORS)], label=f"predicted {label}", linewidths=0)
            centres, medians = [], []
            for low, high in zip(edges[:-1], edges[1:]):
                inside = part[(part["max_attention"] >= low) & (part["max_attention"] <= high if high == 1
                                                                 else part["max_attention"] < high)]
                if len(inside):
                    centres.append((low + high) / 2)
                    medians.append(inside["median_tvd"].median())
            ax.plot(centres, medians, color="black", marker="D", markersize=4, linewidth=1.2, label="bin median")
            ax.set_xlim(0, 1)
            ax.set_ylim(bottom=0)
            ax.set_title(_run_title(model, seed, n_seeds))
            ax.set_xlabel("max attention weight")
            ax.set_ylabel("median TVD(output)")
        panels[0][0].legend(fontsize=8, loc="upper left")
        figure.suptitle(_dataset_title(permutation, "Output change when attention is permuted"))
        return figure


def adversarial_histogram(adversarial: pd.DataFrame) -> Figure:
    """Jensen-Shannon divergence (nats, at most ln 2) between the original and the adversarial attention, output TVD <= epsilon.

    Only solutions that were re-measured within the constraint are counted; the panel
    title gives how many examples had one. Mass near 1 bit means attention can be changed
    almost completely without changing the prediction (Jain & Wallace 2019, Figure 5).
    """
    with style_context():
        if adversarial.empty:
            return _no_data("Adversarial attention", "the adversarial search was not run")
        runs = _runs(adversarial)
        n_seeds = len({s for _, s in runs})
        figure, panels = _grid(len(runs))
        bins = np.linspace(0, 1, 21)
        for (model, seed), (ax,) in zip(runs, panels):
            part = adversarial[(adversarial["model"] == model) & (adversarial["seed"] == seed)]
            feasible = part[part["feasible"].astype(bool)]
            ax.hist(feasible["jsd"], bins=bins, color="#0072B2", alpha=0.85)
            epsilon = float(part["epsilon"].iloc[0])
            ax.set_title(f"{_run_title(model, seed, n_seeds)}\n{len(feasible)}/{len(part)} found, ε = {epsilon:g}",
                         fontsize=10)
            ax.set_xlim(0, 1)
            ax.set_xlabel(f"JSD(attention, adversarial) [{JSD_UNIT}]")
            ax.set_ylabel("examples")
        figure.suptitle(_dataset_title(adversarial, "Adversarial attention within the output constraint"))
        return figure


def _interval_rows(ax: Axes, rows: pd.DataFrame, methods: list[str], *, offsets: dict[str, float] | None = None,
                   marker_of: dict[str, str] | None = None) -> None:
    """Horizontal mean +- 95% interval per method (and removal mode, offset vertically)."""
    palette = method_palette(methods)
    for position, method in enumerate(methods):
        for _, row in rows[rows["method"] == method].iterrows():
            removal = row.get("removal", "") or ""
            y = position + (offsets or {}).get(removal, 0.0)
            low, high = row["mean_low"], row["mean_high"]
            if pd.notna(low):
                ax.plot([low, high], [y, y], color=palette[method], linewidth=2, solid_capstyle="butt")
            ax.plot(row["mean"], y, marker=(marker_of or {}).get(removal, "o"), color=palette[method],
                    markersize=5, markeredgecolor="white", markeredgewidth=0.5)
    ax.set_yticks(range(len(methods)))
    ax.set_yticklabels([method_label(m) for m in methods], fontsize=8)
    ax.set_ylim(len(methods) - 0.5, -0.5)


def flip_fractions(summary: pd.DataFrame) -> Figure:
    """Fraction of words whose attention must be zeroed before the decision flips, per ranking (mean, 95% CI).

    Words are removed in the order of each ranking and the attention renormalised; an
    example whose decision never flips counts as 1. A faithful ranking flips the decision
    early (small fraction); Serrano & Smith (2019) found attention orderings slower than
    gradient-based ones.
    """
    with style_context():
        rows = summary[(summary["test"] == "removal") & (summary["measure"] == "fraction_items")
                       & (summary["group"] == "all")] if not summary.empty else summary
        if rows.empty:
            return _no_data("Removal until the decision flips", "the zeroing test was not run")
        runs = _runs(rows)
        n_seeds = len({s for _, s in runs})
        figure, panels = _grid(len(runs), width=4.2, height=0.32 * rows["method"].nunique() + 1.4)
        for (model, seed), (ax,) in zip(runs, panels):
            part = rows[(rows["model"] == model) & (rows["seed"] == seed)]
            _interval_rows(ax, part, sort_methods(part["method"]))
            ax.set_xlim(0, 1.02)
            ax.set_xlabel("fraction of words removed at the flip")
            ax.set_title(_run_title(model, seed, n_seeds))
        figure.suptitle(_dataset_title(rows, "Words removed (attention zeroed) before the decision flips"))
        return figure


def aopc_intervals(summary: pd.DataFrame) -> Figure:
    """AOPC comprehensiveness (higher = more faithful) and sufficiency (lower = more faithful) per ranking, 95% CIs.

    ERASER (DeYoung et al. 2020): the fall in predicted-class probability when the top
    1-50% of words are removed, or when only they are kept, averaged over the bins. Marker
    shape: removal by deletion (circle) or [MASK] replacement (square). Compare each
    attention variant with the causal methods and with the grey random ranking.
    """
    with style_context():
        rows = summary[(summary["test"] == "ablation")
                       & summary["measure"].isin(["aopc_comprehensiveness", "aopc_sufficiency"])
                       & (summary["group"] == "all")] if not summary.empty else summary
        if rows.empty:
            return _no_data("AOPC", "the input ablations were not run")
        runs = _runs(rows)
        n_seeds = len({s for _, s in runs})
        methods = sort_methods(rows["method"])
        removals = sorted(set(rows["removal"]))
        offsets = {r: (i - (len(removals) - 1) / 2) * 0.25 for i, r in enumerate(removals)}
        figure = Figure(figsize=(8.4, (0.3 * len(methods) + 1.2) * len(runs)), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(len(runs), 2, squeeze=False)
        for (model, seed), (left, right) in zip(runs, axes):
            part = rows[(rows["model"] == model) & (rows["seed"] == seed)]
            present = [m for m in methods if m in set(part["method"])]
            for ax, measure, text in ((left, "aopc_comprehensiveness", "AOPC comprehensiveness ↑"),
                                      (right, "aopc_sufficiency", "AOPC sufficiency ↓")):
                _interval_rows(ax, part[part["measure"] == measure], present, offsets=offsets,
                               marker_of=REMOVAL_MARKERS)
                ax.axvline(0, color="0.6", linewidth=0.8)
                ax.set_xlabel(text)
                ax.set_title(_run_title(model, seed, n_seeds), fontsize=10)
            right.set_yticklabels([])
        handles = [Line2D([], [], marker=REMOVAL_MARKERS.get(r, "o"), color="0.3", linestyle="", label=f"removal: {r}")
                   for r in removals]
        figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9)
        figure.suptitle(_dataset_title(rows, "ERASER faithfulness of every ranking"))
        return figure


def deletion_curves(curves: pd.DataFrame, *, removal: str = "delete") -> Figure:
    """Predicted-class probability as the top-ranked words are removed (deletion) or added back (insertion).

    Mean over examples per ranking, words removed by ``removal``. A faithful ranking makes
    the deletion curve fall fast (small area) and the insertion curve rise fast (large
    area); the grey curve is a random ranking.
    """
    with style_context():
        rows = curves[curves["removal"] == removal] if not curves.empty else curves
        if rows.empty:
            return _no_data("Deletion and insertion curves", f"no curves with removal {removal!r}")
        runs = _runs(rows)
        n_seeds = len({s for _, s in runs})
        methods = sort_methods(rows["method"])
        palette = method_palette(methods)
        figure, panels = _grid(len(runs), rows_per_panel=2, height=2.6)
        means = rows.groupby(["model", "seed", "curve", "method", "fraction"], sort=True)["probability"].mean()
        for (model, seed), (top, bottom) in zip(runs, panels):
            for ax, curve in ((top, "deletion"), (bottom, "insertion")):
                for method in methods:
                    key = (model, seed, curve, method)
                    try:
                        series = means.loc[key]
                    except KeyError:
                        continue
                    ax.plot(series.index, series.to_numpy(), color=palette[method], linewidth=1.4,
                            linestyle=":" if method == "random" else "-", label=method_label(method))
                ax.set_ylim(0, 1.02)
                ax.set_xlim(0, 1)
                ax.set_ylabel(f"p(predicted) [{curve}]", fontsize=9)
            top.set_title(_run_title(model, seed, n_seeds))
            bottom.set_xlabel("fraction of words removed / kept")
        handles = [Line2D([], [], color=palette[m], linestyle=":" if m == "random" else "-", label=method_label(m))
                   for m in methods]
        figure.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), fontsize=8)
        figure.suptitle(_dataset_title(rows, f"Deletion (top) and insertion (bottom) curves, removal by {removal}"))
        return figure
