"""Throughput of the pipeline's explanation suite beside ferret's, on the same model and sentences.

    python benchmarks/ferret_comparison.py                 # MiniLM package model, first 30 SST-2 dev sentences
    python benchmarks/ferret_comparison.py --skip-ferret   # only our side
    python benchmarks/ferret_comparison.py --ferret-json '{"total_s_per_example": 7.0, ...}'
    python benchmarks/ferret_comparison.py --device cuda --ferret-python python3 --model DIR --data PARQUET

ferret's side runs ``../shared/bench/ferret_baseline.sh`` (its own virtual environment, CPU),
or, with ``--ferret-python PY``, ``benchmarks/ferret_side.py`` under that interpreter (and this
environment, e.g. a PYTHONPATH where ferret is installed) on ``--device``:
Partition SHAP, LIME, gradient, gradient x input, IG, IG x input, then AOPC
comprehensiveness, AOPC sufficiency and Kendall tau with leave-one-out, per example on
the predicted class. Our side runs the equivalent methods with the pipeline's default
settings through the same engine the workflow uses (KernelSHAP for Partition SHAP, LIME,
saliency, gradient x input, integrated gradients, whose one pass gives IG x input), plus
the attention variants, then the same three evaluations. ferret runs first, the pipeline
second. Prints one JSON line per side and the throughput ratio, with fidelity beside it (IG
completeness gap, sample counts), then a JSON line with the ratio. Both sides first run their
whole suite on the first sentence, outside the clock, so that one-time costs (CUDA's start,
numba compiling SHAP's code in ferret) are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
EXPLAINERS = ["kernel_shap", "lime", "saliency", "grad_x_input", "integrated_gradients",
              "attention_last_mean", "attention_all_mean", "attention_rollout"]


def run_ferret(model: str, data: str, n: int, *, python: str | None = None, device: str = "cpu",
               max_seconds: float | None = None) -> dict:
    """ferret's JSON line: from ../shared/bench/ferret_baseline.sh (CPU), or from ferret_side.py under ``python``
    (stopping after ``max_seconds`` of timed work, if given; its ``n`` says how many sentences ran)."""
    if python is None:
        if device != "cpu":
            raise SystemExit("ferret_baseline.sh runs on the CPU only: give --ferret-python to run ferret on "
                             f"{device} (benchmarks/ferret_side.py)")
        script = ROOT.parent / "shared" / "bench" / "ferret_baseline.sh"
        command = ["bash", str(script), model, data, str(n)]
    else:
        command = [python, str(ROOT / "benchmarks" / "ferret_side.py"), "--model", model, "--data", data, "-n", str(n),
                   "--device", device, *(["--max-seconds", str(max_seconds)] if max_seconds else [])]
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_ours(model_path: str, data: str, n: int, batch_size: int, device: torch.device) -> dict:
    from analysis.data.loading import words_of
    from analysis.models.transformer import TransformerClassifier

    torch.manual_seed(0)
    model = TransformerClassifier.load(model_path, num_labels=2, max_length=128, device=device)
    frame = pd.read_parquet(data)
    texts = list(frame["sentence" if "sentence" in frame else "text"][:n])
    examples = pd.DataFrame({"example_id": [f"ex{i}" for i in range(n)], "words": [words_of(t) for t in texts],
                             "label": frame["label"][:n].to_numpy()})
    warm_up_s = sum(run_suite(model, examples.iloc[:1], batch_size)[:2])
    explain_s, evaluate_s, result = run_suite(model, examples, batch_size)
    return {
        "tool": "pipeline", "n": n, "device": str(device), "batch_size": batch_size, "explainers": EXPLAINERS,
        "evaluations": ["aopc_comprehensiveness", "aopc_sufficiency", "tau_loo"],
        "explain_s_per_example": explain_s / n, "evaluate_s_per_example": evaluate_s / n,
        "total_s_per_example": (explain_s + evaluate_s) / n, "warm_up_s": warm_up_s,
        "threads": torch.get_num_threads(), **result,
    }


def run_suite(model, examples: pd.DataFrame, batch_size: int) -> tuple[float, float, dict]:
    """Seconds to explain ``examples`` with :data:`EXPLAINERS` and to evaluate them, and the fidelity figures."""
    from analysis.importance import compute_importance, make_method
    from analysis.interventions.ablation import AblationSettings, input_ablation, per_example_scores
    from analysis.metrics.agreement import METRICS
    from analysis.models.training import predict

    n, words = len(examples), list(examples["words"])
    start = time.perf_counter()
    targets, _ = predict(model, words, batch_size=batch_size)
    tables, diagnostics, per_method = [], [], {}
    for name in EXPLAINERS:
        method_start = time.perf_counter()
        table, diag = compute_importance(model, examples, make_method(name), batch_size=batch_size, targets=targets,
                                         progress=False)
        synchronize(model.device)
        per_method[name] = round((time.perf_counter() - method_start) / n, 6)
        tables.append(table)
        diagnostics.append(diag)
    explain_s = time.perf_counter() - start
    start = time.perf_counter()
    loo, _ = compute_importance(model, examples, make_method("loo_delete"), batch_size=batch_size, targets=targets,
                                progress=False)
    importance = pd.concat(tables, ignore_index=True)
    encoded = model.encode(words)
    rankings = {}
    for name in EXPLAINERS:
        part = importance[importance["method"] == name]
        per_example = dict(iter(part.groupby("example_id")["score"]))
        rankings[name] = [np.argsort(-per_example[eid].to_numpy(), kind="stable") for eid in examples["example_id"]]
    eraser, curves, n_sequences = input_ablation(model, encoded, list(examples["example_id"]), targets, rankings,
                                                 AblationSettings(removal=("delete",), curve_points=2))
    scores = per_example_scores(eraser, curves)
    tau = METRICS.get("kendall_tau")
    loo_scores = dict(iter(loo.groupby("example_id")["score"]))
    taus = [tau(np.abs(g.to_numpy()), np.abs(loo_scores[eid].to_numpy()))[0]
            for (name, eid), g in importance.groupby(["method", "example_id"])["score"]]
    synchronize(model.device)
    evaluate_s = time.perf_counter() - start
    diag = pd.concat(diagnostics, ignore_index=True)
    ig = diag[diag["method"] == "integrated_gradients"]
    aopc = scores[scores["measure"].isin(["aopc_comprehensiveness", "aopc_sufficiency"])]
    return explain_s, evaluate_s, {
        "ig_completeness_gap_median": float(ig["completeness_gap"].abs().median()),
        "ig_completeness_gap_max": float(ig["completeness_gap"].abs().max()),
        "ig_steps_median": float(ig["n_steps"].median()),
        "kernel_shap_samples": make_method("kernel_shap").settings["n_samples"],
        "lime_samples": make_method("lime").settings["n_samples"],
        "ablation_sequences": n_sequences, "mean_tau_with_loo": float(np.nanmean(taus)),
        "aopc_rows": len(aopc), "explain_s_per_example_by_method": per_method,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = ROOT.parent / "shared" / "data" / "sst2" / "validation.parquet"
    parser.add_argument("--model", default=None, help="model folder (default: the MiniLM package folder)")
    parser.add_argument("--data", default=str(default_data))
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto; both sides use it")
    parser.add_argument("--skip-ferret", action="store_true")
    parser.add_argument("--ferret-json", default=None, help="ferret's JSON line from an earlier run")
    parser.add_argument("--ferret-python", default=None,
                        help="run ferret's side as benchmarks/ferret_side.py under this Python (with this "
                             "environment) instead of ../shared/bench/ferret_baseline.sh; needed for a GPU")
    parser.add_argument("--ferret-max-seconds", type=float, default=None,
                        help="with --ferret-python: ferret stops after this many timed seconds, and the pipeline "
                             "then explains the same (first) sentences ferret got through")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    from analysis.runtime import choose_device

    device = choose_device(args.device)
    if args.model is None:
        from analysis.models.transformer import resolve_checkpoint

        args.model = resolve_checkpoint("minilm-package")
    ferret = json.loads(args.ferret_json) if args.ferret_json else None
    if not (args.skip_ferret or args.ferret_json):
        try:
            ferret = run_ferret(args.model, args.data, args.n, python=args.ferret_python, device=str(device),
                                max_seconds=args.ferret_max_seconds)
        except (subprocess.CalledProcessError, ValueError, IndexError) as error:  # ours still runs
            print(json.dumps({"tool": "ferret", "error": f"{type(error).__name__}: {error}"}), flush=True)
    if ferret:
        print(json.dumps(ferret), flush=True)
    n = ferret["n"] if ferret and args.ferret_max_seconds else args.n  # the sentences ferret got through
    ours = run_ours(args.model, args.data, n, args.batch_size, device)
    print(json.dumps(ours), flush=True)
    if ferret:
        ratio = ferret["total_s_per_example"] / ours["total_s_per_example"]
        print(f"throughput: pipeline {1 / ours['total_s_per_example']:.2f} examples/s, ferret "
              f"{1 / ferret['total_s_per_example']:.2f} examples/s; ratio {ratio:.1f}x (target >= 10x)")
        print(json.dumps({"tool": "comparison", "ratio": ratio, "device": str(device), "n": n}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
