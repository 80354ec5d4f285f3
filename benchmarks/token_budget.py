"""Perturbation methods against the padded tokens they run per forward pass (``max_batch_tokens``).

    python benchmarks/token_budget.py --threads 1                       # MiniLM, 8 IMDB reviews (256 tokens)
    python benchmarks/token_budget.py --threads 1 --examples 32 --data ../shared/data/ag_news/test.parquet
    python benchmarks/token_budget.py --threads 1 --model bilstm        # an untrained BiLSTM, same reviews

Leave-one-out (delete and [MASK]) and value zeroing run many perturbed copies of each text;
how many go through the model at once is bounded by rows (``batch_size``,
``perturbations_per_eval``) and by padded tokens (``max_batch_tokens``, ``auto`` = 4,096 on a
CPU: :data:`analysis.models.base.CPU_BATCH_TOKENS`). This times each method at several
budgets (``none``: bounded by rows only) and prints seconds per example
and the largest score difference from the first budget: the budget changes the batching,
not the numbers (float32 rounding only). MiniLM comes from the PyPI package with a fresh
two-class head; the timings do not depend on training.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import (
    SHARED_DATA,
    add_common_arguments,
    describe_device,
    examples_from,
    interleaved,
    load_minilm,
    max_abs_difference,
    print_table,
    setup,
    untrained_bilstm,
)

from analysis.importance import compute_importance, make_method
from analysis.models.training import predict

#: a budget no batch reaches: rows alone bound the batches
NO_CAP = 2**40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--model", default="minilm", choices=["minilm", "bilstm"])
    parser.add_argument("--data", default=str(SHARED_DATA / "imdb" / "test.parquet"))
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256, help="MiniLM's token limit (the study's IMDB setting)")
    parser.add_argument("--budgets", nargs="+", default=["none", "16384", "4096", "1024"],
                        help="max_batch_tokens values to time ('none': rows only)")
    parser.add_argument("--methods", nargs="+", default=["loo_delete", "loo_mask", "value_zeroing"])
    args = parser.parse_args()
    device, _ = setup(args)
    examples = examples_from(args.data, args.examples)
    words = list(map(list, examples["words"]))
    model = (load_minilm(device, max_length=args.max_length) if args.model == "minilm"
             else untrained_bilstm(words, device))
    encoded = model.encode(words)
    targets, _ = predict(model, words, batch_size=args.batch_size, encoded=encoded)
    tokens = encoded.attention_mask.sum(dim=1).numpy()
    print(f"{args.model} on {describe_device(device)}: {len(words)} texts of {tokens.mean():.0f} tokens "
          f"(longest {tokens.max()}), engine batch {args.batch_size}, {args.clock} clock")
    rows = []
    for name in args.methods:
        if not make_method(name).supports(model):
            continue
        runs = {budget: (lambda budget=budget, name=name: compute_importance(
            model, examples, make_method(name, {"max_batch_tokens": NO_CAP if budget == "none" else int(budget)}),
            batch_size=args.batch_size, targets=targets, progress=False)[0]) for budget in args.budgets}
        seconds, tables = interleaved(runs, clock=args.clock, min_seconds=0.0, max_rounds=1)
        first = tables[args.budgets[0]]
        rows += [{"method": name, "max_batch_tokens": budget, "seconds": seconds[budget],
                  "per_example": seconds[budget] / len(words),
                  "speedup": seconds[args.budgets[0]] / seconds[budget],
                  "max_abs_diff": max_abs_difference(tables[budget], first)} for budget in args.budgets]
    print_table(rows, {"method": "s", "max_batch_tokens": "s", "seconds": ".1f", "per_example": ".2f",
                       "speedup": ".2f", "max_abs_diff": ".1e"})
    if rows and np.isfinite([r["max_abs_diff"] for r in rows]).all():
        print(f"largest score difference from max_batch_tokens={args.budgets[0]}: "
              f"{max(r['max_abs_diff'] for r in rows):.1e}")


if __name__ == "__main__":
    main()
