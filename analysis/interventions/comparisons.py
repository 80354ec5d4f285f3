"""Which rankings the causal-test summary compares, and their per-example differences.

The report words three comparisons of rankings on the same examples (AOPC
comprehensiveness and the fraction removed until the decision flips): every ranking
against the random one, every attention ranking against the best causal one, and every
attention variant against raw attention. :func:`ranking_differences` gives the per-example
differences those tests run on (:func:`analysis.interventions.stages.summarize_with_tests`);
the report section reads the same declarations.
"""

from __future__ import annotations

import pandas as pd

from analysis.records import CAUSAL_FAMILIES
from analysis.stats.divergence import JSD_MAX

SUMMARY_KEYS = ["test", "measure", "scope", "method", "removal", "group"]
LONG_COLUMNS = [*SUMMARY_KEYS, "example_id", "value", "binary"]
"""Per-example values in the long form the summary reads (``binary``: 0/1 outcomes, exact intervals)."""
RAW_ATTENTION = ("rnn_attention", "attention_last_mean", "attention_all_mean")
"""The attention a reader is usually shown, in order of preference."""
COMPARED_MEASURES = {("ablation", "aopc_comprehensiveness"): True, ("removal", "fraction_items"): False}
"""Measures on which rankings are compared, and whether the higher value is the more faithful."""
DIFFERENCE_MEASURES = {("zeroing", "jsd_difference"): "top_vs_random_word"}
"""Measures that are already a paired difference per example, and the family of their test."""
TEST_COLUMNS = ["versus", "family", "p_value", "p_adjusted", "min_p"]
MEASURE_RANGES = {
    **dict.fromkeys(("tvd", "median_tvd", "flip_rate", "flip_rate_max", "flip_rate_random", "feasible",
                     "max_attention", "attention_max", "attention_random", "fraction_items", "fraction_attention",
                     "deletion_auc", "insertion_auc"), (0.0, 1.0)),
    **dict.fromkeys(("jsd", "output_jsd", "output_jsd_max", "output_jsd_random"), (0.0, JSD_MAX)),
}
"""Range of each bounded measure's per-example values (TVD, rates, shares of attention or items, areas under
probability curves; JSD in nats): the study table's intervals are intersected with it."""


def ranks_nothing(frame: pd.DataFrame, constant: frozenset[str] | set[str]) -> pd.Series:
    """Rows of raw attention of a model whose attention is constant (``constant`` names them, e.g. a model trained
    with ``attention: uniform``): it ranks nothing, so the row has no verdict (the order it scores is a tie-break)."""
    if frame.empty:
        return pd.Series(False, index=frame.index)
    return frame["model"].isin(constant) & frame["method"].isin(RAW_ATTENTION)

def ranking_family(method: str) -> str:
    """The declared family of a ranking (attention, gradient, ablation, random); "other" when unregistered."""
    from analysis.importance import IMPORTANCE_METHODS

    return IMPORTANCE_METHODS.get(method).family if method in IMPORTANCE_METHODS else "other"


def ranking_differences(values: pd.DataFrame) -> pd.DataFrame:
    """Per-example differences between two rankings on the same examples, for the comparisons the report words.

    For each of :data:`COMPARED_MEASURES` (group ``all``, per scope and removal mode):
    every ranking minus the random ranking (family ``vs_random``), every attention ranking
    minus the best causal ranking (best mean; ``vs_best_causal``) and every other attention
    ranking minus raw attention (the first of :data:`RAW_ATTENTION` present;
    ``vs_raw_attention``). Long form of :func:`summarize_long` with the measure
    ``<measure>_difference``, ``method`` the first ranking, ``versus`` the second and
    ``family``; an example missing either ranking gives NaN.
    """
    frames = []
    for (test, measure), higher in COMPARED_MEASURES.items():
        rows = values[(values["test"] == test) & (values["measure"] == measure) & (values["group"] == "all")]
        for (scope, removal), part in rows.groupby(["scope", "removal"], sort=True):
            wide = part.pivot_table(index="example_id", columns="method", values="value", aggfunc="first")
            families = {m: ranking_family(m) for m in wide}
            attention = [m for m in wide if families[m] == "attention"]
            causal = [m for m in wide if families[m] in CAUSAL_FAMILIES]
            pairs = [(m, "random", "vs_random") for m in wide if m != "random" and "random" in wide]
            if causal:
                means = wide[causal].mean()
                best = means.idxmax() if higher else means.idxmin()
                pairs += [(m, best, "vs_best_causal") for m in attention]
            raw = next((m for m in RAW_ATTENTION if m in attention), None)
            pairs += [(m, raw, "vs_raw_attention") for m in attention if raw and m != raw]
            frames += [pd.DataFrame({
                "test": test, "measure": f"{measure}_difference", "scope": scope, "method": a, "removal": removal,
                "group": "all", "example_id": wide.index, "value": (wide[a] - wide[b]).to_numpy(), "binary": False,
                "versus": b, "family": family}) for a, b, family in pairs]
    columns = [*LONG_COLUMNS, "versus", "family"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
