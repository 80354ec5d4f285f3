"""Per-layer / per-head agreement, held-out selection of the best head, heatmaps, report section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from analysis.heads import head_agreement, head_units, optimism_interval, select_units, selection_set, summarize_heads
from analysis.heads.agreement import MEAN, unit_name
from analysis.heads.config import HeadsConfigError, check_heads_config, heads_methods, heads_models
from analysis.heads.figures import head_heatmaps

RNG = np.random.default_rng(0)


def _examples(n: int, prefix: str = "e") -> pd.DataFrame:
    return pd.DataFrame({"example_id": [f"{prefix}{i}" for i in range(n)], "label": [i % 3 for i in range(n)],
                         "words": [["w"] * 4] * n})


def _importance(scores: dict[str, np.ndarray], family: str = "ablation") -> pd.DataFrame:
    """Importance rows for one causal method: example -> word scores."""
    rows = []
    for example_id, values in scores.items():
        for index, value in enumerate(values):
            rows.append({"example_id": example_id, "method": "loo_delete", "family": family, "signed": True,
                         "word_index": index, "word": f"w{index}", "score": float(value), "predicted": 0,
                         "label": 0, "n_words": len(values)})
    return pd.DataFrame(rows)


def _heads(weights: dict[tuple[str, int, int], np.ndarray]) -> pd.DataFrame:
    rows = []
    for (example_id, layer, head), values in weights.items():
        for index, value in enumerate(values):
            rows.append({"example_id": example_id, "layer": layer, "head": head, "word_index": index,
                         "weight": float(value)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ selection split


def test_selection_set_is_disjoint_stratified_and_deterministic():
    evaluation = _examples(90)
    explain = evaluation.iloc[:30]
    chosen = selection_set(evaluation, explain, 30, seed=0)
    assert len(chosen) == 30
    assert not set(chosen["example_id"]) & set(explain["example_id"])
    assert chosen["label"].value_counts().to_dict() == {0: 10, 1: 10, 2: 10}
    assert chosen["example_id"].tolist() == selection_set(evaluation, explain, 30, seed=0)["example_id"].tolist()
    assert len(selection_set(evaluation, explain, 500, seed=0)) == 60  # only what is left


def test_selection_set_without_spare_examples_names_the_fix():
    evaluation = _examples(10)
    with pytest.raises(ValueError, match="eval_n"):
        selection_set(evaluation, evaluation, 5, seed=0)


# ----------------------------------------------------------------------------- agreement


def test_head_units_add_layer_means_and_the_all_layer_mean():
    weights = {("a", layer, head): RNG.random(5) for layer in range(2) for head in range(3)}
    units = head_units(_heads(weights))
    layer_mean = units[(units["layer"] == 1) & (units["head"] == MEAN)].sort_values("word_index")["weight"]
    expected = np.mean([weights[("a", 1, h)] for h in range(3)], axis=0)
    assert np.allclose(layer_mean, expected)
    overall = units[(units["layer"] == MEAN) & (units["head"] == MEAN)].sort_values("word_index")["weight"]
    assert np.allclose(overall, np.mean(list(weights.values()), axis=0))


def test_a_head_equal_to_the_causal_scores_agrees_perfectly_and_a_reversed_one_not_at_all():
    causal = {f"e{i}": RNG.random(6) for i in range(8)}
    weights = {}
    for example_id, values in causal.items():
        weights[(example_id, 0, 0)] = values
        weights[(example_id, 0, 1)] = values.max() - values
    agreement = head_agreement(_heads(weights), _importance(causal), causal_methods=["loo_delete"],
                               metrics=["kendall_tau"], length_edges=[0])
    by_unit = agreement.groupby(["layer", "head"])["value"].mean()
    assert by_unit[(0, 0)] == pytest.approx(1.0)
    assert by_unit[(0, 1)] == pytest.approx(-1.0)
    summary = summarize_heads(agreement, n_resamples=200)
    assert set(summary["method_a"]) == {unit_name(0, 0), unit_name(0, 1), unit_name(0, MEAN), unit_name(MEAN, MEAN)}


def test_head_agreement_names_missing_causal_methods():
    causal = {"e0": RNG.random(4)}
    with pytest.raises(ValueError, match="integrated_gradients"):
        head_agreement(_heads({("e0", 0, 0): RNG.random(4)}), _importance(causal),
                       causal_methods=["integrated_gradients"], metrics=["kendall_tau"])


def test_last_layer_mean_unit_equals_the_attention_last_mean_method(tiny_bert):
    """The per-head tables and the registered method describe the same attention."""
    from analysis.importance import attention_heads_table, compute_importance, make_method
    from analysis.metrics.agreement import compute_agreement

    sentences = ["the film was great", "a dull plot , not great", "awful", "not a dull film at all", "great plot"]
    examples = pd.DataFrame({"example_id": [f"s{i}" for i in range(5)], "words": [s.split() for s in sentences],
                             "label": [1, 0, 0, 1, 1]})
    loo, _ = compute_importance(tiny_bert, examples, make_method("loo_delete"), progress=False)
    last, _ = compute_importance(tiny_bert, examples, make_method("attention_last_mean"), progress=False)
    heads = attention_heads_table(tiny_bert, examples)
    per_unit = head_agreement(heads, loo, causal_methods=["loo_delete"], metrics=["kendall_tau"])
    direct = compute_agreement(pd.concat([loo, last]), metrics=["kendall_tau"], variants=["abs"], length_edges=[0])
    unit = per_unit[per_unit["method_a"] == unit_name(1, MEAN)].set_index("example_id")["value"]
    method = direct[direct["method_a"] == "attention_last_mean"].set_index("example_id")["value"]
    assert np.allclose(unit.sort_index(), method.sort_index(), equal_nan=True)


def test_whole_model_methods_through_the_top_layer_equal_the_registered_methods(tiny_bert):
    """Rollout, flow and the attention norm through the last layer are the registered methods' scores; through
    layer 1, rollout is that layer's residual-adjusted head mean; the heads' layer means do not include them."""
    from analysis.heads.layers import FLOW, LAYER_METHODS, NORM, ROLLOUT, layer_scores
    from analysis.importance import attention_heads_table, compute_importance, make_method

    sentences = ["the film was great", "a dull plot , not great", "awful", "not a dull film at all", "great plot"]
    examples = pd.DataFrame({"example_id": [f"s{i}" for i in range(5)], "words": [s.split() for s in sentences],
                             "label": [1, 0, 0, 1, 1]})
    methods = {"attention_rollout": {}, "attention_flow": {"max_tokens": 128}, "attention_norm_last": {}}
    layers = layer_scores(tiny_bert, examples, methods, batch_size=2)
    assert set(layers["head"]) == {ROLLOUT, FLOW, NORM} and set(layers["layer"]) == {0, 1}
    top = layers[layers["layer"] == 1]
    for code, name in LAYER_METHODS.items():
        direct, _ = compute_importance(tiny_bert, examples, make_method(name, methods[name]), progress=False)
        mine = top[top["head"] == code].set_index(["example_id", "word_index"])["weight"].sort_index()
        theirs = direct.set_index(["example_id", "word_index"])["score"].sort_index()
        assert np.allclose(mine.to_numpy(), theirs.loc[mine.index].to_numpy(), atol=1e-6), name
    first = layers[(layers["layer"] == 0) & (layers["head"] == ROLLOUT)].set_index(["example_id", "word_index"])
    enc = tiny_bert.encode([s.split() for s in sentences[:1]])
    with torch.no_grad():
        maps = tiny_bert.attention_maps(enc.input_ids, enc.attention_mask)[0, 0].mean(dim=0)  # [T, T] head mean
    row = 0.5 * maps[0] + 0.5 * torch.eye(maps.shape[0])[0]
    words = [float(row[enc.word_index[0] == w].sum()) for w in range(4)]
    assert np.allclose(first.loc["s0", "weight"].sort_index().to_numpy(), words, atol=1e-6)
    heads = attention_heads_table(tiny_bert, examples)
    loo, _ = compute_importance(tiny_bert, examples, make_method("loo_delete"), progress=False)
    with_layers = head_agreement(heads, loo, causal_methods=["loo_delete"], metrics=["kendall_tau"], layers=layers)
    without = head_agreement(heads, loo, causal_methods=["loo_delete"], metrics=["kendall_tau"])
    mean_unit = unit_name(1, MEAN)
    assert np.allclose(with_layers[with_layers["method_a"] == mean_unit]["value"],
                       without[without["method_a"] == mean_unit]["value"], equal_nan=True)
    assert set(with_layers["head"].dropna()) >= {ROLLOUT, FLOW, NORM}


def test_layer_by_layer_norms_score_a_word_once_whatever_the_pooling(tiny_bert):
    """A layer's attention norm sits on each word's first subword (the others hold 0): mean pooling must not
    divide a split word's norm by its subword count, as the registered method does not."""
    from analysis.heads.layers import NORM, layer_scores

    examples = pd.DataFrame({"example_id": ["s0"], "words": [["a", "zeugma", "unremarkably", "great"]], "label": [1]})
    assert len(tiny_bert.tokenizer.tokenize("zeugma")) > 1  # a split word, so pooling could matter
    methods = {"attention_norm_last": {}}
    by = {pooling: layer_scores(tiny_bert, examples, methods, pooling=pooling).query(f"head == {NORM}")
          .sort_values(["layer", "word_index"])["weight"].to_numpy() for pooling in ("sum", "mean")}
    assert np.allclose(by["sum"], by["mean"]) and (by["sum"] > 0).all()


def test_layer_curves_draw_raw_attention_rollout_and_flow_layer_by_layer():
    """Abnar & Zuidema's figure: a curve per layer-by-layer method, ending at the whole-model value; methods
    without a layer-by-layer version stay horizontal lines."""
    from matplotlib.lines import Line2D

    from analysis.heads.figures import layer_agreement_curves
    from analysis.heads.layers import FLOW, ROLLOUT

    heads = pd.DataFrame([{"dataset": "sst2", "model": "minilm", "seed": seed, "method_b": "loo_delete",
                           "metric": "kendall_tau", "layer": layer, "head": head, "mean": base + 0.1 * layer,
                           "mean_low": base, "mean_high": base + 0.2, "subset": "explain", "group_by": "all"}
                          for seed in (0, 1) for layer in range(3)
                          for head, base in ((MEAN, 0.1), (ROLLOUT, 0.2), (FLOW, 0.0))])
    summary = pd.DataFrame([{"dataset": "sst2", "model": "minilm", "seed": 0, "method_a": name, "method_b": "loo_delete",
                             "metric": "kendall_tau", "variant": "abs", "group_by": "all", "mean": 0.3,
                             "mean_low": 0.2, "mean_high": 0.4} for name in ("attention_rollout", "alti")])
    figure = layer_agreement_curves(heads, summary, reference="loo_delete")
    ax = figure.axes[0]
    curves = [line for line in ax.get_lines() if line.get_marker() == "s"]
    assert len(curves) == 2 and all(list(line.get_xdata()) == [1, 2, 3] for line in curves)
    assert sorted(round(line.get_ydata()[-1], 6) for line in curves) == [0.2, 0.4]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1  # ALTI; rollout is a curve, not a line
    labels = [h.get_label() for h in figure.legends[0].legend_handles if isinstance(h, Line2D)]
    assert ("Attention rollout, through each layer" in labels and "Attention flow, through each layer" in labels
            and "ALTI" in labels)
    # the ceiling (here ALTI stands in for a causal method) is a band spanning its seeds' intervals
    banded = layer_agreement_curves(heads, summary, reference="loo_delete", ceilings={("sst2", "minilm", 0): "alti"})
    (band,) = banded.axes[0].patches
    assert np.allclose([band.get_y(), band.get_y() + band.get_height()], [0.2, 0.4])


# ----------------------------------------------------------------------------- selection


def _summary_rows(means: dict[tuple[int, int], float], *, metric: str = "kendall_tau", n: int = 40) -> pd.DataFrame:
    rows = []
    for (layer, head), mean in means.items():
        rows.append({"method_a": unit_name(layer, head), "method_b": "loo_delete", "metric": metric,
                     "layer": layer, "head": head, "n": n, "mean": mean, "mean_low": mean - 0.05,
                     "mean_high": mean + 0.05})
    return pd.DataFrame(rows)


def test_held_out_pick_comes_from_the_selection_split_and_is_reported_on_the_explained_examples():
    selection = _summary_rows({(0, 0): 0.5, (0, 1): 0.1, (1, 0): 0.2, (0, MEAN): 0.3, (1, MEAN): 0.1})
    explain = _summary_rows({(0, 0): 0.2, (0, 1): 0.4, (1, 0): 0.1, (0, MEAN): 0.15, (1, MEAN): 0.25})
    picks = select_units(selection, explain).set_index(["kind", "choice"])
    assert (picks.loc[("head", "held_out"), ["layer", "head"]] == [0, 0]).all()
    assert picks.loc[("head", "held_out"), "mean"] == pytest.approx(0.2)  # reported on the explained examples
    assert picks.loc[("head", "held_out"), "selection_mean"] == pytest.approx(0.5)
    assert (picks.loc[("head", "post_hoc"), ["layer", "head"]] == [0, 1]).all()
    assert (picks.loc[("layer", "held_out"), ["layer", "head"]] == [0, MEAN]).all()
    assert (picks.loc[("layer", "post_hoc"), ["layer", "head"]] == [1, MEAN]).all()


def test_for_a_divergence_the_lowest_value_is_picked():
    selection = _summary_rows({(0, 0): 0.5, (0, 1): 0.1}, metric="jsd")
    picks = select_units(selection, selection).set_index(["kind", "choice"])
    assert (picks.loc[("head", "held_out"), ["layer", "head"]] == [0, 1]).all()


def test_post_hoc_picks_are_optimistic_and_held_out_picks_are_not():
    """72 heads of pure noise: the best head on the reporting data looks good; the held-out one does not."""
    rng = np.random.default_rng(3)

    def noise(n_examples: int) -> pd.DataFrame:
        rows = []
        for layer in range(6):
            for head in range(12):
                for i in range(n_examples):
                    rows.append({"example_id": f"x{i}", "method_b": "loo_delete", "metric": "kendall_tau",
                                 "layer": layer, "head": head, "value": rng.normal(0, 0.3)})
        return pd.DataFrame(rows)

    selection, explain = noise(40), noise(40)

    def summarise(frame: pd.DataFrame) -> pd.DataFrame:
        stats = frame.groupby(["method_b", "metric", "layer", "head"])["value"].agg(["mean", "size"]).reset_index()
        return stats.assign(n=stats["size"], mean_low=stats["mean"] - 0.1, mean_high=stats["mean"] + 0.1)

    picks = select_units(summarise(selection), summarise(explain)).set_index(["kind", "choice"])
    held, post = picks.loc[("head", "held_out")], picks.loc[("head", "post_hoc")]
    assert post["mean"] > 0.08  # the winner's curse: the maximum of 72 noisy means of zero
    assert abs(held["mean"]) < 0.1  # a pick made elsewhere is an honest estimate of zero
    estimate, low, high = optimism_interval(explain, method="loo_delete", metric="kendall_tau", kind="head",
                                            held_out=(int(held["layer"]), int(held["head"])), n_resamples=300)
    assert estimate == pytest.approx(post["mean"] - held["mean"])
    assert 0 < low < estimate < high


# --------------------------------------------------------------------------------- figure


def test_heatmaps_show_one_panel_per_method_and_split_and_mark_the_picks():
    means = {(layer, head): 0.1 * layer - 0.02 * head for layer in range(3) for head in range(4)}
    means |= {(layer, MEAN): 0.05 * layer for layer in range(3)} | {(MEAN, MEAN): 0.1}
    summary = pd.concat([_summary_rows(means).assign(subset=s) for s in ("selection", "explain")])
    picks = select_units(summary[summary["subset"] == "selection"], summary[summary["subset"] == "explain"])
    figure = head_heatmaps(summary, picks, title="t")
    assert isinstance(figure, Figure)
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert len(panels) == 2
    assert sum(len(ax.patches) for ax in panels) == 2 + 2 + 2  # held-out boxes on both panels, post-hoc on explain
    assert "explained examples" in panels[1].get_title()


def test_heatmaps_of_an_empty_table_say_no_data():
    figure = head_heatmaps(pd.DataFrame(), pd.DataFrame())
    assert any("no data" in t.get_text() for ax in figure.axes for t in ax.texts)


# --------------------------------------------------------------------------------- config


def _config(**heads) -> dict:
    settings = {"enabled": True, "selection_n": 10, "methods": None, "metrics": ["kendall_tau"], "variant": "abs",
                "n_resamples": 200, "level": 0.95} | heads
    return {"heads": settings, "models": {"m": {"family": "transformer"}, "r": {"family": "rnn"}},
            "importance": {"methods": {"attention_last_mean": {}, "loo_delete": {}, "jw_gradient": {},
                                       "saliency": {}}}}


def test_heads_run_for_transformers_against_their_causal_methods():
    config = _config()
    assert heads_models(config) == ["m"]
    assert heads_methods(config) == ["loo_delete", "saliency"]  # jw_gradient is RNN-only
    assert heads_models(_config(enabled=False)) == []


@pytest.mark.parametrize(("settings", "message"), [
    ({"methods": ["integrated_gradients"]}, "not in importance.methods"),
    ({"methods": ["attention_last_mean"]}, "causal"),
    ({"methods": ["jw_gradient"]}, "does not apply to transformers"),
    ({"metrics": ["kendal"]}, "unknown metric"),
])
def test_bad_heads_settings_name_the_key(settings, message):
    with pytest.raises(HeadsConfigError, match=message):
        check_heads_config(_config(**settings))


# ------------------------------------------------------------------------- report section


def _variant_summary() -> pd.DataFrame:
    rows = []
    for method, (mean, low, high) in {"attention_last_mean": (0.1, 0.05, 0.15), "attention_flow": (0.3, 0.25, 0.35),
                                      "alti": (0.12, 0.07, 0.17)}.items():
        rows.append({"dataset": "sst2", "model": "minilm", "seed": 0, "method_a": method, "method_b": "loo_delete",
                     "pair_kind": "attention_vs_causal", "variant": "abs", "metric": "kendall_tau",
                     "group_by": "all", "n": 60, "mean": mean, "mean_low": low, "mean_high": high})
    return pd.DataFrame(rows)


def _variant_comparisons(**alti) -> pd.DataFrame:
    """The study's paired comparisons of two variants with raw last-layer attention (attention_vs_attention)."""
    base = {"dataset": "sst2", "model": "minilm", "seed": 0, "reference": "loo_delete", "metric": "kendall_tau",
            "variant": "abs", "comparison": "attention_vs_attention", "correction": "holm", "n": 60}
    return pd.DataFrame([
        base | {"method_a": "attention_flow", "method_b": "attention_last_mean", "mean_difference": 0.2, "low": 0.15,
                "high": 0.25, "p_adjusted": 0.0004, "significant": True},
        base | {"method_a": "alti", "method_b": "attention_last_mean", "mean_difference": 0.02, "low": -0.01,
                "high": 0.05, "p_adjusted": 0.3, "significant": False} | alti,
    ])


def test_report_section_states_differences_only_where_the_paired_test_says_so(tmp_path):
    from analysis.heads.report_section import heads_section

    means = {(layer, head): 0.1 * layer for layer in range(2) for head in range(2)}
    means |= {(layer, MEAN): 0.05 * layer for layer in range(2)}
    summary = pd.concat([_summary_rows(means).assign(subset=s) for s in ("selection", "explain")])
    summary = summary.assign(dataset="sst2", model="minilm", seed=0)
    picks = select_units(summary[summary["subset"] == "selection"], summary[summary["subset"] == "explain"])
    picks = picks.assign(dataset="sst2", model="minilm", seed=0, optimism=0.0, optimism_low=0.0, optimism_high=0.02,
                         vs_last_difference=0.05, vs_last_low=0.01, vs_last_high=0.09, vs_last_p=0.01,
                         vs_last_p_adjusted=0.02)
    cost = pd.DataFrame([{"dataset": "sst2", "model": "minilm", "seed": 0, "method": "value_zeroing",
                          "stage": "explained examples", "n_examples": 60, "seconds_per_example": 0.2,
                          "total_seconds": 12.0, "forward_passes": 26.0}])
    config = {"agreement": {"reference": "loo_delete"}, "figures": {"headline_metric": "kendall_tau"},
              "heads": {"metrics": ["kendall_tau"]}}
    tables = {"heads_summary": summary, "heads_selection": picks, "heads_cost": cost,
              "heads_agreement": _variant_summary(), "heads_comparisons": _variant_comparisons()}
    section = heads_section(config, tables, {})
    variants, heads_text = section.findings
    assert "better than raw last-layer attention (0.10 [0.05, 0.15]): Attention flow 0.30 [0.25, 0.35]" in variants
    assert "not distinguishable from raw last-layer attention" in variants and "ALTI 0.12" in variants
    assert "layer 2, head 1" in heads_text and "held-out selection split of 40 examples" in heads_text
    assert "better than the last layer's head mean" in heads_text and "+0.050 [+0.010, +0.090]" in heads_text
    assert "Value zeroing" in section.markdown and "26.0" in section.markdown
    assert heads_section(config, {}, {}) is None
    # the held-out pick's test is not significant after Holm: no difference is claimed, whatever the intervals
    weak = heads_section(config, tables | {"heads_selection": picks.assign(vs_last_p_adjusted=0.08)}, {})
    assert "not significantly different (after Holm's correction) from the last layer's head mean" in weak.findings[1]
    # no paired test in the tables: the intervals are shown but not compared
    bare = heads_section(config, {k: v for k, v in tables.items() if k != "heads_comparisons"}
                         | {"heads_selection": picks.drop(columns=["vs_last_difference", "vs_last_p_adjusted"])}, {})
    assert "not tested against raw last-layer attention" in bare.findings[0] and "better" not in bare.findings[0]
    assert "untested against the last layer's head mean" in bare.findings[1]


def test_report_section_calls_a_comparison_on_four_examples_untestable():
    from analysis.heads.report_section import untestable, variant_sentences

    assert untestable(4, 0.05) and untestable(5, 0.05) and not untestable(6, 0.05) and not untestable(60, 0.05)
    (sentence,) = variant_sentences(_variant_summary(), reference="loo_delete", metric="kendall_tau",
                                    comparisons=_variant_comparisons(n=4, p_adjusted=0.25))
    assert "untestable at this n against raw last-layer attention" in sentence and "ALTI 0.12 [0.07, 0.17] (4 examples)" \
        in sentence


def test_report_section_follows_the_paired_comparison_when_there_is_one():
    """Overlapping intervals, but a significant paired difference: the paired test decides."""
    from analysis.heads.report_section import variant_sentences

    summary = _variant_summary()
    summary.loc[summary["method_a"] == "alti", ["mean", "mean_low", "mean_high"]] = [0.16, 0.11, 0.21]
    comparisons = pd.DataFrame([
        {"dataset": "sst2", "model": "minilm", "seed": 0, "reference": "loo_delete", "metric": "kendall_tau",
         "variant": "abs", "method_a": "attention_last_mean", "method_b": "alti", "mean_difference": -0.06,
         "low": -0.09, "high": -0.03, "p_adjusted": 0.004, "significant": True, "correction": "holm"},
        {"dataset": "sst2", "model": "minilm", "seed": 0, "reference": "loo_delete", "metric": "kendall_tau",
         "variant": "abs", "method_a": "attention_flow", "method_b": "attention_last_mean", "mean_difference": 0.2,
         "low": -0.01, "high": 0.4, "p_adjusted": 0.2, "significant": False, "correction": "holm"},
    ])
    (sentence,) = variant_sentences(summary, reference="loo_delete", metric="kendall_tau", comparisons=comparisons)
    better, same = sentence.split(" — ")
    assert "better than" in better and "ALTI 0.16" in better and "difference +0.060 [+0.030, +0.090]" in better
    assert "not distinguishable from" in same and "Attention flow" in same


def test_stages_write_agreement_summaries_picks_and_the_figure(tiny_bert, tmp_path):
    """The per-run stage end to end on a tiny model: both splits, picks with optimism and the paired test."""
    from analysis.importance import attention_heads_table, compute_importance, make_method
    from analysis.records import read_table, write_table
    from analysis.stages.heads import HeadAgreementSettings, HeadsFigureSettings, run_head_agreement, run_heads_figure

    sentences = ["the film was great", "a dull plot , not great", "awful and dull", "not a dull film at all",
                 "great plot", "the plot was awful", "a great great film", "not great"]
    paths = {}
    for subset, part in (("explain", sentences[:4]), ("selection", sentences[4:])):
        examples = pd.DataFrame({"example_id": [f"{subset}{i}" for i in range(len(part))],
                                 "words": [s.split() for s in part], "label": [i % 2 for i in range(len(part))]})
        table, _ = compute_importance(tiny_bert, examples, make_method("loo_delete"), progress=False)
        table = table.assign(dataset="d", split="validation", model="m", seed=0, settings="{}", versions="{}")
        paths[f"{subset}_importance"] = write_table(table, tmp_path / f"{subset}_importance.parquet")
        paths[f"{subset}_heads"] = write_table(attention_heads_table(tiny_bert, examples),
                                               tmp_path / f"{subset}_heads.parquet")
    config = {"heads": {"methods": ["loo_delete"], "metrics": ["kendall_tau"], "variant": "abs", "n_resamples": 200,
                        "level": 0.95},
              "agreement": {"length_buckets": [0, 5]}}
    out = {name: tmp_path / f"{name}.parquet" for name in ("agreement", "summary", "selection")}
    run_head_agreement(HeadAgreementSettings.from_config(config), "d", "m", 0,
                       importance_path=paths["explain_importance"], heads_path=paths["explain_heads"],
                       selection_importance_path=paths["selection_importance"],
                       selection_heads_path=paths["selection_heads"], out_agreement=out["agreement"],
                       out_summary=out["summary"], out_selection=out["selection"])
    summary = read_table(out["summary"], table="heads_summary")
    assert set(summary["subset"]) == {"selection", "explain"}
    assert summary["split"].unique().tolist() == ["validation"]  # provenance keeps the data split
    assert len(summary[(summary["subset"] == "explain") & (summary["head"] >= 0)]) == 2 * 2  # layers x heads
    picks = read_table(out["selection"], table="heads_selection")
    assert set(picks["choice"]) == {"held_out", "post_hoc"} and set(picks["kind"]) == {"head", "layer"}
    held = picks[picks["choice"] == "held_out"]
    assert held["optimism"].ge(0).all() and held["vs_last_difference"].notna().all()
    # the difference is the pick's mean excess over the last layer's head mean on the explained examples
    agreement = pd.read_parquet(out["agreement"])
    explained = agreement[agreement["subset"] == "explain"].set_index("example_id")
    last_layer_mean = explained.loc[(explained["layer"] == 1) & (explained["head"] == MEAN), "value"]
    for pick in held.itertuples():
        chosen = explained.loc[(explained["layer"] == pick.layer) & (explained["head"] == pick.head), "value"]
        assert pick.vs_last_difference == pytest.approx((chosen - last_layer_mean).dropna().mean()), pick.kind
    assert picks.loc[picks["choice"] == "post_hoc", "vs_last_difference"].isna().all()
    run_heads_figure(HeadsFigureSettings.from_config(config), summary_path=out["summary"],
                     selection_path=out["selection"], out=tmp_path / "heads.png", title="t")
    assert (tmp_path / "heads.png").stat().st_size > 10_000
