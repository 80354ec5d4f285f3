"""The study's whole importance suite on one model: wall time and peak GPU memory per method.

    python benchmarks/gpu_full_suite.py --checkpoint DIR --device cuda            # 872 SST-2 dev sentences
    python benchmarks/gpu_full_suite.py --checkpoint DIR --device cpu -n 8        # a smoke run
    python benchmarks/gpu_full_suite.py --checkpoint DIR --limit attention_flow=128   # flow on the first 128 only

Runs what the workflow's ``explain`` rule runs for a transformer:
every method of ``--config``'s ``importance.methods`` that applies to transformers, with its
settings, the study's batch size and pooling, explaining the predicted classes (computed once),
then the per-head attention table. Integrated gradients and attention flow, the costliest, run
last, so that a run cut short still reports the rest. Prints one JSON line per method (seconds,
seconds per example, peak GPU memory from ``torch.cuda.max_memory_allocated`` with the peak
reset before each method, forward-pass equivalents, integrated gradients' steps) and one
summary line. ``--limit METHOD=N`` runs a method on the first N sentences only (attention flow
solves a max-flow problem per word on the CPU: minutes for BERT-base on all 872); its row says
so (``n``), and the summary's ``total_s`` counts it at its measured rate per sentence for all of
them (``extrapolated`` names such methods).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from common import SHARED_DATA, examples_from, print_json, synchronize

LAST = ("integrated_gradients", "attention_flow")  # the costliest: run after the others


def peak_mib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a local model folder, a cached hub id or minilm-package")
    parser.add_argument("--data", default=str(SHARED_DATA / "sst2" / "validation.parquet"))
    parser.add_argument("-n", type=int, default=872, help="the first n sentences (default: all 872 of SST-2 dev)")
    parser.add_argument("--config", default="config/config.yaml", help="the study whose importance settings run")
    parser.add_argument("--model", default="minilm", help="the config's transformer entry (its max_length)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--limit", nargs="*", default=[], metavar="METHOD=N",
                        help="run METHOD on the first N sentences only (its total is extrapolated)")
    args = parser.parse_args()
    limits = {}
    for item in args.limit:
        method, _, count = item.partition("=")
        if not count.isdigit():
            parser.error(f"--limit {item!r}: write METHOD=N, e.g. attention_flow=128")
        limits[method] = int(count)

    from analysis.config import methods_for, read_config_file, validate_schema
    from analysis.importance import attention_heads_table, compute_importance, explained_classes, make_method
    from analysis.models.transformer import TransformerClassifier
    from analysis.runtime import choose_device

    config = validate_schema(read_config_file(args.config))
    device = choose_device(args.device)
    names = methods_for(config, args.model)
    names = [name for name in names if name not in LAST] + [name for name in LAST if name in names]
    pooling, batch_size = config["importance"]["pooling"], config["importance"]["batch_size"]
    torch.manual_seed(0)
    model = TransformerClassifier.load(args.checkpoint, num_labels=2, device=device,
                                       max_length=config["models"][args.model]["max_length"])
    examples = examples_from(args.data, args.n)
    n = len(examples)
    name_of = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{n} examples, {len(names)} methods, batch size {batch_size}, on {device} ({name_of})", flush=True)

    reset_peak(device)
    start = time.perf_counter()
    targets = explained_classes(model, examples, batch_size=batch_size)
    synchronize()
    print_json({"benchmark": "full_suite_method", "method": "(predictions)", "seconds": time.perf_counter() - start,
                "peak_mib": peak_mib(device)})
    rows = []
    for name in names:
        method = make_method(name, config["importance"]["methods"][name], where=f"importance.methods.{name}")
        if not method.supports(model):
            continue
        part = examples.iloc[: limits.get(name, n)]
        reset_peak(device)
        start = time.perf_counter()
        _, diagnostics = compute_importance(model, part, method, batch_size=batch_size, pooling=pooling,
                                            targets=targets[: len(part)], progress=False)
        synchronize()
        seconds = time.perf_counter() - start
        row = {"benchmark": "full_suite_method", "method": name, "family": method.family, "n": len(part),
               "seconds": seconds, "s_per_example": seconds / len(part), "peak_mib": peak_mib(device),
               "forward_passes_per_example": float(diagnostics["forward_passes"].mean())}
        if (diagnostics["n_steps"].fillna(0) > 0).any():  # integrated gradients
            row["ig_steps_median"] = float(diagnostics["n_steps"].median())
            row["ig_steps_max"] = float(diagnostics["n_steps"].max())
            row["completeness_gap_median"] = float(diagnostics["completeness_gap"].abs().median())
        print_json(row)
        sys.stdout.flush()
        rows.append(row)
    reset_peak(device)
    start = time.perf_counter()
    attention_heads_table(model, examples, batch_size=batch_size, pooling=pooling)
    synchronize()
    heads = {"benchmark": "full_suite_method", "method": "(attention heads)", "seconds": time.perf_counter() - start,
             "peak_mib": peak_mib(device)}
    print_json(heads)
    rows.append(heads)
    print_json({"benchmark": "full_suite", "n": n, "device": str(device), "device_name": name_of,
                "checkpoint": args.checkpoint, "batch_size": batch_size, "pooling": pooling,
                "total_s": sum(row["s_per_example"] * n if row.get("n", n) < n else row["seconds"] for row in rows),
                "extrapolated": [row["method"] for row in rows if row.get("n", n) < n],
                "peak_mib": max((row["peak_mib"] or 0.0) for row in rows) if device.type == "cuda" else None})
    return 0


if __name__ == "__main__":
    sys.exit(main())
