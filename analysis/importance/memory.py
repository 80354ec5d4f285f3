"""Memory safety for the importance engine: back-off on out-of-memory, batch caps on CUDA.

A batch that runs out of memory is split in halves and retried, down to one example;
an example that still does not fit stops the run with an error that says what to lower.
Sub-batches keep the padded width of the batch they came from, so every example sees
exactly the tensors it would have seen in the whole batch (a narrower batch changes the
shapes of the matrix products and with them the float32 rounding): results do not
depend on whether, or how often, the engine backed off. Methods that draw random
numbers seed them per example (:func:`analysis.seeding.derive_seed`), for the same reason.
"""

from __future__ import annotations

import logging

import torch

from analysis.importance.base import Batch, ImportanceMethod, MethodOutput
from analysis.models.base import Encoded, TextClassifier

log = logging.getLogger(__name__)

#: settings through which methods bound how many sequences one forward pass holds
INTERNAL_BATCH_SETTINGS = ("internal_batch_size", "max_batch_tokens", "batch_size", "perturbations_per_eval")
OUT_OF_MEMORY_MESSAGES = ("out of memory", "can't allocate memory")


class ExplanationMemoryError(RuntimeError):
    """A single example does not fit in memory; the message says which settings to lower."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA's ``OutOfMemoryError`` and for allocator errors that say they ran out of memory."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(text in str(error) for text in OUT_OF_MEMORY_MESSAGES)


def free_cached_memory(device: torch.device) -> None:
    """Return the CUDA caching allocator's free blocks to the device (no-op elsewhere)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def batch_rows(batch: Batch, rows: slice) -> Batch:
    """The examples ``rows`` of ``batch``, keeping its padded width (and a fresh cache)."""
    enc = batch.encoded
    encoded = Encoded(enc.input_ids[rows], enc.attention_mask[rows], enc.word_index[rows], enc.n_words[rows],
                      enc.n_words_kept[rows])
    return Batch(encoded=encoded, target=batch.target[rows], example_ids=batch.example_ids[rows],
                 words=batch.words[rows], seed=batch.seed)


def explain_with_backoff(method: ImportanceMethod, model: TextClassifier, batch: Batch, *,
                         max_rows: int | None = None, batch_size: int | None = None) -> list[tuple[slice, MethodOutput]]:
    """``method.explain`` on ``batch``, in pieces of at most ``max_rows`` and halved on out-of-memory.

    Returns (rows of ``batch``, output for those rows) in order. ``batch_size`` is only
    quoted in the error raised when one example does not fit.
    """
    if max_rows is not None and len(batch) > max_rows:
        return _explain_pieces(method, model, batch, range(0, len(batch), max_rows), max_rows, batch_size)
    try:
        return [(slice(0, len(batch)), method.explain(model, batch))]
    except RuntimeError as error:
        if not is_out_of_memory(error):
            raise
        if len(batch) == 1:
            free_cached_memory(model.device)
            raise ExplanationMemoryError(memory_advice(method, model, batch, batch_size)) from error
    # outside the except block: the failed attempt's tensors (held by the traceback) are released
    free_cached_memory(model.device)
    half = (len(batch) + 1) // 2
    log.warning("%s ran out of memory on a batch of %d examples (%d tokens wide) on %s; retrying as two batches "
                "of %d and %d", method.name, len(batch), batch.encoded.input_ids.shape[1], model.device, half,
                len(batch) - half)
    return _explain_pieces(method, model, batch, (0, half), half, batch_size)


def _explain_pieces(method: ImportanceMethod, model: TextClassifier, batch: Batch, starts: range | tuple[int, ...],
                    size: int, batch_size: int | None) -> list[tuple[slice, MethodOutput]]:
    """:func:`explain_with_backoff` on consecutive pieces of ``batch``, rows mapped back to ``batch``."""
    results = []
    for start in starts:
        piece = slice(start, min(start + size, len(batch)))
        for rows, output in explain_with_backoff(method, model, batch_rows(batch, piece), batch_size=batch_size):
            results.append((slice(start + rows.start, start + rows.stop), output))
    return results


def memory_advice(method: ImportanceMethod, model: TextClassifier, batch: Batch, batch_size: int | None) -> str:
    """The error text for an example that does not fit: what, where, and which settings to lower."""
    knobs = [f"importance.batch_size (now {batch_size})" if batch_size else "importance.batch_size"]
    knobs += [f"importance.methods.{method.name}.{key} (now {method.settings[key]})"
              for key in INTERNAL_BATCH_SETTINGS if key in method.settings]
    knobs.append(f"the model's max_length (now {model.max_length})")
    return (f"method {method.name!r} ran out of memory on {model.device} even with one example per batch "
            f"(example ids {batch.example_ids}, {batch.encoded.input_ids.shape[1]} tokens); lower "
            f"{', '.join(knobs)}, or run on a device with more memory")


def rows_that_fit(free_bytes: int, bytes_per_row: int, *, fraction: float = 0.5) -> int:
    """How many rows of ``bytes_per_row`` fit in ``fraction`` of ``free_bytes`` (at least one)."""
    return max(1, int(fraction * free_bytes) // max(1, bytes_per_row))


def cuda_batch_cap(model: TextClassifier, encoded: Encoded, *, fraction: float = 0.5) -> int | None:
    """Largest batch whose forward and backward pass fits in ``fraction`` of free CUDA memory.

    Measured, not guessed: one forward and backward pass of the longest example, its peak
    allocation taken as the cost of one row; ``torch.cuda.mem_get_info`` gives what is
    free. None off CUDA (batches there stay as configured). Methods that batch many
    perturbations internally need more; the out-of-memory back-off covers them.
    """
    if model.device.type != "cuda" or len(encoded) == 0:
        return None
    longest = max(range(len(encoded)), key=lambda row: int(encoded.attention_mask[row].sum()))
    probe = encoded.select([longest]).to(model.device)
    torch.cuda.synchronize(model.device)
    before = torch.cuda.memory_allocated(model.device)
    torch.cuda.reset_peak_memory_stats(model.device)
    with torch.set_grad_enabled(model.gradient_capable):
        embeddings = model.embed(probe.input_ids).detach().requires_grad_(model.gradient_capable)
        logits = model.logits_from_embeddings(embeddings, probe.attention_mask)
        if model.gradient_capable:  # gradients of the input only: parameters' .grad stay untouched
            torch.autograd.grad(logits.sum(), embeddings)
    per_row = torch.cuda.max_memory_allocated(model.device) - before
    del embeddings, logits
    free, _ = torch.cuda.mem_get_info(model.device)
    cap = rows_that_fit(free, per_row, fraction=fraction)
    log.info("CUDA batch cap: %d examples (%.1f MiB per %d-token example, %.1f GiB free)", cap, per_row / 2**20,
             probe.input_ids.shape[1], free / 2**30)
    return cap
