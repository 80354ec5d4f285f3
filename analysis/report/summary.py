"""The study summary a researcher reads, as one document rendered to markdown and to self-contained HTML.

The first screen answers the study: a paragraph generated from the numbers, the verdicts on
the published claims and one compact forest plot of each model's raw attention against causal
importance (one panel per dataset; every attention method's forest is in the agreement section). Then every section
(:mod:`analysis.report.sections`; the core ones are in :mod:`analysis.report.report_section`),
a table of contents linking them, methods, cost, data and provenance. Every sentence in the
findings is generated from the tables: a claim that attention is "below the ceiling" or "above
the floor" is only made when the corrected paired test on the same examples (the comparisons
table) says so; otherwise the text says the two cannot be told apart at this sample size, and
without a paired test it says "untested".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.config import dataset_cap
from analysis.plots.style import method_label, metric_short_label
from analysis.provenance import library_versions, settings_hash
from analysis.report.document import (
    Details,
    Document,
    Figure,
    Paragraph,
    Section,
    Table,
    counted,
    relative_link,
    render_html,
    render_markdown,
)
from analysis.report.numbers import interval, row_interval

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One generated statement and the numbers behind it."""

    dataset: str
    model: str
    seed: int
    method: str
    text: str
    value: float
    low: float
    high: float
    verdict_ceiling: str
    verdict_floor: str
    accuracy: float = float("nan")
    normalised: str = ""
    n_equivalence: float = float("nan")  # examples an equivalence test with the ceiling would need (80% power)
    within_margin: bool = False  # different from the ceiling, yet shown equivalent within the margin
    n: int = 0  # examples the agreement is a mean over (attention flow stops at its token limit: fewer)

    @property
    def defined(self) -> bool:
        """False where the attention is constant on every example: it ranks nothing, so no agreement exists."""
        return bool(np.isfinite(self.value))


VERDICT_WORDS = {"below": "below", "above": "above", "equivalent": "as good as (equivalence test)",
                 "overlapping": "not distinguishable, not shown equivalent", "untestable": "untestable at this n",
                 "indistinct_untestable": "not distinguishable; equivalence untestable at this n",
                 "untested": "untested", "constant": "undefined (constant attention ranks nothing)"}
"""Verdict against the ceiling -> the key table's words."""
FLOOR_WORDS = {**VERDICT_WORDS, "overlapping": "not distinguishable"}
"""Verdict against the random floor -> words (no equivalence test is run against the floor)."""


def key_results(findings: list[Finding]) -> pd.DataFrame:
    """One row per run and attention method: the numbers a reader looks for first."""
    return pd.DataFrame([{
        "dataset": f.dataset, "model": f.model, "seed": f.seed, "accuracy": f.accuracy,
        "attention method": method_label(f.method),
        "agreement [95% CI]": interval(f.value, f.low, f.high, 2) if f.defined else "undefined",
        "examples": f.n if f.defined else "",
        "vs ceiling": VERDICT_WORDS[f.verdict_ceiling] + (
            f" (equivalence needs about {f.n_equivalence:,.0f} examples)"
            if f.verdict_ceiling in ("overlapping", "indistinct_untestable") and np.isfinite(f.n_equivalence) else "") + (" (yet within the equivalence margin)" if f.within_margin
                                                          else ""), "share of ceiling": f.normalised,
        "vs random floor": FLOOR_WORDS[f.verdict_floor],
    } for f in findings])


def _row(summary: pd.DataFrame, a: str, b: str, metric: str) -> pd.Series | None:
    sel = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")
                  & (((summary["method_a"] == a) & (summary["method_b"] == b))
                     | ((summary["method_a"] == b) & (summary["method_b"] == a)))]
    return None if sel.empty else sel.iloc[0]


def _test_text(row: pd.Series) -> str:
    correction = {"holm": "Holm-adjusted ", "bh": "BH-adjusted ", "none": ""}.get(row["correction"], "")
    return (f"difference {interval(row['mean_difference'], row['low'], row['high'], 2, signed=True)}, "
            f"d_z = {row['effect_size']:+.2f}, {correction}p = {row['p_adjusted']:.3g}")


def _verdict(row: pd.Series | None) -> str:
    """'below' or 'above' from a corrected paired test; else 'untestable' where even all non-zero differences of
    one sign could not reach 5% after the family's correction, 'equivalent' where the equivalence test
    (attention vs the ceiling only) shows parity, 'indistinct_untestable' where it cannot at this n, and
    'overlapping' (not distinguishable, not shown equivalent) otherwise."""
    if row is None or pd.isna(row["p_adjusted"]):
        return "untested"
    if row["significant"]:
        return "below" if row["mean_difference"] < 0 else "above"
    smallest = row.get("min_p_adjusted")  # the smallest corrected p the test could give: non-zero pairs, family
    if pd.isna(smallest):  # a table written before it was stored: all n pairs counted, no family
        smallest = 2.0 ** (1 - min(float(row.get("n", 100)), 64.0))
    if smallest >= 0.05:
        return "untestable"
    equivalence = row.get("equivalence", "")
    if equivalence == "equivalent":
        return "equivalent"
    if equivalence == "untestable":
        return "indistinct_untestable"
    return "overlapping"


def correct_equivalence(tests: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """A run's paired comparisons with the TOST p-values of its attention-vs-ceiling family corrected as
    that family's difference tests are (the rows' ``correction``): ``p_equivalence_adjusted``, and
    ``equivalence`` 'equivalent' only where the corrected p is below ``alpha`` (else 'not shown').

    A row without a TOST p (fewer than two examples, or a table written before every row carried one) enters
    the family as p = 1.
    """
    if tests.empty or "p_equivalence" not in tests:
        return tests
    out = tests.copy()
    out["p_equivalence_adjusted"] = np.nan
    family = out.index[out["comparison"] == "attention_vs_ceiling"]
    if len(family):
        from analysis.stats.paired import adjust_p_values

        correction = str(out.loc[family, "correction"].iloc[0]) if "correction" in out else "holm"
        raw = out.loc[family, "p_equivalence"].astype(float).fillna(1.0).to_numpy()
        out.loc[family, "p_equivalence_adjusted"] = adjust_p_values(raw, correction)
        lost = family[(out.loc[family, "equivalence"] == "equivalent")
                      & ~(out.loc[family, "p_equivalence_adjusted"] < alpha)]
        out.loc[lost, "equivalence"] = "not shown"
    return out


def corrected_comparisons(comparisons: pd.DataFrame | None, alpha: float = 0.05) -> pd.DataFrame | None:
    """Every run's comparisons with :func:`correct_equivalence` applied per family (dataset, model, seed, metric,
    variant): the table the report reads and the one it publishes say the same."""
    if comparisons is None or comparisons.empty or "p_equivalence" not in comparisons:
        return comparisons
    keys = [key for key in ("dataset", "model", "seed", "metric", "variant") if key in comparisons]
    parts = [correct_equivalence(part, alpha) for _, part in comparisons.groupby(keys, sort=False, dropna=False)]
    return pd.concat(parts).loc[comparisons.index]


def _within_margin(row: pd.Series | None, alpha: float = 0.05) -> bool:
    """A significant difference from the ceiling that the corrected equivalence test still puts inside the
    margin (different, but by less than the margin)."""
    if row is None or not row.get("significant", False):
        return False
    p = row.get("p_equivalence_adjusted", np.nan)
    return bool(p is not None and not pd.isna(p) and p < alpha)


def equivalence_n_needed(row: pd.Series | None, alpha: float = 0.05) -> float:
    """Examples a paired equivalence test (TOST within the row's ``margin``) would need for 80% power at the
    observed mean difference; inf where the observed difference is not inside the margin, NaN without the numbers.

    The per-example spread is the observed mean difference over its effect size d_z (exact, whatever interval
    the row carries); without d_z it is read back from the interval with the t quantile of its n."""
    from scipy import stats

    from analysis.stats.hypothesis import paired_n_needed

    if row is None:
        return float("nan")
    values = [row.get(key) for key in ("margin", "mean_difference")]
    if any(v is None or pd.isna(v) for v in values):
        return float("nan")
    margin, mean = map(float, values)
    if abs(mean) >= margin:
        return float("inf")
    effect = row.get("effect_size")
    if effect is not None and pd.notna(effect) and float(effect) != 0 and mean != 0:
        sd = abs(mean / float(effect))
    else:
        spread = [row.get(key) for key in ("low", "high", "n")]
        if any(v is None or pd.isna(v) for v in spread) or float(spread[2]) < 2:
            return float("nan")
        low, high, n = map(float, spread)
        sd = (high - low) / (2 * stats.t.ppf(1 - alpha / 2, n - 1)) * np.sqrt(n)
    return paired_n_needed(margin - abs(mean), sd, alpha)  # each side of the TOST at alpha / 2


def _equivalence_text(row: pd.Series | None, lead: str = "as good as") -> str:
    """``lead`` with the margin and the TOST p (corrected where :func:`correct_equivalence` has run)."""
    margin = None if row is None else row.get("margin")
    adjusted = None if row is None else row.get("p_equivalence_adjusted")
    corrected = adjusted is not None and not pd.isna(adjusted)
    p_value = adjusted if corrected else (None if row is None else row.get("p_equivalence"))
    if margin is None or p_value is None or pd.isna(margin) or pd.isna(p_value):
        return lead
    correction = {"holm": "Holm-adjusted ", "bh": "BH-adjusted "}.get(str(row.get("correction", "")), "")
    return f"{lead} (within ±{margin:g}, {correction if corrected else ''}TOST p = {p_value:.3g})"


CEILING_CANDIDATES = ("integrated_gradients", "loo_mask", "grad_x_input", "saliency", "jw_gradient")
"""Causal methods tried in this order as the ceiling when the comparisons table names none."""


def run_tests(comparisons: pd.DataFrame | None, run: tuple[str, str, int], metric: str) -> pd.DataFrame:
    """One run's paired comparisons of ``metric`` (|scores| variant); empty without a comparisons table."""
    if comparisons is None or comparisons.empty:
        return pd.DataFrame()
    dataset, model, seed = run
    return comparisons[(comparisons["dataset"] == dataset) & (comparisons["model"] == model)
                       & (comparisons["seed"] == seed) & (comparisons["metric"] == metric)
                       & (comparisons["variant"] == "abs")]


def choose_ceiling(methods: set[str], reference: str, tests: pd.DataFrame) -> str | None:
    """The causal method whose agreement with ``reference`` is a run's ceiling: the one its paired tests used."""
    if len(tests) and (tests["comparison"] == "attention_vs_ceiling").any():
        return str(tests.loc[tests["comparison"] == "attention_vs_ceiling", "method_b"].iloc[0])
    return next((m for m in CEILING_CANDIDATES if m in methods and m != reference), None)


def ceilings(summary: pd.DataFrame, *, reference: str, metric: str,
             comparisons: pd.DataFrame | None = None) -> dict[tuple[str, str, int], str]:
    """The ceiling method of every run (dataset, model, seed) of the agreement summary."""
    out = {}
    for (dataset, model, seed), run in summary.groupby(["dataset", "model", "seed"], sort=True):
        methods = set(run["method_a"]) | set(run["method_b"])
        method = choose_ceiling(methods, reference, run_tests(comparisons, (dataset, model, seed), metric))
        if method is not None:
            out[(str(dataset), str(model), int(seed))] = method
    return out


def agreement_findings(summary: pd.DataFrame, evaluation: pd.DataFrame, *, reference: str,
                       metric: str = "kendall_tau", comparisons: pd.DataFrame | None = None) -> list[Finding]:
    """Findings for every attention method of every run, against ``reference``.

    With a ``comparisons`` table (paired tests, see :mod:`analysis.stats.comparisons`) a
    difference from the ceiling or the floor is claimed only when its corrected test is
    significant; a comparison without a paired test is "untested" (marginal intervals
    are shown, never compared).
    """
    findings = []
    name = metric_short_label(metric)
    for (dataset, model, seed), run in summary.groupby(["dataset", "model", "seed"], sort=True):
        methods = set(run["method_a"]) | set(run["method_b"])
        attention = sorted(m for m in methods if any(
            (run["method_a"] == m) & run["pair_kind"].isin(["attention_vs_causal"])))
        tests = correct_equivalence(run_tests(comparisons, (dataset, model, seed), metric))
        ceiling_method = choose_ceiling(methods, reference, tests)
        ceiling = _row(run, ceiling_method, reference, metric) if ceiling_method else None
        floor = _row(run, "random", reference, metric)
        acc = evaluation[(evaluation["dataset"] == dataset) & (evaluation["model"] == model)
                         & (evaluation["seed"] == seed)]
        acc_text = f"accuracy {acc['accuracy'].iloc[0]:.1%}" if len(acc) else "accuracy unknown"
        for method in attention:
            row = _row(run, method, reference, metric)
            if row is None:
                continue
            if not np.isfinite(float(row["mean"])):  # constant weights (e.g. uniform by construction) rank nothing
                findings.append(Finding(
                    dataset, model, int(seed), method,
                    f"On {dataset}, {model} (seed {seed}, {acc_text}): {method_label(method)} is constant on every "
                    "example, so it ranks nothing and has no agreement with any ranking; it is left out of the "
                    "counts.", float("nan"), float("nan"), float("nan"), "constant", "constant",
                    float(acc["accuracy"].iloc[0]) if len(acc) else float("nan")))
                continue
            text = (f"On {dataset}, {model} (seed {seed}, {acc_text}): {method_label(method)} agrees with "
                    f"{method_label(reference)} at mean {name} = {row_interval(row, 2)} over {int(row['n'])} examples")
            if not pd.isna(row["share_significant"]):
                text += (f" (each example's τ significantly non-zero, p < 0.05, in {row['share_significant']:.0%} "
                         "of them)")
            parts = []
            test_c = _one(tests, method, "attention_vs_ceiling")
            test_f = _one(tests, method, "attention_vs_floor")
            v_ceiling = v_floor = "untested"
            needed = float("nan")
            within = _within_margin(test_c)
            if ceiling is not None:
                v_ceiling = _verdict(test_c)
                needed = (equivalence_n_needed(test_c) if v_ceiling in ("overlapping", "indistinct_untestable")
                          else float("nan"))
                plan = (f"; about {needed:,.0f} examples would show equivalence within ±{test_c['margin']:g} with "
                        f"80% power" if np.isfinite(needed) else "")
                wording = {"below": "below", "above": "above", "equivalent": _equivalence_text(test_c),
                           "overlapping": f"not distinguishable from (but not shown equivalent to{plan})",
                           "indistinct_untestable": f"not distinguishable from (equivalence untestable at this n{plan})",
                           "untestable": "untestable at this n against", "untested": "compared with"}[v_ceiling]
                part = (f"{wording} the ceiling, the agreement between two causal methods "
                        f"({method_label(ceiling_method)} vs {method_label(reference)}: {row_interval(ceiling, 2)}")
                part += f"; {_test_text(test_c)})" if test_c is not None else ")"
                if within and v_ceiling in ("below", "above"):
                    margin = _equivalence_text(test_c, "").strip().removeprefix("(within ").removesuffix(")")
                    part += f", yet within the equivalence margin ({margin})"
                if test_c is not None and not pd.isna(test_c["normalised"]):
                    part += (f", normalised agreement "
                             f"{interval(test_c['normalised'], test_c['normalised_low'], test_c['normalised_high'], 2)}"
                             " of the ceiling")
                parts.append(part)
            if floor is not None:
                v_floor = _verdict(test_f)
                wording = {"above": "above", "below": "below", "overlapping": "not distinguishable from",
                           "untestable": "untestable at this n against", "untested": "compared with"}[v_floor]
                part = f"{wording} a random ranking ({row_interval(floor, 2)}"
                part += f"; {_test_text(test_f)})" if test_f is not None else ")"
                parts.append(part)
            if parts:
                text += "; this is " + ", and ".join(parts)
            text += "."
            if len(acc) and acc["accuracy"].iloc[0] < acc["chance"].iloc[0] + 0.1:
                text += " Caution: the model is close to chance, so its agreement figures say little."
            normalised = (interval(test_c["normalised"], test_c["normalised_low"], test_c["normalised_high"], 2)
                          if test_c is not None and not pd.isna(test_c["normalised"]) else "")
            findings.append(Finding(dataset, model, int(seed), method, text, float(row["mean"]), float(row["mean_low"]),
                                    float(row["mean_high"]), v_ceiling, v_floor,
                                    float(acc["accuracy"].iloc[0]) if len(acc) else float("nan"), normalised,
                                    needed, within, int(row["n"])))
    return findings


def _one(tests: pd.DataFrame, method: str, comparison: str) -> pd.Series | None:
    if tests.empty:
        return None
    sel = tests[(tests["method_a"] == method) & (tests["comparison"] == comparison)]
    return None if sel.empty else sel.iloc[0]


def hardware() -> dict[str, str]:
    """What the study ran on (for the provenance table)."""
    import os

    facts = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
             "cpu cores": str(os.cpu_count())}
    try:
        import torch

        facts["torch threads"] = str(torch.get_num_threads())
        facts["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return facts


def _count_false(values: pd.Series) -> float:
    """Examples whose IG completeness gap stayed above tolerance (NaN for other methods)."""
    known = values.dropna()
    return float((~known.astype(bool)).sum()) if len(known) else np.nan


def convergence_note(cost: pd.DataFrame) -> str:
    """One sentence on IG completeness, generated from the cost table."""
    ig = cost[cost["method"] == "integrated_gradients"] if "method" in cost else cost.iloc[0:0]
    if ig.empty:
        return ""
    bad = ig[(ig["ig_not_converged"] > 0).fillna(False).astype(bool)]
    if bad.empty:
        return "Integrated gradients met its completeness tolerance on every example of every run."
    parts = [f"{r.dataset}/{r.model}: {int(r.ig_not_converged)}" for r in bad.itertuples()]
    return ("Integrated gradients did not reach its completeness tolerance on some examples even at the maximum "
            "number of steps (" + "; ".join(parts) + "); their attributions are approximate. This happens when "
            "the model's output changes abruptly along the path from the baseline (a saturated, overconfident "
            "model); the gaps are in the diagnostics tables.")


def content_warnings(config: dict[str, Any]) -> list[str]:
    """A warning per dataset whose spec carries one (HateXplain), saying whether its texts are shown."""
    from analysis.data import content_warning

    shown = bool(config.get("report", {}).get("show_offensive_examples", False))
    warnings = []
    for name in config.get("datasets", {}):
        note = content_warning(config, name)
        if note:
            warnings.append(f"Content warning: {name} {note}. " + (
                "Its example texts appear in the per-example view (report.show_offensive_examples: true)."
                if shown else "This report shows none of its example texts, only numbers; set "
                "report.show_offensive_examples: true to show them."))
    return warnings


def scope_lines(config: dict[str, Any], data_report: pd.DataFrame) -> list[str]:
    """What the study covers, read from the data reports, then the reductions the config declares.

    One line per dataset (rows kept of rows available per role, and the explained count),
    so a subsampled study says so at the top of its report.
    """
    lines = []
    for dataset, part in data_report.groupby("dataset", sort=False):
        roles = []
        for row in part.to_dict("records"):
            verb = {"train": "trained on", "eval": "evaluated on"}.get(row.get("role"), row.get("role"))
            kept, available = row.get("rows_kept"), row.get("rows_available")
            if kept is None:
                continue
            of = f" of {available:,} available" if available is not None else ""
            capped = _model_caps(config, dataset, "train_n", kept) if row.get("role") == "train" else ""
            roles.append(f"{verb} {kept:,}{of} ({row.get('split')}, {row.get('source')}){capped}")
        explain_n = config.get("datasets", {}).get(dataset, {}).get("explain_n")
        if explain_n:
            roles.append(f"{explain_n:,} explained per run{_model_caps(config, dataset, 'explain_n', explain_n)}")
        lines.append(f"{dataset}: " + "; ".join(roles) + ".")
    seeds = config.get("seeds", [])
    lines.append(f"{counted(len(config.get('models', {})), 'model')} x {counted(len(seeds), 'training seed')} "
                 f"({', '.join(map(str, seeds))}).")
    reductions = config.get("report", {}).get("reductions", [])
    if reductions:
        from analysis.report.methods import REDUCTIONS_ID

        lines.append(f"Reduced from the published setups in {counted(len(reductions), 'way')}: "
                     f"[Methods, Reductions](#{REDUCTIONS_ID}).")
    return lines


def _model_caps(config: dict[str, Any], dataset: str, key: str, count: int) -> str:
    """" (model: n, ...)" for the models whose own cap ``models.<model>.<key>`` on ``dataset`` is below ``count``."""
    caps = {name: cap for name, entry in config.get("models", {}).items()
            if (cap := dataset_cap(entry.get(key), dataset)) is not None and cap < count}
    return f" ({', '.join(f'{name}: {cap:,}' for name, cap in caps.items())})" if caps else ""


PROVENANCE_COLUMNS = ("settings", "versions")


def provenance_ids(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, tuple[str, ...]]]:
    """``frame`` with its provenance columns (the same JSON on thousands of rows) replaced by ``provenance_id``.

    Returns the frame and the ids it uses -> (settings, versions); a frame without provenance
    columns is returned as is.
    """
    present = [c for c in PROVENANCE_COLUMNS if c in frame.columns]
    if not present:
        return frame, {}
    values = frame.reindex(columns=list(PROVENANCE_COLUMNS)).fillna("").astype(str)
    first, *rest = PROVENANCE_COLUMNS
    codes, keys = pd.factorize(values[first].str.cat([values[c] for c in rest], sep="\x1f"))
    short = [hashlib.sha1(key.encode()).hexdigest()[:10] for key in keys]
    ids = np.asarray(short, dtype=object)[codes] if len(codes) else []
    return (frame.drop(columns=present).assign(provenance_id=ids),
            {s: tuple(key.split("\x1f")) for s, key in zip(short, keys)})


def write_csv_tables(tables: dict[str, pd.DataFrame | None], folder: Path) -> None:
    """The summary's tables as compact CSV files, one per table, plus ``provenance.csv``.

    A table listed under two names (the same frame, or an equal one read twice from one file) is
    written once, under the first name. The per-row
    provenance columns (settings, versions: the same JSON on thousands of rows) are
    replaced by a ``provenance_id`` that ``provenance.csv`` resolves; floats keep six
    significant digits.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[pd.DataFrame] = []
    provenance: dict[str, tuple[str, str]] = {}
    for name, frame in tables.items():
        if frame is None or any(frame is other or (frame.shape == other.shape and frame.equals(other))
                                for other in written):
            continue
        written.append(frame)
        frame, ids = provenance_ids(frame)
        provenance.update(ids)
        frame.to_csv(folder / f"{name}.csv", index=False, float_format="%.6g")
    if provenance:
        pd.DataFrame([(k, *v) for k, v in provenance.items()],
                     columns=["provenance_id", *PROVENANCE_COLUMNS]).to_csv(folder / "provenance.csv", index=False)


def report_figures(config: dict[str, Any], tables: dict[str, pd.DataFrame], figures: dict[str, str],
                   folder: str | Path) -> dict[str, str]:
    """The study-level figures the summary draws from its own tables, by key, unless ``figures`` has them.

    ``agreement_headline`` (:func:`analysis.plots.figures.headline_forest`, each model's raw
    attention: the first screen's figure), ``agreement_forest``
    (:func:`analysis.plots.figures.agreement_forest`, every attention method), with several
    seeds ``seed_matrix/<dataset>/<model>`` (the method x method matrix, seeds averaged) and, where the study
    has per-head tables, ``heads_layers`` (:func:`analysis.heads.figures.layer_agreement_curves`),
    written to ``folder`` under their keys.
    """
    from analysis.plots.figures import agreement_forest, headline_forest
    from analysis.plots.kit import save_figure
    from analysis.report.sections import figures_under

    reference = config["agreement"]["reference"]
    metric = config["figures"]["headline_metric"]
    made: dict[str, str] = {}
    summary = tables.get("agreement_summary")
    runs = (ceilings(summary, reference=reference, metric=metric, comparisons=tables.get("comparisons"))
            if summary is not None and not summary.empty else {})
    for key, draw in (("agreement_headline", headline_forest), ("agreement_forest", agreement_forest)):
        if key not in figures and summary is not None and not summary.empty:
            made[key] = str(save_figure(draw(summary, reference=reference, ceilings=runs, metric=metric),
                                        Path(folder) / f"{key}.png"))
    if (summary is not None and not summary.empty and not figures_under(figures, "seed_matrix")
            and summary.groupby(["dataset", "model"])["seed"].nunique().max() > 1):
        # one matrix per dataset and model, seeds averaged: a third of the per-run figures in the page
        from analysis.plots.figures import agreement_matrix

        for (dataset, model), part in summary.groupby(["dataset", "model"], sort=True):
            made[f"seed_matrix/{dataset}/{model}"] = str(save_figure(
                agreement_matrix(part, metric=metric, over_seeds=True),
                Path(folder) / "seed_matrix" / f"{dataset}-{model}.png"))
    heads = tables.get("heads_summary")
    if "heads_layers" not in figures and heads is not None and not heads.empty and summary is not None:
        from analysis.heads.figures import layer_agreement_curves

        made["heads_layers"] = str(save_figure(
            layer_agreement_curves(heads, summary, reference=reference, metric=metric, ceilings=runs),
            Path(folder) / "heads_layers.png"))
    return made


def provenance_section(config: dict[str, Any], run_facts: dict[str, str] | None) -> Section:
    facts = {"study": config["study"], "config hash": settings_hash(config),
             "generated": dt.datetime.now().isoformat(timespec="seconds"), **hardware(), **(run_facts or {}),
             **library_versions()}
    table = pd.DataFrame(list(facts.items()), columns=["what", "value"])
    return Section("Provenance", [Table(table, folded=False, sortable=False, filterable=False),
                                  Details("The configuration this study ran with",
                                          [Paragraph(f"`{json.dumps(config, default=str)}`")])],
                   order=99, id="provenance")


def answer(config: dict[str, Any], sections: list[Section], data_report: pd.DataFrame, *,
           examples_link: str | None) -> list:
    """The first screen: the answer in plain words (the lead of the first section that has one), the sections'
    front blocks (tables, then figures), the other sections' lead sentences (e.g. where the cause is known), then
    the content warnings (they concern example texts, which the first screen never shows) beside the link to the
    examples. The answer, the verdict table and the forest plot come first so that they fit on one screen."""
    blocks: list = []
    leads = [section.lead for section in sections if section.lead]
    if leads:
        blocks.append(Paragraph(" ".join(leads[0]), style="lead"))
    front = [block for section in sections for block in section.front]
    blocks += [b for b in front if not isinstance(b, Figure)] + [b for b in front if isinstance(b, Figure)]
    if len(leads) > 1:
        blocks.append(Paragraph(" ".join(sentence for lead in leads[1:] for sentence in lead), style="lead"))
    blocks += [Paragraph(text, style="warning") for text in content_warnings(config)]
    if examples_link:
        blocks.append(Paragraph(f"[Per-example view]({examples_link}): the first explained examples of every run, "
                                "their words coloured by each method's signed score, with the prediction, the label "
                                "and the words known to matter.", style="note"))
    blocks.append(Details("Scope of this study", [Paragraph(line) for line in scope_lines(config, data_report)]))
    return blocks


def write_summary(*, config: dict[str, Any], evaluation: pd.DataFrame, summary: pd.DataFrame,
                  comparisons: pd.DataFrame | None = None, diagnostics: pd.DataFrame, data_report: pd.DataFrame,
                  figures: dict[str, str], out_markdown: str, out_html: str,
                  extra_tables: dict[str, pd.DataFrame] | None = None, extra_figures: dict[str, str] | None = None,
                  run_facts: dict[str, str] | None = None, out_tables: str | None = None,
                  examples_page: str | None = None, benchmarks: str | None = None,
                  out_figures: str | None = None) -> list[Finding]:
    """Write the study summary as markdown and as one self-contained HTML file; returns the agreement findings.

    ``figures`` and ``extra_figures`` map figure keys (:mod:`analysis.report.sections`) to files;
    ``extra_tables`` are the study tables the sections read. Optional: ``examples_page``, the
    per-example HTML page to link (:func:`analysis.report.examples.write_examples_page`);
    ``benchmarks``, the study's Snakemake benchmark folder (the cost per stage); ``out_figures``,
    where the summary draws its own figures (the forest plot; default: ``figures/`` beside the
    markdown).
    """
    from analysis.report.cost import stage_costs
    from analysis.report.sections import build_sections, figures_by_key

    reference = config["agreement"]["reference"]
    metric = config["figures"]["headline_metric"]
    comparisons = corrected_comparisons(comparisons)
    # sections see the core tables too (accuracy beside published numbers, ...), by the same names
    tables = {**(extra_tables or {}), "evaluation": evaluation, "agreement_summary": summary,
              "comparisons": comparisons, "diagnostics": diagnostics, "data_report": data_report}
    if benchmarks is not None:
        tables["stage_costs"] = stage_costs(benchmarks)
    keyed = figures_by_key({**figures, **(extra_figures or {})})
    if examples_page:  # the per-example view shows explained examples with signed scores: no static heatmaps
        keyed = {key: path for key, path in keyed.items() if not key.startswith("heatmaps/")}
    keyed.update(report_figures(config, tables, keyed, out_figures or Path(out_markdown).parent / "figures"))
    sections = build_sections(config, tables, keyed)
    sections.append(provenance_section(config, run_facts))
    findings = agreement_findings(summary, evaluation, reference=reference, metric=metric, comparisons=comparisons)
    title = config.get("title", "Is attention an explanation?")
    runs = evaluation[["dataset", "model", "seed"]].drop_duplicates() if len(evaluation) else evaluation
    sizes = " x ".join(counted(runs[key].nunique() if len(runs) else 0, key) for key in ("dataset", "model", "seed"))
    subtitle = (f"Study `{config['study']}`: {counted(len(runs), 'run')} ({sizes}); generated "
                f"{dt.date.today().isoformat()}. Every number and sentence is generated from the study's tables.")

    def document(link_base: str | Path) -> Document:
        link = relative_link(examples_page, link_base) if examples_page else None
        return Document(title=title, subtitle=subtitle, sections=sections,
                        front=answer(config, sections, data_report, examples_link=link))

    Path(out_markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(out_markdown).write_text(render_markdown(document(out_markdown), out_markdown))
    Path(out_html).parent.mkdir(parents=True, exist_ok=True)
    Path(out_html).write_text(render_html(document(out_html)))
    log.info("wrote %s (%.1f MB) and %s", out_html, Path(out_html).stat().st_size / 1e6, out_markdown)
    if out_tables:
        published = {**{name: frame for section in sections for name, frame in section.tables.items()},
                     "comparisons": comparisons, **(extra_tables or {})}
        published = {name: frame for name, frame in published.items()  # the summary under another name
                     if not (frame is summary or (frame is not None and frame.shape == summary.shape
                                                  and frame.equals(summary)))}
        write_csv_tables({**published_agreement(summary, metric=metric), **published}, Path(out_tables))
    return findings


BY_GROUP_TABLE = "agreement_by_group"
"""The published CSV of agreement by predicted class and by length bucket (headline metric only)."""


def published_agreement(summary: pd.DataFrame, *, metric: str) -> dict[str, pd.DataFrame]:
    """The agreement summary as published: ``agreement_summary`` holds every pair, metric and variant over all of
    a run's examples; :data:`BY_GROUP_TABLE` the breakdowns by predicted class and length bucket of the headline
    ``metric`` only (what the report shows). Every metric's breakdowns were 85% of the table's rows (11 MB
    compressed for three seeds, half the report's budget); they are one groupby of the published per-instance
    agreement (``data/``, which carries ``predicted`` and ``length_bucket``) or of the study's
    ``agreement_summary.parquet``."""
    if "group_by" not in summary:
        return {"agreement_summary": summary}
    overall = summary["group_by"] == "all"
    by_group = summary[~overall & (summary["metric"] == metric)]
    return {"agreement_summary": summary[overall],
            **({BY_GROUP_TABLE: by_group} if len(by_group) else {})}
