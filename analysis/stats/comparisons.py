"""Paired comparisons of agreement figures within a run, corrected for multiplicity.

For one run (dataset x model x seed) and one agreement metric, every method's per-example
agreement with the reference causal method is a vector over the same examples. Each
attention method is compared (paired, see :mod:`analysis.stats.paired`) with the
ceiling (another causal method's agreement with the reference), with the floor (a random
ranking's), and with every other attention method. Each kind of comparison (attention vs
ceiling, attention vs floor, attention vs attention, ceiling vs floor) is its own family
of p-values, adjusted together (Holm by default). "As good as the ceiling" is a claim of
parity: it is decided by an equivalence test (TOST on the same examples, margin
``margin``, each side at half the level: equivalent means the 95% t-interval lies inside
the margin), never by a non-significant difference; ``equivalence`` says ``equivalent``,
``not shown`` or ``untestable`` (too few examples for the TOST to reach the level even at
a zero difference). ``p_equivalence`` is every attention method's TOST p-value (1 for a
mean outside the margin), so the family's correction
(:func:`analysis.report.summary.correct_equivalence`) counts every method it tested. Normalised agreement is the ratio of an attention method's mean
agreement to the ceiling's, with a paired bootstrap interval.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from analysis.records import CAUSAL_FAMILIES
from analysis.seeding import derive_seed
from analysis.stats.hypothesis import tost_p_value
from analysis.stats.paired import adjust_p_values, paired_comparison, ratio_interval, sign_flip_min_p

COMPARISON_COLUMNS = [
    "method_a", "method_b", "comparison", "reference", "metric", "variant", "n", "mean_a", "mean_b",
    "mean_difference", "low", "high", "effect_size", "p_value", "p_adjusted", "correction", "significant",
    "normalised", "normalised_low", "normalised_high", "margin", "p_equivalence", "equivalence", "min_p",
    "min_p_adjusted",
]


def agreement_vectors(agreement: pd.DataFrame, *, reference: str, metric: str, variant: str) -> pd.DataFrame:
    """Examples x methods table of each method's agreement with ``reference``."""
    sel = agreement[(agreement["metric"] == metric) & (agreement["variant"] == variant)
                    & ((agreement["method_a"] == reference) | (agreement["method_b"] == reference))]
    other = np.where(sel["method_a"] == reference, sel["method_b"], sel["method_a"])
    return (sel.assign(method=other).pivot_table(index="example_id", columns="method", values="value",
                                                  aggfunc="first"))


def method_families(agreement: pd.DataFrame) -> dict[str, str]:
    """Each method's family, from an agreement table's ``method_a/b`` and ``family_a/b`` columns (read from its
    distinct pairs: iterating over every row of a large table's string columns takes seconds)."""
    families: dict[str, str] = {}
    for side in ("a", "b"):
        distinct = agreement[[f"method_{side}", f"family_{side}"]].drop_duplicates()
        families |= dict(zip(distinct[f"method_{side}"], distinct[f"family_{side}"]))
    return families


def compare_methods(agreement: pd.DataFrame, *, reference: str, ceiling: str | None, metric: str = "kendall_tau",
                    variant: str = "abs", correction: str = "holm", n_resamples: int = 2000,
                    n_permutations: int = 10000, level: float = 0.95, margin: float = 0.05,
                    seed: int = 0) -> pd.DataFrame:
    """Paired comparisons for one run's per-instance agreement table (see module docstring).

    ``ceiling`` names the causal method whose agreement with ``reference`` is the ceiling;
    when absent, the causal method that agrees most with the reference is used.
    """
    families = method_families(agreement)
    vectors = agreement_vectors(agreement, reference=reference, metric=metric, variant=variant)
    if vectors.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    causal = [m for m in vectors if families.get(m) in CAUSAL_FAMILIES]
    if ceiling not in causal:
        ceiling = max(causal, key=lambda m: vectors[m].mean()) if causal else None
    attention = sorted(m for m in vectors if families.get(m) == "attention")
    floor = next((m for m in vectors if families.get(m) == "random"), None)
    pairs = [(a, ceiling, "attention_vs_ceiling") for a in attention if ceiling]
    pairs += [(a, floor, "attention_vs_floor") for a in attention if floor]
    pairs += [(a, b, "attention_vs_attention") for a, b in itertools.combinations(attention, 2)]
    pairs += [(ceiling, floor, "ceiling_vs_floor")] if ceiling and floor else []
    rows = []
    for a, b, kind in pairs:
        paired = vectors[a].notna() & vectors[b].notna()  # every number of a row on the same examples
        result = paired_comparison(vectors[a].to_numpy(), vectors[b].to_numpy(), n_resamples=n_resamples,
                                   n_permutations=n_permutations, level=level,
                                   seed=derive_seed(seed, a, b, metric, variant))
        ratio = ratio_interval(vectors[a].to_numpy(), vectors[b].to_numpy(), n_resamples=n_resamples, level=level,
                               seed=derive_seed(seed, "ratio", a, b)) if kind == "attention_vs_ceiling" else (
            np.nan, np.nan, np.nan)
        differences = vectors[a].to_numpy() - vectors[b].to_numpy()
        tost = tost_p_value(differences, margin) if kind == "attention_vs_ceiling" else np.nan
        rows.append({
            "margin": margin if kind == "attention_vs_ceiling" else np.nan,
            "p_equivalence": tost,
            "equivalence": _equivalence_label(tost, differences, margin, 1 - level)
            if kind == "attention_vs_ceiling" else "",
            "method_a": a, "method_b": b, "comparison": kind, "reference": reference, "metric": metric,
            "variant": variant, "n": result.n, "mean_a": float(vectors[a][paired].mean()), "mean_b": float(vectors[b][paired].mean()),
            "mean_difference": result.mean_difference, "low": result.low, "high": result.high,
            "effect_size": result.effect_size, "p_value": result.p_value,
            "min_p": sign_flip_min_p(differences, n_permutations=n_permutations),
            "normalised": ratio[0], "normalised_low": ratio[1], "normalised_high": ratio[2],
        })
    table = pd.DataFrame(rows, columns=[c for c in COMPARISON_COLUMNS if c not in ("p_adjusted", "correction",
                                                                                    "significant", "min_p_adjusted")])
    table["p_adjusted"] = np.nan
    table["min_p_adjusted"] = np.nan
    for _, index in table.groupby("comparison").groups.items():
        table.loc[index, "p_adjusted"] = adjust_p_values(table.loc[index, "p_value"].to_numpy(), correction)
        family = int(table.loc[index, "p_value"].notna().sum())  # the smallest adjusted p a test could reach
        table.loc[index, "min_p_adjusted"] = np.minimum(
            table.loc[index, "min_p"] * (family if correction != "none" else 1), 1.0)
    table["correction"] = correction
    table["significant"] = table["p_adjusted"] < 1 - level
    return table[COMPARISON_COLUMNS]


def _equivalence_label(p_value: float, differences: np.ndarray, margin: float, alpha: float) -> str:
    """'equivalent' (the TOST p-value is below ``alpha``), 'not shown', or 'untestable' when even a zero mean
    difference with this spread and n could not pass the TOST at ``alpha`` (the margin is too narrow for n)."""
    if p_value < alpha:
        return "equivalent"
    d = differences[np.isfinite(differences)]
    if d.size < 2:
        return "untestable"
    return "not shown" if tost_p_value(d - d.mean(), margin) < alpha else "untestable"
