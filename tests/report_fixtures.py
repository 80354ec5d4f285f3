"""A small synthetic study (two datasets, two models, two seeds) written as the report's inputs.

Used by the report tests (markdown, HTML in headless Chromium, publishing): every table the
summary's core sections and the published-claims section read, a few figures by key, per-run
importance and agreement tables for the per-example view and the published data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATASETS = ("sst2", "hatexplain")
MODELS = {"bilstm_tanh": "rnn_attention", "minilm": "attention_last_mean"}
SEEDS = (0, 1)
CLAIMS = {  # registered claim -> (scope, verdicts per run in order)
    "jw_causal_methods_agree_more": "replication",
    "jw_permutation_changes_little": "replication",
    "ss_zeroing_top_item_rarely_flips": "extension",
}
WORDS = ["a", "truly", "<wonderful>", "film", "with", "one", "flaw"]


def config() -> dict:
    return {
        "study": "small", "title": "Small check study", "seeds": list(SEEDS),
        "datasets": {"sst2": {"explain_n": 3}, "hatexplain": {"explain_n": 3}},
        "models": {"bilstm_tanh": {"family": "rnn", "encoder": "lstm", "attention": "tanh"},
                   "minilm": {"family": "transformer", "checkpoint": "minilm-package"}},
        "importance": {"pooling": "sum", "methods": {"attention_last_mean": {}, "rnn_attention": {},
                                                     "integrated_gradients": {"n_steps": 16}, "loo_delete": {},
                                                     "random": {}}},
        "agreement": {"reference": "loo_delete", "metrics": ["kendall_tau"], "n_resamples": 200, "level": 0.95,
                      "correction": "holm", "equivalence_margin": 0.05},
        "claims": {"level": 0.95, "correction": "holm", "accuracy_margin": 0.02},
        "figures": {"headline_metric": "kendall_tau"},
        "report": {"show_offensive_examples": False, "reductions": ["Explained 3 examples per run."]},
    }


def _runs():
    return [(d, m, s) for d in DATASETS for m in MODELS for s in SEEDS]


def tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    evaluation = pd.DataFrame([{"dataset": d, "model": m, "seed": s, "accuracy": 0.8 + 0.05 * rng.random(),
                                "chance": 0.5, "n_eval": 100, "n_truncated": 0, "max_length": 128}
                               for d, m, s in _runs()])
    summary, comparisons = [], []
    for d, m, s in _runs():
        attention = MODELS[m]
        for a, kind, mean in ((attention, "attention_vs_causal", 0.2 + 0.1 * rng.random()),
                              ("integrated_gradients", "causal_vs_causal", 0.5),
                              ("random", "random_vs_causal", 0.0)):
            summary.append({"dataset": d, "model": m, "seed": s, "method_a": a, "method_b": "loo_delete",
                            "pair_kind": kind, "variant": "abs", "metric": "kendall_tau", "group_by": "all",
                            "group": "all", "n": 30, "mean": mean, "mean_low": mean - 0.08, "mean_high": mean + 0.08,
                            "median": mean, "median_low": mean - 0.1, "median_high": mean + 0.1,
                            "share_significant": 0.3})
        for other, comparison, difference in (("integrated_gradients", "attention_vs_ceiling", -0.3),
                                              ("random", "attention_vs_floor", 0.2)):
            comparisons.append({"dataset": d, "model": m, "seed": s, "method_a": attention, "method_b": other,
                                "comparison": comparison, "reference": "loo_delete", "metric": "kendall_tau",
                                "variant": "abs", "n": 30, "mean_difference": difference, "low": difference - 0.1,
                                "high": difference + 0.1, "effect_size": difference * 3, "p_value": 0.001,
                                "p_adjusted": 0.004, "correction": "holm", "significant": True,
                                "normalised": 0.4, "normalised_low": 0.2, "normalised_high": 0.6, "margin": 0.05,
                                "p_equivalence": float("nan"), "equivalence": "not shown"})
    import analysis.published.directions  # noqa: F401  (registers the claims)
    from analysis.published.claims import CLAIM_TEST_COLUMNS, PUBLISHED_CLAIMS

    claims = []
    for index, (name, scope) in enumerate(CLAIMS.items()):
        claim = PUBLISHED_CLAIMS.get(name)
        for run_index, (d, m, s) in enumerate(_runs()):
            verdict = ("agrees", "differs", "inconclusive", "untestable")[(index + run_index) % 4]
            claims.append({"claim": name, "source": claim.source, "order": claim.order, "dataset": d, "model": m,
                           "seed": s, "scope": scope, "compares_with": "", "test": "paired sign-flip",
                           "estimate_label": "difference", "n": 30, "estimate": 0.1, "low": 0.0, "high": 0.2,
                           "p_value": 0.01, "p_adjusted": 0.03, "correction": "holm", "direction": "published",
                           "min_p": 1e-9, "n_min": 6.0, "n_needed": 80.0, "n_power": 30, "near_uniform": False, "verdict": verdict,
                           "details": ""})
    diagnostics = pd.DataFrame([{"dataset": d, "model": m, "seed": s, "method": method, "seconds": 0.1,
                                 "forward_passes": 2.0, "completeness_gap": 0.001 if method == "integrated_gradients"
                                 else float("nan")}
                                for d, m, s in _runs() for method in (MODELS[m], "integrated_gradients", "loo_delete")])
    data = pd.DataFrame([{"dataset": d, "role": "eval", "split": "test", "source": "local", "rows_kept": 100,
                          "rows_available": 872} for d in DATASETS])
    return {"evaluation": evaluation, "agreement_summary": pd.DataFrame(summary),
            "comparisons": pd.DataFrame(comparisons), "claim_tests": pd.DataFrame(claims)[CLAIM_TEST_COLUMNS],
            "diagnostics": diagnostics, "data_report": data}


def run_tables(folder: Path) -> tuple[list[Path], list[Path]]:
    """Per-run ``importance`` and ``agreement`` parquet files (three examples each)."""
    rng = np.random.default_rng(1)
    importance, agreement = [], []
    for d, m, s in _runs():
        provenance = {"dataset": d, "split": "test", "model": m, "seed": s, "settings": "{}", "versions": "{}"}
        rows, pairs = [], []
        for e in range(3):
            for method, family, signed in ((MODELS[m], "attention", False), ("loo_delete", "ablation", True),
                                           ("integrated_gradients", "gradient", True)):
                scores = rng.random(len(WORDS)) if not signed else rng.normal(size=len(WORDS))
                rows += [{"example_id": f"{d}-test-{e}", "method": method, "family": family, "signed": signed,
                          "word_index": i, "word": w, "score": float(v), "predicted": e % 2, "label": 1,
                          "n_words": len(WORDS), **provenance} for i, (w, v) in enumerate(zip(WORDS, scores))]
            pairs.append({"example_id": f"{d}-test-{e}", "method_a": MODELS[m], "method_b": "loo_delete",
                          "family_a": "attention", "family_b": "ablation", "pair_kind": "attention_vs_causal",
                          "variant": "abs", "metric": "kendall_tau", "value": float(rng.uniform(-1, 1)),
                          "p_value": 0.5, "n_words": len(WORDS), "length_bucket": "0-10", "predicted": e % 2,
                          **provenance})
        path = folder / d / m / str(s)
        path.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_parquet(path / "importance.parquet")
        pd.DataFrame(pairs).to_parquet(path / "agreement.parquet")
        importance.append(path / "importance.parquet")
        agreement.append(path / "agreement.parquet")
    return importance, agreement


def write_study(folder: Path) -> dict[str, Path]:
    """The small study's summary (markdown, HTML, tables), per-example page and per-run tables under ``folder``."""
    from analysis.plots import figures
    from analysis.plots.kit import save_figure
    from analysis.report.examples import write_examples_page
    from analysis.report.summary import write_summary

    frames = tables()
    study = folder / "study"
    accuracy = save_figure(figures.accuracy_bars(frames["evaluation"]), study / "figures" / "accuracy.png")
    run = frames["agreement_summary"].query("dataset == 'sst2' and model == 'minilm' and seed == 0")
    matrix = save_figure(figures.agreement_matrix(run), folder / "sst2" / "minilm" / "0" / "figures" / "matrix.png")
    importance, agreement = run_tables(folder)
    settings = config()
    examples = write_examples_page(settings, importance_paths=importance, out_html=study / "examples.html")
    write_summary(config=settings, evaluation=frames["evaluation"], summary=frames["agreement_summary"],
                  comparisons=frames["comparisons"], diagnostics=frames["diagnostics"],
                  data_report=frames["data_report"],
                  figures={"accuracy": str(accuracy), "matrix/sst2/minilm/0": str(matrix)},
                  out_markdown=str(study / "summary.md"), out_html=str(study / "summary.html"),
                  extra_tables={"claim_tests": frames["claim_tests"]}, out_tables=str(study / "tables"),
                  examples_page=str(examples))
    return {"markdown": study / "summary.md", "html": study / "summary.html", "tables": study / "tables",
            "examples": examples, "importance": importance, "agreement": agreement, "config": settings}
