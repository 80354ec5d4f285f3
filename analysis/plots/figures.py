"""Figures of the study: pure functions from a tidy table to a matplotlib Figure.

Each function takes a table whose columns follow the contracts in
:mod:`analysis.records`, returns a :class:`matplotlib.figure.Figure` and does nothing
else: it never shows or saves the figure and never changes global matplotlib state
(the house style of :mod:`analysis.plots.style` is applied inside a context). Figures
are built without pyplot on an Agg canvas, so they render on machines without a
display and are freed like any other object; the caller saves them with
``fig.savefig(path)``.

An empty table gives a figure that says "no data" (and why), so a workflow never
fails on an empty selection; a table that lacks contract columns raises ``ValueError``.

The docstring of every function starts with the figure's caption: what the reader
should conclude and how the figure was computed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MultipleLocator
from matplotlib.transforms import blended_transform_factory

from analysis.plots.kit import NO_DATA_TEXT, forest, new_figure, no_data_figure, styled, write_no_data
from analysis.plots.style import (
    METHOD_COLOR_CYCLE,
    PAIR_KIND_LINESTYLES,
    higher_is_more_agreement,
    method_label,
    method_palette,
    method_rank,
    method_short_label,
    metric_kind,
    metric_label,
    metric_title,
    pair_kind_color,
    pair_kind_label,
    pair_kind_rank,
    pair_label,
    sort_methods,
    variant_label,
)
from analysis.records import require_columns

__all__ = [
    "MAX_WORDS_PER_PANEL",
    "NO_DATA_TEXT",
    "accuracy_bars",
    "agreement_by_length",
    "agreement_distributions",
    "agreement_matrix",
    "bucket_sort_key",
    "token_heatmaps",
]

MAX_WORDS_PER_PANEL = 40
"""Token heatmaps show at most this many words per example (the first ones)."""

MAX_POINTS_PER_PAIR = 300
"""Agreement distributions overlay at most this many instance points per pair (a fixed
random subset); the box and mean always use every instance."""

_MAX_WORD_CHARS = 15
_MARKERS = ("o", "s", "D", "^", "v", "P", "X")

# --------------------------------------------------------------------------- helpers


def _is_empty(frame: pd.DataFrame | None) -> bool:
    return frame is None or len(frame) == 0


def _require_single(frame: pd.DataFrame, columns: Sequence[str], *, table: str) -> None:
    """Refuse tables that mix several datasets/models: one figure describes one of them."""
    for column in columns:
        if column in frame.columns:
            values = frame[column].dropna().unique()
            if len(values) > 1:
                shown = ", ".join(repr(v) for v in sorted(map(str, values))[:5])
                raise ValueError(
                    f"the {table} table mixes {len(values)} values of {column!r} ({shown}); a figure describes "
                    f"one {column} at a time: select one first, e.g. frame[frame[{column!r}] == ...]"
                )


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    values = pd.to_numeric(frame[column], errors="coerce")
    return frame[np.isfinite(values.to_numpy(dtype=float))]


def _select(frame: pd.DataFrame, *, metric: str, variant: str) -> pd.DataFrame:
    return frame[(frame["metric"] == metric) & (frame["variant"] == variant)]


def _metric_limits(metric: str) -> tuple[float, float] | None:
    """Axis limits from the metric's range (None: let the data decide)."""
    kind = metric_kind(metric)
    if kind == "correlation":
        return (-1.05, 1.05)
    if kind == "overlap":
        return (-0.05, 1.05)
    return None


_BUCKET_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def bucket_sort_key(label: str) -> tuple[int, float, str]:
    """Natural order of length-bucket labels: by their first number, open-ended ones at the ends.

    ``"1-10" < "11-20" < "21-40" < ">40"``; ``"<10"`` sorts before ``"10-20"``; labels
    without a number go last, alphabetically.
    """
    text = str(label).strip()
    match = _BUCKET_NUMBER.search(text)
    if match is None:
        return (1, math.inf, text)
    number = float(match.group())
    if text.startswith(("<", "≤")):
        number -= 0.5
    elif text.startswith((">", "≥")) or text.endswith("+"):
        number += 0.5
    return (0, number, text)


def _pair_colors(pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(colour, marker) per method pair, by the stable method order of (method_a, method_b)."""
    ordered = sorted(set(pairs), key=lambda p: (method_rank(p[0]), method_rank(p[1])))
    n_colors = len(METHOD_COLOR_CYCLE)
    return {
        pair: (METHOD_COLOR_CYCLE[i % n_colors], _MARKERS[(i // n_colors) % len(_MARKERS)])
        for i, pair in enumerate(ordered)
    }


# --------------------------------------------------------------------------- figures


@styled
def agreement_distributions(agreement: pd.DataFrame, metric: str = "kendall_tau", variant: str = "abs") -> Figure:
    """Per-instance agreement of every method pair, against the causal ceiling and the random floor.

    Caption: does attention rank words like causal importance does? Read each
    attention-vs-causal box against the green boxes above it (two causal methods
    against each other: the most agreement one can expect) and the grey boxes below
    (a random ranking: no agreement). An attention box near the floor means attention
    says little about which words the decision depends on; one near the ceiling means
    it agrees with causal methods as well as they agree with each other.

    Computed from the ``agreement`` table (one row per instance x method pair): rows
    with the given ``metric`` and ``variant`` ("abs": attention against
    |attribution|, "signed": against signed attribution) and a finite value. Each row
    of the figure is one method pair; the box spans the quartiles of the per-instance
    values, whiskers reach 1.5 IQR, the white diamond is the mean, and dots are
    instances (at most :data:`MAX_POINTS_PER_PAIR` per pair, a fixed random subset).
    Pairs are sorted by kind (ceilings, attention vs causal, attention vs attention,
    floors), then by median agreement. For correlations a dashed line marks 0
    (chance). Instances from several seeds, if present, are pooled.
    """
    title = f"Per-instance agreement: {metric_title(metric)}, attention vs {variant_label(variant)}"
    if _is_empty(agreement):
        return no_data_figure(title, "the agreement table is empty")
    require_columns(agreement, ["method_a", "method_b", "pair_kind", "variant", "metric", "value"], table="agreement")
    _require_single(agreement, ("dataset", "split", "model"), table="agreement")
    rows = _finite(_select(agreement, metric=metric, variant=variant), "value")
    if rows.empty:
        return no_data_figure(title, f"no finite values for metric={metric!r}, variant={variant!r}")

    rows = rows.assign(
        value=rows["value"].astype(float),
        pair=[pair_label(a, b) for a, b in zip(rows["method_a"], rows["method_b"])],
    )
    per_pair = rows.groupby("pair").agg(pair_kind=("pair_kind", "first"), median=("value", "median"), n=("value", "size"))
    sign = -1.0 if higher_is_more_agreement(metric) else 1.0
    per_pair["order"] = [
        (pair_kind_rank(kind), sign * median, pair)
        for pair, kind, median in zip(per_pair.index, per_pair["pair_kind"], per_pair["median"])
    ]
    per_pair = per_pair.sort_values("order")
    order = list(per_pair.index)
    kinds = sorted(per_pair["pair_kind"].unique(), key=pair_kind_rank)

    figure = new_figure(10.0, 1.8 + 0.42 * len(order))
    ax = figure.add_subplot()
    if metric_kind(metric) == "correlation":
        ax.axvline(0.0, color="0.35", linestyle="--", linewidth=1.0, zorder=0)
    # Drawn with matplotlib itself (seaborn 0.13 passes the deprecated ``vert`` to ``bxp``).
    values_by_pair = [rows.loc[rows["pair"] == pair, "value"].to_numpy() for pair in order]
    boxes = ax.boxplot(
        values_by_pair, positions=np.arange(len(order)), orientation="horizontal", widths=0.62,
        patch_artist=True, showfliers=False, showmeans=True, manage_ticks=False,
        medianprops={"color": "0.15", "linewidth": 1.4}, whiskerprops={"color": "0.3"}, capprops={"color": "0.3"},
        meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "0.15", "markersize": 5},
    )
    for box, kind in zip(boxes["boxes"], per_pair["pair_kind"]):
        box.set(facecolor=pair_kind_color(kind), edgecolor="0.3", alpha=0.85)
    jitter = np.random.default_rng(0)
    for position, values in enumerate(values_by_pair):
        shown = jitter.permutation(values)[:MAX_POINTS_PER_PAIR]
        ax.scatter(
            shown, position + jitter.uniform(-0.2, 0.2, len(shown)), s=5, color="0.15", alpha=0.3, linewidths=0,
            zorder=3,
        )
    ax.set_yticks(np.arange(len(order)), order)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    limits = _metric_limits(metric)
    if limits is not None:
        ax.set_xlim(*limits)
        ax.xaxis.set_major_locator(MultipleLocator(0.5 if metric_kind(metric) == "correlation" else 0.25))
    elif metric_kind(metric) == "divergence":
        ax.set_xlim(left=0.0)
    label_at_right = blended_transform_factory(ax.transAxes, ax.transData)
    for position, n in enumerate(per_pair["n"]):
        ax.text(1.01, position, f"n={n}", transform=label_at_right, va="center", ha="left", fontsize=9, color="0.3")
    ax.set_xlabel(metric_label(metric))
    ax.set_ylabel("")
    figure.suptitle(title)
    handles = [Patch(facecolor=pair_kind_color(k), edgecolor="0.3", alpha=0.85, label=pair_kind_label(k)) for k in kinds]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3))
    return figure


@styled
def agreement_matrix(summary: pd.DataFrame, metric: str = "kendall_tau", variant: str = "abs",
                     over_seeds: bool = False) -> Figure:
    """Mean agreement between every two methods, as a symmetric method x method matrix.

    Caption: which methods rank words alike? Strong colour means more agreement (for
    correlations red is agreement, blue is disagreement and white is chance; for
    divergences and overlaps darker cells agree more). Compare attention rows with the
    cells between causal methods: if attention agrees with gradients and leave-one-out
    less than they agree with each other, attention is a weaker account of the
    decision than they are.

    Computed from ``agreement_summary`` rows with ``group_by == "all"`` and the given
    ``metric`` and ``variant``: each cell is the mean over instances of the
    per-instance metric for that method pair (written both above and below the
    diagonal); the diagonal and pairs without rows are blank. With ``over_seeds`` the rows
    of one dataset and model's training seeds are given and each cell is the mean of the
    seeds' means. A method scored on under 95% of the examples the best-covered method was
    (attention flow stops at its token limit, so on long texts it averages the shortest
    only) says so in its label: its cells are means over other examples than its neighbours'.
    """
    seeds = summary["seed"].nunique() if over_seeds and "seed" in summary else 1
    coverage = _coverage(summary, metric=metric, variant=variant)
    title = (f"Mean {metric_title(metric)} over instances" + (f" and {seeds} seeds" if over_seeds else "")
             + f", attention vs {variant_label(variant)}")
    if _is_empty(summary):
        return no_data_figure(title, "the agreement summary table is empty")
    require_columns(summary, ["method_a", "method_b", "variant", "metric", "group_by", "mean"], table="agreement_summary")
    if over_seeds:
        keys = [c for c in ("dataset", "split", "model", "method_a", "method_b", "variant", "metric", "group_by")
                if c in summary]
        summary = summary[summary["group_by"] == "all"].groupby(keys, as_index=False, dropna=False)["mean"].mean()
    _require_single(summary, ("dataset", "split", "model", "seed"), table="agreement_summary")
    rows = _select(summary, metric=metric, variant=variant)
    rows = _finite(rows[rows["group_by"] == "all"], "mean")
    rows = rows[rows["method_a"] != rows["method_b"]]
    if rows.empty:
        return no_data_figure(title, f"no group_by='all' rows for metric={metric!r}, variant={variant!r}")

    methods = sort_methods(pd.concat([rows["method_a"], rows["method_b"]]))
    matrix = pd.DataFrame(np.nan, index=methods, columns=methods)
    for method_a, method_b, mean in zip(rows["method_a"], rows["method_b"], rows["mean"].astype(float)):
        existing = matrix.at[method_a, method_b]
        if np.isfinite(existing) and not np.isclose(existing, mean):
            raise ValueError(
                f"agreement_summary has two group_by='all' means for {method_a!r} and {method_b!r} "
                f"({existing:.4g} and {mean:.4g}) for metric={metric!r}, variant={variant!r}; "
                "it probably mixes several runs: select one dataset, model and seed first"
            )
        matrix.at[method_a, method_b] = mean
        matrix.at[method_b, method_a] = mean

    kind = metric_kind(metric)
    if kind == "correlation":
        color_kwargs: dict[str, object] = {"cmap": "RdBu_r", "center": 0.0, "vmin": -1.0, "vmax": 1.0}
    elif kind == "overlap":
        color_kwargs = {"cmap": "mako_r", "vmin": 0.0, "vmax": 1.0}
    else:  # divergence: low values (more agreement) dark, like the other metrics
        color_kwargs = {"cmap": "mako", "vmin": 0.0}

    total = max(coverage.values(), default=0)
    labels = [method_label(m) + (f"\n({coverage[m]:,} of {total:,} ex.)" if coverage.get(m, total) < 0.95 * total
                                 else "") for m in methods]
    size = len(methods)
    figure = new_figure(3.6 + 1.05 * size, 2.6 + 0.8 * size)
    ax = figure.add_subplot()
    sns.heatmap(
        matrix.to_numpy(), mask=~np.isfinite(matrix.to_numpy()), annot=True, fmt=".2f", square=True,
        linewidths=0.8, linecolor="white", xticklabels=labels, yticklabels=labels,
        cbar_kws={"label": metric_label(metric).replace(" (", "\n("), "shrink": 0.8}, annot_kws={"fontsize": 10}, ax=ax,
        **color_kwargs,
    )
    ax.set_facecolor("white")
    ax.grid(False)
    ax.tick_params(axis="both", length=0)
    ax.set_xticks(ax.get_xticks(), labels, rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(ax.get_yticks(), labels, rotation=0)
    figure.suptitle(title)
    return figure


@styled
def agreement_by_length(summary: pd.DataFrame, metric: str = "kendall_tau", variant: str = "abs") -> Figure:
    """Mean agreement per length bucket, one line per method pair, with 95% intervals.

    Caption: does agreement fall as inputs get longer? Rank correlations between
    importance methods usually drop with length (more words to order, more near-ties);
    an attention line that falls faster than the causal ceiling (dashed lines) means
    attention is a worse guide on long inputs. Dotted lines are the random floor.

    Computed from ``agreement_summary`` rows with ``group_by == "length_bucket"`` and
    the given ``metric`` and ``variant``: points are the mean over the instances of
    each bucket, error bars the bootstrap interval (``mean_low`` to ``mean_high``).
    Buckets are in natural order (by their first number; open-ended ones such as
    ">40" last) and tick labels give the number of instances. Each method pair keeps
    the same colour in every length figure; line style gives the pair kind; points
    are shifted slightly sideways so intervals do not hide each other.
    """
    title = f"{metric_title(metric)} by input length, attention vs {variant_label(variant)}"
    if _is_empty(summary):
        return no_data_figure(title, "the agreement summary table is empty")
    require_columns(
        summary, ["method_a", "method_b", "pair_kind", "variant", "metric", "group_by", "group", "n", "mean",
                  "mean_low", "mean_high"], table="agreement_summary",
    )
    _require_single(summary, ("dataset", "split", "model", "seed"), table="agreement_summary")
    rows = _select(summary, metric=metric, variant=variant)
    rows = _finite(rows[rows["group_by"] == "length_bucket"], "mean")
    if rows.empty:
        return no_data_figure(title, f"no group_by='length_bucket' rows for metric={metric!r}, variant={variant!r}")

    rows = rows.assign(group=rows["group"].astype(str))
    buckets = sorted(rows["group"].unique(), key=bucket_sort_key)
    position = {bucket: i for i, bucket in enumerate(buckets)}
    pairs = (
        rows[["method_a", "method_b", "pair_kind"]].drop_duplicates(["method_a", "method_b"])
        .assign(rank=lambda f: [(pair_kind_rank(k), method_rank(a), method_rank(b))
                                for k, a, b in zip(f["pair_kind"], f["method_a"], f["method_b"])])
        .sort_values("rank")
    )
    styles = _pair_colors(list(zip(pairs["method_a"], pairs["method_b"])))
    n_pairs = len(pairs)
    spread = min(0.3, 0.06 * (n_pairs - 1))
    offsets = np.linspace(-spread / 2, spread / 2, n_pairs) if n_pairs > 1 else np.zeros(1)

    legend_columns = 1 if n_pairs <= 5 else 2
    longest_label = max(len(pair_label(a, b)) for a, b in zip(pairs["method_a"], pairs["method_b"]))
    legend_width = legend_columns * (0.075 * longest_label + 0.8)  # inches at 9 pt
    figure = new_figure(max(7.0, 2.0 + 1.3 * len(buckets), legend_width), 4.6 + 0.22 * math.ceil(n_pairs / legend_columns))
    ax = figure.add_subplot()
    if metric_kind(metric) == "correlation":
        ax.axhline(0.0, color="0.35", linestyle="--", linewidth=1.0, zorder=0)
    for offset, (method_a, method_b, kind) in zip(offsets, pairs[["method_a", "method_b", "pair_kind"]].itertuples(
            index=False)):
        pair_rows = rows[(rows["method_a"] == method_a) & (rows["method_b"] == method_b)]
        pair_rows = pair_rows.drop_duplicates("group").sort_values("group", key=lambda s: s.map(position))
        x = pair_rows["group"].map(position).to_numpy(dtype=float) + offset
        mean = pair_rows["mean"].to_numpy(dtype=float)
        low = pd.to_numeric(pair_rows["mean_low"], errors="coerce").to_numpy(dtype=float)
        high = pd.to_numeric(pair_rows["mean_high"], errors="coerce").to_numpy(dtype=float)
        below = np.nan_to_num(np.clip(mean - low, 0.0, None), nan=0.0)
        above = np.nan_to_num(np.clip(high - mean, 0.0, None), nan=0.0)
        color, marker = styles[(method_a, method_b)]
        ax.errorbar(
            x, mean, yerr=np.vstack([below, above]), color=color, marker=marker, markersize=5,
            linestyle=PAIR_KIND_LINESTYLES.get(kind, "-"), linewidth=1.6, capsize=3, elinewidth=1.0,
            label=pair_label(method_a, method_b),
        )
    counts = rows.groupby("group")["n"].agg(["min", "max"])
    tick_labels = []
    for bucket in buckets:
        low_n, high_n = counts.loc[bucket, "min"], counts.loc[bucket, "max"]
        n_text = f"{int(low_n)}" if low_n == high_n else f"{int(low_n)}–{int(high_n)}"
        tick_labels.append(f"{bucket}\n(n={n_text})")
    ax.set_xticks(range(len(buckets)), tick_labels)
    ax.set_xlim(-0.5, len(buckets) - 0.5)
    limits = _metric_limits(metric)
    if limits is not None:
        bottom, top = ax.get_ylim()
        ax.set_ylim(max(bottom, limits[0]), min(top, limits[1]))
    ax.set_xlabel("Input length (words)")
    ax.set_ylabel(f"Mean {metric_label(metric)}\n± 95% interval")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=legend_columns, fontsize=9)
    return figure


@styled
def token_heatmaps(importance: pd.DataFrame, example_ids: Iterable[str], methods: Sequence[str]) -> Figure:
    """Word-by-word importance of a few examples under several methods, one panel per example.

    Caption: do the methods point at the same words? Each row is a method and each
    column a word of the example; darker cells are words the method ranks as more
    important. Attention rows that highlight other words than the gradient and
    leave-one-out rows show, on concrete sentences, the disagreement measured in the
    agreement figures.

    Computed from the ``importance`` table: for each example and method, the
    absolute score of each word divided by the largest absolute score of that method
    on that example (so every row spans 0 to 1 and colours compare within a row, not
    across rows; the sign of signed methods is dropped). Scores explain the
    predicted class. Only the first :data:`MAX_WORDS_PER_PANEL` words are drawn (the
    normalisation uses all words); blank cells are words a method did not score.
    """
    example_ids = [str(e) for e in example_ids]
    methods = list(methods)
    title = "Word importance per method"
    if _is_empty(importance) or not example_ids or not methods:
        return no_data_figure(title, "no importance rows, examples or methods were given")
    require_columns(importance, ["example_id", "method", "word_index", "word", "score"], table="importance")
    rows = importance[importance["example_id"].astype(str).isin(example_ids) & importance["method"].isin(methods)]
    if rows.empty:
        return no_data_figure(title, "the importance table has no rows for these examples and methods")
    duplicated = rows.duplicated(["example_id", "method", "word_index"])
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise ValueError(
            f"importance has several rows for example {first['example_id']!r}, method {first['method']!r}, "
            f"word_index {first['word_index']}; it probably mixes runs (seeds, models): select one first"
        )

    panels: list[dict[str, object]] = []
    for example_id in example_ids:
        example = rows[rows["example_id"].astype(str) == example_id]
        present = [m for m in methods if m in set(example["method"])]
        panels.append({"example_id": example_id, "rows": example, "methods": present})
    n_words_shown = max(
        [min(p["rows"]["word_index"].nunique(), MAX_WORDS_PER_PANEL) for p in panels if len(p["rows"])] or [1]
    )
    n_rows_total = sum(max(len(p["methods"]), 1) for p in panels)
    width = max(7.5, 3.8 + 0.3 * n_words_shown)
    height = 0.34 * n_rows_total + 1.75 * len(panels) + 0.3
    figure = new_figure(width, height)
    axes = figure.subplots(
        len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": [max(len(p["methods"]), 1) + 4 for p in panels]},
    )[:, 0]
    norm = Normalize(vmin=0.0, vmax=1.0)
    cmap = mpl.colormaps["rocket_r"]
    for ax, panel in zip(axes, panels):
        example, present, example_id = panel["rows"], panel["methods"], panel["example_id"]
        ax.grid(False)
        if not present:
            write_no_data(ax, f"no importance rows for example {example_id!r} and these methods")
            continue
        words = example.drop_duplicates("word_index").set_index("word_index")["word"].sort_index()
        scores = example.pivot(index="method", columns="word_index", values="score").reindex(
            index=present, columns=words.index
        )
        magnitude = scores.astype(float).abs()
        row_max = magnitude.max(axis=1)
        normalised = magnitude.div(row_max.where(row_max > 0, 1.0), axis=0)
        truncated = normalised.shape[1] > MAX_WORDS_PER_PANEL
        shown = normalised.iloc[:, :MAX_WORDS_PER_PANEL]
        ax.pcolormesh(
            np.ma.masked_invalid(shown.to_numpy()), cmap=cmap, norm=norm, edgecolors="white", linewidth=0.6,
        )
        ax.set_ylim(len(present), 0)
        ax.set_xlim(0, n_words_shown)  # same cell width in every panel; short examples end early
        ax.set_yticks(np.arange(len(present)) + 0.5, [method_label(m) for m in present])
        word_labels = [_short_word(w) for w in words.iloc[:MAX_WORDS_PER_PANEL]]
        ax.set_xticks(np.arange(shown.shape[1]) + 0.5, word_labels, rotation=55, ha="right", rotation_mode="anchor")
        ax.tick_params(axis="both", length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(_example_title(example_id, example, truncated), loc="left", fontsize=11)
    figure.colorbar(
        ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), shrink=min(1.0, 3.0 / max(height, 1.0) + 0.4),
        label="|score| ÷ row maximum (per method, 0–1)",
    )
    return figure


def _short_word(word: object) -> str:
    text = str(word)
    return text if len(text) <= _MAX_WORD_CHARS else text[: _MAX_WORD_CHARS - 1] + "…"


def _example_title(example_id: str, example: pd.DataFrame, truncated: bool) -> str:
    parts = [f"Example {example_id}"]
    details = []
    for column, name in (("predicted", "predicted"), ("label", "label")):
        if column in example.columns and example[column].notna().any():
            details.append(f"{name} {example[column].dropna().iloc[0]}")
    if details:
        parts.append(": " + ", ".join(details))
    if truncated:
        parts.append(f" (first {MAX_WORDS_PER_PANEL} words)")
    return "".join(parts)


@styled
def accuracy_bars(evaluation: pd.DataFrame) -> Figure:
    """Accuracy of every model on every dataset: is each model good enough to explain?

    Caption: agreement and intervention results are only meaningful for models that
    learned the task. Bars well above the dashed chance line, with seed dots close
    together, mean the model learned the task reliably; a bar near chance means its
    explanations should not be interpreted.

    Computed from an evaluation table with columns ``dataset``, ``model``, ``seed``,
    ``accuracy`` (and optionally ``chance``): one panel per dataset, one bar per model
    at the mean accuracy over seeds (value written above), one dot per seed, and a
    dashed line at the mean ``chance`` of the dataset where that column exists.
    """
    title = "Accuracy on the evaluation split"
    if _is_empty(evaluation):
        return no_data_figure(title, "the evaluation table is empty")
    require_columns(evaluation, ["dataset", "model", "seed", "accuracy"], table="evaluation")
    rows = _finite(evaluation, "accuracy")
    if rows.empty:
        return no_data_figure(title, "no finite accuracy values")
    rows = rows.assign(accuracy=rows["accuracy"].astype(float), dataset=rows["dataset"].astype(str),
                       model=rows["model"].astype(str))
    datasets = sorted(rows["dataset"].unique())
    models = sorted(rows["model"].unique())
    colors = {m: METHOD_COLOR_CYCLE[i % len(METHOD_COLOR_CYCLE)] for i, m in enumerate(models)}
    top = 1.0 if rows["accuracy"].max() <= 1.0 else 100.0
    long_names = max(len(m) for m in models) > 8

    n_cols = min(len(datasets), 3)
    n_rows = math.ceil(len(datasets) / n_cols)
    panel_width = max(3.2, 1.0 + 0.75 * len(models))
    figure = new_figure(panel_width * n_cols + 0.6, (3.6 + (0.6 if long_names else 0.0)) * n_rows + 0.5)
    axes = figure.subplots(n_rows, n_cols, sharey=True, squeeze=False).ravel()
    x = np.arange(len(models), dtype=float)
    chance_drawn = False
    for ax, dataset in zip(axes, datasets):
        subset = rows[rows["dataset"] == dataset]
        means = subset.groupby("model")["accuracy"].mean().reindex(models)
        ax.bar(x, means.to_numpy(), width=0.68, color=[colors[m] for m in models], alpha=0.8, zorder=2)
        for i, model in enumerate(models):
            seeds = subset[subset["model"] == model].sort_values("seed")["accuracy"].to_numpy()
            if len(seeds) == 0:
                continue
            jitter = np.linspace(-0.16, 0.16, len(seeds)) if len(seeds) > 1 else np.zeros(1)
            ax.scatter(i + jitter, seeds, s=16, color="0.1", zorder=3, linewidths=0)
            ax.text(i, seeds.max() + 0.02 * top, f"{means[model]:.2f}" if top == 1.0 else f"{means[model]:.1f}",
                    ha="center", va="bottom", fontsize=9, color="0.2")
        if "chance" in subset.columns and subset["chance"].notna().any():
            ax.axhline(float(subset["chance"].astype(float).mean()), color="0.3", linestyle="--", linewidth=1.2,
                       zorder=4)
            chance_drawn = True
        ax.set_xticks(x, models, rotation=30 if long_names else 0, ha="right" if long_names else "center",
                      rotation_mode="anchor")
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_ylim(0.0, 1.1 * top)
        ax.set_title(dataset)
        ax.grid(axis="x", visible=False)
    for ax in axes[len(datasets):]:
        figure.delaxes(ax)
    for ax in axes[::n_cols]:
        ax.set_ylabel("Accuracy")
    handles: list[object] = [Patch(color="0.6", alpha=0.8, label="mean over seeds"),
                             Line2D([], [], marker="o", linestyle="", color="0.1", markersize=4, label="one seed")]
    if chance_drawn:
        handles.append(Line2D([], [], color="0.3", linestyle="--", label="chance"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9)
    figure.suptitle(title)
    return figure


@styled
def attention_concentration(per_example: pd.DataFrame, *, threshold: float) -> Figure:
    """How far each model's attention is from uniform, per example.

    Caption: each dot is one explained example's total-variation distance between an
    attention method's weights and the uniform distribution over its words (0 = uniform,
    near 1 = all weight on one word); boxes span the quartiles over examples and seeds. Left
    of the dashed line (``threshold``) attention is near uniform: no permutation of it can
    move more than twice that much weight, so the permutation test is vacuous there and
    rankings of its weights are near-ties.

    Computed from the per-example concentration table (columns ``dataset``, ``model``,
    ``method``, ``tvd_from_uniform``): one panel per dataset, one row per model x method.
    """
    title = "Distance of attention from uniform"
    if _is_empty(per_example):
        return no_data_figure(title, "no unsigned attention method was computed")
    require_columns(per_example, ["dataset", "model", "method", "tvd_from_uniform"], table="attention concentration")
    rows = _finite(per_example, "tvd_from_uniform")
    if rows.empty:
        return no_data_figure(title, "no finite distances")
    rows = rows.assign(row=rows["model"].astype(str) + " / " + rows["method"].map(method_label))
    order = sorted(rows["row"].unique())
    datasets = sorted(rows["dataset"].astype(str).unique())
    n_cols = min(len(datasets), 2)
    n_rows = math.ceil(len(datasets) / n_cols)
    figure = new_figure(5.2 * n_cols + 0.4, (0.9 + 0.24 * len(order)) * n_rows + 0.6)
    axes = figure.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, dataset in zip(axes, datasets):
        subset = rows[rows["dataset"].astype(str) == dataset]
        sns.boxplot(data=subset, x="tvd_from_uniform", y="row", order=order, ax=ax, color="0.85", fliersize=0,
                    linewidth=0.8, width=0.6)
        sns.stripplot(data=subset, x="tvd_from_uniform", y="row", order=order, ax=ax, size=2.2, color="0.15",
                      alpha=0.5, jitter=0.2)
        ax.axvline(threshold, color="0.3", linestyle="--", linewidth=1.0)
        ax.set_xlim(0.0, 1.0)
        ax.set_title(dataset)
        ax.set_xlabel("TVD from uniform")
        ax.set_ylabel("")
    for ax in axes[len(datasets):]:
        figure.delaxes(ax)
    figure.suptitle(title)
    return figure


def _coverage(summary: pd.DataFrame, *, metric: str, variant: str) -> dict[str, int]:
    """Per method, the most examples any of its pairs was scored on (summed over seeds when rows hold several)."""
    if "n" not in summary:
        return {}
    rows = summary[(summary["metric"] == metric) & (summary["variant"] == variant) & (summary["group_by"] == "all")]
    rows = rows[rows["method_a"] != rows["method_b"]]
    if rows.empty:
        return {}
    pairs = rows.groupby(["method_a", "method_b"])["n"].sum().reset_index()
    both = pd.concat([pairs.rename(columns={"method_a": "method"})[["method", "n"]],
                      pairs.rename(columns={"method_b": "method"})[["method", "n"]]])
    return {str(m): int(n) for m, n in both.groupby("method")["n"].max().items()}


def forest_rows(summary: pd.DataFrame, *, reference: str, ceilings: dict[tuple[str, str, int], str], metric: str,
                 variant: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(attention, ceiling, floor) rows of a forest: every run's agreement with ``reference`` (column ``method``:
    the other method), its ceiling method's and the random floor's."""
    require_columns(summary, ["dataset", "model", "seed", "method_a", "method_b", "pair_kind", "variant", "metric",
                              "group_by", "mean", "mean_low", "mean_high"], table="agreement_summary")
    rows = summary[(summary["metric"] == metric) & (summary["variant"] == variant) & (summary["group_by"] == "all")
                   & ((summary["method_a"] == reference) | (summary["method_b"] == reference))]
    rows = rows.assign(method=np.where(rows["method_a"] == reference, rows["method_b"], rows["method_a"]))
    attention = _finite(rows[rows["pair_kind"] == "attention_vs_causal"], "mean")
    ceiling = rows[[ceilings.get((d, m, int(s))) == method
                    for d, m, s, method in zip(rows["dataset"], rows["model"], rows["seed"], rows["method"])]]
    floor = rows[rows["method"] == "random"].rename(columns={"mean": "value"})
    return attention, ceiling.rename(columns={"mean_low": "low", "mean_high": "high"}), floor


def _forest_limits(metric: str, *frames: pd.DataFrame) -> tuple[float, float] | None:
    """The x range of a forest: the data's (with 0), within the metric's."""
    columns = ("mean", "mean_low", "mean_high", "low", "high", "value")
    values = pd.to_numeric(pd.concat([f[c] for f in frames for c in columns if c in f]), errors="coerce")
    values = values[np.isfinite(values)]
    limits = _metric_limits(metric)
    if len(values) and limits is not None:
        pad = 0.05 * (limits[1] - limits[0])
        limits = (max(limits[0], min(values.min(), 0.0) - pad), min(limits[1], max(values.max(), 0.0) + pad))
    return limits


@styled
def agreement_forest(summary: pd.DataFrame, *, reference: str, ceilings: dict[tuple[str, str, int], str],
                     metric: str = "kendall_tau", variant: str = "abs") -> Figure:
    """How well does each attention method agree with causal importance, against the ceiling and the floor?

    Caption: each dot is one training seed's mean agreement (per-example ``metric`` of
    |scores|) between an attention method and the causal reference, with its 95% interval
    over explained examples; the diamond is the mean over seeds. The green band spans the
    95% intervals of the ceiling (another causal method against the reference, every seed):
    attention inside the band agrees with causal importance as well as causal methods agree
    with each other. The dashed grey line is the random floor. One panel per dataset
    and model. A method scored on part of the examples only (attention flow stops at its
    token limit, so on long texts it averages the shortest) is a mean over those: the
    tables give every row's n.

    Computed from the study's ``agreement_summary`` (``group_by == "all"``): attention-vs-causal
    rows of pairs with ``reference``; ``ceilings`` names the ceiling method of each run
    (dataset, model, seed).
    """
    title = f"Agreement with {method_label(reference)}: {metric_title(metric)} of |scores|"
    if _is_empty(summary):
        return no_data_figure(title, "the agreement summary table is empty")
    attention, ceiling, floor = forest_rows(summary, reference=reference, ceilings=ceilings, metric=metric,
                                             variant=variant)
    if attention.empty:
        return no_data_figure(title, f"no attention-vs-causal rows with {reference!r} for metric={metric!r}")
    return forest(
        attention, col="dataset", row="model", ceiling=ceiling, floor=floor, low="mean_low", high="mean_high",
        xlabel=metric_label(metric), title=title, xlim=_forest_limits(metric, attention, ceiling, floor),
        zero_line=metric_kind(metric) == "correlation", ceiling_label="ceiling: causal vs causal (95% intervals)",
        floor_label="random floor", panel_width=1.75, category_height=0.17, max_columns=5,
    )


def headline_attention(summary: pd.DataFrame, *, reference: str) -> dict[str, str]:
    """Each model's raw attention: the first attention method (in registry order) compared with ``reference``
    in its runs (last-layer head-mean attention for a transformer, the attention layer's weights for an RNN)."""
    rows = summary[((summary["method_a"] == reference) | (summary["method_b"] == reference))
                   & (summary["pair_kind"] == "attention_vs_causal")]
    methods = rows.assign(method=np.where(rows["method_a"] == reference, rows["method_b"], rows["method_a"]))
    return {str(model): sort_methods(part["method"].unique())[0] for model, part in methods.groupby("model")}


@styled
def headline_forest(summary: pd.DataFrame, *, reference: str, ceilings: dict[tuple[str, str, int], str],
                    metric: str = "kendall_tau", variant: str = "abs", max_columns: int = 5) -> Figure:
    """Does each model's attention agree with causal importance? The study's answer in one compact figure.

    Caption: one panel per dataset, one row per model: its raw attention
    (:func:`headline_attention`, named after the model) against the causal reference, each
    dot a training seed's mean agreement with its 95% interval over explained examples, the
    diamond their mean. On each row the green band is that model's ceiling (another causal
    method against the reference, every seed) and the dashed tick its random floor. A model
    whose raw attention gives no ranking (constant, as with uniform attention) has no dots.
    :func:`agreement_forest` shows every attention method.

    Computed from the study's ``agreement_summary`` as :func:`agreement_forest`, keeping each
    model's :func:`headline_attention` method.
    """
    title = f"Raw attention vs {method_label(reference)}: {metric_title(metric)} of |scores|"
    if _is_empty(summary):
        return no_data_figure(title, "the agreement summary table is empty")
    attention, ceiling, floor = forest_rows(summary, reference=reference, ceilings=ceilings, metric=metric,
                                             variant=variant)
    headline = headline_attention(summary, reference=reference)
    attention = attention[[headline.get(m) == method for m, method in zip(attention["model"], attention["method"])]]
    if attention.empty:
        return no_data_figure(title, f"no attention-vs-causal rows with {reference!r} for metric={metric!r}")
    colors = method_palette(sorted(set(headline.values())))
    return forest(
        attention, y="model", col="dataset", ceiling=ceiling, floor=floor, low="mean_low", high="mean_high",
        y_order=sorted(headline, key=lambda m: (method_rank(headline[m]), m)),
        y_label=lambda m: f"{m} ({method_short_label(headline[m])})",
        palette={m: colors[method] for m, method in headline.items()}, xlabel=metric_label(metric), title=title,
        xlim=_forest_limits(metric, attention, ceiling, floor), zero_line=metric_kind(metric) == "correlation",
        ceiling_label="ceiling: causal vs causal (95% intervals)", floor_label="random floor", panel_width=1.75,
        category_height=0.2, max_columns=max_columns, references_per_category=True,
    )
