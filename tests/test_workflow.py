"""The Snakemake workflow: lint, dry runs of every config, a tiny end-to-end run with its report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args: str, cwd: Path = ROOT, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_lint_is_clean():
    out = snakemake("--lint")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "good condition" in out.stdout + out.stderr


@pytest.mark.parametrize("config", CONFIGS, ids=[p.name for p in CONFIGS])
def test_dry_run_of_every_config(config, tmp_path):
    out = snakemake("-n", "--cores", "1", "--configfile", str(config), "--config", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "summary" in out.stdout


def test_bad_config_fails_before_running(tmp_path):
    out = snakemake("-n", "--cores", "1", "--configfile", str(ROOT / "config" / "tiny.yaml"),
                    "--config", f"results_dir={tmp_path}", "device=tpu")
    assert out.returncode != 0
    assert "device" in out.stdout + out.stderr


@pytest.mark.slow
def test_tiny_study_end_to_end_with_report(tmp_path):
    """Synthetic data, one RNN and MiniLM, a few dozen examples: every stage, then the HTML report."""
    args = ["--cores", "2", "--configfile", str(ROOT / "config" / "tiny.yaml"), "--config", f"results_dir={tmp_path}"]
    out = snakemake(*args)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    study = tmp_path / "tiny"
    evaluation = pd.read_parquet(study / "study" / "evaluation.parquet")
    assert set(evaluation["model"]) == {"bilstm_tanh", "minilm"}
    assert (evaluation["accuracy"] > 0.6).all(), evaluation  # both learn the synthetic task
    importance = pd.read_parquet(study / "synthetic" / "minilm" / "0" / "importance.parquet")
    assert {"attention_last_mean", "attention_rollout", "integrated_gradients", "loo_delete"} <= set(importance["method"])
    assert {"dataset", "split", "model", "seed", "settings", "versions"} <= set(importance.columns)
    diagnostics = pd.read_parquet(study / "synthetic" / "minilm" / "0" / "diagnostics.parquet")
    gaps = diagnostics.loc[diagnostics["method"] == "integrated_gradients", "completeness_gap"].abs()
    assert len(gaps) == 16 and gaps.median() < 0.02
    summary_md = (study / "study" / "summary.md").read_text()
    assert "## Findings" in summary_md and "Kendall" in summary_md
    html = (study / "study" / "summary.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    # a rerun has nothing to do
    again = snakemake(*args, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # a figure setting reruns the figures and what reads them, nothing else (the rule passes it as params)
    changed = snakemake(*args, "figures={headline_metric: spearman, heatmap_examples: 4}", "-n", "--quiet", "rules")
    rules = {line.split()[0] for line in (changed.stdout + changed.stderr).splitlines()
             if line.strip() and line.split()[0] in {"run_figures", "summary", "train", "explain", "agreement",
                                                     "interventions", "claims", "all"}}
    assert rules == {"run_figures", "summary", "all"}, changed.stdout + changed.stderr
    # the Snakemake report builds from the finished run
    report = tmp_path / "report.html"
    out = snakemake(*args, "--report", str(report))
    assert out.returncode == 0, out.stderr[-3000:]
    assert report.stat().st_size > 50_000
    # publishing copies the summary and its CSV tables, nothing else
    published = tmp_path / "reports"
    out = snakemake("publish", *args, f"reports_dir={published}")
    assert out.returncode == 0, out.stderr[-3000:]
    files = {p.relative_to(published / "tiny").as_posix() for p in (published / "tiny").rglob("*") if p.is_file()}
    assert ".snakemake_timestamp" not in files  # the rule's output is a receipt, not the folder
    assert (study / "study" / "published.txt").read_text().startswith(f"published to {published / 'tiny'}")
    assert {"README.md", "summary.html", "summary.md", "tables/provenance.csv"} <= files
    assert {"examples.html", "DATA.md"} <= files and any(f.startswith("data/") for f in files)
    # the report, its tables, downsampled figures and the per-example data; never models or raw results
    assert all(f.endswith((".md", ".html", ".csv", ".csv.gz")) or f.startswith(("figures/", "data/"))
               for f in files), files
    assert all(f.endswith((".png", ".md")) for f in files if f.startswith("figures/"))
    assert all(f.endswith((".parquet", ".md")) for f in files if f.startswith("data/"))
    assert "snakemake publish --cores all --configfile" in (published / "tiny" / "README.md").read_text()


def test_interrupted_explain_job_reuses_finished_methods(tmp_path, monkeypatch, caplog):
    """Methods finished before an interruption are cached and reused; only the rest is recomputed."""
    import analysis.importance as importance_module
    from analysis.config import load_config
    from analysis.stages.data import DataSettings, prepare_data
    from analysis.stages.importance import ExplainSettings, run_explain
    from analysis.stages.train import TrainSettings, train_model

    config = load_config(ROOT / "config" / "tiny.yaml", {
        "results_dir": str(tmp_path), "datasets": {"synthetic": {"train_n": 200, "eval_n": 20, "explain_n": 5}},
        "models": {"rnn": {"family": "rnn", "epochs": 1, "embed_dim": 8, "hidden_dim": 4, "attention_dim": 4}},
    })
    d = tmp_path / "run"
    prepare_data(DataSettings.from_config(config, dataset="synthetic"), "synthetic", out_train=str(d / "train.parquet"),
                 out_eval=str(d / "eval.parquet"), out_explain=str(d / "explain.parquet"),
                 out_report=str(d / "report.parquet"))
    train_model(TrainSettings.from_config(config, dataset="synthetic", model="rnn"), "synthetic", "rnn", 0,
                train_path=str(d / "train.parquet"), eval_path=str(d / "eval.parquet"),
                out_model=str(d / "model"), out_evaluation=str(d / "evaluation.parquet"),
                out_predictions=str(d / "predictions.parquet"), out_history=str(d / "history.parquet"))
    assert not (d / "training_checkpoint.pt").exists()  # removed once the model is saved
    outputs = {"model_dir": str(d / "model"), "explain_path": str(d / "explain.parquet"),
               "out_importance": str(d / "importance.parquet"), "out_diagnostics": str(d / "diagnostics.parquet"),
               "out_heads": str(d / "heads.parquet")}
    real = importance_module.compute_importance
    calls = []

    def interrupted(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(args[2].name)
        return real(*args, **kwargs)

    monkeypatch.setattr(importance_module, "compute_importance", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_explain(ExplainSettings.from_config(config, dataset="synthetic", model="rnn"), "synthetic", "rnn", 0, **outputs)
    assert not (d / "importance.parquet").exists()
    assert len(list((d / "importance_cache").glob("*.diagnostics.parquet"))) == 2
    monkeypatch.setattr(importance_module, "compute_importance", real)
    first_two = list(calls)
    with caplog.at_level("INFO"):
        run_explain(ExplainSettings.from_config(config, dataset="synthetic", model="rnn"), "synthetic", "rnn", 0, **outputs)
    reused = [r.message for r in caplog.records if "reusing the finished result" in r.message]
    assert len(reused) == 2 and all(any(r.startswith(m) for r in reused) for m in first_two)
    table = pd.read_parquet(d / "importance.parquet")
    # a fix that bumps a method's version recomputes that method's cached result, and only that one
    bumped = importance_module.IMPORTANCE_METHODS.get(first_two[0])
    monkeypatch.setattr(bumped, "version", 2)
    caplog.clear()
    calls.clear()
    monkeypatch.setattr(importance_module, "compute_importance", lambda *a, **k: calls.append(a[2].name) or real(*a, **k))
    with caplog.at_level("INFO"):
        run_explain(ExplainSettings.from_config(config, dataset="synthetic", model="rnn"), "synthetic", "rnn", 0, **outputs)
    assert calls == [first_two[0]]
    from analysis.config import methods_for

    assert set(table["method"]) == set(methods_for(config, "rnn"))


def test_real_data_path_on_a_slice_of_shared_data(shared_data, tmp_path):
    """SST-2 from the local mirror through data preparation, a small RNN, and two methods."""
    from analysis.config import load_config
    from analysis.stages.data import DataSettings, prepare_data
    from analysis.stages.importance import ExplainSettings, run_explain
    from analysis.stages.train import TrainSettings, train_model

    config = load_config(ROOT / "config" / "tiny.yaml", {
        "data_dir": str(shared_data), "results_dir": str(tmp_path),
        "datasets": {"sst2": {"train_n": 300, "eval_n": 40, "explain_n": 6}},
        "models": {"bilstm_tanh": {"family": "rnn", "epochs": 1, "embed_dim": 16, "hidden_dim": 8,
                                   "attention_dim": 8}},
        "importance": {"methods": {"rnn_attention": {}, "loo_delete": {}}},
        # tiny.yaml's lists name methods this run leaves out
        "groundtruth": {"sanity": {"methods": None}}, "heads": {"methods": ["loo_delete"]},
    })
    d = tmp_path / "run"
    prepare_data(DataSettings.from_config(config, dataset="sst2"), "sst2", out_train=str(d / "train.parquet"),
                 out_eval=str(d / "eval.parquet"), out_explain=str(d / "explain.parquet"),
                 out_report=str(d / "report.parquet"))
    train_model(TrainSettings.from_config(config, dataset="sst2", model="bilstm_tanh"), "sst2", "bilstm_tanh", 0,
                train_path=str(d / "train.parquet"), eval_path=str(d / "eval.parquet"),
                out_model=str(d / "model"), out_evaluation=str(d / "evaluation.parquet"),
                out_predictions=str(d / "predictions.parquet"), out_history=str(d / "history.parquet"))
    run_explain(ExplainSettings.from_config(config, dataset="sst2", model="bilstm_tanh"), "sst2", "bilstm_tanh", 0,
                model_dir=str(d / "model"), explain_path=str(d / "explain.parquet"),
                out_importance=str(d / "importance.parquet"), out_diagnostics=str(d / "diagnostics.parquet"),
                out_heads=str(d / "heads.parquet"))
    importance = pd.read_parquet(d / "importance.parquet")
    examples = pd.read_parquet(d / "explain.parquet")
    assert set(importance["method"]) == {"rnn_attention", "loo_delete"}
    assert (examples["split"] == "validation").all() and examples["example_id"].str.startswith("sst2-").all()
    attention = importance[importance["method"] == "rnn_attention"].groupby("example_id")["score"].sum()
    assert ((attention - 1).abs() < 1e-5).all()


@pytest.mark.slow
def test_sharded_run_resumes_without_recomputing_finished_shards(tmp_path):
    """Scatter/gather: a lost shard is recomputed alone, and the merged result is identical."""
    args = ["--cores", "2", "--configfile", str(ROOT / "config" / "tiny.yaml"), "--config", f"results_dir={tmp_path}",
            "models={rnn: {family: rnn, epochs: 1, embed_dim: 8, hidden_dim: 4, attention_dim: 4}}",
            "importance={shards: 3, methods: {rnn_attention: {}, loo_delete: {}, integrated_gradients: {}}}"]
    run = tmp_path / "tiny" / "synthetic" / "rnn" / "0"
    target = str(run / "importance.parquet")
    first = snakemake(target, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    before = pd.read_parquet(target).drop(columns=["versions"])
    assert sorted(p.name for p in (run / "shards").iterdir()) == ["0", "1", "2"]
    # a run killed while shard 1 was being computed: its outputs and the merge are missing
    for name in ("importance.parquet", "diagnostics.parquet", "attention_heads.parquet"):
        (run / "shards" / "1" / name).unlink()
        (run / name).unlink()
    plan = snakemake(target, "-n", *args)
    stats = plan.stdout.split("Job stats:")[1].strip().split("\n\n")[0]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, flags=re.M)}
    assert counts == {"explain": 1, "merge_shards": 1, "total": 2}, stats
    second = snakemake(target, *args)
    assert second.returncode == 0, second.stderr[-3000:]
    after = pd.read_parquet(target).drop(columns=["versions"])
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.slow
def test_run_killed_midway_resumes_without_recomputing_and_gives_identical_results(tmp_path):
    """SIGKILL the whole Snakemake process group once a shard has finished; the rerun keeps that shard."""
    import signal
    import time

    def args(results: Path) -> list[str]:
        return ["--cores", "1", "--configfile", str(ROOT / "config" / "tiny.yaml"), "--config",
                f"results_dir={results}",
                "models={rnn: {family: rnn, epochs: 1, embed_dim: 8, hidden_dim: 4, attention_dim: 4}}",
                "importance={shards: 4, methods: {rnn_attention: {}, loo_delete: {}, integrated_gradients: {}}}"]

    def target(results: Path) -> Path:
        return results / "tiny" / "synthetic" / "rnn" / "0" / "importance.parquet"

    whole = snakemake(str(target(tmp_path / "whole")), *args(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = tmp_path / "killed"
    shards = target(killed).parent / "shards"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = tmp_path / "killed.log"

    def finished_shards() -> set[int]:
        """Shards whose explain job Snakemake reported finished (its outputs and metadata are written)."""
        text = log.read_text()
        by_job = {m[1]: int(m[2]) for m in re.finditer(r"rule explain:\n(?:\s+.*\n)*?\s+jobid: (\d+)\n(?:\s+.*\n)*?"
                                                         r"\s+wildcards: .*shard=(\d+)", text)}
        return {by_job[j] for j in re.findall(r"Finished jobid: (\d+) \(Rule: explain\)", text) if j in by_job}

    with log.open("w") as stream:
        proc = subprocess.Popen([*SNAKEMAKE, str(target(killed)), *args(killed)], cwd=ROOT, env=env,
                                stdout=stream, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 900
        while not finished_shards():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = finished_shards()
    assert 1 <= len(done) < 4 and not target(killed).exists(), done
    finished = {shards / str(k) / "importance.parquet": (shards / str(k) / "importance.parquet").stat().st_mtime_ns
                for k in done}
    # a hard kill leaves Snakemake's lock and marks the killed job incomplete; --unlock, then
    # --rerun-incomplete (both named in Snakemake's errors) rerun only what was not finished
    unlock = snakemake(str(target(killed)), *args(killed), "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    again = snakemake(str(target(killed)), *args(killed), "--rerun-incomplete")
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # finished shards were not recomputed
    pd.testing.assert_frame_equal(pd.read_parquet(target(tmp_path / "whole")).drop(columns=["versions"]),
                                  pd.read_parquet(target(killed)).drop(columns=["versions"]))
