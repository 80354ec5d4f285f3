"""Integrated gradients: completeness gap and ranking stability against the number of steps.

    python benchmarks/ig_steps.py --threads 1                                        # SST BiLSTM and MiniLM, seed 0
    python benchmarks/ig_steps.py --threads 1 --runs results/study/imdb/minilm/0 --data ../shared/data/imdb/test.parquet

The study sets IG's step budget from two measures (``importance.methods.integrated_gradients``):
every example starts with ``n_steps`` Gauss-Legendre steps and doubles them, placed where the
output changes along the path (read from a forward-only scan of ``scan_points`` alphas), up to
``max_steps`` until the completeness gap |f(x) - f(baseline) - sum(IG)| is within ``tolerance``.
For the trained model of each finished run given, this computes IG with a fixed number of steps
(no refinement), with the study's adaptive setting of ``--config`` and, with ``--adaptive``, with
that setting under overrides (e.g. a shorter scan), and prints per setting: the mean steps and
forward-pass equivalents per example (a forward and backward pass count two), the median and
90th-percentile |gap| (in probability of the explained class), the share of examples within the
tolerance, the median and 10th-percentile Kendall tau of each example's word ranking (|scores|,
as the agreement measures rank) against the most steps, and seconds per example. The examples
are the first ``--examples`` rows of the evaluation file (or of a study's explain table, e.g.
``results/study/data/ag_news_binary/explain.parquet``), explained for the predicted class.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import CLOCKS, ROOT, SHARED_DATA, add_common_arguments, describe_device, examples_from, print_table, setup
from scipy import stats

from analysis.config import load_config
from analysis.importance import compute_importance, make_method
from analysis.models import load_model
from analysis.models.training import predict

RUNS = [str(ROOT / "results" / "study" / "sst2_sentences" / model / "0") for model in ("bilstm_tanh", "minilm")]


def word_scores(importance, ids: list[str]) -> list[np.ndarray]:
    """Each example's word scores in word order."""
    by_example = {eid: part.sort_values("word_index")["score"].to_numpy() for eid, part in importance.groupby("example_id")}
    return [by_example[eid] for eid in ids]


def parse_overrides(text: str) -> dict[str, int | float]:
    """``"n_steps=64,scan_points=32"`` -> ``{"n_steps": 64, "scan_points": 32}``."""
    pairs = dict(part.split("=", 1) for part in text.split(",") if part)
    return {key: int(value) if value.isdigit() else float(value) for key, value in pairs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--runs", nargs="+", default=RUNS, help="finished run folders (<results>/<dataset>/<model>/<seed>)")
    parser.add_argument("--data", default=str(SHARED_DATA / "sst2_sentences" / "test.parquet"))
    parser.add_argument("--examples", type=int, default=40)
    parser.add_argument("--steps", nargs="+", type=int, default=[8, 16, 32, 64, 256],
                        help="fixed step counts; the largest is the reference ranking")
    parser.add_argument("--config", default=str(ROOT / "config" / "study.yaml"),
                        help="the study whose integrated-gradients settings are the adaptive row")
    parser.add_argument("--adaptive", nargs="*", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="more adaptive rows: the study's setting with these overrides, e.g. scan_points=32 "
                             "or n_steps=64,scan_points=32")
    args = parser.parse_args()
    device, _ = setup(args)
    examples = examples_from(Path(args.data), args.examples)
    ids = examples["example_id"].tolist()
    tick = CLOCKS[args.clock]
    print(f"device: {describe_device(device)}; {len(examples)} examples of {args.data}")
    for run in args.runs:
        model = load_model(Path(run) / "model", device=device)
        targets, _ = predict(model, list(map(list, examples["words"])), batch_size=args.batch_size)
        configured = (load_config(args.config)["importance"]["methods"].get("integrated_gradients") or {})
        defaults = make_method("integrated_gradients", configured).settings
        settings = {f"{s} steps": {"n_steps": s, "max_steps": s, "tolerance": 1e9} for s in args.steps}
        settings[f"adaptive {defaults['n_steps']}-{defaults['max_steps']}"] = configured
        for overrides in args.adaptive:
            settings[f"adaptive {overrides}"] = {**configured, **parse_overrides(overrides)}
        results = {}
        for name, chosen in settings.items():
            start = tick()
            importance, diagnostics = compute_importance(model, examples, make_method("integrated_gradients", chosen),
                                                         batch_size=args.batch_size, targets=targets, progress=False)
            seconds = tick() - start
            results[name] = (word_scores(importance, ids), diagnostics.set_index("example_id").loc[ids], seconds)
        reference = results[f"{max(args.steps)} steps"][0]
        rows = []
        for name, (scores, diagnostics, seconds) in results.items():
            gaps = diagnostics["completeness_gap"].abs().to_numpy()
            taus = np.array([stats.kendalltau(np.abs(a), np.abs(b)).statistic if len(a) > 1 else np.nan
                             for a, b in zip(scores, reference)])
            rows.append({"setting": name, "steps": float(diagnostics["n_steps"].mean()),
                         "passes": float(diagnostics["forward_passes"].mean()),
                         "gap_median": float(np.median(gaps)), "gap_p90": float(np.quantile(gaps, 0.9)),
                         "within": float(np.mean(gaps <= defaults["tolerance"])),
                         "tau_median": float(np.nanmedian(taus)), "tau_p10": float(np.nanquantile(taus, 0.1)),
                         "seconds": seconds / len(ids)})
        print(f"\n{run} (tolerance {defaults['tolerance']}; tau against {max(args.steps)} fixed steps)")
        print_table(rows, {"setting": "s", "steps": ".1f", "passes": ".0f", "gap_median": ".1e", "gap_p90": ".1e",
                           "within": ".0%", "tau_median": ".3f", "tau_p10": ".3f", "seconds": ".3f"})


if __name__ == "__main__":
    main()
