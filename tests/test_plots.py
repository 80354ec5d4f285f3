"""Tests of analysis.plots: figures built from small synthetic contract tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from analysis.plots import figures, style
from analysis.records import AGREEMENT_COLUMNS, IMPORTANCE_COLUMNS, SUMMARY_COLUMNS

PAIRS = [  # (method_a, method_b, family_a, family_b, pair_kind, centre of Kendall tau)
    ("attention_last_mean", "integrated_gradients", "attention", "gradient", "attention_vs_causal", 0.25),
    ("attention_last_mean", "loo_delete", "attention", "ablation", "attention_vs_causal", 0.15),
    ("integrated_gradients", "loo_delete", "gradient", "ablation", "causal_vs_causal", 0.55),
    ("random", "loo_delete", "random", "ablation", "random_vs_causal", 0.0),
]
SHORT_WORDS = ["a", "truly", "wonderful", "film", "with", "one", "flaw"]
BUCKETS = ["21-40", ">40", "1-10", "11-20"]  # deliberately out of order


# --------------------------------------------------------------------------- tables


@pytest.fixture
def agreement() -> pd.DataFrame:
    """Per-instance agreement rows (contract ``agreement``), two metrics and two variants."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(48):
        n_words = int(rng.integers(3, 60))
        bucket = BUCKETS[i % len(BUCKETS)]
        for method_a, method_b, family_a, family_b, kind, centre in PAIRS:
            for variant in ("abs", "signed"):
                tau = float(np.clip(rng.normal(centre, 0.2), -1, 1))
                jsd = float(np.clip(rng.normal(0.5 - centre / 2, 0.08), 0, 1))
                for metric, value, p_value in (("kendall_tau", tau, rng.uniform()), ("jsd", jsd, np.nan)):
                    rows.append({
                        "example_id": f"ex{i}", "method_a": method_a, "method_b": method_b, "family_a": family_a,
                        "family_b": family_b, "pair_kind": kind, "variant": variant, "metric": metric,
                        "value": value, "p_value": p_value, "n_words": n_words, "length_bucket": bucket,
                        "predicted": i % 2,
                    })
    frame = pd.DataFrame(rows)
    assert list(frame.columns) == AGREEMENT_COLUMNS
    return frame


def _summarise(agreement: pd.DataFrame) -> pd.DataFrame:
    """A hand-made ``agreement_summary``: means with percentile intervals per grouping."""
    keys = ["method_a", "method_b", "pair_kind", "variant", "metric"]
    parts = []
    for group_by, column in (("all", None), ("length_bucket", "length_bucket")):
        grouping = keys + ([column] if column else [])
        stats = agreement.groupby(grouping)["value"].agg(
            n="size", mean="mean", median="median",
            mean_low=lambda v: v.mean() - 1.96 * v.std() / np.sqrt(len(v)),
            mean_high=lambda v: v.mean() + 1.96 * v.std() / np.sqrt(len(v)),
        ).reset_index()
        stats["group_by"] = group_by
        stats["group"] = stats[column] if column else "all"
        parts.append(stats)
    summary = pd.concat(parts, ignore_index=True)
    summary["median_low"] = summary["median"] - 0.05
    summary["median_high"] = summary["median"] + 0.05
    summary["share_significant"] = np.nan
    return summary[SUMMARY_COLUMNS]


@pytest.fixture
def summary(agreement: pd.DataFrame) -> pd.DataFrame:
    return _summarise(agreement)


@pytest.fixture
def importance() -> pd.DataFrame:
    """Importance rows (contract ``importance``): a short and a long (55-word) example."""
    rng = np.random.default_rng(1)
    examples = {"short": (SHORT_WORDS, 1, 1),
                "long": ([f"word{j}" for j in range(55)], 0, 1)}
    methods = {"attention_last_mean": ("attention", False), "integrated_gradients": ("gradient", True),
               "loo_delete": ("ablation", True)}
    rows = []
    for example_id, (words, predicted, label) in examples.items():
        for method, (family, signed) in methods.items():
            scores = rng.normal(size=len(words)) if signed else rng.dirichlet(np.ones(len(words)))
            for index, (word, score) in enumerate(zip(words, scores)):
                rows.append({
                    "example_id": example_id, "method": method, "family": family, "signed": signed,
                    "word_index": index, "word": word, "score": float(score), "predicted": predicted,
                    "label": label, "n_words": len(words),
                })
    frame = pd.DataFrame(rows)
    assert list(frame.columns) == IMPORTANCE_COLUMNS
    return frame


@pytest.fixture
def evaluation() -> pd.DataFrame:
    rows = []
    for dataset, chance in (("sst2", 0.5), ("planted_shortcut", 0.5)):
        for model, base in (("bilstm_tanh", 0.82), ("distilbert", 0.9), ("uniform_attention", 0.8)):
            for seed in (0, 1, 2):
                rows.append({"dataset": dataset, "model": model, "seed": seed, "accuracy": base + 0.01 * seed,
                             "chance": chance})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def close() -> Iterator[list[Figure]]:
    """Figures appended to this list are closed after the test."""
    made: list[Figure] = []
    yield made
    for figure in made:
        plt.close(figure)


def _save(figure: Figure, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    figure.savefig(path)
    assert path.stat().st_size > 1000
    return path


def _texts(figure: Figure) -> list[str]:
    texts = [t.get_text() for t in figure.texts]
    for ax in figure.axes:
        texts += [t.get_text() for t in ax.texts] + [ax.get_title(), ax.get_title("left")]
    return texts


def _tick_texts(labels: list) -> list[str]:
    return [label.get_text() for label in labels]


# --------------------------------------------------------------------------- style


def test_method_label_known_and_fallback() -> None:
    assert style.method_label("loo_mask") == "Leave-one-out ([MASK])"
    assert style.method_label("saliency") == "Saliency (‖∇‖)"
    assert style.method_label("attention_flow") == "Attention flow"
    assert style.method_label("loo_unk") == "Leave-one-out [UNK]"
    assert style.method_label("kernel_shap") == "Kernel SHAP"


def test_metric_labels_state_direction() -> None:
    assert "higher = more agreement" in style.metric_label("kendall_tau")
    assert "lower = more agreement" in style.metric_label("jsd")
    assert "lower = more agreement" in style.metric_label("total_variation_distance")
    assert style.metric_label("top7_overlap").startswith("Top7 overlap")


def test_method_palette_is_stable_across_subsets() -> None:
    full = style.method_palette(style.METHOD_ORDER)
    subset = style.method_palette(["loo_mask", "random", "attention_rollout"])
    assert all(subset[m] == full[m] for m in subset)
    known = [full[m] for m in style.METHOD_ORDER]
    assert len(set(known)) == len(known), "known methods must not share a colour"
    assert full["random"] == style.RANDOM_COLOR
    with_unknown = style.method_palette(["zeta_method", "alpha_method", "saliency"])
    assert with_unknown["saliency"] == full["saliency"]
    assert with_unknown["alpha_method"] != with_unknown["zeta_method"]


def test_labels_are_declared_once_and_read_by_style() -> None:
    from analysis.importance import IMPORTANCE_METHODS
    from analysis.metrics.agreement import METRICS

    methods = dict(IMPORTANCE_METHODS.items())
    for name, method in methods.items():
        assert isinstance(method.label, str) and method.label, name
        assert isinstance(method.short_label, str) and method.short_label, name
        assert style.method_label(name) == method.label
        assert style.method_short_label(name) == method.short_label
    orders = [method.order for method in methods.values()]
    assert len(set(orders)) == len(orders), "each method needs its own display position"
    assert style.METHOD_ORDER == tuple(sorted(methods, key=lambda m: methods[m].order))
    assert style.sort_methods(reversed(style.METHOD_ORDER)) == list(style.METHOD_ORDER)
    for name, metric in METRICS.items():
        assert isinstance(metric.label, str) and metric.label, name
        assert isinstance(metric.short_label, str) and metric.short_label, name
        assert style.metric_title(name) == metric.label
        assert style.metric_short_label(name) == metric.short_label
        direction = "higher" if metric.higher_is_better else "lower"
        assert style.metric_label(name) == f"{metric.label} ({direction} = more agreement)"
    assert {name for name, metric in METRICS.items() if metric.compared} == {"kendall_tau", "spearman", "weighted_tau"}


def test_pair_kinds_have_labels_and_colours() -> None:
    kinds = {"attention_vs_causal", "causal_vs_causal", "random_vs_causal", "attention_vs_attention",
             "random_vs_attention"}
    assert set(style.PAIR_KIND_LABELS) == kinds == set(style.PAIR_KIND_COLORS)
    assert "ceiling" in style.PAIR_KIND_LABELS["causal_vs_causal"]
    assert "floor" in style.PAIR_KIND_LABELS["random_vs_causal"]


def test_apply_style_sets_print_resolution() -> None:
    with mpl.rc_context():
        style.apply_style()
        assert mpl.rcParams["figure.dpi"] == 150
        assert mpl.rcParams["axes.grid"]


def test_figures_leave_global_style_alone(agreement: pd.DataFrame, close: list[Figure]) -> None:
    before = dict(mpl.rcParams)
    close.append(figures.agreement_distributions(agreement))
    assert dict(mpl.rcParams) == before


# --------------------------------------------------------------------------- figures


def test_agreement_distributions(agreement: pd.DataFrame, tmp_path: Path, close: list[Figure]) -> None:
    figure = figures.agreement_distributions(agreement, metric="kendall_tau", variant="abs")
    close.append(figure)
    _save(figure, tmp_path, "distributions")
    assert len(figure.axes) == 1
    ax = figure.axes[0]
    labels = _tick_texts(ax.get_yticklabels())
    assert set(labels) == {style.pair_label(a, b) for a, b, *_ in PAIRS}
    assert labels[0] == "Integrated gradients vs Leave-one-out (delete)"  # the ceiling first
    assert labels[-1] == "Random vs Leave-one-out (delete)"  # the floor last
    # Within a kind, higher agreement first.
    assert labels.index("Attention (last layer, head mean) vs Integrated gradients") < labels.index(
        "Attention (last layer, head mean) vs Leave-one-out (delete)")
    zero_lines = [line for line in ax.get_lines() if list(line.get_xdata()) == [0, 0] and line.get_linestyle() == "--"]
    assert zero_lines, "correlations need a dashed line at 0"
    legend_texts = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert "Causal vs causal (ceiling)" in legend_texts and "Random vs causal (floor)" in legend_texts
    assert "n=48" in _texts(figure)


def test_agreement_distributions_divergence_has_no_zero_line(agreement: pd.DataFrame, close: list[Figure]) -> None:
    figure = figures.agreement_distributions(agreement, metric="jsd", variant="signed")
    close.append(figure)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "Jensen–Shannon divergence (lower = more agreement)"
    assert not [line for line in ax.get_lines() if list(line.get_xdata()) == [0, 0]]
    # Lower divergence is more agreement: the attention pair with less divergence comes first.
    labels = _tick_texts(ax.get_yticklabels())
    assert labels.index("Attention (last layer, head mean) vs Integrated gradients") < labels.index(
        "Attention (last layer, head mean) vs Leave-one-out (delete)")


def test_agreement_matrix_annotations_equal_means(summary: pd.DataFrame, tmp_path: Path,
                                                  close: list[Figure]) -> None:
    figure = figures.agreement_matrix(summary, metric="kendall_tau", variant="abs")
    close.append(figure)
    _save(figure, tmp_path, "matrix")
    assert len(figure.axes) == 2  # heatmap and colour bar
    ax = figure.axes[0]
    row_labels = _tick_texts(ax.get_yticklabels())
    col_labels = _tick_texts(ax.get_xticklabels())
    expected_methods = ["attention_last_mean", "integrated_gradients", "loo_delete", "random"]
    assert row_labels == col_labels == [style.method_label(m) for m in expected_methods]

    means = summary[(summary["group_by"] == "all") & (summary["metric"] == "kendall_tau")
                    & (summary["variant"] == "abs")]
    expected = {}
    for a, b, mean in zip(means["method_a"], means["method_b"], means["mean"]):
        expected[(style.method_label(a), style.method_label(b))] = f"{mean:.2f}"
        expected[(style.method_label(b), style.method_label(a))] = f"{mean:.2f}"
    found = {}
    for text in ax.texts:
        x, y = text.get_position()
        found[(row_labels[int(y)], col_labels[int(x)])] = text.get_text()
    assert found == expected  # both triangles, nothing on the diagonal or for absent pairs
    assert figure.axes[1].get_ylabel().replace("\n", " ") == "Kendall τ (higher = more agreement)"


def test_agreement_matrix_over_seeds_shows_the_mean_of_the_seeds_means(summary: pd.DataFrame,
                                                                        close: list[Figure]) -> None:
    seeds = pd.concat([summary.assign(seed=0), summary.assign(seed=1, mean=summary["mean"] + 0.2)])
    with pytest.raises(ValueError, match="mixes 2 values of 'seed'"):
        figures.agreement_matrix(seeds)
    figure = figures.agreement_matrix(seeds, over_seeds=True)
    close.append(figure)
    ax = figure.axes[0]
    rows, cols = _tick_texts(ax.get_yticklabels()), _tick_texts(ax.get_xticklabels())
    cells = {(rows[int(t.get_position()[1])], cols[int(t.get_position()[0])]): t.get_text() for t in ax.texts}
    pair = summary[(summary["group_by"] == "all") & (summary["metric"] == "kendall_tau") & (summary["variant"] == "abs")
                   & (summary["method_a"] == "attention_last_mean") & (summary["method_b"] == "loo_delete")]
    expected = f"{float(pair['mean'].iloc[0]) + 0.1:.2f}"
    assert cells[(style.method_label("attention_last_mean"), style.method_label("loo_delete"))] == expected
    assert "2 seeds" in figure.get_suptitle()


def test_agreement_matrix_rejects_mixed_runs(summary: pd.DataFrame) -> None:
    mixed = pd.concat([summary.assign(model="bilstm"), summary.assign(model="distilbert")])
    with pytest.raises(ValueError, match="mixes 2 values of 'model'"):
        figures.agreement_matrix(mixed)


def test_agreement_by_length(summary: pd.DataFrame, tmp_path: Path, close: list[Figure]) -> None:
    figure = figures.agreement_by_length(summary, metric="kendall_tau", variant="abs")
    close.append(figure)
    _save(figure, tmp_path, "by_length")
    assert len(figure.axes) == 1
    ax = figure.axes[0]
    buckets = [label.split("\n")[0] for label in _tick_texts(ax.get_xticklabels())]
    assert buckets == ["1-10", "11-20", "21-40", ">40"]
    legend_texts = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert sorted(legend_texts) == sorted(style.pair_label(a, b) for a, b, *_ in PAIRS)
    data_lines = {c.get_label(): c.lines[0] for c in ax.containers if isinstance(c, ErrorbarContainer)}
    assert sorted(data_lines) == sorted(legend_texts)
    colours = [line.get_color() for line in data_lines.values()]
    assert len(set(colours)) == len(colours), "each method pair needs its own colour"
    # Error bars have the colour of their pair's line.
    for container in ax.containers:
        bar_colours = {tuple(c) for c in container.lines[2][0].get_colors()}
        assert bar_colours == {mpl.colors.to_rgba(container.lines[0].get_color())}
    # The same pair keeps its colour when the rows come in another order.
    again = figures.agreement_by_length(summary.sample(frac=1.0, random_state=3))
    close.append(again)
    colours_again = {c.get_label(): c.lines[0].get_color() for c in again.axes[0].containers}
    assert colours_again == {label: line.get_color() for label, line in data_lines.items()}
    # Points sit at the bucket means of the table.
    ceiling = data_lines["Integrated gradients vs Leave-one-out (delete)"]
    rows = summary[(summary["group_by"] == "length_bucket") & (summary["metric"] == "kendall_tau")
                   & (summary["variant"] == "abs") & (summary["method_a"] == "integrated_gradients")]
    expected = rows.set_index("group").loc[["1-10", "11-20", "21-40", ">40"], "mean"].to_numpy()
    np.testing.assert_allclose(ceiling.get_ydata(), expected)


def test_bucket_sort_key_orders_naturally() -> None:
    labels = [">40", "11-20", "<5", "5-10", "21-40", "other"]
    assert sorted(labels, key=figures.bucket_sort_key) == ["<5", "5-10", "11-20", "21-40", ">40", "other"]


def test_token_heatmaps(importance: pd.DataFrame, tmp_path: Path, close: list[Figure]) -> None:
    methods = ["attention_last_mean", "integrated_gradients", "loo_delete"]
    figure = figures.token_heatmaps(importance, ["short", "long"], methods)
    close.append(figure)
    _save(figure, tmp_path, "tokens")
    assert len(figure.axes) == 3  # two panels and a shared colour bar
    short_ax, long_ax, colorbar_ax = figure.axes
    assert _tick_texts(short_ax.get_yticklabels()) == [style.method_label(m) for m in methods]
    assert _tick_texts(short_ax.get_xticklabels()) == SHORT_WORDS
    assert short_ax.get_title(loc="left") == "Example short: predicted 1, label 1"
    assert "(first 40 words)" in long_ax.get_title(loc="left")
    assert len(long_ax.get_xticklabels()) == figures.MAX_WORDS_PER_PANEL
    assert "row maximum" in colorbar_ax.get_ylabel()
    mesh = next(c for c in short_ax.collections if isinstance(c, QuadMesh))
    values = np.asarray(mesh.get_array()).reshape(len(methods), -1)
    np.testing.assert_allclose(values.max(axis=1), 1.0)
    assert values.min() >= 0.0
    # The normalised cells are |score| / max |score| of the row.
    ig = importance[(importance["example_id"] == "short") & (importance["method"] == "integrated_gradients")]
    np.testing.assert_allclose(values[1], ig["score"].abs() / ig["score"].abs().max())


def test_token_heatmaps_missing_example_says_no_data(importance: pd.DataFrame, close: list[Figure]) -> None:
    figure = figures.token_heatmaps(importance, ["short", "absent"], ["loo_delete"])
    close.append(figure)
    assert len(figure.axes) == 3
    assert figures.NO_DATA_TEXT in [t.get_text() for t in figure.axes[1].texts]


def test_accuracy_bars(evaluation: pd.DataFrame, tmp_path: Path, close: list[Figure]) -> None:
    figure = figures.accuracy_bars(evaluation)
    close.append(figure)
    _save(figure, tmp_path, "accuracy")
    assert len(figure.axes) == 2  # one facet per dataset
    for ax in figure.axes:
        dataset = ax.get_title()
        subset = evaluation[evaluation["dataset"] == dataset]
        bars = [p for p in ax.patches if isinstance(p, Rectangle)]
        expected = subset.groupby("model")["accuracy"].mean().sort_index().to_numpy()
        np.testing.assert_allclose([bar.get_height() for bar in bars], expected)
        assert _tick_texts(ax.get_xticklabels()) == sorted(subset["model"].unique())
        points = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
        assert points == len(subset)  # one dot per seed
        chance = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(chance) == 1 and list(chance[0].get_ydata()) == [0.5, 0.5]


def test_accuracy_bars_without_chance_has_no_line(evaluation: pd.DataFrame, close: list[Figure]) -> None:
    figure = figures.accuracy_bars(evaluation.drop(columns="chance"))
    close.append(figure)
    assert all(not isinstance(a, Line2D) or a.get_linestyle() != "--" for ax in figure.axes for a in ax.get_lines())


@pytest.mark.parametrize(
    ("function", "columns"),
    [
        (figures.agreement_distributions, AGREEMENT_COLUMNS),
        (figures.agreement_matrix, SUMMARY_COLUMNS),
        (figures.agreement_by_length, SUMMARY_COLUMNS),
        (figures.accuracy_bars, ["dataset", "model", "seed", "accuracy"]),
    ],
)
def test_empty_tables_say_no_data(function, columns: list[str], tmp_path: Path, close: list[Figure]) -> None:
    for frame in (pd.DataFrame(columns=columns), pd.DataFrame()):
        figure = function(frame)
        close.append(figure)
        _save(figure, tmp_path, function.__name__)
        assert figures.NO_DATA_TEXT in _texts(figure)


def test_empty_selection_says_no_data(agreement: pd.DataFrame, summary: pd.DataFrame, close: list[Figure]) -> None:
    for figure in (
        figures.agreement_distributions(agreement, metric="spearman_rho"),
        figures.agreement_matrix(summary, variant="nonexistent"),
        figures.agreement_by_length(summary[summary["group_by"] == "all"]),
        figures.token_heatmaps(pd.DataFrame(columns=IMPORTANCE_COLUMNS), ["short"], ["loo_delete"]),
        figures.token_heatmaps(pd.DataFrame(), [], []),
    ):
        close.append(figure)
        assert figures.NO_DATA_TEXT in _texts(figure)


def test_missing_columns_raise(agreement: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        figures.agreement_distributions(agreement.drop(columns="pair_kind"))


def test_every_figure_has_a_caption() -> None:
    for function in (figures.agreement_distributions, figures.agreement_matrix, figures.agreement_by_length,
                     figures.token_heatmaps, figures.accuracy_bars):
        assert "Caption:" in (function.__doc__ or "") and "Computed from" in (function.__doc__ or "")


# ----------------------------------------------------------------------------- kit


def _forest_summary() -> pd.DataFrame:
    rows = []
    for dataset in ("sst2", "imdb"):
        for model, attention in (("bilstm", "rnn_attention"), ("minilm", "attention_last_mean")):
            for seed in (0, 1, 2):
                for method, kind, mean in ((attention, "attention_vs_causal", 0.2 + 0.02 * seed),
                                           ("integrated_gradients", "causal_vs_causal", 0.5),
                                           ("random", "random_vs_causal", 0.0)):
                    rows.append({"dataset": dataset, "model": model, "seed": seed, "method_a": method,
                                 "method_b": "loo_delete", "pair_kind": kind, "variant": "abs",
                                 "metric": "kendall_tau", "group_by": "all", "mean": mean, "mean_low": mean - 0.1,
                                 "mean_high": mean + 0.1})
    return pd.DataFrame(rows)


def test_forest_has_a_panel_per_dataset_and_model_seeds_as_points_the_ceiling_band_and_the_floor(
        tmp_path: Path, close: list[Figure]) -> None:
    from analysis.plots import kit

    summary = _forest_summary()
    ceilings = {(d, m, s): "integrated_gradients" for d, m, s in
                summary[["dataset", "model", "seed"]].drop_duplicates().itertuples(index=False)}
    figure = figures.agreement_forest(summary, reference="loo_delete", ceilings=ceilings)
    close.append(figure)
    panels = [ax for ax in figure.axes if ax.get_yticklabels()]
    assert len(panels) == 4  # 2 datasets x 2 models
    first = panels[0]
    assert {t.get_text() for t in first.get_yticklabels()} == {"Attention"}
    spans = [p.get_extents().transformed(first.transData.inverted()) for p in first.patches]
    assert any(box.x0 == pytest.approx(0.4, abs=0.01) and box.x1 == pytest.approx(0.6, abs=0.01) for box in spans)
    dashed = [line for line in first.lines if line.get_linestyle() == "--"]
    assert dashed and dashed[0].get_xdata()[0] == pytest.approx(0.0)  # the floor
    points = sum(len(c.get_offsets()) for c in first.collections if isinstance(c, PathCollection))
    assert points == 3 + 1  # three seeds and their mean
    # every panel names its dataset and model; the legend and the x label do not overlap
    assert {ax.get_title(loc="left") for ax in panels} == {f"{d} · {m}" for d in ("sst2", "imdb")
                                                           for m in ("bilstm", "minilm")}
    figure.draw_without_rendering()
    from matplotlib.text import Text

    renderer = figure.canvas.get_renderer()
    label = [t for t in figure.findobj(Text) if t.get_text().startswith("Kendall") and t.get_visible()]
    legends = [legend for part in [figure, *figure.subfigs] for legend in part.legends]
    assert len(label) == 1 and len(legends) == 1
    assert not label[0].get_window_extent(renderer).overlaps(legends[0].get_window_extent(renderer))
    path = kit.save_figure(figure, tmp_path / "forest.png")
    from PIL import Image

    with Image.open(path) as image:
        assert image.width <= kit.STORED_WIDTH_PX + 40  # stored at about 1.5x the display width


def test_headline_forest_shows_each_models_raw_attention_per_dataset_with_its_own_ceiling(
        close: list[Figure]) -> None:
    """One panel per dataset, one row per model (its first attention method in registry order, not rollout),
    each row with its own ceiling band; a model whose raw attention ranks nothing (NaN) has no dots."""
    summary = _forest_summary()
    extra = summary[summary["method_a"] == "attention_last_mean"].assign(method_a="attention_rollout", mean=0.9,
                                                                        mean_low=0.85, mean_high=0.95)
    uniform = summary[summary["model"] == "bilstm"].assign(model="uniform")
    uniform.loc[uniform["method_a"] == "rnn_attention", ["mean", "mean_low", "mean_high"]] = np.nan
    uniform.loc[uniform["method_a"] == "integrated_gradients", ["mean_low", "mean_high"]] = (0.7, 0.8)
    summary = pd.concat([summary, extra, uniform], ignore_index=True)
    assert figures.headline_attention(summary, reference="loo_delete") == {
        "bilstm": "rnn_attention", "minilm": "attention_last_mean", "uniform": "rnn_attention"}
    ceilings = {(d, m, s): "integrated_gradients" for d, m, s in
                summary[["dataset", "model", "seed"]].drop_duplicates().itertuples(index=False)}
    figure = figures.headline_forest(summary, reference="loo_delete", ceilings=ceilings)
    close.append(figure)
    panels = [ax for ax in figure.axes if ax.axison]
    assert [ax.get_title(loc="left") for ax in panels] == ["imdb", "sst2"]
    rows = [t.get_text() for t in panels[0].get_yticklabels()]
    assert rows == ["minilm (Attn last)", "bilstm (Attn)"]  # registry order of their methods; no uniform row
    xs = [x for c in panels[0].collections if isinstance(c, PathCollection) for x, _ in c.get_offsets()]
    assert max(xs) < 0.5  # rollout (0.9) is not drawn
    bands = [c.get_datalim(panels[0].transData) for c in panels[0].collections if not isinstance(c, PathCollection)]
    assert len(bands) == 2 and all(b.height < 1.0 for b in bands)  # one band per row, each within its row


def test_width_rule_and_save(tmp_path: Path, close: list[Figure]) -> None:
    from PIL import Image

    from analysis.plots import kit

    assert kit.stored_dpi(4.0) == pytest.approx(kit.DISPLAY_DPI * kit.STORED_SCALE)
    assert kit.stored_dpi(20.0) * 20.0 == pytest.approx(kit.STORED_WIDTH_PX)
    assert kit.display_width(1350) == 900 and kit.display_width(600) == 400
    wide = kit.new_figure(20.0, 3.0)
    wide.add_subplot().plot([0, 1])
    close.append(wide)
    wide.savefig(tmp_path / "stage.png")  # a stage saves without arguments: the figure's own resolution holds
    with Image.open(tmp_path / "stage.png") as image:
        assert image.width == kit.STORED_WIDTH_PX


def test_dot_grid_wraps_panels_and_keeps_each_rows_categories(close: list[Figure]) -> None:
    from analysis.plots import kit

    rows = pd.DataFrame([{"model": f"m{i}", "measure": measure, "method": method, "seed": seed, "mean": 0.5,
                          "mean_low": 0.4, "mean_high": 0.6}
                         for i in range(6) for measure in ("a", "b") for seed in (0, 1)
                         for method in (("loo_delete", "random") if measure == "a" else ("saliency",))])
    figure = kit.dot_grid(rows, col="model", row="measure", points="seed", max_columns=4)
    close.append(figure)
    visible = [ax for ax in figure.axes if ax.axison]
    assert len(visible) == 12 and figure.get_figwidth() <= kit.MAX_DESIGN_WIDTH_IN * 1.15
    labels = [{t.get_text() for t in ax.get_yticklabels()} for ax in visible if any(
        t.get_text() for t in ax.get_yticklabels())]
    assert {"Leave-one-out (delete)", "Random"} in labels and {"Saliency (‖∇‖)"} in labels


def test_panels_of_models_ranked_by_the_same_methods_share_a_row_without_empty_categories(
        close: list[Figure]) -> None:
    """Five RNNs (4 rankings) side by side, the transformer (6 rankings) in the next row of panels: no RNN panel
    lists a transformer-only method."""
    from analysis.interventions.figures import flip_fractions

    rnn_methods = ["rnn_attention", "saliency", "loo_delete", "random"]
    models = {f"rnn{i}": rnn_methods for i in range(5)} | {
        "bert": ["attention_last_mean", "attention_rollout", "saliency", "loo_delete", "random", "alti"]}
    summary = pd.DataFrame([{"dataset": "sst2", "test": "removal", "measure": "fraction_items", "group": "all",
                             "model": model, "seed": seed, "method": method, "mean": 0.5, "mean_low": 0.4,
                             "mean_high": 0.6} for model, methods in models.items() for method in methods
                            for seed in (0, 1)])
    figure = flip_fractions(summary)
    close.append(figure)
    visible = [ax for ax in figure.axes if ax.axison]
    assert [ax.get_title(loc="left") for ax in visible] == ["rnn0", "rnn1", "rnn2", "rnn3", "rnn4", "bert"]
    assert [len(ax.get_yticks()) for ax in visible] == [4] * 5 + [6]


def test_highlighted_lines_colour_a_few_and_grey_the_rest(close: list[Figure]) -> None:
    from analysis.plots import kit

    curves = pd.DataFrame([{"method": m, "x": x, "y": x * i} for i, m in enumerate(
        ("rnn_attention", "saliency", "loo_delete", "integrated_gradients", "random")) for x in (0.0, 0.5, 1.0)])
    figure = kit.new_figure(4, 3)
    close.append(figure)
    ax = figure.add_subplot()
    handles = kit.highlighted_lines(ax, curves, x="x", y="y", group="method", highlight=["rnn_attention", "random"])
    assert [h.get_label() for h in handles] == ["Attention", "Random", "other methods"]
    grey = [line for line in ax.lines if line.get_color() == kit.GREY]
    assert len(grey) == 3


def test_figures_of_every_analysis_use_the_public_kit_only() -> None:
    import re

    root = Path(__file__).resolve().parent.parent / "analysis"
    private = re.compile(r"from analysis\.(\w+)[\w.]* import .*\b_[a-z]\w*")
    offenders = []
    for path in root.rglob("*.py"):
        package = path.relative_to(root).parts[0]
        for line in path.read_text().splitlines():
            match = private.search(line)
            if match and match[1] != package and "plots" in line:
                offenders.append(f"{path.relative_to(root)}: {line.strip()}")
    assert offenders == []


def test_agreement_matrix_labels_a_method_scored_on_part_of_the_examples(summary: pd.DataFrame) -> None:
    """Attention flow stops at its token limit: a mean over the shortest texts only must not pass for one over all."""
    rows = summary.copy()
    methods = sorted(set(rows["method_a"]) | set(rows["method_b"]))
    partial = methods[0]
    total = int(rows["n"].max())
    rows.loc[(rows["method_a"] == partial) | (rows["method_b"] == partial), "n"] = total // 4
    figure = figures.agreement_matrix(rows, metric="kendall_tau", variant="abs")
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    marked = [label for label in labels if f"({total // 4:,} of {total:,} ex.)" in label]
    assert len(marked) == 1 and marked[0].startswith(style.method_label(partial))
