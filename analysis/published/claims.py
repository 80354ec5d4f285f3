"""Published findings as testable claims, decided run by run with a test that fits each claim.

Each :class:`PublishedClaim` states a direction a paper reported (Jain & Wallace 2019;
Wiegreffe & Pinter 2019; Serrano & Smith 2019; Abnar & Zuidema 2020), how this study
tests it, and the likely reasons when our numbers point the other way. Its ``evaluate``
reads the per-example tables of every run (:class:`ClaimData`) and returns one
:class:`RunTest` per run: the test's :class:`~analysis.stats.hypothesis.Decision` on the
same examples (paired where two quantities are compared, exact for rates, equivalence
for parity). :func:`decide` corrects the p-values within each claim's family
(its runs of one scope: the paper's own setting, or an extension) and gives each run a
verdict:

- *agrees* / *differs*: significant after correction, on the published / the other side;
- *inconclusive*: the test could decide at this n but did not (``n_needed`` says how many
  examples 80% power at the observed effect would take);
- *untestable*: even the most extreme data could not reach the level at this n within the
  claim's family (``n_min``: the informative examples, non-zero paired differences for a
  sign-flip test, at which it could);
- *vacuous*: agrees, but the run's attention is near uniform, which makes the test trivial
  (see :mod:`analysis.attention.concentration`); never counted as support.

:func:`outcomes` then gives each dataset x model one verdict from its seeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.config import rnn_models, transformer_models
from analysis.registry import Registry
from analysis.report.numbers import interval
from analysis.stats.hypothesis import AGREE, DIFFER, Decision
from analysis.stats.paired import adjust_p_values

AGREES, DIFFERS, INCONCLUSIVE, UNTESTABLE, VACUOUS, MIXED = (
    "agrees", "differs", "inconclusive", "untestable", "vacuous", "mixed")
VERDICTS = (AGREES, DIFFERS, MIXED, INCONCLUSIVE, UNTESTABLE, VACUOUS)
REPLICATION, EXTENSION = "replication", "extension"

Run = tuple[str, str, int]
Source = str | Path | pd.DataFrame

CLAIM_TEST_COLUMNS = [
    "claim", "source", "order", "dataset", "model", "seed", "scope", "compares_with", "test", "estimate_label", "n",
    "estimate", "low", "high", "p_value", "p_adjusted", "correction", "direction", "min_p", "n_min", "n_needed",
    "n_power", "near_uniform", "verdict", "details",
]


@dataclass(frozen=True)
class ClaimSettings:
    """How claims are decided (config block ``claims``)."""

    level: float = 0.95
    correction: str = "holm"
    accuracy_margin: float = 0.02
    n_permutations: int = 10000
    seed: int = 0

    @property
    def alpha(self) -> float:
        return 1.0 - self.level

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClaimSettings:
        block = dict(config.get("claims") or {})
        return cls(**{k: block[k] for k in ("level", "correction", "accuracy_margin", "n_permutations")
                      if k in block},
                   seed=int(config.get("data_seed", 0)))


def _read(source: Source, **kwargs: Any) -> pd.DataFrame:
    return source if isinstance(source, pd.DataFrame) else pd.read_parquet(source, **kwargs)


EDITED_ATTENTION = {"rnn": "rnn_attention", "transformer": "attention_last_mean"}
"""Per model family, the attention method that measures what the weight interventions edit and a reader is shown:
an RNN's attention layer; a transformer's last-layer [CLS] row, head mean (:class:`analysis.interventions.attention.
Reference`)."""


class ClaimData:
    """Per-example tables of every run, read lazily (one run's agreement table at a time).

    ``agreement``, ``predictions`` and ``interventions`` map a run ``(dataset, model, seed)``
    to a parquet path or a frame (``interventions`` to ``{test: path or frame}``);
    ``concentration`` is the study's attention-concentration summary.
    """

    def __init__(self, config: Mapping[str, Any], *, agreement: Mapping[Run, Source],
                 predictions: Mapping[Run, Source] | None = None,
                 interventions: Mapping[Run, Mapping[str, Source]] | None = None,
                 concentration: pd.DataFrame | None = None) -> None:
        self.config = config
        self._agreement = dict(agreement)
        self._predictions = dict(predictions or {})
        self._interventions = dict(interventions or {})
        self._concentration = concentration
        self._load_agreement = lru_cache(maxsize=8)(self._agreement_frame)

    # -- runs and models
    def runs(self, models: list[str] | None = None) -> list[Run]:
        runs = sorted(set(self._agreement) | set(self._predictions) | set(self._interventions))
        return [r for r in runs if models is None or r[1] in models]

    def model(self, name: str) -> dict[str, Any]:
        return dict(self.config.get("models", {}).get(name, {}))

    def rnn_models(self, *, uniform: bool = False) -> list[str]:
        return rnn_models(dict(self.config), uniform=uniform)

    def transformer_models(self) -> list[str]:
        return transformer_models(dict(self.config))

    def near_uniform(self, run: Run, method: str | None = None) -> bool:
        """Whether ``method`` (by default the attention the model family's interventions edit,
        :data:`EDITED_ATTENTION`) is near uniform in ``run``."""
        from analysis.attention.concentration import near_uniform_runs

        method = method or EDITED_ATTENTION.get(str(self.model(run[1]).get("family", "rnn")), "rnn_attention")
        return run in near_uniform_runs(self._concentration, [method])

    # -- per-example tables
    def _agreement_frame(self, run: Run, metric: str, variant: str) -> pd.DataFrame:
        source = self._agreement.get(run)
        if source is None:
            return pd.DataFrame(columns=["example_id", "method_a", "method_b", "value"])
        if isinstance(source, pd.DataFrame):
            frame = source[(source["metric"] == metric) & (source["variant"] == variant)]
        else:
            frame = pd.read_parquet(source, columns=["example_id", "method_a", "method_b", "value"],
                                    filters=[("metric", "==", metric), ("variant", "==", variant)])
        return frame[["example_id", "method_a", "method_b", "value"]]

    def agreement(self, run: Run, a: str, b: str, *, metric: str = "kendall_tau",
                  variant: str = "abs") -> pd.Series | None:
        """Per-example agreement of methods ``a`` and ``b`` (either order), indexed by example id."""
        frame = self._load_agreement(run, metric, variant)
        pair = (((frame["method_a"] == a) & (frame["method_b"] == b))
                | ((frame["method_a"] == b) & (frame["method_b"] == a)))
        rows = frame[pair]
        if rows.empty:
            return None
        return rows.drop_duplicates("example_id").set_index("example_id")["value"].astype(float).sort_index()

    def has_method(self, run: Run, method: str) -> bool:
        frame = self._load_agreement(run, "kendall_tau", "abs")
        return bool(((frame["method_a"] == method) | (frame["method_b"] == method)).any())

    def intervention(self, run: Run, test: str) -> pd.DataFrame | None:
        source = self._interventions.get(run, {}).get(test)
        if source is None:
            return None
        frame = _read(source)
        return frame if len(frame) else None

    def predictions(self, run: Run) -> pd.DataFrame | None:
        source = self._predictions.get(run)
        return None if source is None else _read(source)


@dataclass(frozen=True)
class RunTest:
    """One run's test of one claim."""

    dataset: str
    model: str
    seed: int
    decision: Decision
    estimate_label: str
    details: str = ""
    scope: str = REPLICATION
    compares_with: str = ""
    near_uniform: bool = False
    # the estimate is only a lower bound on the published quantity (a shortened search, which a longer one shown
    # to find more would raise): it can support the published side but never decide against it
    lower_bound: bool = False
    # the n that ``decision.n_needed`` counts, where it is not ``decision.n`` (the fuller search's subset)
    n_power: int | None = None


DOUBTFUL = "raw attention is a doubtful explanation there"
"""What a row that agrees says about the study's question, for the claims that question raw attention."""


WEIGHTS_NOTE = ("There this claim's outcome follows from the uniformity itself, before the model is consulted (moving "
                "weights that are all nearly equal moves little)")
"""Why near-uniform attention makes an agreeing outcome vacuous, for the claims about moving its weights."""
RANKS_NOTE = ("There attention's weights barely vary and so barely act: the model is close to the same model with "
              "uniform attention, and that its weights rank words worse than a causal method says little about "
              "attention as an explanation (their order is still measured, and may be reproducible across seeds)")
"""Why, for the claims that attention ranks words worse than a causal method."""


@dataclass(frozen=True)
class PublishedClaim:
    """A published direction, our test of it, and the likely reasons if we differ."""

    source: str
    published: str
    test: str
    reasons: str
    evaluate: Callable[[ClaimData, ClaimSettings], list[RunTest]]
    order: int = 50  # position in the report (the papers' own order, Jain & Wallace first)
    # whether runs whose attention (:data:`EDITED_ATTENTION`) is near uniform make an agreeing outcome vacuous: the
    # claims about how far attention's *weights* move the output (permuting, zeroing, replacing them), which
    # near-uniform weights decide by themselves, and the claims that attention ranks words worse than a causal
    # method (weights that barely vary barely act, so the model is close to its uniform-attention twin and "worse"
    # says little about attention as an explanation; Kendall τ still measures those rankings, which can be
    # reproducible across seeds, and the report shows them, but never counts them as support). ``uniform_note``
    # says which of the two reasons holds, in the report's words.
    vacuous_if_uniform: bool = False
    uniform_note: str = WEIGHTS_NOTE
    scope_note: str = ""  # which of our runs replicate the paper's setting and which extend it
    # what a row that agrees says about the study's question (all of this study's claims question raw attention)
    agreeing_means: str = DOUBTFUL
    # the row of :func:`analysis.stats.hypothesis.power_table` its sample size is planned with
    power_kind: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


PUBLISHED_CLAIMS: Registry[PublishedClaim] = Registry("published claim")


def run_verdict(decision: Decision, p_adjusted: float, alpha: float, near_uniform: bool,
                best_adjusted: float | None = None, lower_bound: bool = False) -> str:
    """The verdict of one run (see the module docstring).

    ``best_adjusted`` is the run's corrected p-value had it reached its smallest attainable p
    (``min_p``) with the rest of its family as observed: a run that could not reach the
    level even then is untestable at its n within this family. A ``lower_bound`` estimate
    (see :class:`RunTest`) that lies significantly on the other side is inconclusive, not
    *differs*: a fuller search could move it.
    """
    if np.isfinite(p_adjusted) and p_adjusted < alpha and decision.direction == AGREE:
        return VACUOUS if near_uniform else AGREES
    if np.isfinite(p_adjusted) and p_adjusted < alpha and decision.direction == DIFFER:
        return INCONCLUSIVE if lower_bound else DIFFERS
    if decision.untestable(alpha) or (best_adjusted is not None and not best_adjusted < alpha):
        return UNTESTABLE
    return INCONCLUSIVE


def best_case_adjusted(p_values: np.ndarray, min_p: np.ndarray, correction: str) -> np.ndarray:
    """For each test, its corrected p-value if it alone had reached its ``min_p`` (the others as observed)."""
    out = np.full(len(p_values), np.nan)
    for i in range(len(p_values)):
        if not np.isfinite(p_values[i]):
            continue
        trial = np.array(p_values, dtype=float)
        trial[i] = min_p[i]
        out[i] = adjust_p_values(trial, correction)[i]
    return out


def level_needed(p_values: np.ndarray, i: int, correction: str, alpha: float) -> float:
    """The largest p-value test ``i`` could have and still pass ``alpha`` after ``correction`` with the rest of
    its family as observed (bisection: a corrected p-value never falls as its raw p-value rises)."""
    def passes(p: float) -> bool:
        trial = np.array(p_values, dtype=float)
        trial[i] = p
        return bool(adjust_p_values(trial, correction)[i] < alpha)

    low, high = 0.0, alpha
    if not passes(1e-300):
        return 0.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if passes(middle) else (low, middle)
    return low


def decide(data: ClaimData, settings: ClaimSettings, claims: Mapping[str, PublishedClaim] | None = None
           ) -> pd.DataFrame:
    """Every registered claim's test on every run, corrected within (claim, scope), with verdicts."""
    claims = PUBLISHED_CLAIMS if claims is None else claims
    frames = []
    for name, claim in claims.items():
        tests = claim.evaluate(data, settings)
        if not tests:
            continue
        frame = pd.DataFrame([{
            "claim": name, "source": claim.source, "order": claim.order, "dataset": t.dataset, "model": t.model,
            "seed": int(t.seed), "scope": t.scope, "compares_with": t.compares_with, "test": t.decision.test,
            "estimate_label": t.estimate_label, "n": t.decision.n, "estimate": t.decision.estimate,
            "low": t.decision.low, "high": t.decision.high, "p_value": t.decision.p_value,
            "direction": t.decision.direction, "min_p": t.decision.min_p, "n_min": t.decision.n_min,
            "n_needed": t.decision.n_needed, "n_power": t.decision.n if t.n_power is None else t.n_power,
            "near_uniform": bool(t.near_uniform and claim.vacuous_if_uniform),
            "details": t.details,
        } for t in tests])
        frame["p_adjusted"] = np.nan
        best = np.full(len(frame), np.nan)
        for _, index in frame.groupby("scope").groups.items():
            rows = frame.index.get_indexer(index)
            p_values = frame.loc[index, "p_value"].to_numpy(dtype=float)
            frame.loc[index, "p_adjusted"] = adjust_p_values(p_values, settings.correction)
            best[rows] = best_case_adjusted(p_values, frame.loc[index, "min_p"].to_numpy(dtype=float),
                                            settings.correction)
        frame["correction"] = settings.correction
        frame["verdict"] = [run_verdict(t.decision, p, settings.alpha, bool(u), b if np.isfinite(b) else None,
                                        lower_bound=t.lower_bound)
                            for t, p, u, b in zip(tests, frame["p_adjusted"], frame["near_uniform"], best)]
        # an untestable run's n_min: what its test needs to pass within this family, not alone
        for _, index in frame.groupby("scope").groups.items():
            p_values = frame.loc[index, "p_value"].to_numpy(dtype=float)
            for i, row in enumerate(index):
                if frame.at[row, "verdict"] == UNTESTABLE and np.isfinite(p_values[i]):
                    level = level_needed(p_values, i, settings.correction, settings.alpha)
                    frame.at[row, "n_min"] = tests[row].decision.n_min_at(level) if level > 0 else np.inf
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=CLAIM_TEST_COLUMNS)
    table = pd.concat(frames, ignore_index=True)[CLAIM_TEST_COLUMNS]
    return table.sort_values(["order", "scope", "dataset", "model", "seed"], kind="stable").reset_index(drop=True)


ROW_RULE = ("A row's verdict comes from its seeds: *mixed* when some seeds agree and others differ; otherwise "
            "*differs* or *agrees* when more than half of the seeds do; *vacuous* when agreeing and vacuous seeds "
            "together are more than half and none differs (a vacuous seed never counts as agreement); *untestable* "
            "when every seed is; *inconclusive* otherwise.")


def row_verdict(seed_verdicts: list[str]) -> str:
    """One verdict from a dataset x model's seeds (:data:`ROW_RULE` in words).

    A vacuous seed is no evidence either way: it neither agrees nor stands against a seed
    that differs; it only makes a row vacuous where it is needed for an agreeing majority.
    """
    counts = Counter(seed_verdicts)
    total = len(seed_verdicts)
    if counts[AGREES] and counts[DIFFERS]:
        return MIXED
    if counts[DIFFERS] * 2 > total:
        return DIFFERS
    if counts[AGREES] * 2 > total:
        return AGREES
    if counts[VACUOUS] and not counts[DIFFERS] and (counts[VACUOUS] + counts[AGREES]) * 2 > total:
        return VACUOUS
    if counts[UNTESTABLE] == total:
        return UNTESTABLE
    return INCONCLUSIVE


def outcomes(tests: pd.DataFrame) -> pd.DataFrame:
    """One row per claim x scope x dataset x model: the seeds' estimates, tests and the row's verdict."""
    columns = ["claim", "source", "order", "scope", "dataset", "model", "compares_with", "test", "estimate_label",
               "ours", "n", "p_adjusted", "n_needed", "power_in_fuller_search", "seeds", "verdict",
               "near_uniform_seeds"]
    if tests.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    keys = ["order", "claim", "scope", "dataset", "model"]
    for (order, claim, scope, dataset, model), part in tests.groupby(keys, sort=True):
        verdicts = list(part["verdict"])
        counts = Counter(verdicts)
        estimates = part["estimate"].to_numpy(dtype=float)
        labels = list(dict.fromkeys(part["estimate_label"]))
        if len(labels) > 1:  # an intersection-union test decided by different parts in different seeds
            label = " | ".join(labels) + " (the part that decides, per seed)"
            ours = "; ".join(f"seed {r.seed}: {interval(r.estimate, r.low, r.high, 2)}"
                             for r in part.itertuples(index=False))
        else:
            label = labels[0]
            # one precision for the estimate and its bounds, finer where they are small (accuracy differences
            # within a 0.02 margin would all read 0.00 at two decimals)
            ours = (interval(float(np.nanmean(estimates)), float(np.nanmin(part["low"])),
                             float(np.nanmax(part["high"])), 2) if np.isfinite(estimates).any() else "n/a")
        details = _seed_details(part)
        undecided = part[part["verdict"].isin([INCONCLUSIVE, UNTESTABLE])]
        needed = float(undecided["n_needed"].max()) if len(undecided) else np.nan
        # a lower-bound share (a shortened search checked by a fuller one) plans its power in fuller-search examples
        lower = (part["n_power"].astype(float) != part["n"].astype(float) if "n_power" in part
                 else pd.Series(False, index=part.index))
        rows.append({
            "claim": claim, "source": part["source"].iloc[0], "order": order, "scope": scope, "dataset": dataset,
            "model": model, "compares_with": part["compares_with"].iloc[0], "test": part["test"].iloc[0],
            "estimate_label": label,
            "ours": ours + (f"; {details}" if details else ""),
            "n": "/".join(str(int(n)) for n in part["n"]),
            "p_adjusted": ", ".join(_p_text(p) + (" (lower bound)" if low else "")
                                    for p, low in zip(part["p_adjusted"], lower)),
            "n_needed": needed,
            "power_in_fuller_search": bool(lower[undecided.index].any()) if len(undecided) else False,
            "seeds": ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]) + f" (of {len(verdicts)})",
            "verdict": row_verdict(verdicts),
            "near_uniform_seeds": int(part["near_uniform"].sum()),
        })
    return pd.DataFrame(rows, columns=columns)


def _seed_details(part: pd.DataFrame) -> str:
    """The seeds' detail texts: one where every seed's reads the same, else each seed's by name (so two seeds
    that happen to read alike are not shown as one)."""
    texts = [(seed, text) for seed, text in zip(part["seed"], part["details"]) if text]
    if len({text for _, text in texts}) <= 1:
        return texts[0][1] if texts else ""
    return "; ".join(f"seed {seed}: {text}" for seed, text in texts)


def _p_text(p: float) -> str:
    """A corrected p-value as the claim tables print it: two significant digits below 0.01, never 0."""
    if not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.2g}" if p < 0.01 else f"{p:.3f}"


def summarise(rows: pd.DataFrame) -> str:
    """'agrees on 5, differs on 1, inconclusive on 2 of 8'."""
    counts = Counter(rows["verdict"])
    parts = [f"{verdict} on {counts[verdict]}" for verdict in VERDICTS if counts[verdict]]
    return ", ".join(parts) + f" of {len(rows)}"
