"""The engine backs off on out-of-memory without changing the scores, and says what to do when it cannot."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_batch

from analysis.importance import compute_importance, make_method
from analysis.importance.memory import (
    ExplanationMemoryError,
    cuda_batch_cap,
    explain_with_backoff,
    is_out_of_memory,
    rows_that_fit,
)

SENTENCES = ["the film was great", "a dull plot , not great at all", "awful", "not a great film but the plot was dull",
             "the film", "great great awful plot", "unbelievably tokenization good", "a",
             "the plot was not awful", "dull"]
# small settings keep the suite fast; the back-off does not depend on them
METHODS = {
    "integrated_gradients": {"n_steps": 8, "max_steps": 16, "scan_points": 16, "panels": 4},
    "loo_delete": {},
    "kernel_shap": {"n_samples": 40},
    "lime": {"n_samples": 40},
    "shapley_sampling": {"n_samples": 2},
    "attention_rollout": {},
    "saliency": {},
}


def examples() -> pd.DataFrame:
    return pd.DataFrame({"example_id": [f"ex{i}" for i in range(len(SENTENCES))],
                         "words": [s.split() for s in SENTENCES], "label": [i % 2 for i in range(len(SENTENCES))]})


def oom_above(method, limit: int, error: type[Exception] = torch.OutOfMemoryError,
              message: str = "CUDA out of memory. Tried to allocate 2.00 GiB", *, late: bool = False) -> list[int]:
    """Make ``method`` fail like an exhausted device on batches larger than ``limit``; returns the sizes it saw.

    With ``late`` it fails after doing the work (and filling the batch's cache), as a
    method that runs out of memory near its end would.
    """
    explain, sizes = method.explain, []

    def limited(model, batch):
        sizes.append(len(batch))
        if len(batch) > limit and not late:
            raise error(message)
        output = explain(model, batch)
        if len(batch) > limit:
            raise error(message)
        return output

    method.explain = limited
    return sizes


def assert_same_tables(table: pd.DataFrame, reference: pd.DataFrame, float_columns: tuple[str, ...] = ("score",),
                       *, floor: float = 0.0) -> None:
    """Equal tables; ``float_columns`` to float32 rounding, relative to the column's scale (at least ``floor``:
    the scale of the quantities a score is the difference of, e.g. 1 for a fall in probability).

    Every example sees the same tensors with and without back-off, but a matrix product over
    fewer rows may sum in another order (the BLAS picks its kernel by shape), and backward
    passes do so more often: bit-for-bit equality is what we get for most methods on this
    machine, not what the library promises.
    """
    for column in float_columns:
        scale = max(np.nanmax(np.abs(reference[column].to_numpy(dtype=float)), initial=0.0), floor)
        np.testing.assert_allclose(table[column], reference[column], rtol=1e-5, atol=1e-6 * scale)
    pd.testing.assert_frame_equal(table.drop(columns=list(float_columns)),
                                  reference.drop(columns=list(float_columns)), check_exact=True)


@pytest.mark.parametrize("name", list(METHODS))
def test_backoff_gives_the_unconstrained_tables(tiny_bert, name, caplog):
    reference, reference_diag = compute_importance(tiny_bert, examples(), make_method(name, METHODS[name]),
                                                   batch_size=8, progress=False)
    method = make_method(name, METHODS[name])
    sizes = oom_above(method, 2)
    with caplog.at_level(logging.WARNING, logger="analysis.importance.memory"):
        table, diag = compute_importance(tiny_bert, examples(), method, batch_size=8, progress=False)
    assert max(sizes) == 8 and max(size for size in sizes if size <= 2) == 2  # it did back off
    assert sum("ran out of memory" in record.getMessage() for record in caplog.records) == sizes.count(8) + 2
    # an ablation score is a difference of two probabilities of float32 logits, and integrated gradients' scores
    # sum to one (f(x) - f(baseline)): their rounding is that of a probability
    assert_same_tables(table, reference, floor=1.0 if method.family == "ablation" or name == "integrated_gradients"
                       else 0.0)
    assert_same_tables(diag.drop(columns="seconds"), reference_diag.drop(columns="seconds"), ("completeness_gap",),
                       floor=1.0)  # a gap between a sum of scores and a difference of probabilities


def test_backoff_on_a_runtime_error_that_says_out_of_memory(tiny_bert):
    reference, _ = compute_importance(tiny_bert, examples(), make_method("loo_delete"), batch_size=4, progress=False)
    method = make_method("loo_delete")
    oom_above(method, 1, RuntimeError, "[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried ...")
    table, _ = compute_importance(tiny_bert, examples(), method, batch_size=4, progress=False)
    assert_same_tables(table, reference, floor=1.0)  # a fall in probability (see above)


@pytest.mark.parametrize("name", ["attention_rollout", "kernel_shap"])
def test_backoff_after_partial_work(tiny_bert, name):
    """A failure late in a method leaves nothing behind that the retried halves would reuse."""
    reference, _ = compute_importance(tiny_bert, examples(), make_method(name, METHODS[name]), batch_size=8,
                                      progress=False)
    method = make_method(name, METHODS[name])
    oom_above(method, 3, late=True)
    table, _ = compute_importance(tiny_bert, examples(), method, batch_size=8, progress=False)
    assert_same_tables(table, reference)


def test_an_example_that_never_fits_gets_a_clear_error(tiny_bert):
    method = make_method("integrated_gradients")
    oom_above(method, 0)
    with pytest.raises(ExplanationMemoryError) as caught:
        compute_importance(tiny_bert, examples(), method, batch_size=4, progress=False)
    message = str(caught.value)
    assert "'integrated_gradients'" in message and "example ids ['ex" in message
    assert "importance.batch_size (now 4)" in message
    assert "importance.methods.integrated_gradients.internal_batch_size (now 512)" in message
    assert "max_length (now 64)" in message
    assert isinstance(caught.value.__cause__, torch.OutOfMemoryError)


def test_other_errors_are_not_taken_for_out_of_memory(tiny_bert):
    method = make_method("saliency")
    sizes = oom_above(method, 0, RuntimeError, "shape mismatch")
    with pytest.raises(RuntimeError, match="shape mismatch"):
        compute_importance(tiny_bert, examples(), method, batch_size=4, progress=False)
    assert sizes == [4]  # no retry
    assert not is_out_of_memory(ValueError("out of memory"))


def test_pieces_of_at_most_max_rows_cover_the_batch_in_order(tiny_bert):
    method = make_method("attention_rollout")
    batch = make_batch(tiny_bert, SENTENCES)
    whole = method.explain(tiny_bert, batch).token_scores
    pieces = explain_with_backoff(method, tiny_bert, batch, max_rows=3)
    assert [(rows.start, rows.stop) for rows, _ in pieces] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    torch.testing.assert_close(torch.cat([output.token_scores for _, output in pieces]), whole, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["shapley_sampling", "kernel_shap", "lime", "random"])
def test_random_draws_do_not_depend_on_batching(tiny_rnn, name):
    """Each example's draws are seeded from (seed, method, example id): same scores in any batch, any order."""
    with torch.no_grad():
        tiny_rnn.module.classifier.weight *= 100  # scores well away from zero
    settings = {"n_samples": 3} if name == "shapley_sampling" else {}
    torch.manual_seed(1)
    together, _ = compute_importance(tiny_rnn, examples(), make_method(name, settings), batch_size=10, progress=False)
    torch.manual_seed(2)
    alone, _ = compute_importance(tiny_rnn, examples().iloc[::-1], make_method(name, settings), batch_size=1,
                                  progress=False)
    merged = together.merge(alone, on=["example_id", "word_index"])
    assert len(merged) == len(together) and merged["score_x"].abs().max() > 1e-3
    np.testing.assert_allclose(merged["score_x"], merged["score_y"], rtol=0, atol=1e-7)


def test_rows_that_fit():
    assert rows_that_fit(8 * 2**30, 2**30) == 4
    assert rows_that_fit(8 * 2**30, 2**30, fraction=1.0) == 8
    assert rows_that_fit(2**20, 2**30) == 1  # never below one row: the back-off handles the rest


def test_no_batch_cap_off_cuda(tiny_bert):
    assert cuda_batch_cap(tiny_bert, tiny_bert.encode([s.split() for s in SENTENCES])) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batch_cap_keeps_the_scores(tiny_bert):
    tiny_bert.module.to("cuda")
    tiny_bert.device = torch.device("cuda")
    cap = cuda_batch_cap(tiny_bert, tiny_bert.encode([s.split() for s in SENTENCES]))
    assert cap is not None and cap >= 1
    method = make_method("grad_x_input")
    capped, _ = compute_importance(tiny_bert, examples(), method, batch_size=8, progress=False)
    free, _ = compute_importance(tiny_bert, examples(), method, batch_size=8, progress=False, auto_batch=False)
    assert_same_tables(capped, free)
