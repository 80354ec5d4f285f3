"""Stage costs from Snakemake's benchmark files: parsing, the summary, the projection and the printing script."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.report.cost import cost_summary, projected_seconds, stage_costs

ROOT = Path(__file__).resolve().parent.parent
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(root: Path, relative: str, *rows: tuple[float, object, object]) -> None:
    """A benchmark file as Snakemake writes it: one row per repeat of (wall seconds, max RSS MiB, CPU seconds)."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{s}\t0:00:00\t{rss}\t100.0\t50.0\t60.0\t0.1\t0.2\t80.0\t{cpu}\n" for s, rss, cpu in rows]
    path.write_text(HEADER + "".join(lines))


@pytest.fixture
def benchmarks(tmp_path) -> Path:
    """Two models, two seeds: data once, training and two explain shards per run, study-wide tables once."""
    root = tmp_path / "tiny" / "benchmarks"
    write_benchmark(root, "prepare_data/dataset=sst2.tsv", (10.0, 200.0, 9.0))
    for seed, slower in ((0, 1.0), (1, 3.0)):
        write_benchmark(root, f"train/dataset=sst2/model=minilm/seed={seed}.tsv", (100.0 * slower, 900.0, 180.0))
        write_benchmark(root, f"train/dataset=sst2/model=bilstm/seed={seed}.tsv", (20.0 * slower, 300.0, 30.0))
        for shard in (0, 1):
            write_benchmark(root, f"explain/dataset=sst2/model=minilm/seed={seed}/shard={shard}.tsv",
                            (50.0, 800.0, 90.0))
    write_benchmark(root, "summary.tsv", (4.0, 150.0, "NA"))  # too fast to sample: Snakemake writes NA
    write_benchmark(root, "groundtruth_figure/figure=sanity.tsv", (6.0, 120.0, 5.0))
    return root


def test_stage_costs_parses_every_job_from_its_path(benchmarks):
    table = stage_costs(benchmarks)
    assert len(table) == 11
    assert list(table.columns) == ["rule", "dataset", "model", "seed", "other_wildcards", "wall_seconds",
                                   "cpu_seconds", "max_rss_mib", "measured_seconds", "recorded_seconds", "path"]
    explain = table[table["rule"] == "explain"]
    assert set(explain["other_wildcards"]) == {"shard=0", "shard=1"}
    assert set(explain["seed"]) == {0, 1} and set(explain["model"]) == {"minilm"}
    data = table[table["rule"] == "prepare_data"].iloc[0]
    assert data["dataset"] == "sst2" and pd.isna(data["model"]) and pd.isna(data["seed"])
    summary = table[table["rule"] == "summary"].iloc[0]
    assert pd.isna(summary["dataset"]) and summary["wall_seconds"] == 4.0 and pd.isna(summary["cpu_seconds"])
    figure = table[table["rule"] == "groundtruth_figure"].iloc[0]
    assert figure["other_wildcards"] == "figure=sanity" and figure["max_rss_mib"] == 120.0
    assert table["wall_seconds"].sum() == pytest.approx(10 + 400 + 80 + 200 + 4 + 6)


def test_a_job_that_reused_finished_work_counts_at_what_that_work_took(benchmarks):
    """An explain job that reused cached methods ran 50 s but its methods took 400 s when computed: it counts 400 s;
    a training run that took longer than its epochs (evaluation, loading) keeps its measured time."""
    study = benchmarks.parent
    run = study / "sst2" / "minilm" / "0"
    (run / "shards" / "0").mkdir(parents=True)
    pd.DataFrame({"method": ["saliency", "integrated_gradients"], "seconds": [100.0, 300.0]}).to_parquet(
        run / "shards" / "0" / "diagnostics.parquet")
    pd.DataFrame({"epoch": [1, 2], "seconds": [30.0, 30.0], "validation_seconds": [5.0, 5.0]}).to_parquet(
        run / "training_history.parquet")
    table = stage_costs(benchmarks).set_index(["rule", "model", "seed", "other_wildcards"])
    reused = table.loc[("explain", "minilm", 0, "shard=0")]
    assert reused["measured_seconds"] == 50.0 and reused["recorded_seconds"] == 400.0
    assert reused["wall_seconds"] == 400.0
    assert reused["cpu_seconds"] == 90.0 + 350.0  # its own CPU time and the reused 350 s of work
    trained = table.loc[("train", "minilm", 0, "")]
    assert trained["recorded_seconds"] == 70.0 and trained["wall_seconds"] == 100.0
    assert pd.isna(table.loc[("explain", "minilm", 0, "shard=1"), "recorded_seconds"])  # no table: measured


def test_repeated_jobs_count_at_their_mean(tmp_path):
    write_benchmark(tmp_path, "train/dataset=d/model=m/seed=0.tsv", (10.0, 100.0, 8.0), (20.0, 300.0, 12.0))
    row = stage_costs(tmp_path).iloc[0]
    assert (row["wall_seconds"], row["cpu_seconds"], row["max_rss_mib"]) == (15.0, 10.0, 200.0)


def test_no_benchmarks_yet_is_an_empty_table(tmp_path):
    table = stage_costs(tmp_path / "missing")
    assert table.empty and "wall_seconds" in table
    assert cost_summary(table).empty


def test_a_path_without_wildcard_names_is_an_error_that_says_how_to_fix_it(tmp_path):
    write_benchmark(tmp_path, "train/sst2/minilm/0.tsv", (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match=r"train/sst2/minilm/0.tsv.*'sst2'.*<wildcard>=<value>"):
        stage_costs(tmp_path)


def test_cost_summary_per_stage(benchmarks):
    summary = cost_summary(stage_costs(benchmarks)).set_index("rule")
    assert list(summary.index[:3]) == ["train", "explain", "prepare_data"]  # most costly first
    train = summary.loc["train"]
    assert (train["jobs"], train["seeds"], train["total_seconds"], train["mean_seconds"]) == (4, 2, 480.0, 120.0)
    assert train["one_seed_seconds"] == 240.0  # per seed: the total over its two seeds
    assert train["cpu_seconds"] == 420.0 and train["max_rss_mib"] == 900.0
    data = summary.loc["prepare_data"]
    assert pd.isna(data["seeds"]) and data["one_seed_seconds"] == data["total_seconds"] == 10.0  # once per study
    assert summary["share"].sum() == pytest.approx(1.0)
    assert summary.loc["explain", "share"] == pytest.approx(200 / 700)


def test_cost_summary_per_model_family_and_model(benchmarks):
    table = stage_costs(benchmarks)
    table["family"] = table["model"].map({"minilm": "transformer", "bilstm": "rnn"})
    summary = cost_summary(table, by=["family", "model"])
    assert list(summary["model"].fillna("-")) == ["minilm", "bilstm", "-"]
    minilm = summary.iloc[0]
    assert minilm["family"] == "transformer" and minilm["total_seconds"] == 600.0
    assert minilm["one_seed_seconds"] == 300.0  # training 200 and explaining 100 per seed
    shared = summary.iloc[2]  # data and study-wide stages, which have no model
    assert shared["jobs"] == 3 and shared["one_seed_seconds"] == 20.0 and pd.isna(shared["seeds"])
    assert summary["one_seed_seconds"].sum() == pytest.approx(projected_seconds(table, 1))
    with pytest.raises(ValueError, match="family"):
        cost_summary(table.drop(columns="family"), by=["family"])


def test_projection_counts_study_wide_stages_once_and_per_seed_stages_per_seed(benchmarks):
    table = stage_costs(benchmarks)
    shared, per_seed = 10 + 4 + 6, (480 + 200) / 2
    assert projected_seconds(table, 0) == pytest.approx(shared)
    assert projected_seconds(table, 3) == pytest.approx(shared + 3 * per_seed)
    # one seed's table projects the same way, from that seed's own jobs
    seed_0 = table[table["seed"].isna() | (table["seed"] == 0)]
    assert projected_seconds(seed_0, 2) == pytest.approx(shared + 2 * (120 + 100))


def load_script():
    spec = importlib.util.spec_from_file_location("stage_cost", ROOT / "benchmarks" / "stage_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_working_rule_writes_a_benchmark_file_per_job():
    """Each rule's benchmark path names the same wildcards as its log (so one file per job), as <name>=<value>."""
    stages = load_script().declared_stages()
    assert {"prepare_data", "train", "explain", "merge_shards", "interventions", "summary"} <= set(stages)
    for rule, paths in stages.items():
        if rule == "publish":  # copies the finished report; a target rule reruns when its benchmark is missing
            assert paths["benchmark"] is None
            continue
        assert paths["benchmark"] is not None, f"rule {rule} has no benchmark directive"
        bench, log = paths["benchmark"], paths["log"]
        assert bench.startswith(f"benchmarks/{rule}/") or bench == f"benchmarks/{rule}.tsv", (rule, bench)
        assert set(re.findall(r"\{(\w+)\}", bench)) == set(re.findall(r"\{(\w+)\}", log)), (rule, bench, log)
        assert all(f"{name}={{{name}}}" in bench for name in re.findall(r"\{(\w+)\}", bench)), (rule, bench)


def test_script_prints_costs_projection_and_unmeasured_stages(benchmarks, monkeypatch, capsys):
    study = benchmarks.parent
    (study / "logs" / "train" / "sst2" / "minilm").mkdir(parents=True)
    for seed in (0, 1, 2):  # seed 2 trained before benchmarks were recorded
        (study / "logs" / "train" / "sst2" / "minilm" / f"{seed}.log").write_text("")
    script = load_script()

    def run(*args: str) -> str:
        monkeypatch.setattr(sys, "argv", ["stage_cost.py", str(study), *args])
        script.main()
        return capsys.readouterr().out

    out = run("--project", "3", "10")
    assert re.search(r"^train\s+4\s+2\s+8m 00s", out, flags=re.M), out
    assert re.search(r"^total\s+11\s+.*11m 40s\s+100.0%\s+6m 00s", out, flags=re.M), out
    assert re.search(r"^\s+3 seeds:\s+17m 20s serial; on 2 cores about 8m 40s", out, flags=re.M), out  # 20 s + 3 x 5m 40s
    assert "train 1 of 3" in out and "not run" in out and "interventions" in out
    one = run("--seed", "1")
    assert "(seed 1), from 7 benchmark files" in one and "train" not in one.split("missing from the totals")[1]
    untimed = run("--seed", "2")
    assert "(seed 2), from 3 benchmark files" in untimed and "train 1 of 1" in untimed


def test_report_cost_section_tables_every_stage_and_every_model(benchmarks):
    """The report's cost section: per stage and per model (study-wide stages as their own row), each summing to
    the measured total, with the CPU time beside the wall time."""
    from analysis.report.report_section import cost_section

    table = stage_costs(benchmarks)
    section = cost_section({"seeds": [0, 1]}, {"stage_costs": table}, {})
    per_model = section.tables["model_costs"].set_index("model")
    assert set(per_model.index) == {"minilm", "bilstm", "(data and study-wide stages)"}
    assert per_model["total_seconds"].sum() == pytest.approx(table["wall_seconds"].sum())
    assert per_model.loc["minilm", "total_seconds"] == pytest.approx(100 + 300 + 4 * 50)
    assert section.tables["stage_costs"]["total_seconds"].sum() == pytest.approx(table["wall_seconds"].sum())
    assert "of CPU time" in section.markdown and "Cost per model" in section.markdown
    # shares print as percentages (a share of 0.004 is 0.4%, not 0.0), and the seeds' total is projected
    share = per_model.loc["minilm", "share"]
    assert f"| {100 * share:.1f}% |" in section.markdown and "this study's 2 seeds take about" in section.markdown


def test_method_cost_counts_ig_examples_over_tolerance_and_the_note_names_the_runs():
    """The per-method cost table counts integrated gradients' examples that missed the completeness tolerance as
    whole examples (blank for methods without a completeness check), and the note names the runs that missed."""
    from analysis.report.document import format_cell
    from analysis.report.report_section import method_cost
    from analysis.report.summary import convergence_note

    rows = [("sst", "lstm", "integrated_gradients", gap, ok) for gap, ok in [(0.001, True), (0.2, False), (0.3, False)]]
    rows += [("sst", "cnn", "integrated_gradients", 0.0, True), ("sst", "lstm", "saliency", None, None)]
    diagnostics = pd.DataFrame(rows, columns=["dataset", "model", "method", "completeness_gap", "converged"]).assign(
        seconds=0.1, forward_passes=2.0)
    cost = method_cost(diagnostics).set_index(["model", "method"])["ig_not_converged"]
    assert [format_cell(v) for v in cost] == ["0", "2", ""]  # cnn IG, lstm IG, lstm saliency
    note = convergence_note(method_cost(diagnostics))
    assert "sst/lstm: 2" in note and "sst/cnn" not in note
    assert convergence_note(method_cost(diagnostics[diagnostics["model"] == "cnn"])).startswith(
        "Integrated gradients met its completeness tolerance on every example")
