"""The probe attention's two paths on a CPU: eager (probabilities explicit) against PyTorch's fused kernel.

    python benchmarks/probe_attention.py                        # MiniLM, 16 texts of 256 tokens and of 40
    python benchmarks/probe_attention.py --lengths 128 --batch 32
    python benchmarks/probe_attention.py --methods loo_delete --texts 8   # the engine, on IMDB reviews

Every forward pass of a transformer goes through the probe attention
(:mod:`analysis.models.attention_probe`). Where nothing reads the attention probabilities (no
control, eval mode, no attention output) it runs ``scaled_dot_product_attention``; elsewhere, the
eager computation (and wherever autograd is on: gradients stay eager). This prints, per text
length, the median time of a forward pass without gradients on each path, one thread, and the
largest difference between the two paths' logits.
The eager path is forced with a no-op attention control, as the study's interventions force it;
the fused one is measured at every length, below the probe's ``FUSED_MIN_TOKENS`` too (where the
study keeps the eager path, having found the kernel no faster there).

With ``--methods``, it also runs the importance engine (:func:`analysis.importance.compute_importance`,
as the explain rule does) with those methods on the first ``--texts`` reviews of ``--data`` (IMDB's
test split), cut to the longest length, once with the probe as the study runs it and once with every
call kept eager, and prints each method's time on both and the largest difference between their scores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import SHARED_DATA

from analysis.importance import compute_importance, make_method
from analysis.models import attention_probe
from analysis.models.attention_probe import AttentionControl, attention_control
from analysis.models.transformer import TransformerClassifier


def forward(model: TransformerClassifier, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.logits(ids, mask)


def timed(step, args: tuple, repeats: int) -> tuple[float, torch.Tensor]:
    """Median seconds of ``step(*args)`` over ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = step(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="minilm-package", help="hub id, local folder or minilm-package")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 40], help="tokens per text")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=[], help="importance methods to time through the engine")
    parser.add_argument("--texts", type=int, default=8, help="reviews for --methods")
    parser.add_argument("--data", default=str(SHARED_DATA / "imdb" / "test.parquet"), help="parquet with text, label")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TransformerClassifier.load(args.checkpoint, num_labels=2, max_length=max(args.lengths))
    print(f"{args.checkpoint}: {model.num_layers} layers, {args.batch} texts per batch, one thread; median of "
          f"{args.repeats}; the study runs the fused path from {attention_probe.FUSED_MIN_TOKENS} tokens")
    if args.methods:
        reviews = pd.read_parquet(Path(args.data)).head(args.texts)
        examples = pd.DataFrame({"example_id": [str(i) for i in range(len(reviews))],
                                 "words": [text.split() for text in reviews["text"]], "label": reviews["label"]})
        engine_times(model, examples, args.methods)
    attention_probe.FUSED_MIN_TOKENS = 1  # measure the fused path at every length
    for length in args.lengths:
        ids = torch.randint(1000, 20000, (args.batch, length))
        mask = torch.ones_like(ids)
        mask[: args.batch // 2, length // 2:] = 0  # half the batch padded to half its length

        fused_time, fused_logits = timed(forward, (model, ids, mask), args.repeats)
        with attention_control(AttentionControl()):
            eager_time, eager_logits = timed(forward, (model, ids, mask), args.repeats)
        difference = (fused_logits - eager_logits).abs().max().item()
        print(f"{length:4d} tokens  forward  eager {eager_time * 1000:7.0f} ms   fused {fused_time * 1000:7.0f} ms"
              f"   {eager_time / fused_time:4.2f}x   largest difference {difference:.1e}")


def engine_times(model: TransformerClassifier, examples: pd.DataFrame, methods: list[str]) -> None:
    """Each method's time through the engine with the probe as the study runs it, and all eager."""
    threshold = attention_probe.FUSED_MIN_TOKENS
    targets = np.zeros(len(examples), dtype=int)
    for name in methods:
        times, scores = {}, {}
        for path, minimum in (("eager", 10**9), ("study", threshold)):
            attention_probe.FUSED_MIN_TOKENS = minimum
            method = make_method(name)
            start = time.perf_counter()
            table, _ = compute_importance(model, examples, method, targets=targets, progress=False)
            times[path], scores[path] = time.perf_counter() - start, table["score"].to_numpy()
        attention_probe.FUSED_MIN_TOKENS = threshold
        difference = np.nanmax(np.abs(scores["eager"] - scores["study"])) if len(scores["eager"]) else float("nan")
        print(f"engine  {name:22s} eager {times['eager']:7.1f} s   study {times['study']:7.1f} s   "
              f"{times['eager'] / times['study']:4.2f}x   largest score difference {difference:.1e}")


if __name__ == "__main__":
    main()
