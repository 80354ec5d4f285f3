"""Causal-test stages end to end on tiny saved models: tables, summaries, cost, figures, report section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.config import load_config
from analysis.interventions.comparisons import MEASURE_RANGES
from analysis.interventions.summaries import summarize_long, summarize_with_tests, uniform_attention_comparison
from analysis.provenance import with_provenance
from analysis.records import EXAMPLE_COLUMNS, write_table
from analysis.stages.interventions import (
    RUN_OUTPUTS,
    InterventionFiguresSettings,
    InterventionSettings,
    InterventionsGatherSettings,
    gather_interventions,
    interventions_figures,
    run_interventions,
)

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["the film was great", "a dull plot", "not awful at all the film", "great fun", "the plot was not dull",
             "a great film", "awful", "dull and awful plot"]


def _examples() -> pd.DataFrame:
    words = [s.split() for s in SENTENCES]
    return pd.DataFrame({
        "example_id": [f"ex{i:02d}" for i in range(len(words))], "dataset": "synthetic", "split": "test",
        "text": SENTENCES, "words": words, "n_words": [len(w) for w in words], "label": [i % 2 for i in range(len(words))],
        "label_name": "x", "gt_mask": None,
    })[EXAMPLE_COLUMNS]


def _config(tmp_path: Path) -> dict:
    config = load_config(ROOT / "config" / "tiny.yaml", {"results_dir": str(tmp_path)})
    config["interventions"].update({"examples": 6, "transformer_examples": 3, "n_resamples": 100})
    config["interventions"]["permutation"]["draws"] = 8
    config["interventions"]["adversarial"].update({"steps": 8, "restarts": 2,
                                                   "transformer": {"steps": 3, "restarts": 1, "check_examples": 2}})
    config["interventions"]["ablation"]["curve_points"] = 4
    config["device"] = "cpu"
    return config


def _run(model, tmp_path: Path, name: str, methods: list[str]) -> dict[str, str]:
    """Save ``model``, write explained examples and an importance table, run both stages; returns paths."""
    job = _prepare(model, tmp_path, name, methods)
    run_interventions(**job)
    return job["outputs"]


def _prepare(model, tmp_path: Path, name: str, methods: list[str]) -> dict:
    """Save ``model``, write explained examples and an importance table; the arguments of run_interventions."""
    from analysis.importance import compute_importance, make_method
    from analysis.records import IMPORTANCE_COLUMNS

    run = tmp_path / "synthetic" / name / "0"
    model.save(str(run / "model"))
    examples = _examples()
    write_table(with_provenance(examples, dataset="synthetic", split="test", model="", seed=0),
                tmp_path / "explain.parquet")
    tables = []
    for method in methods:
        table, _ = compute_importance(model, examples, make_method(method), progress=False)
        tables.append(table[IMPORTANCE_COLUMNS])
    write_table(with_provenance(pd.concat(tables), dataset="synthetic", split="test", model=name, seed=0),
                run / "importance.parquet")
    config = _config(tmp_path)
    paths = {n: str(run / "interventions" / f"{n}.parquet") for n in RUN_OUTPUTS}
    return {"settings": InterventionSettings.from_config(config), "dataset": "synthetic", "model_name": name,
            "seed": 0, "model_dir": str(run / "model"), "explain_path": str(tmp_path / "explain.parquet"),
            "importance_path": str(run / "importance.parquet"), "outputs": paths}


def _tiny_rnn():
    from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary

    torch.manual_seed(0)
    vocab = Vocabulary.build([s.split() for s in SENTENCES])
    return RNNClassifier(AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, embed_dim=16, hidden_dim=8,
                                                attention_dim=8, dropout=0.0)), vocab, max_length=32)


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory, minilm_tokenizer):
    """One RNN and one BERT run through both stages, shared by the tests of this module (about 10 s)."""
    from transformers import BertConfig, BertForSequenceClassification

    from analysis.models.attention_probe import PROBE_NAME
    from analysis.models.transformer import TransformerClassifier

    rnn = _tiny_rnn()
    config = BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=2, max_position_embeddings=64,
                        attn_implementation="eager")
    network = BertForSequenceClassification(config)
    network.set_attn_implementation(PROBE_NAME)
    bert = TransformerClassifier(network, minilm_tokenizer, max_length=64)
    tmp_path = tmp_path_factory.mktemp("interventions")
    return tmp_path, {
        "rnn": _run(rnn, tmp_path, "rnn", ["rnn_attention", "loo_delete", "saliency"]),
        "bert": _run(bert, tmp_path, "bert", ["attention_last_mean", "loo_delete"]),
    }


def test_an_interrupted_run_reuses_its_finished_tests(tmp_path, monkeypatch, caplog):
    """Killed during the removal test, the rerun reads the four finished model-side tests back, runs the
    rest, and writes the tables of an uninterrupted run."""
    import analysis.interventions.model_side as model_side

    methods = ["rnn_attention", "loo_delete"]
    whole = _run(_tiny_rnn(), tmp_path / "whole", "rnn", methods)
    job = _prepare(_tiny_rnn(), tmp_path / "resumed", "rnn", methods)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("simulated interruption")

    with monkeypatch.context() as patch:
        patch.setattr(model_side, "removal_test", killed)
        with pytest.raises(KeyboardInterrupt):
            run_interventions(**job)
    assert not Path(job["outputs"]["summary"]).exists()
    with caplog.at_level("INFO", logger="analysis.records"):
        run_interventions(**job)
    reused = {r.getMessage().split(":")[0] for r in caplog.records if "reusing the finished result" in r.getMessage()}
    assert reused == {"permutation", "adversarial", "uniform", "zeroing"}
    for name in RUN_OUTPUTS:
        expected, got = pd.read_parquet(whole[name]), pd.read_parquet(job["outputs"][name])
        if name == "cost":  # the same tests and work; the seconds are the clock's
            expected, got = (t.drop(columns=["seconds", "seconds_per_example"]) for t in (expected, got))
        pd.testing.assert_frame_equal(got, expected, check_like=True)


def test_a_changed_importance_table_reruns_only_the_tests_that_read_its_rankings(tmp_path, caplog):
    """The attention tests do not read the importance table: a method added to it (or an explain rerun that
    rewrites it with the same rankings) keeps them; removal and input ablation rerun only when a ranking changed."""
    from analysis.importance import compute_importance, make_method
    from analysis.records import IMPORTANCE_COLUMNS

    def reused_tests() -> set[str]:
        caplog.clear()
        with caplog.at_level("INFO", logger="analysis.records"):
            run_interventions(**job)
        return {r.getMessage().split(":")[0] for r in caplog.records if "reusing the finished result" in r.getMessage()}

    model = _tiny_rnn()
    job = _prepare(model, tmp_path, "rnn", ["rnn_attention", "loo_delete"])
    assert reused_tests() == set()
    path = Path(job["importance_path"])
    before = pd.read_parquet(path)
    write_table(before, path)  # rewritten, same rankings
    assert reused_tests() == {"permutation", "adversarial", "uniform", "zeroing", "removal",
                              "input ablation (all rankings)"}
    added, _ = compute_importance(model, _examples(), make_method("saliency"), progress=False)
    write_table(pd.concat([before, with_provenance(added[IMPORTANCE_COLUMNS], dataset="synthetic", split="test",
                                                   model="rnn", seed=0)]), path)
    assert reused_tests() == {"permutation", "adversarial", "uniform", "zeroing"}
    assert "saliency" in set(pd.read_parquet(job["outputs"]["removal"])["method"])


def test_a_changed_setting_reruns_only_the_tests_that_read_it(tmp_path, caplog):
    """Each test is keyed by the settings it reads: the permutation draws rerun the permutation test alone, the
    summaries' resamples no test at all."""
    from dataclasses import replace

    job = _prepare(_tiny_rnn(), tmp_path, "rnn", ["rnn_attention", "loo_delete"])
    run_interventions(**job)
    settings = job["settings"]
    job["settings"] = replace(settings, n_resamples=50, permutation={**settings.permutation, "draws": 6})
    caplog.clear()
    with caplog.at_level("INFO", logger="analysis.records"):
        run_interventions(**job)
    reused = {r.getMessage().split(":")[0] for r in caplog.records if "reusing the finished result" in r.getMessage()}
    assert reused == {"adversarial", "uniform", "zeroing", "removal", "input ablation (all rankings)"}
    assert (pd.read_parquet(job["outputs"]["permutation"])["draws"] == 6).all()


@pytest.mark.slow
def test_stages_write_tidy_tables_with_provenance_and_cost(finished_runs):
    _, runs = finished_runs
    for name, paths in runs.items():
        permutation = pd.read_parquet(paths["permutation"])
        expected = 6 if name == "rnn" else 3  # transformer_examples bounds the transformer's cost
        assert len(permutation) == expected and (permutation["draws"] == 8).all()
        assert {"dataset", "split", "model", "seed", "settings", "versions"} <= set(permutation.columns)
        adversarial = pd.read_parquet(paths["adversarial"])
        assert (adversarial.loc[adversarial["feasible"], "tvd"] <= 0.01).all()
        removal = pd.read_parquet(paths["removal"])
        assert "random" in set(removal["method"]) and "loo_delete" in set(removal["method"])
        cost = pd.read_parquet(paths["cost"])
        assert {"permutation", "adversarial", "uniform", "zeroing", "removal", "input ablation (all rankings)"} \
            <= set(cost["test"])
        assert cost.set_index("test").loc["permutation", "forward_passes_per_example"] == 8
        steps, restarts = (8, 2) if name == "rnn" else (3, 1)  # the transformer's search is reduced
        assert cost.set_index("test").loc["adversarial", "forward_passes_per_example"] == \
            restarts * (2 * steps + 1) + restarts + 1
        eraser = pd.read_parquet(paths["eraser"])
        assert set(eraser["removal"]) == {"delete", "mask"} and set(eraser["measure"]) == {"comprehensiveness",
                                                                                           "sufficiency"}
        summary = pd.read_parquet(paths["summary"])
        aopc = summary[summary["measure"] == "aopc_comprehensiveness"]
        assert len(aopc) == 2 * eraser["method"].nunique()
        assert (aopc["mean_low"] <= aopc["mean"]).all() and (aopc["mean"] <= aopc["mean_high"]).all()
        assert {"permutation", "adversarial", "uniform", "zeroing", "removal", "ablation"} == set(summary["test"])
        # every ranking is compared with random on the same examples, with a Holm-adjusted sign-flip test
        paired = summary[(summary["measure"] == "aopc_comprehensiveness_difference")
                         & (summary["family"] == "vs_random")]
        assert len(paired) == 2 * (eraser["method"].nunique() - 1) and (paired["versus"] == "random").all()
        assert (paired["p_adjusted"] >= paired["p_value"]).all() and paired["min_p"].notna().all()
        jsd = summary[summary["measure"] == "jsd_difference"].iloc[0]
        assert jsd["family"] == "top_vs_random_word" and jsd["p_adjusted"] == jsd["p_value"]


@pytest.mark.slow
def test_gather_figures_and_report_section(finished_runs):
    from analysis.interventions.report_section import build_section

    tmp_path, runs = finished_runs
    config = _config(tmp_path)
    study = tmp_path / "study"
    gather_interventions(InterventionsGatherSettings.from_config(config),
                         summary_paths=[p["summary"] for p in runs.values()],
                         cost_paths=[p["cost"] for p in runs.values()], prediction_paths=[],
                         out_summary=str(study / "summary.parquet"), out_cost=str(study / "cost.parquet"),
                         out_uniform=str(study / "uniform.parquet"))
    summary = pd.read_parquet(study / "summary.parquet")
    assert set(summary["model"]) == {"rnn", "bert"}
    # the study table's intervals of bounded measures lie in their range (a TVD's within [0, 1])
    for measure, (low, high) in MEASURE_RANGES.items():
        rows = summary[summary["measure"] == measure]
        assert ((rows["mean_low"] >= low) | rows["mean_low"].isna()).all()
        assert ((rows["mean_high"] <= high) | rows["mean_high"].isna()).all()
    outputs = {k: str(study / "figures" / "interventions" / "synthetic" / f"{k}.png")
               for k in ("permutation", "adversarial", "flip_fraction", "aopc", "curves")}
    inputs = {"permutation": [p["permutation"] for p in runs.values()],
              "adversarial": [p["adversarial"] for p in runs.values()],
              "summary": [p["summary"] for p in runs.values()],
              "curves": [p["curves"] for p in runs.values()]}
    interventions_figures(InterventionFiguresSettings.from_config(config), "synthetic", inputs=inputs, outputs=outputs)
    assert all(Path(p).stat().st_size > 10_000 for p in outputs.values())
    figures = {f"Causal tests (synthetic): {k}.": p for k, p in outputs.items()}
    section = build_section(config, {"interventions_summary": summary,
                                     "interventions_cost": pd.read_parquet(study / "cost.parquet"),
                                     "interventions_uniform_training": pd.read_parquet(study / "uniform.parquet")},
                            figures)
    assert section is not None and section.title == "Causal tests of attention"
    assert "Permuting attention" in section.markdown and "AOPC" in section.markdown
    assert section.html.count("data:image/png;base64,") == 5
    assert any("random" in f for f in section.findings)
    assert build_section(config, {}, {}) is None
    # a model whose attention is frozen to uniform: its attention-ranked numbers are flagged as a control
    from analysis.interventions.report_section import CONSTANT_ATTENTION

    frozen = {**config, "models": {**config["models"], "rnn": {"family": "rnn", "attention": "uniform"}}}
    tables = {"interventions_summary": summary, "interventions_cost": pd.read_parquet(study / "cost.parquet")}
    flagged = [f for f in build_section(frozen, tables, figures).findings if CONSTANT_ATTENTION in f]
    assert flagged and all(", rnn (seed" in f for f in flagged)
    assert not any(CONSTANT_ATTENTION in f for f in section.findings)


def test_uniform_attention_control_pairs_each_uniform_model_with_its_sibling(tmp_path):
    config = {"models": {
        "lstm_tanh": {"family": "rnn", "encoder": "lstm", "attention": "tanh"},
        "lstm_uniform": {"family": "rnn", "encoder": "lstm", "attention": "uniform"},
        "cnn_tanh": {"family": "rnn", "encoder": "cnn", "attention": "tanh"},
        "bert": {"family": "transformer", "checkpoint": "x"}}}
    rng = np.random.default_rng(0)
    paths = []
    for model, accuracy in (("lstm_tanh", 0.9), ("lstm_uniform", 0.6), ("cnn_tanh", 0.8), ("bert", 0.95)):
        frame = pd.DataFrame({"example_id": [f"e{i}" for i in range(200)], "correct": rng.random(200) < accuracy})
        path = tmp_path / f"{model}.parquet"
        write_table(with_provenance(frame, dataset="d", split="test", model=model, seed=0), path)
        paths.append(str(path))
    table = uniform_attention_comparison(config, paths, n_resamples=200, level=0.95, seed=0)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["uniform_model"], row["learned_model"], row["encoder"]) == ("lstm_uniform", "lstm_tanh", "lstm")
    assert row["difference_low"] > 0  # learned attention is clearly better here
    assert row["difference"] == pytest.approx(row["accuracy_learned"] - row["accuracy_uniform"])
    assert row["p_adjusted"] < 0.05 and row["min_p"] < 0.05  # one row: Holm leaves the p-value as it is


def _aopc_values(n: int, shifts: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """Per-example AOPC comprehensiveness of rankings on the same examples: random's values plus a shift each."""
    rng = np.random.default_rng(seed)
    floor = rng.uniform(0.0, 0.6, n)
    rows = [{"test": "ablation", "measure": "aopc_comprehensiveness", "scope": "input", "method": method,
             "removal": "delete", "group": "all", "example_id": f"e{i:02d}", "value": floor[i] + shift + noise,
             "binary": False}
            for method, shift in {"random": 0.0, **shifts}.items()
            for i, noise in enumerate(rng.normal(0, 0.002, n))]
    rows += [{"test": "zeroing", "measure": "jsd_difference", "scope": "attention", "method": "", "removal": "",
              "group": "all", "example_id": f"e{i:02d}", "value": 0.01 + 0.001 * (-1) ** i, "binary": False}
             for i in range(n)]
    return pd.DataFrame(rows)


def test_rankings_shifted_on_the_same_examples_are_told_apart_although_their_intervals_overlap():
    from analysis.interventions.report_section import aopc_sentence, zeroing_sentence

    shifts = {"attention_last_mean": 0.02, "alti": 0.05, "loo_delete": 0.1, "saliency": 0.08}
    summary = summarize_with_tests(_aopc_values(30, shifts), n_resamples=200, level=0.95, seed=0)
    means = summary[summary["family"] == ""].set_index(["measure", "method"])
    raw, floor = means.loc[("aopc_comprehensiveness", "attention_last_mean")], means.loc[
        ("aopc_comprehensiveness", "random")]
    assert raw["mean_low"] < floor["mean_high"]  # marginal intervals overlap
    paired = summary[summary["measure"] == "aopc_comprehensiveness_difference"].set_index(["family", "method"])
    assert paired.loc[("vs_random", "attention_last_mean"), "p_adjusted"] < 0.05
    assert paired.loc[("vs_best_causal", "alti"), "versus"] == "loo_delete"  # the causal ranking with the best mean
    assert paired.loc[("vs_raw_attention", "alti"), "versus"] == "attention_last_mean"
    # Holm within a family: four rankings against random, all 30 differences positive (p = 1 / 10,001 each)
    assert paired.loc["vs_random", "p_adjusted"].tolist() == pytest.approx([4 / 10001] * 4)
    # the marginal intervals of the rows themselves are those of summarize_long alone
    alone = summarize_long(_aopc_values(30, shifts), n_resamples=200, level=0.95, seed=0)
    assert summary.iloc[:len(alone)][alone.columns].equals(alone)
    text = aopc_sentence(summary, "delete")
    assert "below the best causal ranking, Leave-one-out (delete)" in text and "above a random ranking" in text
    assert "Holm-adjusted p = " in text and "above raw attention" in text
    zeroing = pd.concat([summary, pd.DataFrame([
        {"test": "zeroing", "measure": m, "method": "", "removal": "", "group": "all", "n": 30, "mean": v,
         "mean_low": v - 0.01, "mean_high": v + 0.01, "family": ""}
        for m, v in (("flip_rate_max", 0.2), ("flip_rate_random", 0.1), ("output_jsd_max", 0.03),
                     ("output_jsd_random", 0.02))])])
    assert "is larger than that of a random word" in zeroing_sentence(zeroing)


def test_four_examples_are_untestable():
    from analysis.interventions.report_section import aopc_sentence

    summary = summarize_with_tests(_aopc_values(4, {"attention_last_mean": 0.2, "loo_delete": 0.3}),
                                   n_resamples=200, level=0.95, seed=0)
    paired = summary[summary["family"] != ""]
    assert (paired["min_p"] >= 0.05).all() and (paired["p_adjusted"] >= 0.05).all()
    text = aopc_sentence(summary, "delete")
    assert text.count("untestable at this n against") == 2 and "4 examples" in text


def test_uniform_training_sentences_follow_the_paired_test():
    from analysis.interventions.report_section import uniform_training_sentences

    row = {"dataset": "sst2", "seed": 0, "encoder": "lstm", "uniform_model": "lstm_uniform",
           "learned_model": "lstm_tanh", "learned_attention": "tanh", "n": 200, "accuracy_uniform": 0.80,
           "accuracy_learned": 0.83, "difference": 0.03, "difference_low": 0.01, "difference_high": 0.05,
           "p_value": 0.02, "min_p": 0.0001, "p_adjusted": 0.06}
    (text,) = uniform_training_sentences(pd.DataFrame([row]))
    assert "does not separate them after Holm's correction (its interval is unadjusted), which does not show that they are equally accurate" in text
    (text,) = uniform_training_sentences(pd.DataFrame([row | {"p_adjusted": 0.02}]))
    assert "learned attention is more accurate" in text
    # significant, but the interval [0.01, 0.05] contains the 0.02 margin: no "uses attention"
    assert "learned − uniform +0.030 [+0.010, +0.050]" in text and "uses attention" not in text
    assert "contains the study's accuracy margin of 0.02" in text
    verdicts = {("sst2", "lstm_uniform vs lstm_tanh", 0): "inconclusive"}
    (text,) = uniform_training_sentences(pd.DataFrame([row | {"p_adjusted": 0.02}]), verdicts=verdicts)
    assert text.endswith("equivalence margin of ±0.02 in the published-claims section: inconclusive).")
    (text,) = uniform_training_sentences(pd.DataFrame([row | {"p_adjusted": 0.02}]), margin=0.005)
    assert "lies above the study's accuracy margin of 0.005, so the task uses attention" in text
    (text,) = uniform_training_sentences(pd.DataFrame([row | {"p_adjusted": 0.02}]), margin=0.1)
    assert "lies within the study's accuracy margin of 0.1" in text and "uses attention" not in text
    (text,) = uniform_training_sentences(pd.DataFrame([row | {"n": 4, "min_p": 0.125, "p_adjusted": 0.125}]))
    assert "untestable at this n" in text
    (text,) = uniform_training_sentences(pd.DataFrame([row]).drop(columns=["p_value", "min_p", "p_adjusted"]))
    assert "not tested" in text


def test_summaries_bootstrap_every_group_with_its_own_seed():
    values = pd.DataFrame({"test": "t", "measure": "m", "scope": "s", "method": ["a"] * 20 + ["b"] * 20, "removal": "",
                           "group": "all", "example_id": [f"e{i}" for i in range(20)] * 2,
                           "value": np.r_[np.linspace(0, 1, 20), np.full(20, 0.5)]})
    values.loc[3, "value"] = np.nan
    summary = summarize_long(values, n_resamples=200, level=0.95, seed=0)
    a = summary.set_index("method").loc["a"]
    assert a["n"] == 19 and a["mean_low"] < a["mean"] < a["mean_high"]
    # k / 19 for k = 0..19 without k = 3 (NaN): the sum is 10 - 3/19 over 19 values, the middle one is k = 10
    assert a["mean"] == pytest.approx(187 / 361) and a["median"] == pytest.approx(10 / 19)
    b = summary.set_index("method").loc["b"]
    assert b["mean"] == b["mean_low"] == b["mean_high"] == 0.5
    again = summarize_long(values[values["method"] == "a"], n_resamples=200, level=0.95, seed=0)
    assert again.iloc[0]["mean_low"] == a["mean_low"]  # independent of the other groups
    torch.manual_seed(0)  # keep the global generator state tidy for later tests


@pytest.mark.slow
def test_transformer_search_is_reduced_and_checked_by_the_full_search_on_a_subset(finished_runs):
    _, paths = finished_runs
    bert = pd.read_parquet(paths["bert"]["adversarial"])
    main, check = bert[bert["search"] == "main"], bert[bert["search"] == "full search check"]
    assert (main["steps"] == 3).all() and (main["restarts"] == 1).all() and len(main) == 3
    assert (check["steps"] == 8).all() and (check["restarts"] == 2).all() and len(check) == 2
    assert set(check["example_id"]) <= set(main["example_id"])
    rnn = pd.read_parquet(paths["rnn"]["adversarial"])
    assert (rnn["search"] == "main").all() and (rnn["steps"] == 8).all()  # RNNs get the full search
    summary = pd.read_parquet(paths["bert"]["summary"])
    scopes = set(summary.loc[summary["test"] == "adversarial", "scope"])
    assert scopes == {"adversarial", "adversarial (full search check)"}


def test_flip_rates_get_exact_clopper_pearson_intervals_that_never_collapse():
    """A rate (boolean flips, or a named 0/1 column with NaN where undefined) is summarised with the exact
    binomial interval: 0 flips of 30 is [0, 0.116], not the bootstrap's [0, 0]; a continuous measure is not."""
    from analysis.interventions.summaries import long_values
    from analysis.stats.intervals import proportion_interval

    table = pd.DataFrame({"example_id": [f"e{i:02d}" for i in range(30)], "flipped": np.zeros(30, dtype=bool),
                          "some": [1.0 if i < 6 else 0.0 for i in range(29)] + [np.nan],
                          "tvd": np.linspace(0.0, 0.2, 30)})
    values = long_values(table, test="zeroing", measures={"flips": "flipped", "some": "some", "tvd": "tvd"},
                         rates=("some",))
    summary = summarize_long(values, n_resamples=200, level=0.95, seed=0).set_index("measure")
    assert (summary.loc["flips", "mean"], summary.loc["flips", "mean_low"]) == (0.0, 0.0)
    assert summary.loc["flips", "mean_high"] == pytest.approx(proportion_interval(0, 30)[2]) and \
        summary.loc["flips", "mean_high"] > 0.11
    assert summary.loc["some", "n"] == 29  # NaN: undefined for that example, left out
    assert summary.loc["some", ["mean", "mean_low", "mean_high"]].tolist() == pytest.approx(
        list(proportion_interval(6, 29)))
    assert summary.loc["flips", "interval"] != summary.loc["tvd", "interval"]
