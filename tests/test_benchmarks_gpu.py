"""The GPU benchmark suite's own logic, on the CPU: the results page, the dtype comparison, the wheel checks, the
step runner; and one GPU check that skips without CUDA."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_report  # noqa: E402
import gpu_run  # noqa: E402
import gpu_wheels  # noqa: E402
from common import build_random_checkpoint, score_agreement  # noqa: E402


def results(**overrides) -> dict:
    """A results record as gpu_run.py writes it, every step done."""
    pipeline = {"tool": "pipeline", "n": 30, "explain_s_per_example": 0.02, "evaluate_s_per_example": 0.005,
                "total_s_per_example": 0.025, "kernel_shap_samples": 200, "lime_samples": 200,
                "ig_steps_median": 32.0, "ig_completeness_gap_median": 2e-6, "ig_completeness_gap_max": 2e-5,
                "explain_s_per_example_by_method": {"kernel_shap": 0.008, "saliency": 0.0004}}
    ferret = {"tool": "ferret", "n": 30, "explain_s_per_example": 1.5, "evaluate_s_per_example": 0.5,
              "total_s_per_example": 2.0, "versions": {"ferret-xai": "0.4.2"}, "stand_ins": ["thermostat"]}
    rows = [{"model": "m", "dtype": "float32", "method": "saliency", "family": "gradient", "s_per_example": 0.001,
             "ratio": 1.1},
            {"model": "m", "dtype": "float32", "method": "(forward+backward)", "family": "bound",
             "s_per_example": 0.0008, "ratio": 1.0, "forward_s_per_example": 0.0003},
            {"model": "m", "dtype": "bfloat16", "method": "saliency", "family": "gradient", "s_per_example": 0.0006,
             "ratio": 1.2, "max_abs_diff_vs_float32": 3e-3, "max_abs_diff_normalised_vs_float32": 1e-2,
             "min_kendall_tau_vs_float32": 0.81}]
    record = {
        "mode": "gpu", "date": "2026-12-01 10:00 UTC", "commit": "abc1234", "budget_s": 465, "wall_s": 400,
        "environment": {"python": "3.12.3", "torch": "2.11.0", "transformers": "5.24.0", "device": "cuda",
                        "device_name": "NVIDIA H200", "device_memory_gib": 139.8, "cpu_count": 16},
        "models": {"minilm": {"layers": 6, "hidden": 384, "heads": 12, "parameters_m": 22.7}},
        "steps": [
            {"name": "tiny_study", "title": "4. tiny study", "status": "ok", "wall_s": 95, "budget_s": 140,
             "result": {"device": "cuda", "jobs_done": "35 of 35", "gpu_jobs": 12, "accuracy": {"minilm": 0.9},
                        "log_tail": ["35 of 35 steps (100%) done"]}},
            {"name": "ferret_minilm", "title": "1. ferret comparison, MiniLM-sized", "status": "ok", "wall_s": 120,
             "budget_s": 130, "result": {"pipeline": pipeline, "ferret": ferret, "ratio": 80.0}},
            {"name": "cost_accounting", "title": "2. cost accounting", "status": "ok", "wall_s": 60, "budget_s": 90,
             "result": {"n": 64, "batch_size": 32, "model": "MiniLM-sized", "rows": rows}},
            {"name": "full_suite", "title": "3. whole suite", "status": "timeout", "wall_s": 100, "budget_s": 100,
             "error": "timed out after 100 s",
             "result": {"model": "BERT-base-sized", "summary": None,
                        "methods": [{"method": "saliency", "family": "gradient", "seconds": 1.5,
                                     "s_per_example": 0.0017, "peak_mib": 2100.0, "forward_passes_per_example": 2.0}]}},
        ],
    }
    record.update(overrides)
    return record


def test_the_page_shows_every_measurement():
    page = gpu_report.render(results())
    assert page.startswith("# GPU benchmarks: NVIDIA H200\n")
    assert "**80.0x** faster than ferret" in page
    assert "| ferret 0.4.2 | 1.50 s/example | 500 ms/example | 2.00 s/example |" in page
    assert "| saliency | gradient | 1.00 | 1.10 | 0.60 | 1.20 | 3.0e-03 | 1.0e-02 | 0.810 |" in page
    assert "| saliency | gradient | 1.5 | 1.70 | 2.0 | 2100 |" in page
    assert "**timeout** after 100 s (budget 100 s): `timed out after 100 s`" in page  # the cut-short step says so
    assert "passed in 95 s; 35 of 35 jobs done; 12 job logs name the GPU" in page


def test_the_page_says_what_did_not_run_and_marks_a_smoke_run():
    page = gpu_report.render(results(mode="cpu-smoke", steps=[
        {"name": "ferret_minilm", "title": "1. ferret", "status": "failed", "wall_s": 3, "budget_s": 130,
         "error": "exit code 1: ImportError: no ferret", "result": {}}]))
    assert "(CPU smoke run, tiny sizes: not a measurement)" in page
    assert "**failed** after 3 s (budget 130 s): `exit code 1: ImportError: no ferret`" in page
    assert page.count("Not run.") == 3  # cost accounting, the whole suite, the tiny study


def test_the_page_renders_from_the_json_file(tmp_path):
    path = tmp_path / "gpu_results.json"
    path.write_text(json.dumps(results()))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_report.py"), str(path)], capture_output=True,
                         text=True, check=True)
    assert out.stdout == gpu_report.render(results())


def scores(values: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"example_id": f"ex{e}", "word_index": w, "score": s}
                         for e, row in enumerate(values) for w, s in enumerate(row)])


def test_score_agreement_of_identical_scores():
    table = scores([[0.1, -0.5, 0.2], [1.0, 2.0]])
    agreement = score_agreement(table, table)
    assert agreement["max_abs_diff"] == 0 and agreement["max_abs_diff_normalised"] == 0
    assert agreement["min_kendall_tau"] == pytest.approx(1.0)


def test_score_agreement_normalises_magnitudes_and_ranks_them():
    reference = scores([[1.0, -3.0, 0.0, 0.0]])
    # every score doubled and signs flipped: the same distribution of |scores| and the same ranking
    assert score_agreement(scores([[-2.0, 6.0, 0.0, 0.0]]), reference)["max_abs_diff_normalised"] == 0
    swapped = score_agreement(scores([[3.0, 1.0, 0.0, 0.0]]), reference)
    assert swapped["max_abs_diff"] == pytest.approx(4.0)
    assert swapped["max_abs_diff_normalised"] == pytest.approx(0.5)  # 1/4 vs 3/4
    assert swapped["min_kendall_tau"] < 1.0


def fake_wheel(folder: Path, name: str, version: str, requires: list[str], tags: str = "py3-none-any") -> Path:
    path = folder / f"{name}-{version}-{tags}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                         + "".join(f"Requires-Dist: {r}\n" for r in requires))
    return path


def test_the_wheel_check_finds_missing_requirements_and_duplicates(tmp_path):
    wheels = [fake_wheel(tmp_path, "alpha", "1.0", ["numpy>=2", "beta", "gamma; python_version < '3.0'",
                                                    "delta; extra == 'test'", "pulp<3.4"]),
              fake_wheel(tmp_path, "beta", "2.0", ["epsilon"], tags="cp312-cp312-manylinux_2_17_x86_64")]
    # numpy is in the image, beta travels, gamma and delta are not asked for, pulp is left out on purpose
    assert gpu_wheels.missing_requirements(wheels) == {"epsilon": ["beta"]}
    twice = wheels + [fake_wheel(tmp_path, "beta", "2.1", [])]
    assert set(gpu_wheels.duplicates(twice)) == {"beta"}
    assert [gpu_wheels.is_pure(gpu_wheels.wheel_parts(w)[2]) for w in wheels] == [True, False]


def test_assemble_swaps_compiled_wheels_for_the_other_pythons(tmp_path):
    here, other, into = tmp_path / "here", tmp_path / "other", tmp_path / "into"
    here.mkdir(), other.mkdir()
    fake_wheel(here, "alpha", "1.0", [])
    fake_wheel(here, "beta", "2.0", [], tags="cp312-cp312-manylinux_2_17_x86_64")
    fake_wheel(other, "beta", "2.0", [], tags="cp311-cp311-manylinux_2_17_x86_64")
    chosen = gpu_wheels.assemble(sorted(here.glob("*.whl")), sorted(other.glob("*.whl")), into)
    assert sorted(p.name for p in into.iterdir()) == sorted(p.name for p in chosen) == [
        "alpha-1.0-py3-none-any.whl", "beta-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"]
    fake_wheel(here, "gamma", "3.0", [], tags="cp312-cp312-manylinux_2_17_x86_64")
    with pytest.raises(SystemExit, match="gamma==3.0"):
        gpu_wheels.assemble(sorted(here.glob("*.whl")), sorted(other.glob("*.whl")), into)


def test_step_output_helpers():
    text = 'progress\n{"tool": "pipeline", "n": 3}\n{not json}\nValueError: bad thing\n'
    assert gpu_run.json_lines(text) == [{"tool": "pipeline", "n": 3}]
    assert gpu_run.error_of(text) == "ValueError: bad thing"
    long = "a" * 100 + "b" * 100
    cut = gpu_run.capped(long, limit=50)
    assert cut.startswith("a" * 25) and cut.endswith("b" * 25) and "150 bytes cut" in cut


def test_a_step_past_its_timeout_is_killed_with_its_children():
    start = time.time()
    code, output, wall = gpu_run.run_process(
        ["bash", "-c", "echo started; sleep 30 & sleep 30; echo never"], timeout=1, env={})
    assert code is None and "started" in output and "never" not in output
    assert time.time() - start < 15


def test_a_failing_step_is_recorded_and_the_run_goes_on(tmp_path):
    context = gpu_run.Context(out=tmp_path, smoke=True, python=sys.executable, site=None, data=tmp_path,
                              vocab=tmp_path, work=tmp_path, cores=1, deadline=time.time() + 600)
    step = gpu_run.Step("broken", "a broken step", 10, 10, lambda c: [sys.executable, "-c", "raise KeyError('x')"],
                        lambda output, c: {"lines": len(output.splitlines())}, "broken.log")
    record = gpu_run.run_step(step, context, time.time())
    assert record["status"] == "failed" and "KeyError" in record["error"]
    assert record["result"]["lines"] > 0 and "KeyError" in (tmp_path / "broken.log").read_text()
    late = gpu_run.Context(**{**context.__dict__, "deadline": time.time() + 5})
    assert gpu_run.run_step(step, late, time.time())["status"] == "skipped"


CUDA = pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                         reason="needs a CUDA device")])


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_the_whole_suite_runs_on_a_random_weight_checkpoint(tmp_path, device):
    from analysis.models.transformer import resolve_checkpoint

    vocab = Path(resolve_checkpoint("minilm-package")) / "vocab.txt"
    folder = build_random_checkpoint(tmp_path / "tiny", vocab, "tiny")
    data = tmp_path / "sentences.parquet"
    pd.DataFrame({"sentence": ["a fine film .", "dull and long", "not bad at all"], "label": [1, 0, 1]}).to_parquet(data)
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_full_suite.py"), "--checkpoint", str(folder),
                          "--device", device, "--data", str(data), "-n", "3", "--limit", "attention_flow=1"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    records = gpu_run.json_lines(out.stdout)
    summary, methods = records[-1], {r["method"]: r for r in records[:-1]}
    assert summary["benchmark"] == "full_suite" and summary["extrapolated"] == ["attention_flow"]
    assert {"integrated_gradients", "loo_delete", "alti", "(attention heads)"} <= set(methods)
    assert methods["attention_flow"]["n"] == 1 and methods["saliency"]["n"] == 3
    assert np.isfinite(summary["total_s"]) and (summary["peak_mib"] > 0 if device == "cuda" else True)
