"""The causal tests of one run: model side (attention changed) and input side (words removed), with their cost.

- :func:`model_side_tests`: permutation, adversarial attention, uniform attention, zeroing
  and removal until the decision flips (:mod:`~analysis.interventions.model_side`,
  :mod:`~analysis.interventions.adversarial`), through one attention adapter;
- :func:`input_side_tests`: ERASER comprehensiveness and sufficiency and deletion and
  insertion curves of every ranking (:mod:`~analysis.interventions.ablation`);
- :func:`model_side_values` and :func:`input_side_values`: their per-example values in
  the long form :func:`analysis.interventions.summaries.summarize_long` reads;
- :class:`CostLog`: forward passes and seconds of each test;
- finished tests are kept on disk (an :class:`analysis.records.ResultCache` passed as
  ``cache``), so an interrupted run redoes only the unfinished ones. The cache's context
  holds what decides every test (model, example ids and words, seed); each test adds the
  settings it reads and its version (:func:`decides_for`), and the two tests that read
  the importance table (removal, input ablation) their rankings (:func:`rankings_key`), so
  a changed or added importance method reruns only those two, and a changed setting only
  the tests that read it.

``settings`` is the config's ``interventions`` block (documented in the schema).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from analysis.interventions.comparisons import LONG_COLUMNS
from analysis.interventions.summaries import long_values, max_attention_bins
from analysis.logs import timed
from analysis.records import ResultCache

log = logging.getLogger("analysis.interventions")

COST_COLUMNS = ["test", "examples", "forward_passes", "forward_passes_per_example", "seconds", "seconds_per_example"]
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


def choose_examples(examples: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """The first ``limit`` explained examples in the explain table's random order (all when None).

    The same ones for every model and seed (see :func:`analysis.data.random_prefix`); not the
    first by id, which would follow the source file's order (IMDB: every negative review first).
    """
    from analysis.data import random_prefix

    return random_prefix(examples.reset_index(drop=True), limit)


def example_limit(settings: dict[str, Any], kind: str) -> int | None:
    """``transformer_examples`` for transformers when set, else ``examples``."""
    if kind == "transformer" and settings.get("transformer_examples") is not None:
        return int(settings["transformer_examples"])
    return settings.get("examples")


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


TEST_SETTINGS: dict[str, tuple[str, ...]] = {
    "permutation": ("permutation",),
    "adversarial": ("adversarial",),
    "adversarial (full search check)": ("adversarial",),
    "uniform": ("uniform",),
    "zeroing": ("zeroing",),
    "removal": ("zeroing",),  # its max_steps; what it ranks comes in by rankings_key
    "input ablation (all rankings)": ("ablation",),
}
"""The ``interventions`` blocks each test reads. The model-side tests also read the attention scope (``layers``,
``heads`` and the adversarial layer, which the reference outputs record)."""
INPUT_SIDE = frozenset({"input ablation (all rankings)"})
TEST_VERSIONS: dict[str, int] = {}
"""A test's version, raised (from 1) after a fix that changes its result: results cached by earlier versions are
then recomputed, as :attr:`analysis.importance.ImportanceMethod.version` does for the methods. Version 1 is not
part of the key."""


def decides_for(test: str, settings: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What decides ``test``'s result besides the cache context: the settings it reads (:data:`TEST_SETTINGS`),
    its version from 2 on (:data:`TEST_VERSIONS`) and ``extra`` (the rankings of removal and input ablation)."""
    own = {key: settings[key] for key in TEST_SETTINGS[test]}
    if test not in INPUT_SIDE:
        own["scope"] = {"layers": settings.get("layers"), "heads": settings.get("heads"),
                        "adversarial_layer": settings["adversarial"].get("layer")}
    version = TEST_VERSIONS.get(test, 1)
    return {"settings": own, **({"version": version} if version > 1 else {}), **(extra or {})}


def _cached(cost: CostLog, cache: ResultCache | None, test: str, run: Callable[[], dict[str, pd.DataFrame]],
            decides: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """``test``'s tables from ``cache``, or from ``run`` (which returns them and records their cost).

    A finished test is kept as its tables, then its cost row, which marks it finished;
    ``decides``: what decides the test beyond the cache's context (:func:`decides_for`).
    """
    hit = cache.get(test, last="cost", decides=decides) if cache is not None else None
    if hit is not None:
        cost.rows.append(hit.pop("cost").iloc[0].to_dict())
        return hit
    tables = run()
    if cache is not None:
        cache.put(test, {**tables, "cost": pd.DataFrame([cost.rows[-1]])}, decides=decides)
    return tables


def rankings_key(rankings: dict[str, list[np.ndarray | None]]) -> dict[str, str]:
    """What decides a test that reads rankings: a hash of every method's word order on every example.

    Only the orders count: an importance table rewritten with the same rankings (a rerun of
    the explain rule, another method's scores changed) keeps the finished test.
    """
    digest = hashlib.sha256()
    for method, per_example in rankings.items():
        digest.update(f"\0{method}\0".encode())
        for order in per_example:
            digest.update(b"-" if order is None else np.asarray(order, dtype=np.int64).tobytes() + b";")
    return {"rankings": digest.hexdigest()[:12]}


def _measure(cost: CostLog, test: str, adapter: Any, examples: int, run: Callable[[], pd.DataFrame],
             cache: ResultCache | None = None, decides: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run one test (or reuse its finished result), recording the adapter's forward passes and the wall time."""
    def measured() -> dict[str, pd.DataFrame]:
        before = adapter.forward_passes
        with timed(f"{test} on {examples} examples", log) as clock:
            table = run()
        cost.record(test, adapter.forward_passes - before, clock["seconds"], examples)
        return {"table": table}

    return _cached(cost, cache, test, measured, decides)["table"]


def rankings_for(settings: dict[str, Any], importance: pd.DataFrame, ids: list[str], encoded: Any,
                 seed: int) -> dict[str, list[np.ndarray | None]]:
    """Every ranking removal and the input ablations read (``settings["methods"]``, ordered by
    ``settings["ranking"]``), over the words the model kept; empty when neither test is enabled."""
    from analysis.interventions.ablation import rankings_from_importance

    if not (settings["zeroing"]["enabled"] or settings["ablation"]["enabled"]):
        return {}
    return rankings_from_importance(importance, ids, list(encoded.n_words_kept), methods=settings["methods"],
                                    ranking=settings["ranking"], seed=seed)


def _check_targets(importance: pd.DataFrame, ids: list[str], predicted: np.ndarray) -> None:
    """Warn when the model's prediction differs from the class the importance table explains."""
    explained = importance.drop_duplicates("example_id").set_index("example_id")["predicted"]
    differs = [i for i, p in zip(ids, predicted) if i in explained.index and int(explained[i]) != int(p)]
    if differs:
        log.warning("%d examples are predicted differently from when their importance was computed (e.g. %s): "
                    "the model was retrained after the explain rule ran; rerun it", len(differs), differs[:3])


def model_side_tests(model: Any, encoded: Any, ids: list[str], importance: pd.DataFrame, settings: dict[str, Any],
                     seed: int, cost: CostLog, cache: ResultCache | None = None, *,
                     rankings: dict[str, list[np.ndarray | None]]) -> tuple[dict[str, pd.DataFrame], str]:
    """Permutation, adversarial, uniform, zeroing and removal tests; returns their tables and the scope label.

    ``rankings`` (:func:`rankings_for`) are what removal removes. With ``cache``, a test finished by an earlier,
    interrupted run is read back instead of rerun."""
    from analysis.interventions.adversarial import AdversarialSettings, adversarial_search, search_budget
    from analysis.interventions.attention import make_adapter
    from analysis.interventions.model_side import permutation_test, removal_test, uniform_test, zeroing_test

    adversarial = settings["adversarial"]

    def measure(test: str, adapter: Any, examples: int, run: Callable[[], pd.DataFrame],
                extra: dict[str, Any] | None = None) -> pd.DataFrame:
        return _measure(cost, test, adapter, examples, run, cache=cache, decides=decides_for(test, settings, extra))

    adapter = make_adapter(model, layers=settings["layers"], heads=settings["heads"],
                           adversarial_layer=adversarial["layer"], batch_size=settings["batch_size"])
    tables = {name: pd.DataFrame(columns=columns) for name, columns in EMPTY_COLUMNS.items()}
    with timed(f"reference outputs on {len(ids)} examples", log) as clock:
        reference = adapter.reference(encoded)
    cost.record("reference", len(ids), clock["seconds"])
    _check_targets(importance, ids, reference.predicted.numpy())
    if settings["permutation"]["enabled"]:
        draws = int(settings["permutation"]["draws"])
        tables["permutation"] = measure("permutation", adapter, len(ids), lambda: permutation_test(
            adapter, encoded, ids, draws=draws, seed=seed, reference=reference))
    if adversarial["enabled"]:
        full = AdversarialSettings(epsilon=adversarial["epsilon"], steps=adversarial["steps"],
                                   restarts=adversarial["restarts"], lr=adversarial["lr"],
                                   penalty=adversarial["penalty"], init_noise=adversarial["init_noise"])
        reduced = dict(adversarial.get("transformer") or {}) if model.kind == "transformer" else {}
        steps, restarts = search_budget(adversarial, transformer=model.kind == "transformer")
        search = replace(full, steps=steps, restarts=restarts)
        limit = reduced.get("examples") if reduced.get("examples") is not None else adversarial.get("examples")
        check = int(reduced.get("check_examples") or 0) if search != full else 0

        def run_search(settings_used: AdversarialSettings, n_rows: int, label: str) -> pd.DataFrame:
            rows = list(range(min(len(ids), n_rows)))
            subset = encoded.select(rows)
            sub_reference = type(reference)(reference.probs[rows],
                                            reference.attention[rows, : subset.input_ids.shape[1]])
            return measure(f"adversarial ({label})" if label != MAIN_SEARCH else "adversarial", adapter,
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
        tables["uniform"] = measure("uniform", adapter, len(ids), lambda: uniform_test(
            adapter, encoded, ids, reference=reference))
    if settings["zeroing"]["enabled"]:
        tables["zeroing"] = measure("zeroing", adapter, len(ids), lambda: zeroing_test(
            adapter, encoded, ids, seed=seed, reference=reference))
        max_steps = settings["zeroing"].get("max_steps")
        tables["removal"] = measure("removal", adapter, len(ids), lambda: removal_test(
            adapter, encoded, ids, rankings, reference=reference, max_steps=max_steps), extra=rankings_key(rankings))
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
    """Per-example values of every model-side measure, in the long form :func:`.summaries.summarize_long` reads."""
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
                     settings: dict[str, Any], seed: int, cost: CostLog, cache: ResultCache | None = None, *,
                     rankings: dict[str, list[np.ndarray | None]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ERASER comprehensiveness/sufficiency and deletion/insertion curves of every ranking in ``rankings``
    (:func:`rankings_for`; empty when disabled; read back from ``cache`` when an earlier, interrupted run finished
    them)."""
    from analysis.interventions.ablation import AblationSettings, input_ablation
    from analysis.models import predict

    block = settings["ablation"]
    if not block["enabled"]:
        return pd.DataFrame(columns=ERASER_COLUMNS), pd.DataFrame(columns=CURVE_COLUMNS)
    ablation = AblationSettings(percents=tuple(block["percents"]), curve_points=int(block["curve_points"]),
                                removal=tuple(block["removal"]), batch_size=int(settings["batch_size"]))
    test = "input ablation (all rankings)"
    decides = decides_for(test, settings, rankings_key(rankings))

    def run() -> dict[str, pd.DataFrame]:
        targets, _ = predict(model, words, encoded=encoded, batch_size=settings["batch_size"])
        _check_targets(importance, ids, targets)
        with timed(f"input ablations of {len(rankings)} rankings x {len(ablation.removal)} removal modes",
                   log) as clock:
            eraser, curves, n_sequences = input_ablation(
                model, encoded, ids, targets, rankings, ablation,
                checkpoint=cache.partial(test, decides=decides) if cache else None)
        cost.record(test, n_sequences, clock["seconds"])
        return {"eraser": eraser, "curves": curves}

    tables = _cached(cost, cache, test, run, decides)
    return tables["eraser"], tables["curves"]


def input_side_values(eraser: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per-example comprehensiveness/sufficiency per bin, AOPCs and curve areas, long form."""
    from analysis.interventions.ablation import per_example_scores

    if eraser.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    by_bin = eraser.assign(test="ablation", scope="input", group=[f"{p:g}%" for p in eraser["percent"]], binary=False)
    scores = per_example_scores(eraser, curves).assign(test="ablation", scope="input", group="all", binary=False)
    return pd.concat([by_bin[LONG_COLUMNS], scores[LONG_COLUMNS]], ignore_index=True)
