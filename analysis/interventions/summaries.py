"""Summaries of the causal tests: intervals per measure, paired tests of ranking comparisons, uniform training.

- :func:`summarize_long`: mean and median with intervals of every group of per-example
  values in the long form :func:`long_values` writes;
- :func:`summarize_with_tests`: the same plus the ranking comparisons the report words,
  each with a paired sign-flip test (Holm within a family);
- :func:`uniform_attention_comparison`: models trained with ``attention: uniform`` against
  their learned-attention siblings (Wiegreffe & Pinter 2019).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from analysis.records import read_table
from analysis.seeding import derive_seed
from analysis.stats.hypothesis import paired_test
from analysis.stats.intervals import interval, interval_method, proportion_interval
from analysis.stats.paired import adjust_p_values

SUMMARY_COLUMNS = [*SUMMARY_KEYS, "n", "mean", "mean_low", "mean_high", "median", "median_low", "median_high",
                   "interval"]
MAX_ATTENTION_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Bins of the maximum attention weight for the permutation summary (Jain & Wallace's x axis)."""


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


def uniform_attention_comparison(config: Mapping[str, Any], prediction_paths: Sequence[str], *, n_resamples: int,
                                 level: float, seed: int) -> pd.DataFrame:
    """Each ``attention: uniform`` RNN against every learned-attention RNN with the same encoder.

    Accuracy of both on the same evaluation examples (exact Clopper-Pearson intervals) and
    the paired difference (learned - uniform) with a studentised-bootstrap interval and a
    sign-flip test on the same examples (``p_value``; ``min_p`` the smallest p-value it
    could give at this n), Holm-adjusted over the rows of the table (``p_adjusted``: one
    question, does a learned attention beat uniform). Wiegreffe & Pinter 2019: if the
    uniform model is as accurate, attention was not needed for the task; a non-significant
    difference does not show that, the published-claims table decides it with an
    equivalence test (TOST). ``config`` needs only ``models`` (the family, encoder and
    attention of each entry).
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
