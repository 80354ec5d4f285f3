"""Figures of the ground-truth analyses: pure functions from a study table to a Figure.

They use the plotting kit (:mod:`analysis.plots.kit`: the width rule, the house style,
highlighted curves, labels and colours from the registries); every function returns a
matplotlib Figure built without pyplot, never saves or shows it, and draws a "no data"
figure from an empty table. Each docstring starts with the
figure's caption: what passed, what failed, and how to read it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.groundtruth.plausibility import headline_group
from analysis.groundtruth.sanity import verdict_step
from analysis.interventions.comparisons import ranks_nothing
from analysis.plots.kit import MAX_DESIGN_WIDTH_IN, highlighted_lines, new_figure, no_data_figure, styled
from analysis.plots.style import METHOD_COLOR_CYCLE, method_label, method_palette, sort_methods
from analysis.records import require_columns

SHORTCUT_PANELS = {  # x labels wrapped: the panels are narrow, and one-line labels ran into each other
    "top1": "Top-1 hit rate",
    "share": "Share of |importance|\non the token",
    "normalised_rank": "Normalised rank of the\ntoken (0 = first)",
}
PLAUSIBILITY_PANELS = {"token_f1": "Token F1\nk = rationale length", "token_f1_top5": "Token F1\ntop 5 (as HateXplain)",
                       "iou_f1": "IOU F1 (ERASER)\nk = rationale length", "auprc": "AUPRC\n(ERASER)"}
RELIANCE_PANELS = {
    "accuracy_with_token": ("accuracy, token present", "o"),
    "accuracy_without_token": ("accuracy, token absent", "s"),
    "removal_flip": ("prediction changes when the token is deleted", "v"),
    "insertion_flip": ("other-class examples flipped by inserting the token", "D"),
}


MODEL_COLORS = tuple(METHOD_COLOR_CYCLE[i] for i in (0, 3, 2, 7, 4, 6, 9, 1, 5, 8))
"""The kit's colour-blind-safe colours reordered so that the first six differ in hue (blue, vermillion, green,
black, purple, sky blue): taken in order, orange, vermillion and brown put three near-identical oranges side by
side."""


def _model_colors(models: list[str]) -> dict[str, str]:
    """Models take :data:`MODEL_COLORS` in sorted order."""
    return {m: MODEL_COLORS[i % len(MODEL_COLORS)] for i, m in enumerate(sorted(models))}


def _interval_dots(ax: Axes, rows: pd.DataFrame, methods: list[str], models: list[str], colors: dict[str, str],
                   *, filled: pd.Series | None = None) -> None:
    """Mean and interval per method (y) and model (dodged, coloured); hollow markers where ``filled`` is False.

    ``filled`` is a boolean Series aligned with ``rows`` (same length and order).
    """
    offsets = np.linspace(-0.28, 0.28, len(models)) if len(models) > 1 else np.zeros(1)
    position = {m: i for i, m in enumerate(methods)}
    solid_rows = np.ones(len(rows), dtype=bool) if filled is None else np.asarray(filled, dtype=bool)
    rows = rows.assign(solid=solid_rows)
    for offset, model in zip(offsets, models):
        part = rows.loc[rows["model"] == model]
        for row in part.itertuples():
            y = position[row.method] + offset
            low, high = row.mean_low, row.mean_high
            if pd.notna(low) and pd.notna(high):
                ax.plot([low, high], [y, y], color=colors[model], linewidth=1.6, solid_capstyle="butt", zorder=2)
            solid = bool(row.solid)
            ax.scatter([row.mean], [y], s=30, marker="o", zorder=3, color=colors[model] if solid else "white",
                       edgecolors=colors[model], linewidths=1.4)
            control = getattr(row, "control_mean", np.nan)
            if pd.notna(control):  # the same model trained without the planted token
                ax.scatter([control], [y], s=28, marker="x", zorder=4, color=colors[model], linewidths=1.3)
    ax.set_yticks(np.arange(len(methods)), [method_label(m) for m in methods])
    ax.set_ylim(len(methods) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)


def _over_seeds(rows: pd.DataFrame, keys: list[str], *, passed: str | None = None) -> pd.DataFrame:
    """One row per ``keys`` from the rows of several seeds: ``mean`` the seeds' mean, ``mean_low`` and
    ``mean_high`` the lowest and highest of their 95% bounds (the envelope of the seeds' intervals, not an interval
    of the mean), ``chance`` the mean, ``seeds`` how many; with ``passed`` (a boolean column), True where most seeds
    passed. Other columns keep their first value (they are the same for every seed of a key)."""
    if rows.empty:
        return rows.assign(seeds=pd.Series(dtype=int))
    rows = rows if "seed" in rows else rows.assign(seed=0)
    how: dict[str, Any] = {column: "first" for column in rows.columns if column not in keys}
    how.update(mean="mean", mean_low="min", mean_high="max", seed="nunique")
    for column in ("chance", "control_mean"):
        if column in rows:
            how[column] = "mean"
    if passed is not None:
        how[passed] = lambda values: bool(values.astype(bool).mean() > 0.5)
    return rows.groupby(keys, sort=False, dropna=False).agg(how).reset_index().rename(columns={"seed": "seeds"})


def seeds_pooled_note(table: pd.DataFrame | None) -> str:
    """The captions' sentence on seeds where a figure pools several (empty where every model has one)."""
    if table is None or "seed" not in table or table.empty:
        return ""
    counts = sorted(set(table.groupby(["dataset", "model"])["seed"].nunique()))
    if counts[-1] < 2:
        return ""
    seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    return (f" The seeds of a model ({seeds}) are pooled: a dot or line is their mean, its bar or band runs from the "
            f"lowest to the highest of their 95% bounds, and a dot is filled when most seeds passed.")


def _selected(summary: pd.DataFrame | None, *, table: str, verdict: str, variant: str, group: str,
              constant: frozenset[str] = frozenset()) -> pd.DataFrame:
    """The rows of one variant and group of a ground-truth summary (empty for an empty table), without the raw
    attention of the models in ``constant``: attention frozen to uniform ranks nothing."""
    if summary is None or summary.empty:
        return pd.DataFrame()
    require_columns(summary, ["dataset", "model", "method", "variant", "group", "metric", "mean", "mean_low",
                              "mean_high", "chance", verdict], table=table)
    rows = summary.loc[(summary["variant"] == variant) & (summary["group"] == group)]
    return rows.loc[~ranks_nothing(rows, constant)]


def _method_grid(title: str, rows: pd.DataFrame, panels: dict[str, str], *, passed: pd.Series,
                 chance_metrics: tuple[str, ...], model_labels: dict[str, str], hollow_label: str,
                 chance_label: str) -> Figure:
    """Dot-and-interval panels: one row per dataset, one column per metric, methods on y, models coloured.

    ``passed`` (aligned with ``rows``) fills a dot; a dashed line marks the mean ``chance``
    of the panel for the metrics in ``chance_metrics``. Several seeds of a model are pooled
    (:func:`_over_seeds`: drawn one on top of another they would hide each other).
    """
    datasets = sorted(rows["dataset"].unique())
    models = sorted(rows["model"].unique())
    methods = sort_methods(rows["method"])
    colors = _model_colors(models)
    rows = _over_seeds(rows.assign(passed=np.asarray(passed, dtype=bool)), ["dataset", "model", "method", "metric"],
                       passed="passed")
    figure = new_figure(min(2.6 * len(panels) + 2.4, MAX_DESIGN_WIDTH_IN),
                        0.9 + (0.24 * len(methods) + 0.8) * len(datasets))
    axes = figure.subplots(len(datasets), len(panels), squeeze=False, sharey="row")
    for r, dataset in enumerate(datasets):
        for c, (metric, label) in enumerate(panels.items()):
            ax = axes[r, c]
            part = rows.loc[(rows["dataset"] == dataset) & (rows["metric"] == metric)]
            _interval_dots(ax, part, methods, models, colors, filled=part["passed"])
            if metric in chance_metrics and part["chance"].notna().any():
                ax.axvline(part["chance"].mean(), color="0.4", linestyle="--", linewidth=1.0, zorder=1)
            ax.set_xlim(-0.03, 1.03)
            ax.set_xlabel(label)
            ax.set_title(dataset if c == 0 else "", loc="left")
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[m], label=model_labels.get(m, m)) for m in models]
    handles += [Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="0.3",
                       label=hollow_label),
                Line2D([], [], color="0.4", linestyle="--", label=chance_label)]
    if "control_mean" in rows and rows["control_mean"].notna().any():
        handles.append(Line2D([], [], marker="x", linestyle="", color="0.3",
                              label="the same model trained without the token"))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=9)
    figure.suptitle(title)
    return figure


@styled
def shortcut_detection_figure(summary: pd.DataFrame, reliance: pd.DataFrame | None = None, *,
                              variant: str = "abs", group: str = "all",
                              constant: frozenset[str] = frozenset()) -> Figure:
    """Which importance methods find the planted shortcut token?

    Caption: for models that rely on the planted token (legend), a faithful method
    ranks it first: top-1 hit rates near 1 and most of the importance on the token.
    Filled dots passed (the top-1 hit rate's 95% interval reaches the threshold);
    hollow dots did not. The dashed line is chance (a random ranking of the same
    examples). A cross, where a control ran, is the top-1 hit rate on the same examples
    of the same model trained without the token: a method whose cross sits by its dot
    ranks the token first whether or not the model uses it. For a model that does not rely on the token, ranking it first would be
    unfaithful, so its dots say nothing about the methods. Raw attention of a model in
    ``constant`` (attention frozen to uniform) ranks nothing and is not drawn.

    Computed from the study's ``groundtruth_shortcut`` table (rows with the given
    ``variant`` and ``group``: explained examples with the token that the model assigns
    to the shortcut class): one row of panels per planted dataset, one column per
    metric, methods on the y axis, one colour per model; mean with its interval over examples
    (studentised bootstrap; Clopper-Pearson for rates); several seeds pooled (:func:`_over_seeds`), only
    those that rely on the token where any does (:func:`relying_runs_first`).
    """
    title = "Planted shortcut: does each method rank the known cause first?"
    rows = _selected(summary, table="groundtruth_shortcut", verdict="verdict", variant=variant, group=group,
                     constant=constant)
    if rows.empty:
        return no_data_figure(title, "no run of a planted-shortcut dataset" if summary is None or summary.empty
                               else f"no rows for variant={variant!r}, group={group!r}")
    relies = _relies(reliance)
    labels = {m: _model_legend(m, relies) for m in rows["model"].unique()}
    rows = relying_runs_first(rows)
    return _method_grid(title, rows, SHORTCUT_PANELS,
                        passed=rows["verdict"].eq("finds"), chance_metrics=tuple(SHORTCUT_PANELS),
                        model_labels=labels, hollow_label="hollow: not found", chance_label="chance")


def relying_runs_first(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the seeds that rely on the token (``model_relies``) for every (dataset, model) with one, all of
    its rows otherwise: the token is a known cause only in a run that relies on it, so pooling those with the
    others would mix what a method finds with what it merely ranks."""
    if rows.empty or "model_relies" not in rows:
        return rows
    relies = rows["model_relies"].fillna(False).astype(bool)
    any_relies = relies.groupby([rows["dataset"], rows["model"]]).transform("any")
    return rows.loc[relies | ~any_relies]


def relying_runs(reliance: pd.DataFrame) -> pd.Series:
    """Whether each run (dataset, model, seed; seed 0 in a table without seeds) relies on the planted token."""
    return reliance.assign(seed=reliance["seed"] if "seed" in reliance else 0).groupby(
        ["dataset", "model", "seed"])["relies"].first().astype(bool)


def relying_seeds(reliance: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and model: ``relying``, how many seeds rely on the planted token, of ``seeds``; ``relies``: most
    of them do (the rule of the report's first screen)."""
    counts = relying_runs(reliance).groupby(level=["dataset", "model"]).agg(relying="sum", seeds="size")
    return counts.assign(relies=counts["relying"] > counts["seeds"] / 2)


def seeds_text(relying: int, seeds: int) -> str:
    """"relies" / "does NOT rely", with "in k of n seeds" when there are several."""
    if seeds == 1:
        return "relies" if relying else "does NOT rely"
    return f"relies in {relying} of {seeds} seeds" if relying else f"does NOT rely (0 of {seeds} seeds)"


def _relies(reliance: pd.DataFrame | None) -> dict[tuple[str, str], bool]:
    """Whether most seeds of each (dataset, model) rely on the token."""
    if reliance is None or reliance.empty:
        return {}
    return {key: bool(value) for key, value in relying_seeds(reliance)["relies"].items()}


def _model_legend(model: str, relies: dict[tuple[str, str], bool]) -> str:
    verdicts = {v for (d, m), v in relies.items() if m == model}
    if not verdicts:
        return model
    if verdicts == {True}:
        return f"{model} (relies on the token)"
    if verdicts == {False}:
        return f"{model} (does NOT rely on the token)"
    return f"{model} (relies on some datasets)"


@styled
def shortcut_reliance_figure(reliance: pd.DataFrame) -> Figure:
    """Did each model learn the planted shortcut?

    Caption: a model relies on the token when inserting it into examples of the other
    classes turns them into the shortcut class (diamonds at the right, past the dashed
    threshold); deleting it from examples that carry it then often changes the
    prediction too (triangles), and accuracy with the token stays high while accuracy
    without it is that of the original task. Only for models that rely on the token is
    the token a known cause against which importance methods can be scored.

    Computed from the study's ``groundtruth_reliance`` table: one panel per planted
    dataset, one row per model, mean and 95% interval over evaluation
    examples for each measure; several seeds pooled (:func:`_over_seeds`), the label says
    how many rely.
    """
    title = "Planted shortcut: does the model rely on the token?"
    if reliance is None or reliance.empty:
        return no_data_figure(title, "no run of a planted-shortcut dataset")
    require_columns(reliance, ["dataset", "model", "measure", "mean", "mean_low", "mean_high", "relies", "threshold"],
                    table="groundtruth_reliance")
    counts = relying_seeds(reliance)
    rows = _over_seeds(reliance.loc[reliance["measure"].isin(RELIANCE_PANELS)], ["dataset", "model", "measure"])
    datasets = sorted(rows["dataset"].unique())
    models = sorted(rows["model"].unique())
    colors = {m: METHOD_COLOR_CYCLE[i % len(METHOD_COLOR_CYCLE)] for i, m in enumerate(RELIANCE_PANELS)}
    n_cols = min(len(datasets), 3)
    n_rows = math.ceil(len(datasets) / n_cols)
    figure = new_figure(5.2 * n_cols + 0.4, (0.55 * len(models) + 1.4) * n_rows + 0.8)
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    offsets = dict(zip(RELIANCE_PANELS, np.linspace(-0.27, 0.27, len(RELIANCE_PANELS))))
    for ax, dataset in zip(axes, datasets):
        part = rows.loc[rows["dataset"] == dataset]
        for row in part.itertuples():
            y = models.index(row.model) + offsets[row.measure]
            if pd.notna(row.mean_low):
                ax.plot([row.mean_low, row.mean_high], [y, y], color=colors[row.measure], linewidth=1.6)
            ax.scatter([row.mean], [y], marker=RELIANCE_PANELS[row.measure][1], color=colors[row.measure], s=30,
                       zorder=3)
        ax.axvline(float(part["threshold"].iloc[0]), color="0.4", linestyle="--", linewidth=1.0)
        ax.set_yticks(np.arange(len(models)), [
            f"{m}\n({seeds_text(*counts.loc[(dataset, m), ['relying', 'seeds']]) if (dataset, m) in counts.index else 'n/a'})"
            for m in models])
        ax.set_ylim(len(models) - 0.5, -0.5)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel("share of examples")
        ax.set_title(dataset, loc="left")
        ax.grid(axis="y", visible=False)
    for ax in axes[len(datasets):]:
        figure.delaxes(ax)
    handles = [Line2D([], [], marker=marker, linestyle="", color=colors[m], label=label)
               for m, (label, marker) in RELIANCE_PANELS.items()]
    handles.append(Line2D([], [], color="0.4", linestyle="--", label="reliance threshold (insertion)"))
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9)
    figure.suptitle(title)
    return figure


@styled
def plausibility_figure(summary: pd.DataFrame, *, variant: str = "abs", group: str | None = None,
                        constant: frozenset[str] = frozenset()) -> Figure:
    """How well does each method's ranking match the human (or generated) rationales?

    Caption: plausibility, not faithfulness: higher means the words a method ranks
    highest are the words people marked (for the synthetic task: the words that decide
    the label). Filled dots are above the random ranking (paired sign-flip test on the same examples, Holm);
    hollow dots are not. The dashed line is the expected token F1 of a random ranking at the
    rationale length (the share of rationale words); for the top-5 token F1, IOU F1 and AUPRC the
    random method's dots are the floor (five words of a short text hold more of the rationale
    than its share, and a random ranking's expected AUPRC exceeds the share on short texts). Raw
    attention of a model in ``constant`` (attention frozen to uniform) is not drawn.

    Computed from the study's ``groundtruth_plausibility`` table (rows with the given
    ``variant`` and ``group``, by default the variant's headline group: signed scores on correctly
    classified posts only): one row of panels per dataset with rationales, one
    column per metric (token F1 of the top-k words with k the rationale length, token F1 of
    the top 5 words as HateXplain scores it, ERASER's IOU F1 at the rationale length, AUPRC; the top-5 IOU F1 is in
    the data table only), methods on the y axis,
    one colour per model; mean with its interval over examples
    (studentised bootstrap; Clopper-Pearson for rates); several seeds pooled (:func:`_over_seeds`).
    """
    group = group or headline_group(variant)
    title = "Plausibility: agreement of importance with rationales"
    rows = _selected(summary, table="groundtruth_plausibility", verdict="vs_random", variant=variant, group=group,
                     constant=constant)
    if rows.empty:
        return no_data_figure(title, "no dataset with rationales in this study" if summary is None or summary.empty
                               else f"no rows for variant={variant!r}, group={group!r}")
    # E[token F1 at k] of a random ranking is k / n; for IOU F1 and AUPRC the random method is the floor
    return _method_grid(title, rows, PLAUSIBILITY_PANELS, passed=rows["vs_random"].eq("above"),
                        chance_metrics=("token_f1",), model_labels={},
                        hollow_label="hollow: not above random (or random itself)",
                        chance_label="chance token F1 (share of rationale words)")


def _step_label(step: str, index: int, n_steps: int) -> str:
    """Tick label of a cumulative cascade step: what has been randomised so far."""
    if index == 1:
        return "head"
    if index == n_steps:
        return "all weights"
    if index == verdict_step(n_steps):
        return "all layers (verdict)"
    return f"down to {step}"


@styled
def sanity_figure(summary: pd.DataFrame, *, variant: str = "abs", constant: frozenset[str] = frozenset()) -> Figure:
    """Do the methods' scores change when the model's weights are randomised?

    Caption: a method that reads the model loses its rank correlation with the trained
    model's scores as the cascade randomises the weights from the head down (lines
    falling towards 0). A method whose line stays above the dashed threshold once every
    layer above the embeddings is random ("all layers", where the verdict is read) fails
    the check (marked "fails" in the legend): its scores do not depend on what the model
    learned (Adebayo et al. 2018). The last step randomises the embeddings too. The random baseline
    reads no model and is expected to stay at 1. In colour: the failing methods, raw
    attention and the random baseline (at most six); the other methods are grey.

    Computed from the study's ``groundtruth_sanity`` table: one panel per dataset and model
    (several seeds pooled, :func:`_over_seeds`: joined as one line, the seeds' points would zig-zag), x = the
    cascade step (0 = trained model, then head, layers from the top, embeddings; each
    step keeps the earlier ones randomised),
    y = mean Spearman rank correlation between trained and randomised scores over the
    checked examples (|scores| for ``variant="abs"``), band = 95% studentised-bootstrap interval.
    Raw attention of a model in ``constant`` (attention frozen to uniform) is not drawn.
    """
    title = "Sanity check: rank correlation with the trained model's scores under cascading randomisation"
    if summary is None or summary.empty:
        return no_data_figure(title, "no sanity-check runs in this study")
    require_columns(summary, ["dataset", "model", "method", "variant", "step_index", "step", "mean", "mean_low",
                              "mean_high", "verdict", "threshold"], table="groundtruth_sanity")
    rows = summary.loc[(summary["variant"] == variant) & ~ranks_nothing(summary, constant)]
    if rows.empty:
        return no_data_figure(title, f"no rows for variant={variant!r}")
    runs = sorted(rows.groupby(["dataset", "model"]).groups)
    methods = sort_methods(rows["method"])
    palette = method_palette(methods)
    verdicts = rows.groupby("method")["verdict"].agg(lambda v: "fails" if (v == "fails").any() else
                                                     "passes" if (v == "passes").all() else "inconclusive")
    rows = _over_seeds(rows, ["dataset", "model", "method", "step_index"])  # one curve per method and model
    # a handful in colour: the failing methods, raw attention, the random baseline; the rest grey
    attention = [m for m in methods if m in ("attention_last_mean", "rnn_attention")]
    highlight = list(dict.fromkeys([*(m for m in methods if verdicts[m] == "fails"), *attention, "random"]))[:6]
    # the y range holds every curve and band (a correlation can fall well below zero once weights are random)
    lowest = pd.to_numeric(rows[["mean", "mean_low"]].stack(), errors="coerce").min()
    bottom = max(-1.05, min(-0.45, float(lowest) - 0.05)) if np.isfinite(lowest) else -0.45
    n_cols = min(len(runs), 3)
    n_rows = math.ceil(len(runs) / n_cols)
    figure = new_figure(min(3.0 * n_cols + 2.8, MAX_DESIGN_WIDTH_IN), 2.8 * n_rows + 0.8)
    axes = figure.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
    handles: list = []
    for ax, (dataset, model) in zip(axes, runs):
        part = rows.loc[(rows["dataset"] == dataset) & (rows["model"] == model)]
        trained = part.drop_duplicates("method").assign(step_index=0, mean=1.0, mean_low=1.0, mean_high=1.0)
        curves = pd.concat([trained, part], ignore_index=True)
        handles += highlighted_lines(ax, curves, x="step_index", y="mean", group="method", highlight=highlight,
                                     palette=palette, low="mean_low", high="mean_high", marker="o",
                                     label=lambda m: f"{method_label(m)} ({verdicts.get(m, 'n/a')})")
        steps = part.drop_duplicates("step_index").sort_values("step_index")
        ax.set_xticks(np.concatenate([[0], steps["step_index"].to_numpy()]),
                      ["trained", *[_step_label(r.step, r.step_index, r.n_steps) for r in steps.itertuples()]],
                      rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
        ax.axhline(float(part["threshold"].iloc[0]), color="0.4", linestyle="--", linewidth=1.0)
        ax.axhline(0.0, color="0.7", linewidth=0.8)
        ax.set_ylim(bottom, 1.05)
        ax.set_title(f"{dataset} / {model}", fontsize=10)
    for ax in axes[len(runs):]:
        figure.delaxes(ax)
    for ax in axes[::n_cols][:n_rows]:
        ax.set_ylabel("Spearman ρ with trained scores")
    handles = list({h.get_label(): h for h in handles}.values())  # one entry per method over the panels
    handles.append(Line2D([], [], color="0.4", linestyle="--", label="threshold"))
    figure.legend(handles=handles, loc="outside right center", fontsize=8)
    figure.suptitle(title, fontsize=11)
    return figure
