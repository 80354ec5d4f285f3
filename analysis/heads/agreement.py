"""Agreement of every layer's and every head's [CLS] attention with causal importance.

Each (layer, head) [CLS] row of the ``attention_heads`` table (raw attention pooled to
words, written by the explain stage) becomes an attention "unit" and is compared with
each causal method exactly as the registered methods are (:func:`analysis.metrics.
agreement.compute_agreement`: same metrics, same |attribution| variant, same pooling).
Besides the single heads, two summaries are units too: the head mean of each layer
(head ``-1``; for the last layer this is ``attention_last_mean``) and the mean over all
layers and heads (layer ``-1``, head ``-1``; ``attention_all_mean``). Whole-model methods
computed through each layer (:mod:`analysis.heads.layers`: rollout, flow, norms) are units
with negative head codes of their own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.agreement import compute_agreement
from analysis.records import IMPORTANCE_COLUMNS, require_columns
from analysis.stats.intervals import summarize_agreement

HEAD_COLUMNS = ["example_id", "layer", "head", "word_index", "weight"]
MEAN = -1
"""``head == MEAN``: the mean over the heads of a layer; ``layer == MEAN`` too: over all layers and heads."""

_PREFIX = "unit"


def unit_name(layer: int, head: int) -> str:
    """Method name of a unit in agreement tables, e.g. ``unit:3:7`` (layer 3, head 7; 0-based)."""
    return f"{_PREFIX}:{int(layer)}:{int(head)}"


def parse_units(names: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Layer and head of unit names (NaN for other method names)."""
    parts = names.astype(str).str.extract(rf"^{_PREFIX}:(-?\d+):(-?\d+)$")
    return pd.to_numeric(parts[0]), pd.to_numeric(parts[1])


def unit_label(layer: int, head: int) -> str:
    """Readable unit name with 1-based layers and heads, as readers count them."""
    from analysis.heads.layers import LAYER_METHODS
    from analysis.plots.style import method_label

    if layer == MEAN:
        return "all layers, head mean"
    if head == MEAN:
        return f"layer {layer + 1}, head mean"
    if head in LAYER_METHODS:
        return f"{method_label(LAYER_METHODS[head])} through layer {layer + 1}"
    return f"layer {layer + 1}, head {head + 1}"


def head_units(heads: pd.DataFrame) -> pd.DataFrame:
    """The per-head table plus each layer's head mean and the all-layer mean (same columns)."""
    require_columns(heads, HEAD_COLUMNS, table="attention_heads")
    frame = heads[HEAD_COLUMNS]
    layer_means = (frame.groupby(["example_id", "layer", "word_index"], sort=False)["weight"].mean()
                   .reset_index().assign(head=MEAN))
    overall = (frame.groupby(["example_id", "word_index"], sort=False)["weight"].mean()
               .reset_index().assign(layer=MEAN, head=MEAN))
    return pd.concat([frame, layer_means[HEAD_COLUMNS], overall[HEAD_COLUMNS]], ignore_index=True)


def units_as_importance(heads: pd.DataFrame, importance: pd.DataFrame, layers: pd.DataFrame | None = None
                        ) -> pd.DataFrame:
    """Units in the ``importance`` table layout, words and labels taken from ``importance``.

    ``layers`` (:func:`analysis.heads.layers.layer_scores`): whole-model methods through each
    layer, added as units of their own (after the head means are taken, which they are not part of).
    """
    require_columns(importance, IMPORTANCE_COLUMNS, table="importance")
    units = head_units(heads)
    if layers is not None and len(layers):
        require_columns(layers, HEAD_COLUMNS, table="layer_scores")
        units = pd.concat([units, layers[HEAD_COLUMNS]], ignore_index=True)
    words = importance.drop_duplicates(["example_id", "word_index"])[
        ["example_id", "word_index", "word", "predicted", "label", "n_words"]]
    table = units.merge(words, on=["example_id", "word_index"], how="inner", validate="many_to_one")
    return pd.DataFrame({
        "example_id": table["example_id"].astype(str),
        "method": [unit_name(layer, head) for layer, head in zip(table["layer"], table["head"])],
        "family": "attention", "signed": False,
        "word_index": table["word_index"].astype(np.int64), "word": table["word"], "score": table["weight"],
        "predicted": table["predicted"], "label": table["label"], "n_words": table["n_words"],
    })[IMPORTANCE_COLUMNS]


def head_agreement(heads: pd.DataFrame, importance: pd.DataFrame, *, causal_methods: list[str],
                   metrics: list[str], variant: str = "abs", length_edges: list[int] | None = None,
                   layers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-example agreement of every unit with every causal method (``agreement`` columns + layer, head).

    Pairs of two causal methods are kept too (``layer``/``head`` NaN): the ceiling the
    heads are read against. ``layers``: whole-model methods layer by layer, as units too.
    """
    missing = sorted(set(causal_methods) - set(importance["method"]))
    if missing:
        raise ValueError(f"the importance table lacks the causal method(s) {missing} that heads.methods names; "
                         f"it has {sorted(importance['method'].unique())}")
    causal = importance[importance["method"].isin(causal_methods)]
    table = pd.concat([units_as_importance(heads, causal, layers), causal[IMPORTANCE_COLUMNS]], ignore_index=True)
    agreement = compute_agreement(table, metrics=metrics, variants=[variant], length_edges=length_edges or [0],
                                  pairs="with_causal")
    agreement = agreement[agreement["method_b"].isin(causal_methods)].reset_index(drop=True)
    layer, head = parse_units(agreement["method_a"])
    return agreement.assign(layer=layer, head=head)


def summarize_heads(agreement: pd.DataFrame, *, n_resamples: int = 1000, level: float = 0.95,
                    seed: int = 0) -> pd.DataFrame:
    """Mean (and median) agreement over examples with bootstrap intervals, per unit x causal method x metric.

    The ``agreement_summary`` columns for ``group_by == "all"``, plus ``layer`` and ``head``.
    """
    summary = summarize_agreement(agreement, n_resamples=n_resamples, level=level, seed=seed)
    summary = summary[summary["group_by"] == "all"].reset_index(drop=True)
    layer, head = parse_units(summary["method_a"])
    return summary.assign(layer=layer, head=head)
