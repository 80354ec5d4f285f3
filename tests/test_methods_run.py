"""The report lists which methods ran for which model, and why the others did not."""

from __future__ import annotations

import pandas as pd

from analysis.importance.report_section import methods_run, methods_run_section

CONFIG = {
    "models": {"bilstm_tanh": {"family": "rnn"}, "cnn_dot": {"family": "rnn", "encoder": "cnn", "attention": "dot"},
               "minilm": {"family": "transformer", "checkpoint": "minilm-package"}},
    "importance": {"methods": {"rnn_attention": {}, "attention_rollout": {}, "saliency": {}, "loo_delete": {}}},
}


def test_methods_run_per_model_from_the_diagnostics():
    diagnostics = pd.DataFrame([
        {"dataset": d, "model": m, "seed": s, "method": method, "example_id": "e0"}
        for d in ("sst2", "imdb") for s in (0, 1)
        for m, methods in {"bilstm_tanh": ["rnn_attention", "saliency", "loo_delete"],
                           "minilm": ["attention_rollout", "saliency"]}.items() for method in methods])
    frame = methods_run(CONFIG, diagnostics).set_index("model")
    assert frame.loc["bilstm_tanh", "methods run (runs)"] == "rnn_attention (4), saliency (4), loo_delete (4)"
    assert frame.loc["bilstm_tanh", "not run: other model kind"] == "attention_rollout"
    assert frame.loc["minilm", "not run: other model kind"] == "rnn_attention"
    # the rnn family covers Jain & Wallace's encoders: each row says which one
    assert frame.loc["bilstm_tanh", "architecture"] == "lstm encoder, tanh attention"
    assert frame.loc["cnn_dot", "architecture"] == "cnn encoder, dot attention"
    assert frame.loc["minilm", "architecture"] == "minilm-package"
    assert frame.loc["minilm", "not run: no scores"] == "loo_delete"  # applicable, but no job produced scores
    section = methods_run_section(CONFIG, {"diagnostics": diagnostics}, {})
    assert "Methods run per model" == section.title and "attention-study encoders" in section.markdown
    assert methods_run_section(CONFIG, {}, {}) is None
