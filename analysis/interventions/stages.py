"""Stages of the causal tests: the Snakemake scripts call these (one function per rule).

- :func:`run_interventions` (per run, one job): the model-side tests (permutation,
  adversarial attention, uniform attention, zeroing and removal until the decision flips)
  and the input-side tests (ERASER comprehensiveness and sufficiency, AOPC, deletion and
  insertion curves for every ranking in the run's ``importance.parquet``); per-instance
  tables, a summary with bootstrap intervals (and paired sign-flip tests of the ranking
  comparisons the report words, :func:`summarize_with_tests`) and the cost of each test in
  forward passes per example.
- :func:`gather_interventions` (study): the study-wide summary and cost tables and the
  uniform-attention training control (a model trained with ``attention: uniform`` against
  its learned-attention sibling with the same encoder; Wiegreffe & Pinter 2019), with a
  paired sign-flip test per pair, Holm-adjusted over the table.
- :func:`interventions_figures` (per dataset): the figures of :mod:`analysis.interventions.figures`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.interventions.comparisons import (
    DIFFERENCE_MEASURES,
    LONG_COLUMNS,
    SUMMARY_KEYS,
    TEST_COLUMNS,
    ranking_differences,
)
from analysis.logs import timed
from analysis.provenance import with_provenance
from analysis.records import EXAMPLE_COLUMNS, IMPORTANCE_COLUMNS, read_table, write_table
from analysis.seeding import derive_seed, seed_everything
from analysis.stats.hypothesis import paired_test
from analysis.stats.intervals import interval, interval_method, proportion_interval
from analysis.stats.paired import adjust_p_values

log = logging.getLogger("analysis.interventions")

SUMMARY_COLUMNS = [*SUMMARY_KEYS, "n", "mean", "mean_low", "mean_high", "median", "median_low", "median_high",
                   "interval"]
COST_COLUMNS = ["test", "examples", "forward_passes", "forward_passes_per_example", "seconds", "seconds_per_example"]
MAX_ATTENTION_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Bins of the maximum attention weight for the permutation summary (Jain & Wallace's x axis)."""

MODEL_TABLES = ("permutation", "adversarial", "uniform", "zeroing", "removal")
PERMUTATION_COLUMNS = ["example_id", "predicted", "n_words", "max_attention", "median_tvd", "mean_tvd", "max_tvd",
                       "flip_rate", "draws"]
ADVERSARIAL_COLUMNS = ["example_id", "predicted", "n_words", "max_attention", "jsd", "tvd", "feasible",
                       "restarts_feasible", "restarts", "steps", "epsilon", "search"]
MAIN_SEARCH, CHECK_SEARCH = "main", "full search check"
"""``search`` of an adversarial row: the run's search, or the full search repeated on a subset (transformers)."""
UNIFORM_COLUMNS = ["example_id", "scope", "predicted", "tvd", "output_jsd", "flipped"]
ZEROING_COLUMNS = ["example_id", "predicted", "n_words", "attention_max", "attention_random", "output_jsd_max",
                   "output_jsd_random", "flipped_max", "flipped_random", "jsd_difference"]
REMOVAL_COLUMNS = ["example_id", "method", "n_words", "flipped", "items_removed", "resolution_items",
                   "fraction_items", "fraction_attention"]
EMPTY_COLUMNS = {"permutation": PERMUTATION_COLUMNS, "adversarial": ADVERSARIAL_COLUMNS, "uniform": UNIFORM_COLUMNS,
                 "zeroing": ZEROING_COLUMNS, "removal": REMOVAL_COLUMNS}


# ------------------------------------------------------------------------ helpers
def choose_examples(examples: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """The first ``limit`` explained examples by id (all when None): the same ones for every model and seed."""
    ordered = examples.sort_values("example_id", kind="stable").reset_index(drop=True)
    return ordered if limit is None else ordered.head(int(limit)).reset_index(drop=True)


def example_limit(settings: dict[str, Any], kind: str) -> int | None:
    """``transformer_examples`` for transformers when set, else ``examples``."""
    if kind == "transformer" and settings.get("transformer_examples") is not None:
        return int(settings["transformer_examples"])
    return settings.get("examples")


def summarize_long(values: pd.DataFrame, *, n_resamples: int, level: float, seed: int,
                   keys: Sequence[str] = SUMMARY_KEYS) -> pd.DataFrame:
    """Mean and median with intervals for every group of ``keys`` (:data:`SUMMARY_KEYS`).

    ``values`` has the key columns, ``example_id``, ``value`` and ``binary`` (True for 0/1
    outcomes such as flips; see :func:`long_values`); NaN values are left out and ``n``
    counts the rest. A rate's mean gets an exact Clopper-Pearson interval, other means a
    studentised bootstrap and medians the order-statistic interval (``interval`` names the
    mean's). Each group resamples with a seed derived from its keys, so a row does not
    depend on which other rows are summarised.
    """
    records = []
    keys = list(keys)
    for key, group in values.groupby(keys, sort=False, dropna=False):
        data = group.sort_values("example_id")["value"].to_numpy(dtype=float)
        data = data[~np.isnan(data)]
        binary = bool(group["binary"].all()) if "binary" in group else False
        mean = interval(data, "mean", binary=binary, n_resamples=n_resamples, level=level,
                        seed=derive_seed(seed, *key))
        median = interval(data, "median", level=level)
        records.append((*key, int(data.size), *mean, *median, interval_method("mean", binary)))
    return pd.DataFrame.from_records(records, columns=[*keys, *SUMMARY_COLUMNS[len(SUMMARY_KEYS):]])


def long_values(table: pd.DataFrame, *, test: str, measures: dict[str, str], scope: str | pd.Series = "",
                method: str | pd.Series = "", removal: str | pd.Series = "",
                group: str | pd.Series = "all", rates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per-example values of ``table`` in the long form :func:`summarize_long` reads.

    ``measures`` maps a measure name to the column holding it. Boolean columns become 0/1
    and are marked ``binary`` (rates, summarised with exact binomial intervals), as are
    the measures named in ``rates`` (0/1 columns with NaN where undefined).
    """
    frames = []
    for measure, column in measures.items():
        frames.append(pd.DataFrame({
            "test": test, "measure": measure, "scope": scope, "method": method, "removal": removal, "group": group,
            "example_id": table["example_id"], "value": table[column].astype(float),
            "binary": measure in rates or pd.api.types.is_bool_dtype(table[column]),
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LONG_COLUMNS)




def max_attention_bins(values: pd.Series) -> pd.Series:
    """Label of each value's bin in :data:`MAX_ATTENTION_BINS` ("max attention in [0.25, 0.50)")."""
    edges = np.asarray(MAX_ATTENTION_BINS)
    index = np.clip(np.searchsorted(edges, values.to_numpy(dtype=float), side="right") - 1, 0, len(edges) - 2)
    labels = [f"max attention in [{edges[i]:.2f}, {edges[i + 1]:.2f}{']' if i == len(edges) - 2 else ')'}"
              for i in range(len(edges) - 1)]
    return pd.Series([labels[i] for i in index], index=values.index, dtype=object)


def summarize_with_tests(values: pd.DataFrame, *, n_resamples: int, level: float, seed: int) -> pd.DataFrame:
    """:func:`summarize_long` of ``values`` plus the ranking comparisons, each with its paired test.

    The rows of :func:`ranking_differences` (the mean difference with its interval) and of
    :data:`DIFFERENCE_MEASURES` get ``p_value`` (two-sided sign-flip test of a zero mean
    difference on the same examples, :func:`analysis.stats.hypothesis.paired_test`),
    ``min_p`` (the smallest p-value it could give at this n: the comparison is untestable
    where that is not below ``1 - level``) and ``p_adjusted`` (Holm within a family: the
    run's rows of one measure, scope, removal mode, group and ``family``). Other rows have
    empty ``versus`` and ``family`` and NaN tests. The other rows' intervals are exactly
    those of :func:`summarize_long` alone.
    """
    summary = summarize_long(values, n_resamples=n_resamples, level=level, seed=seed)
    summary = summary.assign(versus="", family=[DIFFERENCE_MEASURES.get(k, "")
                                                for k in zip(summary["test"], summary["measure"])])
    differences = ranking_differences(values)
    keys = [*SUMMARY_KEYS, "versus", "family"]
    summary = pd.concat([summary, summarize_long(differences, n_resamples=n_resamples, level=level, seed=seed,
                                                 keys=keys)], ignore_index=True)
    tested = pd.concat([values.assign(versus="", family=[DIFFERENCE_MEASURES.get(k, "") for k in zip(
        values["test"], values["measure"])]), differences], ignore_index=True)
    tested = tested[tested["family"] != ""]
    found = {}
    for key, group in tested.groupby(keys, sort=False, dropna=False):
        # only the test is used (the row's interval comes from summarize_long): a token bootstrap
        decision = paired_test(group["value"].to_numpy(dtype=float), alpha=1 - level, n_resamples=2,
                               seed=derive_seed(seed, "paired test", *key))
        found[key] = (decision.p_value, decision.min_p)
    pairs = [found.get(key, (np.nan, np.nan)) for key in summary[keys].itertuples(index=False, name=None)]
    summary["p_value"] = [p for p, _ in pairs]
    summary["min_p"] = [m for _, m in pairs]
    summary["p_adjusted"] = np.nan
    for _, index in summary[summary["family"] != ""].groupby(
            ["test", "measure", "scope", "removal", "group", "family"], dropna=False).groups.items():
        summary.loc[index, "p_adjusted"] = adjust_p_values(summary.loc[index, "p_value"].to_numpy(dtype=float), "holm")
    return summary[[*SUMMARY_COLUMNS, *TEST_COLUMNS]]


class CostLog:
    """Forward passes and seconds of each test, logged and kept for the cost table."""

    def __init__(self, n_examples: int) -> None:
        self.n_examples = n_examples
        self.rows: list[dict[str, Any]] = []

    def record(self, test: str, forward_passes: float, seconds: float, examples: int | None = None) -> None:
        examples = self.n_examples if examples is None else examples
        per_example = forward_passes / examples if examples else np.nan
        self.rows.append({"test": test, "examples": examples, "forward_passes": float(forward_passes),
                          "forward_passes_per_example": per_example, "seconds": seconds,
                          "seconds_per_example": seconds / examples if examples else np.nan})
        log.info("%s: %.1f forward passes per example, %.2f s per example (%d examples)", test, per_example,
                 seconds / examples if examples else np.nan, examples)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COST_COLUMNS)


def _measure(cost: CostLog, test: str, adapter: Any, examples: int, run: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Run one test, recording the adapter's forward passes and the wall time it took."""
    before = adapter.forward_passes
    with timed(f"{test} on {examples} examples", log) as clock:
        table = run()
    cost.record(test, adapter.forward_passes - before, clock["seconds"], examples)
    return table


def _load(config: dict[str, Any], model_dir: str, explain_path: str, importance_path: str, seed: int):
    """Model, the chosen examples, their importance rows and the intervention settings."""
    from analysis.models import load_model
    from analysis.runtime import device_for

    seed_everything(seed)
    settings = config["interventions"]
    model = load_model(model_dir, device=device_for(config))
    examples = read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS)
    examples = choose_examples(examples, example_limit(settings, model.kind))
    importance = read_table(importance_path, table="importance", columns=IMPORTANCE_COLUMNS)
    importance = importance[importance["example_id"].isin(set(examples["example_id"]))]
    return model, examples, importance, settings


def _rankings(settings: dict[str, Any], importance: pd.DataFrame, ids: list[str], n_words: list[int],
              seed: int) -> dict[str, list[np.ndarray | None]]:
    from analysis.interventions.ablation import rankings_from_importance

    return rankings_from_importance(importance, ids, n_words, methods=settings["methods"],
                                    ranking=settings["ranking"], seed=seed)


def _check_targets(importance: pd.DataFrame, ids: list[str], predicted: np.ndarray) -> None:
    """Warn when the model's prediction differs from the class the importance table explains."""
    explained = importance.drop_duplicates("example_id").set_index("example_id")["predicted"]
    differs = [i for i, p in zip(ids, predicted) if i in explained.index and int(explained[i]) != int(p)]
    if differs:
        log.warning("%d examples are predicted differently from when their importance was computed (e.g. %s): "
                    "the model was retrained after the explain rule ran; rerun it", len(differs), differs[:3])


def _provenance(frame: pd.DataFrame, dataset: str, split: str, model_name: str, seed: int,
                settings: dict[str, Any]) -> pd.DataFrame:
    return with_provenance(frame, dataset=dataset, split=split, model=model_name, seed=seed, settings=settings)


# -------------------------------------------------------------------------- run
RUN_OUTPUTS = (*MODEL_TABLES, "eraser", "curves", "summary", "cost")
"""The tables one run writes: the per-instance tables of each test, the summary and the cost."""


def run_interventions(config: dict[str, Any], dataset: str, model_name: str, seed: int, *, model_dir: str,
                      explain_path: str, importance_path: str, outputs: dict[str, str]) -> None:
    """Every causal test of one run: model side, then input side, with one model load.

    ``outputs`` maps each of :data:`RUN_OUTPUTS` to a path. A disabled test writes an
    empty table with its columns. The summary holds every test's bootstrap summaries,
    the cost table the forward passes and seconds per example of each test.
    """
    model, examples, importance, settings = _load(config, model_dir, explain_path, importance_path, seed)
    split = examples["split"].iloc[0]
    words = list(map(list, examples["words"]))
    ids = examples["example_id"].astype(str).tolist()
    encoded = model.encode(words)
    cost = CostLog(len(ids))
    with timed(f"causal tests of {model_name} on {len(ids)} {dataset} examples (seed {seed})", log):
        tables, scope = model_side_tests(model, encoded, ids, importance, settings, seed, cost)
        eraser, curves = input_side_tests(model, encoded, words, ids, importance, settings, seed, cost)
    values = pd.concat([model_side_values(tables, scope), input_side_values(eraser, curves)], ignore_index=True)
    summary = summarize_with_tests(values, n_resamples=settings["n_resamples"], level=settings["level"], seed=seed)
    recorded = {**settings, "scope": scope, "explained_class": "predicted",
                "special_tokens": "kept (never removed or permuted)"}
    for name, table in {**tables, "eraser": eraser, "curves": curves, "summary": summary,
                        "cost": cost.table()}.items():
        write_table(_provenance(table, dataset, split, model_name, seed, recorded), outputs[name])


def model_side_tests(model: Any, encoded: Any, ids: list[str], importance: pd.DataFrame, settings: dict[str, Any],
                     seed: int, cost: CostLog) -> tuple[dict[str, pd.DataFrame], str]:
    """Permutation, adversarial, uniform, zeroing and removal tests; returns their tables and the scope label."""
    from analysis.interventions.adversarial import AdversarialSettings, adversarial_search
    from analysis.interventions.attention import make_adapter
    from analysis.interventions.model_side import permutation_test, removal_test, uniform_test, zeroing_test

    adversarial = settings["adversarial"]
    adapter = make_adapter(model, layers=settings["layers"], heads=settings["heads"],
                           adversarial_layer=adversarial["layer"], batch_size=settings["batch_size"])
    tables = {name: pd.DataFrame(columns=columns) for name, columns in EMPTY_COLUMNS.items()}
    with timed(f"reference outputs on {len(ids)} examples", log) as clock:
        reference = adapter.reference(encoded)
    cost.record("reference", len(ids), clock["seconds"])
    _check_targets(importance, ids, reference.predicted.numpy())
    if settings["permutation"]["enabled"]:
        draws = int(settings["permutation"]["draws"])
        tables["permutation"] = _measure(cost, "permutation", adapter, len(ids), lambda: permutation_test(
            adapter, encoded, ids, draws=draws, seed=seed, reference=reference))
    if adversarial["enabled"]:
        full = AdversarialSettings(epsilon=adversarial["epsilon"], steps=adversarial["steps"],
                                   restarts=adversarial["restarts"], lr=adversarial["lr"],
                                   penalty=adversarial["penalty"], init_noise=adversarial["init_noise"])
        reduced = dict(adversarial.get("transformer") or {}) if model.kind == "transformer" else {}
        search = replace(full, **{k: int(reduced[k]) for k in ("steps", "restarts") if reduced.get(k) is not None})
        limit = reduced.get("examples") if reduced.get("examples") is not None else adversarial.get("examples")
        check = int(reduced.get("check_examples") or 0) if search != full else 0

        def run_search(settings_used: AdversarialSettings, n_rows: int, label: str) -> pd.DataFrame:
            rows = list(range(min(len(ids), n_rows)))
            subset = encoded.select(rows)
            sub_reference = type(reference)(reference.probs[rows],
                                            reference.attention[rows, : subset.input_ids.shape[1]])
            return _measure(cost, f"adversarial ({label})" if label != MAIN_SEARCH else "adversarial", adapter,
                            len(rows), lambda: adversarial_search(adapter, subset, [ids[i] for i in rows],
                                                                  settings_used, seed=seed,
                                                                  reference=sub_reference).table().assign(search=label))

        found = run_search(search, len(ids) if limit is None else int(limit), MAIN_SEARCH)
        log.info("adversarial attention: a solution within TVD %.3g for %d of %d examples, median JSD %.3f nats "
                 "(%d steps, %d restarts)", search.epsilon, int(found["feasible"].sum()), len(found),
                 found["jsd"].median(), search.steps, search.restarts)
        tables["adversarial"] = found
        if check:  # the full search on a subset shows whether the reduction changes the answer
            tables["adversarial"] = pd.concat([found, run_search(full, check, CHECK_SEARCH)], ignore_index=True)
    if settings["uniform"]["enabled"]:
        tables["uniform"] = _measure(cost, "uniform", adapter, len(ids), lambda: uniform_test(
            adapter, encoded, ids, reference=reference))
    if settings["zeroing"]["enabled"]:
        tables["zeroing"] = _measure(cost, "zeroing", adapter, len(ids), lambda: zeroing_test(
            adapter, encoded, ids, seed=seed, reference=reference))
        rankings = _rankings(settings, importance, ids, list(encoded.n_words_kept), seed)
        max_steps = settings["zeroing"].get("max_steps")
        tables["removal"] = _measure(cost, "removal", adapter, len(ids), lambda: removal_test(
            adapter, encoded, ids, rankings, reference=reference, max_steps=max_steps))
    return tables, _scope_label(adapter)


def _scope_label(adapter: Any) -> str:
    """Where the interventions act: "attention" for an RNN, "layers ..., heads ..." for a transformer."""
    described = adapter.describe()
    if described["kind"] == "rnn":
        return "attention"
    layers = described["layers"]
    heads = described["heads"]
    layer_text = f"layers {layers[0]}-{layers[-1]}" if layers == list(range(layers[0], layers[-1] + 1)) \
        and len(layers) > 1 else "layers " + ",".join(map(str, layers))
    return f"{layer_text}, heads {heads if heads == 'all' else ','.join(map(str, heads))}"


def model_side_values(tables: dict[str, pd.DataFrame], scope: str) -> pd.DataFrame:
    """Per-example values of every model-side measure, in the long form of :func:`summarize_long`."""
    parts = []
    permutation = tables["permutation"]
    if len(permutation):
        measures = {"median_tvd": "median_tvd", "flip_rate": "flip_rate", "max_attention": "max_attention"}
        parts.append(long_values(permutation, test="permutation", measures=measures, scope=scope))
        parts.append(long_values(permutation, test="permutation", measures={"median_tvd": "median_tvd"}, scope=scope,
                                 group=max_attention_bins(permutation["max_attention"])))
    adversarial = tables["adversarial"]
    if len(adversarial):
        searches = adversarial["search"] if "search" in adversarial else pd.Series(MAIN_SEARCH, adversarial.index)
        measures = {"jsd": "jsd", "feasible": "feasible", "tvd": "tvd"}
        for label, part in adversarial.groupby(searches, sort=False):
            parts.append(long_values(part, test="adversarial", measures=measures,
                                     scope="adversarial" if label == MAIN_SEARCH else f"adversarial ({label})"))
    uniform = tables["uniform"]
    if len(uniform):
        parts.append(long_values(uniform, test="uniform",
                                 measures={"tvd": "tvd", "output_jsd": "output_jsd", "flip_rate": "flipped"},
                                 scope=uniform["scope"]))
    zeroing = tables["zeroing"]
    if len(zeroing):
        parts.append(long_values(zeroing, test="zeroing", scope=scope, measures={
            "output_jsd_max": "output_jsd_max", "output_jsd_random": "output_jsd_random",
            "jsd_difference": "jsd_difference", "flip_rate_max": "flipped_max", "flip_rate_random": "flipped_random",
            "attention_max": "attention_max", "attention_random": "attention_random"},
            rates=("flip_rate_max", "flip_rate_random")))
    removal = tables["removal"]
    if len(removal):
        parts.append(long_values(removal, test="removal", scope=scope, method=removal["method"], measures={
            "fraction_items": "fraction_items", "fraction_attention": "fraction_attention",
            "flip_rate": "flipped"}))
    return pd.concat(parts, ignore_index=True)[LONG_COLUMNS] if parts else pd.DataFrame(columns=LONG_COLUMNS)


ERASER_COLUMNS = ["example_id", "method", "removal", "measure", "percent", "n_words", "n_selected", "prob_full",
                  "prob_perturbed", "value"]
CURVE_COLUMNS = ["example_id", "method", "removal", "curve", "fraction", "n_words", "n_selected", "probability"]


def input_side_tests(model: Any, encoded: Any, words: list[list[str]], ids: list[str], importance: pd.DataFrame,
                     settings: dict[str, Any], seed: int, cost: CostLog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ERASER comprehensiveness/sufficiency and deletion/insertion curves of every ranking (empty when disabled)."""
    from analysis.interventions.ablation import AblationSettings, input_ablation
    from analysis.models import predict

    block = settings["ablation"]
    if not block["enabled"]:
        return pd.DataFrame(columns=ERASER_COLUMNS), pd.DataFrame(columns=CURVE_COLUMNS)
    ablation = AblationSettings(percents=tuple(block["percents"]), curve_points=int(block["curve_points"]),
                                removal=tuple(block["removal"]), batch_size=int(settings["batch_size"]))
    targets, _ = predict(model, words, encoded=encoded, batch_size=settings["batch_size"])
    _check_targets(importance, ids, targets)
    rankings = _rankings(settings, importance, ids, list(encoded.n_words_kept), seed)
    with timed(f"input ablations of {len(rankings)} rankings x {len(ablation.removal)} removal modes", log) as clock:
        eraser, curves, n_sequences = input_ablation(model, encoded, ids, targets, rankings, ablation)
    cost.record("input ablation (all rankings)", n_sequences, clock["seconds"])
    return eraser, curves


def input_side_values(eraser: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per-example comprehensiveness/sufficiency per bin, AOPCs and curve areas, long form."""
    from analysis.interventions.ablation import per_example_scores

    if eraser.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    by_bin = eraser.assign(test="ablation", scope="input", group=[f"{p:g}%" for p in eraser["percent"]], binary=False)
    scores = per_example_scores(eraser, curves).assign(test="ablation", scope="input", group="all", binary=False)
    return pd.concat([by_bin[LONG_COLUMNS], scores[LONG_COLUMNS]], ignore_index=True)


# ------------------------------------------------------------------------- study
def uniform_attention_comparison(config: dict[str, Any], prediction_paths: list[str], *, n_resamples: int,
                                 level: float, seed: int) -> pd.DataFrame:
    """Each ``attention: uniform`` RNN against every learned-attention RNN with the same encoder.

    Accuracy of both on the same evaluation examples (exact Clopper-Pearson intervals) and
    the paired difference (learned - uniform) with a studentised-bootstrap interval and a
    sign-flip test on the same examples (``p_value``; ``min_p`` the smallest p-value it
    could give at this n), Holm-adjusted over the rows of the table (``p_adjusted``: one
    question, does a learned attention beat uniform). Wiegreffe & Pinter 2019: if the
    uniform model is as accurate, attention was not needed for the task; a non-significant
    difference does not show that, the published-claims table decides it with a
    non-inferiority test.
    """
    columns = ["dataset", "seed", "encoder", "uniform_model", "learned_model", "learned_attention", "n",
               "accuracy_uniform", "accuracy_uniform_low", "accuracy_uniform_high", "accuracy_learned",
               "accuracy_learned_low", "accuracy_learned_high", "difference", "difference_low", "difference_high",
               "p_value", "min_p", "p_adjusted"]
    rnns = {name: entry for name, entry in config["models"].items() if entry.get("family") == "rnn"}
    uniform = [name for name, entry in rnns.items() if entry.get("attention", "tanh") == "uniform"]
    if not uniform or not prediction_paths:
        return pd.DataFrame(columns=columns)
    predictions = pd.concat([read_table(p, table="predictions") for p in prediction_paths], ignore_index=True)
    records = []
    for (dataset, run_seed), part in predictions.groupby(["dataset", "seed"], sort=True):
        correct = {model: frame.set_index("example_id")["correct"].astype(float)
                   for model, frame in part.groupby("model")}
        for name in uniform:
            encoder = rnns[name].get("encoder", "lstm")
            siblings = [m for m, e in rnns.items() if m != name and e.get("encoder", "lstm") == encoder
                        and e.get("attention", "tanh") != "uniform"]
            for sibling in siblings:
                if name not in correct or sibling not in correct:
                    continue
                joined = pd.concat([correct[name], correct[sibling]], axis=1, join="inner").sort_index()
                uniform_correct, learned_correct = joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy()
                base = derive_seed(seed, "uniform training", dataset, run_seed, name, sibling)
                test = paired_test(learned_correct - uniform_correct, alpha=1 - level, level=level,
                                   n_resamples=n_resamples, seed=base)
                records.append((
                    dataset, int(run_seed), encoder, name, sibling, rnns[sibling].get("attention", "tanh"), len(joined),
                    *proportion_interval(int(uniform_correct.sum()), len(joined), level=level),
                    *proportion_interval(int(learned_correct.sum()), len(joined), level=level),
                    test.estimate, test.low, test.high, test.p_value, test.min_p, np.nan,
                ))
    table = pd.DataFrame.from_records(records, columns=columns)
    table["p_adjusted"] = adjust_p_values(table["p_value"].to_numpy(dtype=float), "holm")
    return table


def gather_interventions(config: dict[str, Any], *, summary_paths: list[str], cost_paths: list[str],
                         prediction_paths: list[str], out_summary: str, out_cost: str, out_uniform: str) -> None:
    """Study-wide summary and cost tables, and the uniform-attention training control."""
    from analysis.pipeline import gather_tables

    gather_tables(summary_paths, out_summary, table="interventions_summary")
    gather_tables(cost_paths, out_cost, table="interventions_cost")
    settings = config["interventions"]
    comparison = uniform_attention_comparison(config, prediction_paths, n_resamples=settings["n_resamples"],
                                              level=settings["level"], seed=int(config["data_seed"]))
    write_table(comparison, out_uniform)
    if len(comparison):
        log.info("uniform-attention control: %d comparisons", len(comparison))


def interventions_figures(config: dict[str, Any], dataset: str, *, inputs: dict[str, list[str]],
                          outputs: dict[str, str]) -> None:
    """The causal-test figures of one dataset, one panel per model and seed."""
    from analysis.interventions import figures

    def gathered(name: str) -> pd.DataFrame:
        frames = [read_table(p, table=f"interventions_{name}") for p in inputs[name]]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    made = {
        "permutation": lambda: figures.permutation_scatter(gathered("permutation")),
        "adversarial": lambda: figures.adversarial_histogram(gathered("adversarial")),
        "flip_fraction": lambda: figures.flip_fractions(gathered("summary")),
        "aopc": lambda: figures.aopc_intervals(gathered("summary")),
        "curves": lambda: figures.deletion_curves(gathered("curves"), removal=config["interventions"]["ablation"]
                                                  ["removal"][0]),
    }
    for key, path in outputs.items():
        start = time.perf_counter()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure = made[key]()
        figure.savefig(path, bbox_inches="tight")
        log.info("wrote %s (%.1f s)", path, time.perf_counter() - start)
