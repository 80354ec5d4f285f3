"""Time and peak memory of importance methods against sequence length and number of examples.

    python benchmarks/scaling.py                                   # the default grid (a few minutes on 2 CPU cores)
    python benchmarks/scaling.py --lengths 16 64 --sizes 32 128    # a smaller grid
    python benchmarks/scaling.py --device cuda --dtype bfloat16    # + max |score - float32 score| per point

Each point (method x length x examples) runs in a fresh Python process, so that its peak
memory is its own: on CPU the peak resident set size (``ru_maxrss``) minus the resident
size after loading the model and the data (``rss_before``); on CUDA
``torch.cuda.max_memory_allocated`` minus what was allocated before. Inputs are IMDB test
reviews cut to exactly ``length`` tokens ([CLS] and [SEP] included) by the model's
``max_length``. The length sweep explains ``--length-n`` examples per point (leave-one-out
only up to ``--loo-max-length``: its cost grows with words x tokens); the size sweep
explains ``--sizes`` examples of ``--size-length`` tokens, and shows whether memory grows
with the number of examples (it should not beyond the output table).
Integrated gradients runs with ``n_steps`` 8 and without refinement here (settings
printed), to keep the grid short: its cost scales with the steps, its memory with
``internal_batch_size`` rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    CLOCKS,
    SHARED_DATA,
    add_common_arguments,
    describe_device,
    examples_from,
    load_minilm,
    max_abs_difference,
    print_json,
    print_table,
    setup,
    synchronize,
    with_dtype,
)

METHODS = ["integrated_gradients", "loo_delete", "attention_rollout"]
SETTINGS = {"integrated_gradients": {"n_steps": 8, "tolerance": 1.0}}
COLUMNS = {"sweep": "s", "method": "s", "length": "d", "n": "d", "s_per_example": ".4f", "ms_per_token": ".3f",
           "peak_mib": ".0f", "method_mib": ".0f", "max_abs_diff_vs_float32": ".1e"}


def resident_bytes() -> int:
    """The process's resident set size now (Linux ``/proc``; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reviews_of_length(path: Path, length: int, n: int) -> pd.DataFrame:
    """``n`` IMDB reviews long enough to fill ``length`` tokens (the model truncates them there).

    A review of ``length`` whitespace words has at least that many tokens: every word is
    one word piece or more, so no tokenising is needed to choose them.
    """
    from analysis.data.loading import words_of

    texts = pd.read_parquet(path, columns=["text"])["text"]
    rows = np.flatnonzero([len(words_of(text)) >= length for text in texts])
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} reviews in {path} have {length} words; lower the number or the length")
    return examples_from(path, n, rows=rows)


def run_point(point: dict, args: argparse.Namespace) -> dict:
    """Measure one point in this process (called in the child)."""
    import torch

    from analysis.importance import compute_importance, explained_classes, make_method

    device, dtype = setup(args)
    model = with_dtype(load_minilm(device, max_length=point["length"]), dtype)
    examples = reviews_of_length(Path(args.data), point["length"], point["n"])
    targets = explained_classes(model, examples, batch_size=args.batch_size)
    method = make_method(point["method"], SETTINGS.get(point["method"]))
    rss_before, cuda_before = resident_bytes(), 0
    if device.type == "cuda":
        torch.cuda.synchronize()
        cuda_before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    tick = CLOCKS[args.clock]
    start = tick()
    table, _ = compute_importance(model, examples, method, batch_size=args.batch_size, targets=targets,
                                  progress=False)
    synchronize()
    seconds = tick() - start
    if device.type == "cuda":
        peak, used = torch.cuda.max_memory_allocated(), torch.cuda.max_memory_allocated() - cuda_before
    else:
        peak, used = peak_resident_bytes(), peak_resident_bytes() - rss_before
    result = {**point, "s_per_example": seconds / point["n"],
              "ms_per_token": 1e3 * seconds / (point["n"] * point["length"]),
              "peak_mib": peak / 2**20, "method_mib": used / 2**20}
    if dtype != torch.float32:
        with_dtype(model, torch.float32)
        reference, _ = compute_importance(model, examples, method, batch_size=args.batch_size, targets=targets,
                                          progress=False)
        result["max_abs_diff_vs_float32"] = max_abs_difference(table, reference)
    return result


def child_command(point: dict, args: argparse.Namespace) -> list[str]:
    """The command that measures ``point`` in a fresh process with the same options."""
    return [sys.executable, str(Path(__file__).resolve()), "--point", json.dumps(point), "--device", args.device,
            "--dtype", args.dtype, "--threads", str(args.threads), "--batch-size", str(args.batch_size),
            "--clock", args.clock, "--data", args.data]


def grid(args: argparse.Namespace) -> list[dict]:
    """Every point of the two sweeps."""
    lengths = [{"sweep": "length", "method": m, "length": length, "n": args.length_n}
               for m in args.methods for length in args.lengths
               if not (m == "loo_delete" and length > args.loo_max_length)]
    sizes = [{"sweep": "examples", "method": m, "length": args.size_length, "n": n}
             for m in args.methods for n in args.sizes]
    return lengths + sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED_DATA / "imdb" / "test.parquet"))
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--lengths", nargs="*", type=int, default=[16, 64, 128, 256, 512])
    parser.add_argument("--length-n", type=int, default=2, help="examples per point of the length sweep")
    parser.add_argument("--loo-max-length", type=int, default=128,
                        help="longest length for loo_delete (its cost grows with words x tokens)")
    parser.add_argument("--sizes", nargs="*", type=int, default=[32, 128, 512])
    parser.add_argument("--size-length", type=int, default=16, help="tokens per example in the size sweep")
    parser.add_argument("--point", default=None, help=argparse.SUPPRESS)  # internal: measure one point
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.point:
        print_json(run_point(json.loads(args.point), args))
        return 0
    device, _ = setup(args)
    print(f"device {describe_device(device)}, dtype {args.dtype}, batch size {args.batch_size}, {args.clock} clock, "
          f"settings {SETTINGS}, load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for point in grid(args):
        done = subprocess.run(child_command(point, args), capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"point {point} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {point['sweep']:8s} {point['method']:22s} {point['length']:4d} tokens x {point['n']:4d}: "
              f"{rows[-1]['s_per_example']:.3f} s/example, {rows[-1]['method_mib']:.0f} MiB", flush=True)
    columns = COLUMNS if args.dtype != "float32" else {k: v for k, v in COLUMNS.items() if "diff" not in k}
    print()
    print_table(rows, columns)
    print_json({"benchmark": "scaling", "device": describe_device(device), "dtype": args.dtype,
                "clock": args.clock, "batch_size": args.batch_size, "settings": SETTINGS, "load_average": os.getloadavg()[0], "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
