"""Ground-truth stages end to end on a tiny planted study, figures, and the summary section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.groundtruth import figures
from analysis.groundtruth.report_section import groundtruth_section, shortcut_part
from analysis.report.sections import build_sections

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """Data -> a small RNN -> importance -> every ground-truth stage, for a planted synthetic dataset."""
    from analysis.config import load_config
    from analysis.models import MODEL_FAMILIES, TrainSettings, train_classifier
    from analysis.records import read_table
    from analysis.seeding import seed_everything
    from analysis.stages import groundtruth as stages
    from analysis.stages.data import DataSettings, prepare_data
    from analysis.stages.importance import ExplainSettings, run_explain

    tmp = tmp_path_factory.mktemp("planted")
    model_entry = {"family": "rnn", "encoder": "average", "attention": "tanh", "embed_dim": 16, "hidden_dim": 16,
                   "attention_dim": 8, "dropout": 0.0, "epochs": 10, "lr": 0.02, "batch_size": 32}
    config = load_config(ROOT / "config" / "tiny.yaml", {
        "results_dir": str(tmp),
        "datasets": {"synthetic": {"train_n": 800, "eval_n": 200, "explain_n": 16,
                                   "generator": {"distractor_rate": 0.0}},
                     "planted": {"base": "synthetic", "train_n": 800, "eval_n": 200, "explain_n": 16,
                                 "generator": {"distractor_rate": 0.0},
                                 "shortcut": {"token": "zeugma", "rate": 0.3, "mode": "anti"}}},
        "models": {"avg": model_entry},
    })
    config["groundtruth"]["n_resamples"] = 200
    config["groundtruth"]["sanity"].update(n_examples=4, max_steps=2, methods=["rnn_attention", "saliency", "random"])
    paths = {name: str(tmp / f"{name}.parquet") for name in (
        "train", "eval", "explain", "report", "importance", "diagnostics", "heads", "reliance", "shortcut_scores",
        "shortcut_summary", "shortcut_control", "plausibility_scores", "plausibility_summary", "sanity_scores", "sanity_summary")}
    prepare_data(DataSettings.from_config(config, dataset="planted"), "planted", out_train=paths["train"],
                 out_eval=paths["eval"], out_explain=paths["explain"], out_report=paths["report"])
    # the control: the same data without the token (the planted dataset's base)
    base = {name: str(tmp / f"base_{name}.parquet") for name in ("train", "eval", "explain", "report")}
    prepare_data(DataSettings.from_config(config, dataset="synthetic"), "synthetic", out_train=base["train"],
                 out_eval=base["eval"], out_explain=base["explain"], out_report=base["report"])

    def train_model(train_path: str, folder: str) -> None:
        # the train stage itself is covered by the workflow tests; here the model is trained directly
        train = read_table(train_path, table="examples")
        seed_everything(0)
        model = MODEL_FAMILIES.get("rnn")().build(model_entry, num_labels=2, train=train, device=torch.device("cpu"))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            train_classifier(model, list(map(list, train["words"])), train["label"].tolist(),
                             TrainSettings(epochs=10, lr=0.02, batch_size=32), seed=0)
        finally:
            torch.set_num_threads(threads)
        model.save(folder)

    train_model(paths["train"], str(tmp / "model"))
    train_model(base["train"], str(tmp / "control"))
    run_explain(ExplainSettings.from_config(config, dataset="planted", model="avg"), "planted", "avg", 0, model_dir=str(tmp / "model"),
                explain_path=paths["explain"], out_importance=paths["importance"],
                out_diagnostics=paths["diagnostics"], out_heads=paths["heads"])
    stages.run_shortcut(stages.ShortcutSettings.from_config(config, dataset="planted", model="avg"), "planted", "avg", 0,
                        model_dir=str(tmp / "model"), eval_path=paths["eval"], explain_path=paths["explain"], importance_path=paths["importance"],
                        out_reliance=paths["reliance"], out_scores=paths["shortcut_scores"],
                        out_summary=paths["shortcut_summary"], control_dir=str(tmp / "control"),
                        out_control=paths["shortcut_control"])
    stages.run_plausibility(stages.PlausibilitySettings.from_config(config), "planted", "avg", 0,
                            explain_path=paths["explain"], importance_path=paths["importance"], out_scores=paths["plausibility_scores"],
                            out_summary=paths["plausibility_summary"])
    stages.run_sanity(stages.SanitySettings.from_config(config, model="avg"), "planted", "avg", 0,
                      model_dir=str(tmp / "model"), explain_path=paths["explain"], importance_path=paths["importance"], out_scores=paths["sanity_scores"],
                      out_summary=paths["sanity_summary"])
    tables = {"groundtruth_shortcut": paths["shortcut_summary"], "groundtruth_reliance": paths["reliance"],
              "groundtruth_plausibility": paths["plausibility_summary"], "groundtruth_sanity": paths["sanity_summary"]}
    return config, tmp, paths, tables


@pytest.mark.slow
def test_without_a_control_the_shortcut_stage_writes_an_empty_control_table_and_keeps_every_verdict(planted_run):
    """A planted dataset whose base the study does not train (or control: false): the same scores and verdicts
    before the control, no control columns filled, and an empty control table."""
    from analysis.stages import groundtruth as stages

    config, tmp, paths, _ = planted_run
    out = {name: str(tmp / f"nocontrol-{name}.parquet") for name in ("reliance", "scores", "summary", "control")}
    settings = stages.ShortcutSettings.from_config(config, dataset="planted", model="avg")
    stages.run_shortcut(settings, "planted", "avg", 0, model_dir=str(tmp / "model"), eval_path=paths["eval"],
                        explain_path=paths["explain"], importance_path=paths["importance"],
                        out_reliance=out["reliance"], out_scores=out["scores"], out_summary=out["summary"],
                        control_dir=None, out_control=out["control"])
    alone = pd.read_parquet(out["summary"])
    checked = pd.read_parquet(paths["shortcut_summary"])
    assert alone["control_verdict"].isna().all() and alone["control_n"].isna().all()
    assert pd.read_parquet(out["control"]).empty
    # the control only demotes "finds" to "not specific"; every other verdict is the same
    kept = checked["verdict"] != "not specific"
    assert alone.loc[kept, "verdict"].tolist() == checked.loc[kept, "verdict"].tolist()
    assert set(alone.loc[~kept, "verdict"]) <= {"finds"}


@pytest.mark.slow
def test_stages_write_tidy_tables_with_provenance(planted_run):
    _, _, paths, _ = planted_run
    provenance = {"dataset", "split", "model", "seed", "settings", "versions"}
    reliance = pd.read_parquet(paths["reliance"])
    assert provenance <= set(reliance.columns) and reliance["relies"].all()
    summary = pd.read_parquet(paths["shortcut_summary"])
    loo = summary.loc[(summary["method"] == "loo_delete") & (summary["metric"] == "top1")
                      & (summary["group"] == "all")].iloc[0]
    assert loo["verdict"] == "finds" and loo["n"] >= 6
    # the control model never saw the token: leave-one-out ranks it first less often there (too few pairs to decide)
    assert loo["control_n"] == loo["n"] and loo["control_mean"] < loo["mean"]
    top1 = summary.loc[(summary["metric"] == "top1") & (summary["group"] == "all")]
    # the control decides only about the methods that find the token (before it demotes them)
    found = top1["verdict"].isin(["finds", "not specific"])
    assert top1.loc[found, "control_verdict"].isin(["specific", "not specific", "inconclusive"]).all()
    assert top1.loc[~found, "control_verdict"].isna().all()
    assert (top1["verdict"] == "not specific").eq(top1["control_verdict"].eq("not specific")).all()
    control = pd.read_parquet(paths["shortcut_control"])
    assert provenance <= set(control.columns) and set(control["method"]) == set(summary["method"])
    assert control["settings"].str.contains('"control":"synthetic"').all()
    # the control is asked about the shortcut class whatever it predicts; how often it predicts that class itself
    pairs = control.loc[control["example_id"].isin(set(pd.read_parquet(paths["shortcut_scores"])["example_id"]))]
    agrees = pairs.drop_duplicates("example_id").eval("control_predicted == predicted").mean()
    assert loo["control_predicts_class"] == pytest.approx(agrees)
    assert set(control["predicted"]) == {1} and set(control["control_predicted"]) <= {0, 1}
    plausibility = pd.read_parquet(paths["plausibility_summary"])
    assert set(plausibility["metric"]) == {"token_f1", "iou_f1", "token_f1_top5", "iou_f1_top5", "auprc"}
    assert provenance <= set(plausibility.columns)
    assert set(plausibility["vs_random"]) <= {"above", "below", "not distinguishable", "untestable", "reference"}
    assert plausibility.loc[plausibility["method"] != "random", "p_adjusted"].notna().all()
    assert plausibility.loc[plausibility["method"] == "rnn_attention", "vs_attention"].eq("reference").all()
    sanity = pd.read_parquet(paths["sanity_summary"])
    assert set(sanity["method"]) == {"rnn_attention", "saliency", "random"}
    assert sorted(sanity["step"].unique()) == ["embeddings", "encoder", "head"]  # encoder: the verdict's step
    assert (sanity["verdict_step"] == sanity.loc[sanity["step"] == "encoder", "step_index"].iloc[0]).all()


@pytest.mark.slow
def test_figures_tables_and_summary_section_from_the_stage_outputs(planted_run, tmp_path):
    from analysis.stages.common import gather_tables
    from analysis.stages.groundtruth import (
        GroundTruthFigureSettings,
        GroundTruthTableSettings,
        groundtruth_figure,
        groundtruth_table,
    )

    config, _, _, per_run = planted_run
    study = {name: str(tmp_path / f"{name}.parquet") for name in per_run}
    for name, path in per_run.items():
        gather_tables([path], study[name], table=name)
    outputs = {}
    for figure, names in {"shortcut_reliance": ["groundtruth_reliance"],
                          "shortcut_detection": ["groundtruth_shortcut", "groundtruth_reliance"],
                          "plausibility": ["groundtruth_plausibility"], "sanity": ["groundtruth_sanity"]}.items():
        outputs[figure] = str(tmp_path / "figures" / f"groundtruth_{figure}.png")
        groundtruth_figure(GroundTruthFigureSettings.from_config(config, figure=figure), figure,
                           tables={n: study[n] for n in names}, out=outputs[figure])
        assert Path(outputs[figure]).stat().st_size > 10_000
    groundtruth_table(GroundTruthTableSettings.from_config(config, kind="shortcut"), "shortcut",
                      tables={n: study[n] for n in ("groundtruth_shortcut", "groundtruth_reliance")},
                      out=str(tmp_path / "shortcut.html"))
    page = (tmp_path / "shortcut.html").read_text()
    assert "relies on the planted shortcut" in page and "Leave-one-out" in page
    tables = {name: pd.read_parquet(path) for name, path in study.items()}
    section = groundtruth_section(config, tables, {f"caption {k}": v for k, v in outputs.items()})
    assert section is not None and section.html.count("data:image/png;base64,") == 4
    assert "not faithfulness" in section.markdown and "Sanity check" in section.markdown
    assert "The control model itself assigns" in section.markdown
    assert any("relies on the planted shortcut" in f and "Leave-one-out (delete)" in f for f in section.findings)
    assert any(f.startswith("Sanity check on planted") for f in section.findings)
    assert "Ground truth" in [s.title.split(":")[0] for s in build_sections(config, tables, {})]


def test_section_says_plainly_when_a_model_does_not_rely_on_the_token():
    reliance = pd.DataFrame([{"dataset": "sst2_shortcut", "model": "cnn", "seed": 0, "measure": "insertion_flip",
                              "n": 50, "mean": 0.1, "mean_low": 0.04, "mean_high": 0.18, "relies": False,
                              "threshold": 0.5}])
    section = groundtruth_section({}, {"groundtruth_reliance": reliance}, {})
    (finding,) = section.findings
    assert "does NOT rely" in finding and "10% [4%, 18%]" in finding and "not interpreted" in finding
    assert groundtruth_section({}, {}, {}) is None


def test_sanity_findings_name_failing_methods_with_intervals():
    rows = []
    for method, head, full in (("attention_last_mean", (1.0, 1.0, 1.0), (0.9, 0.85, 0.95)),
                               ("integrated_gradients", (0.6, 0.5, 0.7), (0.05, -0.05, 0.15)),
                               ("random", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))):
        verdict = "fails" if full[1] >= 0.5 else "passes"
        for step, (mean, low, high) in ((1, head), (3, full)):
            rows.append({"dataset": "sst2", "model": "minilm", "seed": 0, "method": method, "family": "x",
                         "variant": "abs", "step_index": step, "step": "head" if step == 1 else "embeddings",
                         "n_steps": 3, "n": 8, "mean": mean, "mean_low": low, "mean_high": high,
                         "prediction_changed": 0.5, "insensitive": low >= 0.5, "verdict": verdict, "threshold": 0.5})
    summary = pd.DataFrame(rows)
    section = groundtruth_section({}, {"groundtruth_sanity": summary}, {})
    (finding,) = section.findings
    assert "FAILED" in finding and "Attention (last layer, head mean) 0.90 [0.85, 0.95]" in finding
    assert "Passed: Integrated gradients" in finding and "random baseline stays at 1" in finding
    figure = figures.sanity_figure(summary)
    assert len(figure.axes) == 1
    summary.loc[summary["method"] == "integrated_gradients", ["mean", "mean_low"]] = (-0.6, -0.8)
    bottom, _ = figures.sanity_figure(summary).axes[0].get_ylim()
    assert bottom <= -0.8  # a correlation far below zero stays on the plot


def test_sanity_verdict_is_read_before_the_embeddings_and_an_unchanged_head_is_not_read_as_insensitivity():
    rows = []
    for method, levels in (("saliency", (0.9, 0.8, 0.1)), ("integrated_gradients", (0.85, 0.2, 0.0))):
        for step, mean in zip((1, 2, 3), levels):
            verdict = "fails" if method == "saliency" else "passes"
            rows.append({"dataset": "sst2", "model": "bilstm_dot", "seed": 0, "method": method, "family": "gradient",
                         "variant": "abs", "step_index": step, "step": ["head", "encoder", "embeddings"][step - 1],
                         "n_steps": 3, "verdict_step": 2, "n": 30, "mean": mean, "mean_low": mean - 0.05,
                         "mean_high": mean + 0.05, "prediction_changed": 0.0 if step == 1 else 0.4,
                         "insensitive": mean - 0.05 >= 0.5, "verdict": verdict, "threshold": 0.5})
    section = groundtruth_section({}, {"groundtruth_sanity": pd.DataFrame(rows)}, {})
    (finding,) = section.findings
    assert "with every layer above the embeddings randomised (40% of predictions changed)" in finding
    assert "FAILED" in finding and "Saliency (‖∇‖) 0.80 [0.75, 0.85]" in finding  # read at step 2, not 3
    assert "changed 0% of the predictions" in finding and "expected of any method" in finding
    assert "still kept most of their ranking" not in finding


def _three_seeds(rows: list[dict], change) -> pd.DataFrame:
    """``rows`` as seed 0 and two copies as seeds 1 and 2, each changed by ``change(row, seed)``."""
    frames = []
    for seed in range(3):
        frame = pd.DataFrame(rows).assign(seed=seed)
        frames.append(change(frame, seed))
    return pd.concat(frames, ignore_index=True)


def test_three_seeds_count_per_seed_and_are_pooled_in_the_figures():
    """A model whose seeds disagree on relying is named with its count; each run's detection rows count only where
    that run relies; figures draw one curve or dot per model (its seeds' mean), not one per seed joined or stacked."""
    reliance = _three_seeds([{"dataset": "anti", "model": "cnn", "measure": "insertion_flip", "n": 50, "mean": 0.9,
                              "mean_low": 0.8, "mean_high": 0.95, "relies": True, "threshold": 0.5}],
                            lambda frame, seed: frame.assign(relies=seed == 0, mean=0.9 if seed == 0 else 0.1,
                                                             mean_low=0.8 if seed == 0 else 0.05))
    detection = _three_seeds([{"dataset": "anti", "model": "cnn", "method": m, "variant": "abs", "group": "all",
                               "metric": "top1", "n": 40, "mean": 0.9, "mean_low": 0.8, "mean_high": 0.95,
                               "chance": 0.1, "verdict": "finds", "threshold": 0.5, "model_relies": True}
                              for m in ("loo_delete", "rnn_attention")],
                             lambda frame, seed: frame.assign(model_relies=seed == 0, mean=0.9 if seed == 0 else 0.1,
                                                              mean_low=0.8 if seed == 0 else 0.05,
                                                              verdict="finds" if seed == 0 else "misses"))
    part = shortcut_part(detection, reliance)
    assert "0 of 1 trained models rely on their planted token in most seeds (1 of 3 runs)" in part.paragraphs[1]
    assert "the seeds disagree for anti/cnn (relies in 1 of 3 seeds)" in part.paragraphs[1]
    captions = dict(part.figures)
    assert "anti/cnn: relies in 1 of 3 seeds" in captions["shortcut_reliance"]
    assert "(1 run)" in captions["shortcut_detection"]  # only seed 0's run relies, so only it is scored
    assert "only those are drawn" in captions["shortcut_detection"]
    assert "The seeds of a model (3) are pooled" in captions["shortcut_reliance"]
    dots = figures.shortcut_detection_figure(detection, reliance).axes[0].collections
    assert len(dots) == 2  # one dot per method for the one model, not three stacked
    # pooled over the seeds that rely on the token only: seed 0's 0.9, not the mean 0.37 with the two that do not
    assert all(np.allclose(dot.get_offsets()[:, 0], 0.9) for dot in dots)

    rows = []
    for step, mean in ((1, 0.8), (2, 0.4), (3, 0.1)):
        rows.append({"dataset": "sst2", "model": "bilstm", "method": "saliency", "family": "x", "variant": "abs",
                     "step_index": step, "step": f"s{step}", "n_steps": 3, "n": 8, "mean": mean,
                     "mean_low": mean - 0.1, "mean_high": mean + 0.1, "prediction_changed": 0.5,
                     "insensitive": False, "verdict": "passes", "threshold": 0.5})
    sanity = _three_seeds(rows, lambda frame, seed: frame.assign(mean=frame["mean"] + 0.1 * seed,
                                                                 mean_low=frame["mean_low"] + 0.1 * seed))
    (ax,) = figures.sanity_figure(sanity).axes
    (line,) = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
    assert list(line.get_xdata()) == [0, 1, 2, 3]  # one point per step: the seeds are not joined into a zig-zag
    assert np.allclose(line.get_ydata(), [1.0, 0.9, 0.5, 0.2])  # the seeds' mean


def test_figures_say_no_data_for_empty_tables():
    for draw in (figures.shortcut_reliance_figure, figures.shortcut_detection_figure, figures.plausibility_figure,
                 figures.sanity_figure):
        figure = draw(pd.DataFrame())
        assert any("no data" in t.get_text() for ax in figure.axes for t in ax.texts)


def test_groundtruth_block_names_must_exist_in_the_study():
    from analysis.config import load_config
    from analysis.groundtruth.config import GroundTruthConfigError, check_groundtruth_config
    from analysis.stages.groundtruth import sanity_runs

    config = load_config(ROOT / "config" / "tiny.yaml")
    check_groundtruth_config(config)
    assert sanity_runs(config) == [("synthetic", "bilstm_tanh", 0), ("synthetic", "minilm", 0)]
    config["groundtruth"]["sanity"]["methods"] = ["no_such_method"]
    config["groundtruth"]["sanity"]["models"] = ["gpt"]
    with pytest.raises(GroundTruthConfigError, match=r"sanity\.models: 'gpt'.*\n.*sanity\.methods: 'no_such_method'"):
        check_groundtruth_config(config)


def test_plausibility_findings_follow_the_paired_test_against_random():
    rows = []
    nan = float("nan")
    for method, mean, verdict, p, versus, p_versus in (
            ("integrated_gradients", 0.62, "above", 0.003, "above", 0.02),
            ("attention_last_mean", 0.60, "not distinguishable", 0.4, "reference", nan),
            ("saliency", 0.40, "below", 0.01, "below", 0.001), ("loo_delete", 0.7, "untestable", 0.25, "untestable", 1),
            ("random", 0.55, "reference", nan, "untested", nan)):
        for metric in ("token_f1", "iou_f1", "token_f1_top5", "iou_f1_top5", "auprc"):
            rows.append({"dataset": "hatexplain", "model": "minilm", "seed": 0, "method": method, "family": "x",
                         "variant": "abs", "group": "all", "metric": metric, "n": 40, "mean": mean,
                         "mean_low": mean - 0.1, "mean_high": mean + 0.1, "chance": 0.2, "vs_random": verdict,
                         "p_adjusted": p, "vs_attention": versus, "p_attention": p_versus})
    section = groundtruth_section({}, {"groundtruth_plausibility": pd.DataFrame(rows)}, {})
    (finding,) = section.findings
    assert "above the random ranking (paired test, Holm-adjusted over the methods): Integrated gradients" in finding
    assert "not distinguishable from it: Attention (last layer, head mean)" in finding
    assert "BELOW it" in finding and "untestable at this n: Leave-one-out (delete)" in finding
    assert "above (Holm p = 0.003)" in section.markdown and "untestable at this n |" in section.markdown
    # the study's question asked of the rationales: each method against raw attention, paired
    assert ("Compared with raw attention (Attention (last layer, head mean)) by AUPRC (paired, Holm-adjusted): more "
            "plausible than it: Integrated gradients; less plausible: Saliency (‖∇‖); not distinguishable: none; "
            "untestable at this n: Leave-one-out (delete).") in finding
    assert "| token F1 (top 5) |" in section.markdown and "below (Holm p = 0.001)" in section.markdown
    assert "the highest mean, not a test against each method" in finding  # loo_delete, not the attention
    assert "| n/a |" in section.markdown and "untested" not in section.markdown  # random: not in that family
    old = pd.DataFrame(rows).drop(columns=["vs_attention", "p_attention"])  # a table from before the comparison
    (finding,) = groundtruth_section({}, {"groundtruth_plausibility": old}, {}).findings
    assert "raw attention" not in finding
    # an older run's table gathered with newer ones: its comparison columns are NaN, and it gets no sentence
    gathered = pd.concat([old, pd.DataFrame(rows).assign(seed=1)], ignore_index=True)
    first, second = groundtruth_section({}, {"groundtruth_plausibility": gathered}, {}).findings
    assert "Compared with raw attention" not in first and "Compared with raw attention" in second
    # raw attention with the highest mean is then tested against each method: the finding does not say otherwise
    top = pd.DataFrame(rows)
    top.loc[top["method"] == "attention_last_mean", "mean"] = 0.9
    (finding,) = groundtruth_section({}, {"groundtruth_plausibility": top}, {}).findings
    assert "(last layer, head mean)'s" in finding and "tested against each method below" in finding
    # attention found constant on every example (frozen uniform): no comparison with it is worded
    flat = pd.DataFrame(rows)
    flat.loc[flat["vs_attention"] != "reference", "vs_attention"] = "undefined"
    (finding,) = groundtruth_section({}, {"groundtruth_plausibility": flat}, {}).findings
    assert "Raw attention is constant here, so it is compared with no method." in finding


def test_first_screen_says_whether_attention_finds_the_planted_cause():
    """Per model that relies on its planted token: raw attention and leave-one-out each 'find' it when most
    seeds rank it first. The denominators are explicit: every model that relies on the token (the frozen-uniform
    control too) for reliance and leave-one-out, those with learned attention for raw attention; a miss whose
    attention is near uniform says so."""
    from analysis.groundtruth.report_section import shortcut_lead

    config = {"models": {"lstm": {"family": "rnn", "attention": "tanh"}, "dot": {"family": "rnn", "attention": "dot"},
                         "flat": {"family": "rnn", "attention": "uniform"},
                         "bert": {"family": "transformer"}, "lazy": {"family": "rnn"}}}
    rows = []
    for model, raw, seeds_found in (("lstm", "rnn_attention", 2), ("dot", "rnn_attention", 1),
                                    ("flat", "rnn_attention", 0), ("bert", "attention_last_mean", 2),
                                    ("lazy", "rnn_attention", 0)):
        for seed in (0, 1):
            for method, verdict in ((raw, "finds" if seed < seeds_found else "misses"), ("loo_delete", "finds")):
                rows.append({"dataset": "sst2_anti", "model": model, "seed": seed, "method": method,
                             "metric": "top1", "variant": "abs", "group": "all", "verdict": verdict,
                             "mean": 0.9 if verdict == "finds" else 0.01, "chance": 0.06,
                             "model_relies": model != "lazy"})
    (text,) = shortcut_lead(pd.DataFrame(rows), config)
    assert "4 of 5 trained models rely on it" in text
    # the miss: its hit rate beside a random ranking's (below chance is evidence, not an absence of it)
    assert ("raw attention ranks it first in 2 of the 3 with learned attention (not sst2_anti / dot: first in 46% of "
            "examples, chance 6%)") in text
    assert text.endswith("in 4 of 4.") and "flat" not in text and "lazy" not in text
    # the miss has near-uniform attention in most of its seeds: the lead says so
    concentration = pd.DataFrame({"dataset": "sst2_anti", "model": ["dot", "dot", "lstm"], "seed": [0, 1, 0],
                                  "method": "rnn_attention", "near_uniform": [True, True, False]})
    (text,) = shortcut_lead(pd.DataFrame(rows), config, concentration)
    assert "(not sst2_anti / dot: first in 46% of examples, chance 6%; near-uniform attention)" in text
    assert shortcut_lead(None, config) == []


def _rnn_config(**datasets) -> dict:
    return {"models": {"lstm": {"family": "rnn", "attention": "tanh"},
                       "flat": {"family": "rnn", "attention": "uniform"}}, "datasets": datasets}


def test_constant_attention_is_undefined_in_the_plausibility_shortcut_and_sanity_verdicts(tmp_path):
    """The uniform control's raw attention ranks nothing: no 'BELOW it', no 'missed', no table verdict."""
    plausibility = pd.DataFrame([
        {"dataset": "hatexplain", "model": model, "seed": 0, "method": method, "family": "x", "variant": "abs",
         "group": "all", "metric": metric, "n": 40, "mean": mean, "mean_low": mean - 0.05, "mean_high": mean + 0.05,
         "chance": 0.2, "vs_random": verdict, "p_adjusted": 0.01}
        for model in ("lstm", "flat")
        for method, mean, verdict in (("rnn_attention", 0.3, "below"), ("saliency", 0.7, "above"),
                                      ("random", 0.5, "reference"))
        for metric in ("token_f1", "iou_f1", "auprc")])
    shortcut = pd.DataFrame([
        {"dataset": "planted", "model": model, "seed": 0, "method": method, "family": "x", "variant": "abs",
         "group": "all", "metric": "top1", "n": 50, "mean": mean, "mean_low": mean - 0.05, "mean_high": mean + 0.05,
         "chance": 0.1, "verdict": verdict, "threshold": 0.5, "model_relies": True}
        for model in ("lstm", "flat")  # the control's tie-break happens to put the token first: still no verdict
        for method, mean, verdict in (("rnn_attention", 0.1 if model == "lstm" else 0.9,
                                       "misses" if model == "lstm" else "finds"), ("loo_delete", 1.0, "finds"))])
    reliance = pd.DataFrame([{"dataset": "planted", "model": model, "seed": 0, "measure": "insertion_flip", "n": 50,
                              "mean": 0.9, "mean_low": 0.8, "mean_high": 0.95, "relies": True, "threshold": 0.5}
                             for model in ("lstm", "flat")])
    tables = {"groundtruth_plausibility": plausibility, "groundtruth_shortcut": shortcut,
              "groundtruth_reliance": reliance}
    section = groundtruth_section(_rnn_config(hatexplain={"base": "hatexplain"}), tables, {})
    flat = [f for f in section.findings if "flat" in f]
    learned = [f for f in section.findings if "lstm" in f]
    assert all("Attention: undefined (constant attention ranks nothing)" in f for f in flat) and len(flat) == 2
    assert not any("BELOW it" in f or "missed: Attention" in f for f in flat)
    assert any("BELOW it (the ranking avoids the rationale words): Attention" in f for f in learned)
    assert any("missed: Attention" in f for f in learned)
    assert section.markdown.count("| undefined (constant attention ranks nothing) |") == 2  # one row per table
    from analysis.groundtruth.report_section import groundtruth_parts

    captions = dict(caption for part in groundtruth_parts(tables, _rnn_config()) for caption in part.figures)
    assert "Raw attention of flat is undefined (constant attention ranks nothing): not drawn, counted nowhere" in (
        captions["shortcut_detection"])
    # lstm's miss counts, flat's tie-break 'find' does not: Attention is found in no run, not in some
    assert "in some runs: none; in none: Attention" in captions["shortcut_detection"]
    assert not any("are: Attention" in f or "are: Leave-one-out (delete), Attention" in f for f in flat)
    # the figures leave the control's attention out
    from analysis.groundtruth.figures import _selected

    drawn = _selected(shortcut, table="groundtruth_shortcut", verdict="verdict", variant="abs", group="all",
                      constant=frozenset({"flat"}))
    assert set(zip(drawn["model"], drawn["method"])) == {("lstm", "rnn_attention"), ("lstm", "loo_delete"),
                                                          ("flat", "loo_delete")}
    # and so does the standalone page of the Snakemake report, which learns the controls from its settings block
    from analysis.config import load_config
    from analysis.stages.groundtruth import GroundTruthTableSettings, groundtruth_table

    paths = {}
    for name in ("groundtruth_shortcut", "groundtruth_reliance"):
        paths[name] = str(tmp_path / f"{name}.parquet")
        tables[name].to_parquet(paths[name])
    config = load_config(ROOT / "config" / "tiny.yaml", {"models": {"flat": {"family": "rnn", "attention": "uniform"}}})
    settings = GroundTruthTableSettings.from_config(config, kind="shortcut")
    assert settings.uniform_models == ["flat"]
    groundtruth_table(GroundTruthTableSettings(**settings.as_params()), "shortcut", tables=paths,
                      out=str(tmp_path / "shortcut.html"))
    page = (tmp_path / "shortcut.html").read_text()
    assert "undefined (constant attention ranks nothing)" in page


def test_plausibility_intro_names_only_the_datasets_scored():
    rows = [{"dataset": dataset, "model": "lstm", "seed": 0, "method": "saliency", "family": "x", "variant": "abs",
             "group": "all", "metric": "auprc", "n": 40, "mean": 0.6, "mean_low": 0.5, "mean_high": 0.7,
             "chance": 0.2, "vs_random": "above", "p_adjusted": 0.01} for dataset in ("hatexplain", "planted")]
    config = _rnn_config(hatexplain={"base": "hatexplain"}, planted={"base": "synthetic"},
                         movie_rationales={"base": "movie_rationales"})
    section = groundtruth_section(config, {"groundtruth_plausibility": pd.DataFrame(rows)}, {})
    intro = section.markdown.split("Plausibility, kept apart from faithfulness")[1].split(". Metrics")[0]
    assert "hatexplain (marked by people); planted (the words that decide the label)" in intro
    assert "movie" not in section.markdown and "ERASER movie reviews" not in section.markdown
    section = groundtruth_section(config, {"groundtruth_plausibility": pd.DataFrame(rows[:1])}, {})
    assert "synthetic" not in section.markdown and "planted" not in section.markdown
    # the default study's generated task under its own name, and the standalone page, which gets the names passed
    generated = [{**row, "dataset": "synthetic"} for row in rows[:1]]
    section = groundtruth_section(_rnn_config(synthetic={}), {"groundtruth_plausibility": pd.DataFrame(generated)}, {})
    assert "synthetic (the words that decide the label)" in section.markdown
    from analysis.groundtruth.report_section import groundtruth_parts

    (part,) = groundtruth_parts({"groundtruth_plausibility": pd.DataFrame(generated)}, {}, generated=["synthetic"])
    assert "synthetic (the words that decide the label)" in " ".join(part.paragraphs)


def test_sanity_lead_and_caption_name_the_inconclusive_methods_with_examples_and_runs():
    rows = []
    for model, methods in (("minilm", (("attention_last_mean", 0.1, "passes"), ("attention_rollout", 0.3,
                                                                                "inconclusive"))),
                           ("lstm", (("saliency", 0.1, "passes"),)), ("bert", (("saliency", 0.1, "passes"),))):
        for method, mean, verdict in methods:
            for step in (1, 3):
                rows.append({"dataset": "sst2", "model": model, "seed": 0, "method": method, "family": "x",
                             "variant": "abs", "step_index": step, "step": "head" if step == 1 else "embeddings",
                             "n_steps": 3, "n": 8, "mean": mean, "mean_low": mean - 0.25, "mean_high": mean + 0.25,
                             "prediction_changed": 0.4, "insensitive": False, "verdict": verdict, "threshold": 0.5})
    section = groundtruth_section({}, {"groundtruth_sanity": pd.DataFrame(rows)}, {"s": "/x/groundtruth_sanity.png"})
    (minilm,) = [f for f in section.findings if "minilm" in f]
    lead = minilm.split(". Passed")[0]
    assert "no method failed" in lead and "inconclusive on these 8 examples" in lead and "Attention rollout" in lead
    from analysis.groundtruth.report_section import groundtruth_parts

    (part,) = groundtruth_parts({"groundtruth_sanity": pd.DataFrame(rows)})
    ((_, caption),) = part.figures
    assert "on 8 examples per run" in caption
    assert "inconclusive (the interval contains the threshold) in every run where computed: Attention rollout (1 run)" in (
        caption)
    assert "passed in every run where computed: Saliency (‖∇‖) (2 runs); Attention (last layer, head mean) (1 run)" in (
        caption)


def test_shortcut_figure_gives_six_models_distinct_colours_and_wrapped_axis_labels():
    from matplotlib.colors import to_rgb

    colors = [to_rgb(c) for c in figures._model_colors([f"model{i}" for i in range(6)]).values()]
    closest = min(sum((a - b) ** 2 for a, b in zip(x, y)) ** 0.5 for i, x in enumerate(colors) for y in colors[i + 1:])
    assert closest > 0.25  # the sorted cycle put orange and vermillion side by side, 0.20 apart
    assert all(len(label) <= 24 for text in figures.SHORTCUT_PANELS.values() for label in text.split("\n"))

