"""Figures of the causal tests: pure functions from a tidy table to a matplotlib Figure.

Each takes the concatenated per-run tables of one dataset (provenance columns ``model``
and ``seed`` identify the run), draws one small panel per model (seeds as points, or pooled),
and returns the figure without saving or showing it. They use the plotting kit
(:mod:`analysis.plots.kit`: the width rule, compact dot grids, highlighted curves, labels and
colours from the registries). An empty table gives a "no data" figure. The first line of each
docstring is the figure's caption.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.interventions.comparisons import RAW_ATTENTION, ranking_family
from analysis.plots.kit import (
    MAX_DESIGN_WIDTH_IN,
    dot_grid,
    highlighted_lines,
    method_palette,
    new_figure,
    no_data_figure,
    robust_limits,
    sort_methods,
    styled,
)
from analysis.records import CAUSAL_FAMILIES
from analysis.stats.divergence import JSD_UNIT

MAX_COLUMNS = 4
MAX_GROUP_COLUMNS = 6
"""Panels side by side at most when models ranked by the same methods are kept in one row of panels."""
CLASS_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")


def _models(table: pd.DataFrame) -> list[str]:
    return sorted({str(m) for m in table["model"]})


def _model_columns(rows: pd.DataFrame) -> dict[str, Any]:
    """``col_order`` and ``max_columns`` for a dot grid of one panel per model: models ranked by the same
    methods side by side (the RNNs, then a transformer), a block wide enough for the largest such group,
    so that no row of panels lists methods that half its panels lack."""
    methods = {model: tuple(sorted(set(part["method"]))) for model, part in rows.groupby(rows["model"].astype(str))}
    groups: dict[tuple[str, ...], list[str]] = {}
    for model in sorted(methods):
        groups.setdefault(methods[model], []).append(model)
    ordered = sorted(groups.values(), key=lambda models: (-len(models), models[0]))
    return {"col_order": [model for group in ordered for model in group],
            "max_columns": min(MAX_GROUP_COLUMNS, max(MAX_COLUMNS, len(ordered[0]) if ordered else 1))}


def _seeds_text(table: pd.DataFrame) -> str:
    seeds = sorted({int(s) for s in table["seed"]})
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds pooled"


def _grid(n_panels: int, *, rows_per_panel: int = 1, width: float = 2.3, height: float = 2.2,
          sharey: bool = False) -> tuple[Figure, list[list[Axes]]]:
    """A figure with one column block per panel (wrapped at :data:`MAX_COLUMNS`), within the design width."""
    columns = min(MAX_COLUMNS, max(1, n_panels))
    blocks = math.ceil(max(1, n_panels) / columns)
    figure = new_figure(min(width * columns + 0.6, MAX_DESIGN_WIDTH_IN), height * rows_per_panel * blocks + 0.7)
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


def _dataset_title(table: pd.DataFrame, what: str) -> str:
    datasets = sorted(set(table["dataset"])) if "dataset" in table else []
    return f"{what}: {', '.join(datasets)}" if datasets else what


@styled
def permutation_scatter(permutation: pd.DataFrame) -> Figure:
    """Median output change (TVD) under random permutations of attention, against the maximum attention weight.

    One panel per model (seeds pooled), one point per example (colour: predicted class); the
    black line joins the medians of the maximum-attention bins. Points near zero mean that
    scrambling attention barely moves the output (Jain & Wallace 2019, Figure 3); a rising
    line means the output depends on the arrangement when attention is peaked.
    """
    if permutation.empty:
        return no_data_figure("Attention permutation", "the permutation test was not run")
    models = _models(permutation)
    figure, panels = _grid(len(models), sharey=True)
    edges = np.linspace(0, 1, 5)
    for model, (ax,) in zip(models, panels):
        part = permutation[permutation["model"] == model]
        for k, (label, group) in enumerate(part.groupby("predicted")):
            ax.scatter(group["max_attention"], group["median_tvd"], s=10, alpha=0.6,
                       color=CLASS_COLORS[k % len(CLASS_COLORS)], label=f"predicted {label}", linewidths=0)
        centres, medians = [], []
        for low, high in zip(edges[:-1], edges[1:]):
            inside = part[(part["max_attention"] >= low) & (part["max_attention"] <= high if high == 1
                                                             else part["max_attention"] < high)]
            if len(inside):
                centres.append((low + high) / 2)
                medians.append(inside["median_tvd"].median())
        ax.plot(centres, medians, color="black", marker="D", markersize=3.5, linewidth=1.2, label="bin median")
        ax.set_xlim(0, 1)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{model} ({_seeds_text(part)})", fontsize=9)
        ax.set_xlabel("max attention weight", fontsize=8.5)
    panels[0][0].set_ylabel("median TVD(output)")
    handles, labels = panels[0][0].get_legend_handles_labels()  # below the panels: inside, it hid points
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8, frameon=False)
    figure.suptitle(_dataset_title(permutation, "Output change when attention is permuted"), fontsize=11)
    return figure


@styled
def adversarial_histogram(adversarial: pd.DataFrame) -> Figure:
    """Jensen-Shannon divergence (nats, at most ln 2) between the original and the adversarial attention, output TVD <= epsilon.

    One panel per model (seeds pooled). Only solutions that were re-measured within the
    constraint are counted; the panel title gives how many examples had one, and how many of
    them lie beyond the published claim's threshold (the dashed line). Mass near ln 2
    means attention can be changed almost completely without changing the prediction (Jain &
    Wallace 2019, Figure 5).
    """
    if adversarial.empty:
        return no_data_figure("Adversarial attention", "the adversarial search was not run")
    from analysis.published.directions import ADVERSARIAL_JSD

    models = _models(adversarial)
    figure, panels = _grid(len(models), height=2.0)
    bins = np.linspace(0, 0.7, 15)
    for model, (ax,) in zip(models, panels):
        part = adversarial[adversarial["model"] == model]
        feasible = part[part["feasible"].astype(bool)]
        ax.hist(feasible["jsd"], bins=bins, color="#0072B2", alpha=0.85)
        ax.axvline(ADVERSARIAL_JSD, color="0.3", linestyle="--", linewidth=1.0)
        epsilon = float(part["epsilon"].iloc[0])
        far = int((feasible["jsd"] > ADVERSARIAL_JSD).sum())
        ax.set_title(f"{model}\n{len(feasible)}/{len(part)} found (ε = {epsilon:g})\nJSD > {ADVERSARIAL_JSD:g}: "
                     f"{far}", fontsize=8.5, loc="left")
        ax.set_xlim(0, 0.7)
        ax.set_xlabel(f"JSD [{JSD_UNIT}]", fontsize=8.5)
    panels[0][0].set_ylabel("examples")
    figure.suptitle(_dataset_title(adversarial, "Adversarial attention within the output constraint"), fontsize=11)
    return figure


def _per_seed(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(model=rows["model"].astype(str), seed=rows["seed"].astype(int))


@styled
def flip_fractions(summary: pd.DataFrame) -> Figure:
    """Fraction of words whose attention must be zeroed before the decision flips, per ranking (seeds, 95% CI).

    Words are removed in the order of each ranking and the attention renormalised; an
    example whose decision never flips counts as 1. A faithful ranking flips the decision
    early (small fraction); Serrano & Smith (2019) found attention orderings slower than
    gradient-based ones. One panel per model; dots are seeds with 95% intervals, diamonds
    their mean.
    """
    rows = summary[(summary["test"] == "removal") & (summary["measure"] == "fraction_items")
                   & (summary["group"] == "all")] if not summary.empty else summary
    if rows.empty:
        return no_data_figure("Removal until the decision flips", "the zeroing test was not run")
    return dot_grid(_per_seed(rows), col="model", points="seed", xlim=(0, 1.02), **_model_columns(rows),
                    xlabel="fraction of words removed at the flip", legend=rows["seed"].nunique() > 1,
                    title=_dataset_title(rows, "Words removed (attention zeroed) before the decision flips"))


@styled
def aopc_intervals(summary: pd.DataFrame) -> Figure:
    """AOPC comprehensiveness (higher = more faithful) and sufficiency (lower = more faithful) per ranking, 95% CIs.

    ERASER (DeYoung et al. 2020): the fall in predicted-class probability when the top
    1-50% of words are removed, or when only they are kept, averaged over the bins. One
    column of panels per model, one row per measure; dots are seeds with their 95%
    intervals, colour the removal mode (deletion or [MASK] replacement). Compare each
    attention variant with the causal methods and with the random ranking.
    """
    rows = summary[(summary["test"] == "ablation")
                   & summary["measure"].isin(["aopc_comprehensiveness", "aopc_sufficiency"])
                   & (summary["group"] == "all")] if not summary.empty else summary
    if rows.empty:
        return no_data_figure("AOPC", "the input ablations were not run")
    rows = _per_seed(rows).assign(removal=rows["removal"].fillna("").astype(str))
    labels = {"aopc_comprehensiveness": "comprehensiveness ↑", "aopc_sufficiency": "sufficiency ↓"}
    return dot_grid(rows, col="model", row="measure", hue="removal", row_order=list(labels),
                    row_label=lambda m: labels.get(m, m), hue_label=lambda r: f"removal: {r}", zero_line=True,
                    xlim=robust_limits(rows), **_model_columns(rows), xlabel="AOPC (Δ p(predicted))",
                    title=_dataset_title(rows, "ERASER faithfulness of every ranking"))


def highlighted_rankings(methods: list[str], score: pd.Series) -> list[str]:
    """The rankings shown in colour: raw attention, the best other attention ranking and the best causal one
    (by ``score``, higher = more faithful), and random."""
    attention = [m for m in methods if ranking_family(m) == "attention"]
    causal = [m for m in methods if ranking_family(m) in CAUSAL_FAMILIES]
    raw = next((m for m in RAW_ATTENTION if m in attention), None)
    best = lambda names: max(names, key=lambda m: score.get(m, -np.inf)) if names else None  # noqa: E731
    picks = [raw, best([m for m in attention if m != raw]), best(causal), "random" if "random" in methods else None]
    return [m for m in dict.fromkeys(picks) if m]


@styled
def deletion_curves(curves: pd.DataFrame, *, removal: str = "delete") -> Figure:
    """Predicted-class probability as the top-ranked words are removed (deletion) or added back (insertion).

    Mean over examples and seeds per ranking, words removed by ``removal``; one column per
    model. A faithful ranking makes the deletion curve fall fast (small area) and the insertion
    curve rise fast (large area). In colour: raw attention, the best other attention ranking,
    the best causal ranking (by the area between the curves) and random; the others grey.
    """
    rows = curves[curves["removal"] == removal] if not curves.empty else curves
    if rows.empty:
        return no_data_figure("Deletion and insertion curves", f"no curves with removal {removal!r}")
    models = _models(rows)
    methods = sort_methods(rows["method"])
    palette = method_palette(methods)
    figure, panels = _grid(len(models), rows_per_panel=2, height=2.0, sharey=True)
    means = (rows.assign(model=rows["model"].astype(str))
             .groupby(["model", "curve", "method", "fraction"], sort=True)["probability"].mean().reset_index())
    handles: list = []
    for model, (top, bottom) in zip(models, panels):
        part = means[means["model"] == model]
        area = part.groupby(["method", "curve"])["probability"].mean().unstack("curve")
        score = area.get("insertion", 0.0) - area.get("deletion", 0.0)
        highlight = highlighted_rankings(sort_methods(part["method"]), score)
        for ax, curve in ((top, "deletion"), (bottom, "insertion")):
            handles += highlighted_lines(ax, part[part["curve"] == curve], x="fraction", y="probability",
                                         group="method", highlight=highlight, palette=palette)
            ax.set_ylim(0, 1.02)
            ax.set_xlim(0, 1)
        top.set_title(model, fontsize=9)
        bottom.set_xlabel("fraction of words removed / kept", fontsize=8.5)
    panels[0][0].set_ylabel("p(predicted), deletion", fontsize=9)
    panels[0][1].set_ylabel("p(predicted), insertion", fontsize=9)
    handles = list({h.get_label(): h for h in handles}.values())
    figure.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), fontsize=8)
    figure.suptitle(_dataset_title(rows, f"Deletion (top) and insertion (bottom) curves, removal by {removal}"),
                    fontsize=11)
    return figure
