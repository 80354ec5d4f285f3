"""The adversarial attention search on MiniLM: every layer at every step, against replaying the layers below.

    python benchmarks/adversarial_replay.py                      # 8 texts of 200-250 words, as IMDB
    python benchmarks/adversarial_replay.py --words 15 25 --examples 32  # SST-like sentences

The search changes only the [CLS] row of the last layer's attention, so the layers below it compute
the same thing at every one of its steps. :class:`analysis.attention.tracing.LayersBelow` records them
once per chunk and the search's steps run only the last layer (and the classifier head). This runs
the search both ways (one thread, MiniLM from the PyPI package with a fresh two-class head, text of
random vocabulary words) and prints the seconds each took and the largest difference between their
solutions (JSD and TVD per example): the replay computes the same numbers, so it should be 0.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from analysis.interventions.adversarial import AdversarialSettings, adversarial_search
from analysis.interventions.attention import AttentionAdapter, TransformerAttentionAdapter, make_adapter
from analysis.models.transformer import TransformerClassifier


def texts(model: TransformerClassifier, n: int, lengths: tuple[int, int], seed: int) -> list[list[str]]:
    """``n`` texts of whole-word vocabulary entries, lengths drawn uniformly from ``lengths``."""
    vocabulary = [w for w in model.tokenizer.get_vocab() if w.isalpha() and len(w) > 2]
    rng = np.random.default_rng(seed)
    return [list(rng.choice(vocabulary, size=int(rng.integers(lengths[0], lengths[1] + 1))))
            for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("--words", type=int, nargs=2, default=(200, 250), metavar=("MIN", "MAX"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TransformerClassifier.load("minilm-package", num_labels=2, max_length=256)
    encoded = model.encode(texts(model, args.examples, tuple(args.words), seed=0))
    ids = [f"ex{i}" for i in range(args.examples)]
    settings = AdversarialSettings(epsilon=0.01, steps=args.steps, restarts=args.restarts, lr=0.01, penalty=500.0,
                                   init_noise=3.0)
    replay = TransformerAttentionAdapter.distribution_forward
    tables, seconds = {}, {}
    for name in ("every layer", "replay below"):
        TransformerAttentionAdapter.distribution_forward = (AttentionAdapter.distribution_forward
                                                            if name == "every layer" else replay)
        start = time.perf_counter()
        tables[name] = adversarial_search(make_adapter(model), encoded, ids, settings, seed=0).table()
        seconds[name] = time.perf_counter() - start
    TransformerAttentionAdapter.distribution_forward = replay
    tokens = int(encoded.attention_mask.sum(dim=1).float().mean())
    print(f"MiniLM adversarial search: {args.examples} examples of {tokens} tokens on average, {args.steps} steps, "
          f"{args.restarts} restarts, one thread")
    for name, value in seconds.items():
        print(f"  {name:<13} {value:7.1f} s")
    print(f"  speed-up      {seconds['every layer'] / seconds['replay below']:7.1f}x")
    a, b = tables["every layer"], tables["replay below"]
    print(f"  largest difference: JSD {np.nanmax(np.abs(a['jsd'] - b['jsd']).to_numpy(), initial=0):.2g}, "
          f"TVD {np.nanmax(np.abs(a['tvd'] - b['tvd']).to_numpy(), initial=0):.2g}; "
          f"same feasible examples: {bool((a['feasible'] == b['feasible']).all())}")


if __name__ == "__main__":
    main()
