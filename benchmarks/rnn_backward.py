"""The BiLSTM's training step on a CPU: a packed sequence against the unpacked path the models use.

    python benchmarks/rnn_backward.py                 # 32 texts of 150-300 words, as IMDB batches
    python benchmarks/rnn_backward.py --lengths 10 30 # SST-like sentences

PyTorch's packed LSTM has a backward pass that is quadratic in the text length on a CPU (each time
step's slice gradient is a zero tensor the size of the whole packed batch), so long texts trained
10-15x slower than they should. :meth:`analysis.models.rnn.AttentionRNN.bilstm` computes the same
states without packing. This prints forward and backward times of both (median of ``--repeats``,
one thread) and the largest difference between their states and input gradients.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from analysis.models.rnn import AttentionRNN, RNNConfig


def timed_step(run, inputs: torch.Tensor, weights: torch.Tensor) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    inputs = inputs.clone().requires_grad_()
    start = time.perf_counter()
    hidden = run(inputs)
    middle = time.perf_counter()
    (hidden * weights).sum().backward()
    return middle - start, time.perf_counter() - middle, hidden.detach(), inputs.grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lengths", type=int, nargs=2, default=(150, 300), metavar=("MIN", "MAX"))
    parser.add_argument("--embed-dim", type=int, default=50)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    network = AttentionRNN(RNNConfig(vocab_size=10, num_labels=2, embed_dim=args.embed_dim,
                                     hidden_dim=args.hidden_dim)).eval()
    lengths = torch.randint(args.lengths[0], args.lengths[1] + 1, (args.batch,))
    steps = int(lengths.max())
    mask = (torch.arange(steps)[None] < lengths[:, None]).long()
    inputs = torch.randn(args.batch, steps, args.embed_dim)
    weights = torch.randn(args.batch, steps, 2 * args.hidden_dim) * mask[..., None]

    def packed(x: torch.Tensor) -> torch.Tensor:
        sequence = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = nn.utils.rnn.pad_packed_sequence(network.encoder(sequence)[0], batch_first=True, total_length=steps)
        return out

    def unpacked(x: torch.Tensor) -> torch.Tensor:
        return network.bilstm(x, mask) * mask[..., None]

    results = {}
    for name, run in (("packed", packed), ("unpacked", unpacked)):
        runs = [timed_step(run, inputs, weights) for _ in range(args.repeats)]
        results[name] = runs[-1]
        print(f"{name:9s} forward {statistics.median(r[0] for r in runs) * 1000:7.1f} ms   "
              f"backward {statistics.median(r[1] for r in runs) * 1000:7.1f} ms")
    (_, _, h1, g1), (_, _, h2, g2) = results["packed"], results["unpacked"]
    print(f"{args.batch} texts of {args.lengths[0]}-{args.lengths[1]} words; largest difference: states "
          f"{(h1 - h2).abs().max():.1e}, input gradients {(g1 - g2).abs().max():.1e}")


if __name__ == "__main__":
    main()
