"""What each importance method costs, against what the model alone would cost for the same work.

    python benchmarks/cost_accounting.py                       # MiniLM package model, 64 SST-2 dev sentences
    python benchmarks/cost_accounting.py --rnn                 # also an (untrained) Jain & Wallace BiLSTM
    python benchmarks/cost_accounting.py --methods saliency loo_delete -n 32
    python benchmarks/cost_accounting.py --set loo_delete.batch_size=64   # other method settings
    python benchmarks/cost_accounting.py --device cuda --dtype bfloat16   # + how far scores are from float32's
    python benchmarks/cost_accounting.py --dtypes float32 bfloat16        # both in one run (float32 the reference)
    python benchmarks/cost_accounting.py --checkpoint PATH                # another model (a local folder)

For every method the engine explains the examples as the workflow does (same batch size,
targets = the model's predictions, computed once). Columns:

- ``recorded``: forward-pass equivalents per example as the engine records them
  (diagnostics ``forward_passes``; there a backward pass counts as one forward);
- ``fwd`` / ``bwd``: the work actually asked of the model, counted by hooks on its layers,
  in passes over the examples (tokens through the layers / those of one pass in the
  engine's batches, padding included);
- ``fpe``: forward-pass equivalents by this script's convention, a backward pass counting
  as two forward passes: ``fwd + 2 * bwd``;
- ``s/ex``: achieved seconds per example (best of a few runs for fast methods);
- ``bound``: the same work at the model's own speed, from plain batched forward and
  forward+backward passes over the same inputs at the same batch size, measured here:
  ``(fwd - bwd) * t_forward + bwd * t_forward_backward``;
- ``ratio``: ``s/ex / bound`` (target <= 1.3 for gradient methods and ablations);
- in a dtype other than float32, how far each method's scores are from its float32 scores
  (same model, same explained classes: the float32 model's predictions): the largest raw
  difference, the largest difference of |scores| normalised to sum to one per example (as
  the agreement metrics compare them), and the smallest Kendall tau between the two
  rankings of an example's words by |score|.
Work the model does not do (max-flow solving, regressions, Python loops) shows as ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    DTYPES,
    SHARED_DATA,
    Bound,
    WorkCounter,
    add_common_arguments,
    bound_from,
    bound_runs,
    describe_device,
    examples_from,
    interleaved,
    load_minilm,
    pass_tokens,
    print_json,
    print_table,
    score_agreement,
    setup,
    untrained_bilstm,
    with_dtype,
)

from analysis.importance import compute_importance, explained_classes, make_method
from analysis.models.base import TextClassifier

TRANSFORMER_METHODS = [
    "saliency", "grad_x_input", "integrated_gradients", "loo_delete", "loo_mask", "kernel_shap", "lime",
    "shapley_sampling", "attention_last_mean", "attention_all_mean", "attention_rollout", "attention_flow",
    "attention_norm_last", "attention_norm_all", "value_zeroing", "attention_x_gradient", "alti",
]
RNN_METHODS = ["saliency", "grad_x_input", "integrated_gradients", "jw_gradient", "loo_delete", "loo_mask",
               "kernel_shap", "lime", "shapley_sampling", "rnn_attention"]
COLUMNS = {"model": "s", "dtype": "s", "method": "s", "family": "s", "recorded": ".1f", "fwd": ".1f", "bwd": ".1f",
           "fpe": ".1f", "s_per_example": ".4f", "bound_s_per_example": ".4f", "ratio": ".2f",
           "max_abs_diff_vs_float32": ".1e", "max_abs_diff_normalised_vs_float32": ".1e",
           "min_kendall_tau_vs_float32": ".3f"}


def account(model: TextClassifier, model_name: str, examples: pd.DataFrame, method_name: str, targets: np.ndarray,
            context: dict, args: argparse.Namespace) -> tuple[dict, pd.DataFrame, Bound]:
    """One method's row of the table, its importance table, and the bound measured beside it.

    ``context`` holds the encoded examples and the tokens of one pass (:func:`pass_tokens`);
    ``args`` the batch size and the clock.
    The method and the two bound runs take turns (:func:`interleaved`), so that the ratio
    compares runs made under the same load.
    """
    method = make_method(method_name, args.settings.get(method_name))
    counter = WorkCounter(model)

    def explain() -> tuple[pd.DataFrame, pd.DataFrame]:
        counter.reset()
        with counter.active():
            return compute_importance(model, examples, method, batch_size=args.batch_size, targets=targets,
                                      progress=False)

    runs = {**bound_runs(model, context["encoded"], targets, args.batch_size), "method": explain}
    seconds, results = interleaved(runs, clock=args.clock, min_seconds=args.min_seconds)
    bound = bound_from(seconds, len(examples), context["layer_tokens"])
    table, diagnostics = results["method"]
    forward, backward = counter.passes(bound.layer_tokens)
    per_example = seconds["method"] / len(examples)
    floor = bound.seconds(forward, backward)
    row = {"model": model_name, "method": method_name, "family": method.family,
           "recorded": float(diagnostics["forward_passes"].mean()), "fwd": forward, "bwd": backward,
           "fpe": forward + 2 * backward, "s_per_example": per_example, "bound_s_per_example": floor,
           "ratio": per_example / floor if floor > 0 else float("nan")}
    return row, table, bound


def float32_reference(model: TextClassifier, examples: pd.DataFrame, names: list[str], targets: np.ndarray,
                      args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    """Every method's table in float32 (the model is cast back to its dtype afterwards)."""
    import torch

    dtype = next(model.module.parameters()).dtype
    with_dtype(model, torch.float32)
    tables = {name: compute_importance(model, examples, make_method(name, args.settings.get(name)),
                                       batch_size=args.batch_size, targets=targets, progress=False)[0]
              for name in names}
    with_dtype(model, dtype)
    return tables


def run_model(model: TextClassifier, model_name: str, examples: pd.DataFrame, names: list[str],
              args: argparse.Namespace, *, targets: np.ndarray, references: dict[str, pd.DataFrame]) -> list[dict]:
    """Rows of every applicable method on one model in ``args.dtype``, and a last row with the model's own cost.

    ``targets``: the classes explained (the float32 model's predictions, so that every dtype
    explains the same class). ``references``: float32 tables by method; a float32 run fills
    it, a run in another dtype compares its scores with it (computing what is missing).
    """
    names = [name for name in names if make_method(name).supports(model)]
    encoded = model.encode(list(map(list, examples["words"])))
    context = {"encoded": encoded, "layer_tokens": pass_tokens(model, encoded, targets, args.batch_size)}
    if args.dtype != "float32":
        missing = [name for name in names if name not in references]
        references.update(float32_reference(model, examples, missing, targets, args) if missing else {})
    rows, bounds = [], []
    for name in names:
        start = time.perf_counter()
        row, table, bound = account(model, model_name, examples, name, targets, context, args)
        row["dtype"] = args.dtype
        if args.dtype == "float32":
            references[name] = table
        else:
            row.update({f"{key}_vs_float32": value for key, value in score_agreement(table, references[name]).items()})
        rows.append(row)
        bounds.append(bound)
        print(f"  {model_name} {args.dtype} {name}: {row['s_per_example'] * 1e3:.2f} ms/example, bound "
              f"{row['bound_s_per_example'] * 1e3:.2f} (forward {bound.forward * 1e3:.2f} ms, forward+backward "
              f"{bound.forward_backward * 1e3:.2f} ms per example), ratio {row['ratio']:.2f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
        if args.json_rows:
            print_json({"benchmark": "cost_accounting_row", **row})
    forward = float(np.median([b.forward for b in bounds]))
    both = float(np.median([b.forward_backward for b in bounds]))
    rows.append({"model": model_name, "dtype": args.dtype, "method": "(forward+backward)", "family": "bound",
                 "fwd": 1.0, "bwd": 1.0, "fpe": 3.0, "s_per_example": both, "bound_s_per_example": both, "ratio": 1.0,
                 "forward_s_per_example": forward, "backward_over_forward": (both - forward) / forward})
    print(f"  {model_name} {args.dtype} alone: forward {forward * 1e3:.2f} ms/example, a backward pass costs "
          f"{(both - forward) / forward:.2f} forward passes (medians of the bounds measured beside each method)")
    if args.json_rows:
        print_json({"benchmark": "cost_accounting_row", **rows[-1]})
    return rows


def method_settings(assignments: list[str]) -> dict[str, dict[str, str]]:
    """``["loo_delete.batch_size=64", ...]`` as ``{"loo_delete": {"batch_size": "64"}}`` (typed by the method)."""
    settings: dict[str, dict[str, str]] = {}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        method, _, setting = key.partition(".")
        if not (method and setting and value):
            raise SystemExit(f"--set {assignment!r}: write METHOD.KEY=VALUE, e.g. loo_delete.batch_size=64")
        settings.setdefault(method, {})[setting] = value
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=64, help="number of SST-2 validation sentences")
    parser.add_argument("--data", default=str(SHARED_DATA / "sst2" / "validation.parquet"))
    parser.add_argument("--methods", nargs="*", default=None, help="methods to run (default: all listed)")
    parser.add_argument("--rnn", action="store_true", help="also an untrained Jain & Wallace BiLSTM")
    parser.add_argument("--set", nargs="*", default=[], metavar="METHOD.KEY=VALUE",
                        help="method settings other than the defaults, e.g. loo_delete.batch_size=64")
    parser.add_argument("--dtypes", nargs="+", default=None, choices=list(DTYPES), metavar="DTYPE",
                        help="run each of these dtypes in turn (instead of --dtype), e.g. float32 bfloat16: the "
                             "float32 tables are the reference of the others")
    parser.add_argument("--json-rows", action="store_true", help="also print each row as a JSON line when it is done")
    parser.add_argument("--checkpoint", default="minilm-package",
                        help="the transformer: minilm-package (default), a local folder (e.g. one built by "
                             "common.build_random_checkpoint) or a cached hub id")
    parser.add_argument("--min-seconds", type=float, default=3.0,
                        help="a method and its bound runs repeat (up to 5 rounds) until together they took this long")
    add_common_arguments(parser)
    args = parser.parse_args()
    args.settings = method_settings(args.set)
    dtypes = args.dtypes or [args.dtype]
    for name in dtypes:  # check every dtype against the device before any work
        args.dtype = name
        device, _ = setup(args)
    examples = examples_from(args.data, args.n)
    print(f"device {describe_device(device)}, dtypes {' '.join(dtypes)}, {len(examples)} examples, "
          f"batch size {args.batch_size}, {args.clock} clock, load average {os.getloadavg()[0]:.1f}", flush=True)
    models = [("minilm" if args.checkpoint == "minilm-package" else Path(args.checkpoint).name,
               lambda: load_minilm(device, checkpoint=args.checkpoint), TRANSFORMER_METHODS)]
    if args.rnn:
        models.append(("bilstm", lambda: untrained_bilstm(list(examples["words"]), device), RNN_METHODS))
    rows = []
    for model_name, load, names in models:
        model = load()
        targets = explained_classes(model, examples, batch_size=args.batch_size)  # in float32, for every dtype
        references: dict[str, pd.DataFrame] = {}
        for name in dtypes:
            args.dtype = name
            rows += run_model(with_dtype(model, DTYPES[name]), model_name, examples, args.methods or names, args,
                              targets=targets, references=references)
        with_dtype(model, DTYPES["float32"])
    compared = any(name != "float32" for name in dtypes)
    columns = COLUMNS if compared else {k: v for k, v in COLUMNS.items() if "float32" not in k}
    print()
    print_table(rows, columns)
    print_json({"benchmark": "cost_accounting", "device": describe_device(device), "dtypes": dtypes,
                "clock": args.clock, "settings": args.settings, "n": len(examples), "batch_size": args.batch_size,
                "checkpoint": args.checkpoint, "load_average": os.getloadavg()[0], "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
