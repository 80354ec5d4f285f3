"""Stage functions of the per-layer / per-head analysis (the Snakemake scripts call these).

* :func:`run_selection_set` (per dataset): the held-out selection split, a stratified
  sample of the evaluation split disjoint from the explained examples;
* :func:`run_selection_explain` (per transformer run): per-head attention and the
  causal methods of ``heads.methods`` on the selection split;
* :func:`run_head_agreement` (per transformer run): per-head agreement on both
  splits, bootstrap summaries, the held-out and post-hoc picks;
* :func:`run_heads_figure` (per transformer run): the layer x head heatmaps;
* :func:`gather_heads` (study-wide): the summaries, picks and the cost of the
  attention methods, for the study summary.

Settings come from the config's ``heads`` block (documented in the schema).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.heads.agreement import MEAN
from analysis.logs import timed
from analysis.provenance import with_provenance
from analysis.records import CAUSAL_FAMILIES, EXAMPLE_COLUMNS, IMPORTANCE_COLUMNS, read_table, write_table
from analysis.seeding import derive_seed, seed_everything

log = logging.getLogger("analysis.heads")


class HeadsConfigError(ValueError):
    """The ``heads`` block names something the study does not have."""


# ----------------------------------------------------------------------- config
def heads_models(config: dict[str, Any]) -> list[str]:
    """Models of the study that get the per-head analysis: the transformers, when ``heads.enabled``."""
    from analysis.models import MODEL_FAMILIES

    if not config["heads"]["enabled"]:
        return []
    return [name for name, entry in config["models"].items()
            if MODEL_FAMILIES.get(entry["family"]).kind == "transformer"]


def heads_methods(config: dict[str, Any]) -> list[str]:
    """The causal methods heads are compared with (``heads.methods``; null = every configured causal method)."""
    from analysis.importance import IMPORTANCE_METHODS

    chosen = config["heads"]["methods"]
    if chosen is not None:
        return list(chosen)
    return [name for name in config["importance"]["methods"]
            if IMPORTANCE_METHODS.get(name).family in CAUSAL_FAMILIES
            and "transformer" in IMPORTANCE_METHODS.get(name).model_kinds]


def check_heads_config(config: dict[str, Any]) -> None:
    """Every method in ``heads.methods`` must be a configured causal method for transformers; metrics must exist."""
    from analysis.importance import IMPORTANCE_METHODS
    from analysis.metrics.agreement import METRICS

    settings = config["heads"]
    problems = []
    for name in settings["methods"] or []:
        if name not in config["importance"]["methods"]:
            problems.append(f"heads.methods: {name!r} is not in importance.methods ({sorted(config['importance']['methods'])}); "
                            "add it there (its settings are reused) or drop it here")
        elif IMPORTANCE_METHODS.get(name).family not in CAUSAL_FAMILIES:
            problems.append(f"heads.methods: {name!r} is a {IMPORTANCE_METHODS.get(name).family} method; heads are "
                            "compared with causal (gradient or ablation) methods only")
        elif "transformer" not in IMPORTANCE_METHODS.get(name).model_kinds:
            problems.append(f"heads.methods: {name!r} does not apply to transformers")
    for metric in settings["metrics"]:
        if metric not in METRICS:
            problems.append(f"heads.metrics: unknown metric {metric!r}; choose one of {METRICS.names()}")
    if settings["enabled"] and heads_models(config) and not heads_methods(config):
        problems.append("heads.methods: no causal method to compare heads with; name one, e.g. [loo_delete]")
    if problems:
        raise HeadsConfigError("invalid config:\n" + "\n".join(f"  {p}" for p in problems))


# ----------------------------------------------------------------------- stages
def run_selection_set(config: dict[str, Any], dataset: str, *, eval_path: str, explain_path: str, out: str) -> None:
    """Write the selection split of one dataset (disjoint from its explained examples)."""
    from analysis.heads.selection import selection_set

    evaluation = read_table(eval_path, table="examples", columns=EXAMPLE_COLUMNS)
    explain = read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS)
    chosen = selection_set(evaluation, explain, config["heads"]["selection_n"], seed=int(config["data_seed"]))
    if len(chosen) < config["heads"]["selection_n"]:
        log.warning("%s: only %d evaluation examples are not explained; the selection split has %d instead of %d",
                    dataset, len(chosen), len(chosen), config["heads"]["selection_n"])
    provenance = {"dataset": dataset, "model": "", "seed": int(config["data_seed"]),
                  "settings": {"selection_n": config["heads"]["selection_n"], "disjoint_from": "explain"}}
    write_table(with_provenance(chosen[EXAMPLE_COLUMNS], split=f"{evaluation['split'].iloc[0]}:heads_selection",
                                **provenance), out)
    log.info("%s: %d selection examples, disjoint from %d explained ones", dataset, len(chosen), len(explain))


def run_selection_explain(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, model_dir: str,
                          selection_path: str, out_importance: str, out_heads: str, out_diagnostics: str) -> None:
    """Per-head attention and the ``heads.methods`` causal scores on the selection split."""
    from analysis.importance import attention_heads_table, compute_importance, explained_classes, make_method
    from analysis.models import load_model
    from analysis.runtime import device_for

    model = load_model(model_dir, device=device_for(config))
    examples = read_table(selection_path, table="examples", columns=EXAMPLE_COLUMNS)
    pooling, batch_size = config["importance"]["pooling"], config["importance"]["batch_size"]
    split = examples["split"].iloc[0]
    targets = explained_classes(model, examples, batch_size=batch_size)  # once, not once per method
    tables, diagnostics = [], []
    for name in heads_methods(config):
        method = make_method(name, config["importance"]["methods"][name], where=f"importance.methods.{name}")
        seed_everything(seed)
        with timed(f"{name} on {len(examples)} {dataset} selection examples ({model_name}, seed {seed})", log):
            table, diag = compute_importance(model, examples, method, batch_size=batch_size, pooling=pooling,
                                             seed=seed, targets=targets, progress=False)
        settings = {"method": name, **method.settings, "pooling": pooling, "explained_class": "predicted"}
        provenance = {"dataset": dataset, "split": split, "model": model_name, "seed": seed, "settings": settings}
        tables.append(with_provenance(table[IMPORTANCE_COLUMNS], **provenance))
        diagnostics.append(with_provenance(diag, **provenance))
    with timed(f"per-head attention on {len(examples)} selection examples", log):
        heads = attention_heads_table(model, examples, batch_size=batch_size, pooling=pooling)
    write_table(with_provenance(heads, dataset=dataset, split=split, model=model_name, seed=seed,
                                settings={"pooling": pooling}), out_heads)
    write_table(pd.concat(tables, ignore_index=True), out_importance)
    write_table(pd.concat(diagnostics, ignore_index=True), out_diagnostics)


def run_head_agreement(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, importance_path: str,
                       heads_path: str, selection_importance_path: str, selection_heads_path: str,
                       out_agreement: str, out_summary: str, out_selection: str) -> None:
    """Per-head agreement on both splits, summaries with intervals, and the held-out / post-hoc picks."""
    from analysis.heads.agreement import head_agreement, summarize_heads
    from analysis.heads.selection import select_units

    settings = config["heads"]
    methods = heads_methods(config)
    edges = config["agreement"]["length_buckets"]
    splits = {
        "selection": (read_table(selection_heads_path, table="attention_heads"),
                      read_table(selection_importance_path, table="importance", columns=IMPORTANCE_COLUMNS)),
        "explain": (read_table(heads_path, table="attention_heads"),
                    read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)),
    }
    agreements, summaries = {}, {}
    for split, (heads, importance) in splits.items():
        with timed(f"per-head agreement on the {split} split ({heads['example_id'].nunique()} examples, "
                   f"{heads.groupby(['layer', 'head']).ngroups} heads, {len(methods)} causal methods)", log):
            agreements[split] = head_agreement(heads, importance, causal_methods=methods, metrics=settings["metrics"],
                                               variant=settings["variant"], length_edges=edges)
            summaries[split] = summarize_heads(agreements[split], n_resamples=settings["n_resamples"],
                                               level=settings["level"], seed=derive_seed(seed, "heads", split))
    picks = select_units(summaries["selection"], summaries["explain"])
    picks = _with_optimism(picks, agreements["explain"], settings, seed)
    picks = _with_last_layer_comparison(picks, agreements["explain"], settings, seed)
    for row in picks[picks["choice"] == "held_out"].itertuples():
        log.info("%s vs %s (%s, best %s): chosen on the selection split: layer %d head %d, %.3f [%.3f, %.3f] on "
                 "the explained examples; post-hoc optimism %.3f [%.3f, %.3f]", row.metric, row.method_b, dataset,
                 row.kind, row.layer, row.head, row.mean, row.mean_low, row.mean_high, row.optimism,
                 row.optimism_low, row.optimism_high)
    provenance = {"dataset": dataset, "split": splits["explain"][1]["split"].iloc[0], "model": model_name,
                  "seed": seed, "settings": settings}
    agreement = pd.concat([a.assign(subset=s) for s, a in agreements.items()], ignore_index=True)
    summary = pd.concat([a.assign(subset=s) for s, a in summaries.items()], ignore_index=True)
    write_table(with_provenance(agreement, **provenance), out_agreement)
    write_table(with_provenance(summary, **provenance), out_summary)
    write_table(with_provenance(picks, **provenance), out_selection)


def _with_optimism(picks: pd.DataFrame, agreement: pd.DataFrame, settings: dict[str, Any], seed: int) -> pd.DataFrame:
    """Add the post-hoc optimism over each held-out pick (same value on its post-hoc row)."""
    from analysis.heads.selection import optimism_interval

    values = {}
    for row in picks[picks["choice"] == "held_out"].itertuples():
        values[(row.method_b, row.metric, row.kind)] = optimism_interval(
            agreement, method=row.method_b, metric=row.metric, kind=row.kind, held_out=(row.layer, row.head),
            n_resamples=settings["n_resamples"], level=settings["level"],
            seed=derive_seed(seed, "heads-optimism", row.method_b, row.metric, row.kind))
    triples = [values.get((m, t, k), (np.nan, np.nan, np.nan))
               for m, t, k in zip(picks["method_b"], picks["metric"], picks["kind"])]
    estimate, low, high = (list(x) for x in zip(*triples)) if triples else ([], [], [])
    return picks.assign(optimism=estimate, optimism_low=low, optimism_high=high)


def _with_last_layer_comparison(picks: pd.DataFrame, agreement: pd.DataFrame, settings: dict[str, Any],
                                seed: int) -> pd.DataFrame:
    """Add a paired comparison of each held-out pick with the last layer's head mean on the explained examples.

    Per-example differences (pick minus last-layer mean), sign-flip test and bootstrap
    interval (:func:`analysis.stats.paired.paired_comparison`); the held-out picks of a
    run form one family, Holm-adjusted. Post-hoc rows get NaN: they are not a fair test.
    """
    from analysis.stats.paired import adjust_p_values, paired_comparison

    columns = {"vs_last_difference": [], "vs_last_low": [], "vs_last_high": [], "vs_last_p": []}
    last = int(agreement["layer"].max()) if agreement["layer"].notna().any() else -1
    for row in picks.itertuples():
        values = (np.nan,) * 4
        if row.choice == "held_out" and last >= 0:
            rows = agreement[(agreement["method_b"] == row.method_b) & (agreement["metric"] == row.metric)]
            pick = rows[(rows["layer"] == row.layer) & (rows["head"] == row.head)].set_index("example_id")["value"]
            base = rows[(rows["layer"] == last) & (rows["head"] == MEAN)].set_index("example_id")["value"]
            pick, base = pick.align(base, join="inner")
            result = paired_comparison(pick.to_numpy(), base.to_numpy(), n_resamples=settings["n_resamples"],
                                       level=settings["level"],
                                       seed=derive_seed(seed, "heads-vs-last", row.method_b, row.metric, row.kind))
            values = (result.mean_difference, result.low, result.high, result.p_value)
        for key, value in zip(columns, values):
            columns[key].append(value)
    picks = picks.assign(**columns)
    return picks.assign(vs_last_p_adjusted=adjust_p_values(picks["vs_last_p"].to_numpy(dtype=float), "holm"))


def run_heads_figure(config: dict[str, Any], *, summary_path: str, selection_path: str, out: str, title: str) -> None:
    """The layer x head heatmaps of one run, for the headline metric of the heads block."""
    from analysis.heads.figures import head_heatmaps

    summary = read_table(summary_path, table="heads_summary")
    selection = read_table(selection_path, table="heads_selection")
    figure = head_heatmaps(summary, selection, metric=config["heads"]["metrics"][0], title=title)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, bbox_inches="tight")
    log.info("wrote %s", out)


def attention_cost(diagnostics: pd.DataFrame, *, stage: str) -> pd.DataFrame:
    """Cost per run and method: examples, seconds per example, total seconds, forward-pass equivalents."""
    if diagnostics.empty:
        return pd.DataFrame(columns=["dataset", "model", "seed", "method", "stage", "n_examples",
                                     "seconds_per_example", "total_seconds", "forward_passes"])
    cost = (diagnostics.groupby(["dataset", "model", "seed", "method"], sort=True)
            .agg(n_examples=("example_id", "nunique"), seconds_per_example=("seconds", "mean"),
                 total_seconds=("seconds", "sum"), forward_passes=("forward_passes", "mean"))
            .reset_index())
    return cost.assign(stage=stage)


def gather_heads(*, summaries: list[str], selections: list[str], diagnostics: list[str],
                 selection_diagnostics: list[str], out_summary: str, out_selection: str, out_cost: str) -> None:
    """Study-wide per-head summaries, picks, and what the attention methods and the selection split cost."""
    from analysis.importance import IMPORTANCE_METHODS

    def concat(paths: list[str], table: str) -> pd.DataFrame:
        frames = [read_table(p, table=table) for p in paths]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    write_table(concat(summaries, "heads_summary"), out_summary)
    write_table(concat(selections, "heads_selection"), out_selection)
    explain_diag = concat(diagnostics, "diagnostics")
    if not explain_diag.empty:
        attention = [m for m in explain_diag["method"].unique()
                     if m in IMPORTANCE_METHODS and IMPORTANCE_METHODS.get(m).family == "attention"]
        explain_diag = explain_diag[explain_diag["method"].isin(attention)]
    cost = pd.concat([attention_cost(explain_diag, stage="explained examples"),
                      attention_cost(concat(selection_diagnostics, "diagnostics"), stage="heads selection split")],
                     ignore_index=True)
    write_table(cost, out_cost)
