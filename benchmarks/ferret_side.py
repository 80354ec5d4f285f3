"""ferret's side of benchmarks/ferret_comparison.py, on a chosen device.

    python benchmarks/ferret_side.py --model MODEL_DIR --data PARQUET [-n 30] [--device cuda] [--max-seconds S]

The same measurement as ``../shared/bench/ferret_baseline.py`` (which runs on the CPU only):
ferret's ``Benchmark`` with its default explainers (Partition SHAP, LIME, Gradient, Gradient x
Input, Integrated Gradients, Integrated Gradients x Input) and its default evaluators (AOPC
comprehensiveness, AOPC sufficiency, Kendall tau with leave-one-out), per example on the
predicted class, timed as explain and evaluate. Two differences: the model is moved to
``--device`` (ferret moves its inputs to the model's device), and before the clock starts the
whole suite runs once on the first sentence, so that one-time costs are not counted: CUDA's
start (context, kernels, cuBLAS handles) and numba compiling SHAP's partition code, which
takes about 12 s on its first call; the pipeline's side warms up the same way.

ferret imports ``thermostat`` (a loader of precomputed explanation datasets that pulls in
spaCy), ``datasets`` and ``pytreebank`` for its dataset classes only; where one of them is not
installed or fails to import (``datasets`` 5 on an older pyarrow, say), an empty module stands
in, which the explainers and evaluators timed here never touch. Prints one JSON line, which
names the stand-ins.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import types
from importlib import metadata

STAND_INS = ("thermostat", "datasets", "pytreebank")  # imported by ferret for its dataset classes only


def import_ferret() -> tuple[object, list[str]]:
    """ferret's ``Benchmark`` class, and the modules that were stood in for (each with why)."""
    stood_in = []
    for name in STAND_INS:
        try:
            importlib.import_module(name)
        except Exception as error:  # absent, or broken beside this environment's versions
            sys.modules[name] = types.ModuleType(name, "stand-in: only ferret's dataset classes use it")
            stood_in.append(f"{name} ({type(error).__name__})")
    from ferret import Benchmark

    return Benchmark, stood_in


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a local model folder")
    parser.add_argument("--data", required=True, help="a parquet file with a 'sentence' or 'text' column")
    parser.add_argument("-n", type=int, default=30, help="how many examples (the first n rows)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--device", default="cpu", help="torch device of the model: cpu, cuda, cuda:N")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop after the example during which the timed seconds passed this (n says how many ran)")
    args = parser.parse_args()

    import pandas as pd
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    Benchmark, stood_in = import_ferret()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    frame = pd.read_parquet(args.data)
    texts = list(frame["sentence" if "sentence" in frame else "text"][: args.n])
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2).eval().to(device)
    bench = Benchmark(model, tokenizer)

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run(text: str) -> tuple[float, float, list]:
        """Seconds to explain ``text`` and to evaluate the explanations, and the explanations."""
        with torch.no_grad():
            target = int(model(**tokenizer(text, return_tensors="pt").to(device)).logits.argmax(-1))
        synchronize()
        start = time.perf_counter()
        explanations = bench.explain(text, target=target, show_progress=False)
        synchronize()
        middle = time.perf_counter()
        bench.evaluate_explanations(explanations, target=target, show_progress=False)
        synchronize()
        return middle - start, time.perf_counter() - middle, explanations

    warm_up_s = sum(run(texts[0])[:2])
    explain_s = evaluate_s = 0.0
    explanations = []
    n = 0
    for text in texts:
        explain, evaluate, explanations = run(text)
        explain_s += explain
        evaluate_s += evaluate
        n += 1
        if args.max_seconds is not None and explain_s + evaluate_s > args.max_seconds:
            break
    print(json.dumps({
        "tool": "ferret", "n": n, "n_asked": len(texts), "device": str(device), "explainers": [e.explainer for e in explanations],
        "explain_s_per_example": explain_s / n, "evaluate_s_per_example": evaluate_s / n,
        "total_s_per_example": (explain_s + evaluate_s) / n, "warm_up_s": warm_up_s, "threads": torch.get_num_threads(),
        "versions": {p: version(p) for p in ("ferret-xai", "shap", "lime", "captum", "transformers", "torch")},
        "stand_ins": stood_in,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
