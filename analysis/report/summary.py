"""The study summary a researcher reads: findings with numbers, accuracies, methods, provenance.

Every sentence in the findings is generated from the tables: a claim that attention is
"below the ceiling" or "above the floor" is only made when the corrected paired test on
the same examples (the comparisons table) says so; otherwise the text says the two cannot
be told apart at this sample size, and without a paired test it says "untested".
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import io
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.plots.style import method_label, metric_short_label
from analysis.provenance import library_versions, settings_hash


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


VERDICT_WORDS = {"below": "below", "above": "above", "equivalent": "as good as (equivalence test)",
                 "overlapping": "not distinguishable, not shown equivalent", "untestable": "untestable at this n",
                 "untested": "untested"}


def key_results(findings: list[Finding]) -> pd.DataFrame:
    """One row per run and attention method: the numbers a reader looks for first."""
    return pd.DataFrame([{
        "dataset": f.dataset, "model": f.model, "seed": f.seed, "accuracy": f.accuracy,
        "attention method": method_label(f.method), "agreement [95% CI]": f"{f.value:.2f} [{f.low:.2f}, {f.high:.2f}]",
        "vs ceiling": VERDICT_WORDS[f.verdict_ceiling], "share of ceiling": f.normalised,
        "vs random floor": VERDICT_WORDS[f.verdict_floor],
    } for f in findings])


def _row(summary: pd.DataFrame, a: str, b: str, metric: str) -> pd.Series | None:
    sel = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")
                  & (((summary["method_a"] == a) & (summary["method_b"] == b))
                     | ((summary["method_a"] == b) & (summary["method_b"] == a)))]
    return None if sel.empty else sel.iloc[0]


def _ci(row: pd.Series) -> str:
    return f"{row['mean']:.2f} [{row['mean_low']:.2f}, {row['mean_high']:.2f}]"


def _test_text(row: pd.Series) -> str:
    correction = {"holm": "Holm-adjusted ", "bh": "BH-adjusted ", "none": ""}.get(row["correction"], "")
    return (f"difference {row['mean_difference']:+.2f} [{row['low']:+.2f}, {row['high']:+.2f}], "
            f"d_z = {row['effect_size']:+.2f}, {correction}p = {row['p_adjusted']:.3g}")


def _verdict(row: pd.Series | None) -> str:
    """'below' or 'above' from a corrected paired test; else 'equivalent' where the equivalence test
    (attention vs the ceiling only) shows parity, 'untestable' where it cannot at this n, and
    'overlapping' (not distinguishable, not shown equivalent) otherwise."""
    if row is None or pd.isna(row["p_adjusted"]):
        return "untested"
    if row["significant"]:
        return "below" if row["mean_difference"] < 0 else "above"
    if 2.0 / 2.0 ** row.get("n", 100) >= 0.05:  # the sign-flip test's smallest p at this n (all signs one way)
        return "untestable"
    equivalence = row.get("equivalence", "")
    if equivalence == "equivalent":
        return "equivalent"
    if equivalence == "untestable":
        return "untestable"
    return "overlapping"


def _equivalence_text(row: pd.Series | None) -> str:
    if row is None:
        return "as good as"
    return f"as good as (within ±{row.get('margin', float('nan')):g}, TOST p = {row.get('p_equivalence', float('nan')):.3g})"


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
        tests = pd.DataFrame()
        if comparisons is not None and len(comparisons):
            tests = comparisons[(comparisons["dataset"] == dataset) & (comparisons["model"] == model)
                                & (comparisons["seed"] == seed) & (comparisons["metric"] == metric)
                                & (comparisons["variant"] == "abs")]
        ceiling_method = None
        if len(tests) and (tests["comparison"] == "attention_vs_ceiling").any():
            ceiling_method = tests.loc[tests["comparison"] == "attention_vs_ceiling", "method_b"].iloc[0]
        else:
            ceiling_method = next((m for m in ("integrated_gradients", "loo_mask", "grad_x_input", "saliency",
                                               "jw_gradient") if m in methods and m != reference), None)
        ceiling = _row(run, ceiling_method, reference, metric) if ceiling_method else None
        floor = _row(run, "random", reference, metric)
        acc = evaluation[(evaluation["dataset"] == dataset) & (evaluation["model"] == model)
                         & (evaluation["seed"] == seed)]
        acc_text = f"accuracy {acc['accuracy'].iloc[0]:.1%}" if len(acc) else "accuracy unknown"
        for method in attention:
            row = _row(run, method, reference, metric)
            if row is None:
                continue
            text = (f"On {dataset}, {model} (seed {seed}, {acc_text}): {method_label(method)} agrees with "
                    f"{method_label(reference)} at mean {name} = {_ci(row)} over {int(row['n'])} examples")
            if not pd.isna(row["share_significant"]):
                text += f" (p < 0.05 for {row['share_significant']:.0%} of them)"
            parts = []
            test_c = _one(tests, method, "attention_vs_ceiling")
            test_f = _one(tests, method, "attention_vs_floor")
            v_ceiling = v_floor = "untested"
            if ceiling is not None:
                v_ceiling = _verdict(test_c)
                wording = {"below": "below", "above": "above",
                           "equivalent": _equivalence_text(test_c),
                           "overlapping": "not distinguishable from (but not shown equivalent to)",
                           "untestable": "not distinguishable from (untestable at this n)",
                           "untested": "compared with"}[v_ceiling]
                part = (f"{wording} the ceiling, the agreement between two causal methods "
                        f"({method_label(ceiling_method)} vs {method_label(reference)}: {_ci(ceiling)}")
                part += f"; {_test_text(test_c)})" if test_c is not None else ")"
                if test_c is not None and not pd.isna(test_c["normalised"]):
                    part += (f", normalised agreement {test_c['normalised']:.2f} "
                             f"[{test_c['normalised_low']:.2f}, {test_c['normalised_high']:.2f}] of the ceiling")
                parts.append(part)
            if floor is not None:
                v_floor = _verdict(test_f)
                wording = {"above": "above", "below": "below", "overlapping": "not distinguishable from",
                           "untestable": "untestable at this n against", "untested": "compared with"}[v_floor]
                part = f"{wording} a random ranking ({_ci(floor)}"
                part += f"; {_test_text(test_f)})" if test_f is not None else ")"
                parts.append(part)
            if parts:
                text += "; this is " + ", and ".join(parts)
            text += "."
            if len(acc) and acc["accuracy"].iloc[0] < acc["chance"].iloc[0] + 0.1:
                text += " Caution: the model is close to chance, so its agreement figures say little."
            normalised = (f"{test_c['normalised']:.2f} [{test_c['normalised_low']:.2f}, {test_c['normalised_high']:.2f}]"
                          if test_c is not None and not pd.isna(test_c["normalised"]) else "")
            findings.append(Finding(dataset, model, int(seed), method, text, float(row["mean"]), float(row["mean_low"]),
                                    float(row["mean_high"]), v_ceiling, v_floor,
                                    float(acc["accuracy"].iloc[0]) if len(acc) else float("nan"), normalised))
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
    bad = ig[ig["ig_not_converged"] > 0]
    if bad.empty:
        return "Integrated gradients met its completeness tolerance on every example of every run."
    parts = [f"{r.dataset}/{r.model}: {int(r.ig_not_converged)}" for r in bad.itertuples()]
    return ("Integrated gradients did not reach its completeness tolerance on some examples even at the maximum "
            "number of steps (" + "; ".join(parts) + "); their attributions are approximate. This happens when "
            "the model's output changes abruptly along the path from the baseline (a saturated, overconfident "
            "model); the gaps are in the diagnostics tables.")


def compact_png(path: Path) -> bytes:
    """The figure as a 256-colour PNG when that is smaller (about 4x for seaborn figures), else as is.

    Figures are flat colours, text and smooth colour maps, which 256 colours without dithering
    keep visually intact; the full-colour file stays beside the results.
    """
    from PIL import Image

    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                                dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(raw) else raw


def figure_tag(path: Path, caption: str) -> str:
    """An <figure> with the PNG embedded (see :func:`compact_png`), so the HTML opens offline as one file."""
    data = base64.b64encode(compact_png(path)).decode()
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_no rows_\n"
    head = "| " + " | ".join(map(str, frame.columns)) + " |\n|" + "---|" * len(frame.columns) + "\n"
    body = "".join("| " + " | ".join(_fmt(v) for v in row) + " |\n" for row in frame.itertuples(index=False))
    return head + body


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


METHODS_TEXT = [
    ("Explained output", "Every method explains the model's predicted class (not the gold label), through the "
     "softmax probability of that class. Subword scores are pooled to words (sum by default); special tokens "
     "([CLS], [SEP], padding) are excluded from every ranking."),
    ("Attention", "Raw attention is the [CLS] row (transformers) or the attention distribution over hidden states "
     "(RNNs). Summaries: last-layer head mean and all-layer mean (Jain & Wallace 2019); rollout multiplies "
     "residual-adjusted head-mean attention through the layers (Abnar & Zuidema 2020)."),
    ("Gradients (Captum)", "Saliency is the L2 norm of the gradient w.r.t. each word embedding; gradient x input sums "
     "gradient times embedding; integrated gradients (Sundararajan et al. 2017) integrates from a [PAD] baseline with "
     "special tokens kept, with the completeness gap sum(attr) - (f(x) - f(baseline)) recorded per example and steps "
     "doubled until it is below tolerance; the Jain & Wallace gradient holds attention fixed."),
    ("Leave-one-out", "The fall in predicted-class probability when a word is deleted, and separately when it is "
     "replaced by [MASK] (for RNNs a reserved <mask> input with a zero embedding, which unlike [UNK] is no "
     "word's own input; Captum FeatureAblation with word masks)."),
    ("Agreement", "Per instance: Kendall τ-b with its p-value (Jain & Wallace 2019 report the share with p < 0.05), "
     "Spearman ρ, weighted τ (top ranks count more), top-k overlap and the Jensen-Shannon divergence between the "
     "normalised score distributions. Attention is compared with |attribution| (variant abs); the signed variant is "
     "in the tables. Summaries are means with 95% studentised-bootstrap intervals and medians with order-statistic "
     "intervals over instances; rates get exact Clopper-Pearson intervals. The ceiling is the agreement between "
     "two causal methods, the floor that of a random ranking (the mean over agreement.floor_draws random rankings "
     "per example). Differences are decided by paired tests on the same examples (sign-flip, Holm within each "
     "family of comparisons); parity with the ceiling only by an equivalence test (TOST within "
     "agreement.equivalence_margin). JSD is in nats (at most ln 2)."),
]


def content_warnings(config: dict[str, Any]) -> list[str]:
    """A warning per dataset whose spec carries one (HateXplain), saying whether its texts are shown."""
    from analysis.data import content_warning

    shown = bool(config.get("report", {}).get("show_offensive_examples", False))
    warnings = []
    for name in config.get("datasets", {}):
        note = content_warning(config, name)
        if note:
            warnings.append(f"Content warning: {name} {note}. " + (
                "Its example texts appear in the token heatmaps below (report.show_offensive_examples: true)."
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
            roles.append(f"{verb} {kept:,}{of} ({row.get('split')}, {row.get('source')})")
        explain_n = config.get("datasets", {}).get(dataset, {}).get("explain_n")
        if explain_n:
            roles.append(f"{explain_n} explained per run")
        lines.append(f"{dataset}: " + "; ".join(roles) + ".")
    seeds = config.get("seeds", [])
    lines.append(f"{len(config.get('models', {}))} models x {len(seeds)} training seed(s) ({', '.join(map(str, seeds))}).")
    lines += [f"Reduced: {text}" for text in config.get("report", {}).get("reductions", [])]
    return lines


PROVENANCE_COLUMNS = ("settings", "versions")


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
        present = [c for c in PROVENANCE_COLUMNS if c in frame.columns]
        if present:
            values = frame.reindex(columns=list(PROVENANCE_COLUMNS)).fillna("").astype(str)
            short = {key: hashlib.sha1("\x1f".join(key).encode()).hexdigest()[:10]
                     for key in values.drop_duplicates().itertuples(index=False, name=None)}
            provenance.update({short_id: key for key, short_id in short.items()})
            ids = [short[key] for key in values.itertuples(index=False, name=None)]
            frame = frame.drop(columns=present).assign(provenance_id=ids)
        frame.to_csv(folder / f"{name}.csv", index=False, float_format="%.6g")
    if provenance:
        pd.DataFrame([(k, *v) for k, v in provenance.items()],
                     columns=["provenance_id", *PROVENANCE_COLUMNS]).to_csv(folder / "provenance.csv", index=False)


def write_summary(*, config: dict[str, Any], evaluation: pd.DataFrame, summary: pd.DataFrame,
                  comparisons: pd.DataFrame | None = None, diagnostics: pd.DataFrame, data_report: pd.DataFrame, figures: dict[str, str],
                  out_markdown: str, out_html: str, extra_tables: dict[str, pd.DataFrame] | None = None,
                  extra_figures: dict[str, str] | None = None, run_facts: dict[str, str] | None = None,
                  out_tables: str | None = None) -> list[Finding]:
    """Write the study summary as markdown and as one self-contained HTML file.

    ``extra_tables`` and ``extra_figures`` feed the sections that analyses register in
    :mod:`analysis.report.sections`.
    """
    from analysis.report.sections import build_sections

    # sections see the core tables too (accuracy beside published numbers, ...), by the same names
    core = {"evaluation": evaluation, "agreement_summary": summary, "comparisons": comparisons,
            "diagnostics": diagnostics, "data_report": data_report}
    sections = build_sections(config, {**core, **(extra_tables or {})}, extra_figures or {})
    reference = config["agreement"]["reference"]
    metric = config["figures"]["headline_metric"]
    findings = agreement_findings(summary, evaluation, reference=reference, metric=metric, comparisons=comparisons)
    accuracy = evaluation[["dataset", "model", "seed", "accuracy", "chance", "n_eval", "n_truncated", "max_length"]]
    headline = summary[(summary["metric"] == metric) & (summary["variant"] == "abs") & (summary["group_by"] == "all")
                       & ((summary["method_b"] == reference) | (summary["method_a"] == reference))]
    headline = headline.assign(pair=[f"{method_label(a)} vs {method_label(b)}"
                                     for a, b in zip(headline["method_a"], headline["method_b"])])
    headline = headline[["dataset", "model", "seed", "pair", "pair_kind", "n", "mean", "mean_low", "mean_high",
                         "median", "share_significant"]].sort_values(["dataset", "model", "seed", "pair_kind", "mean"])
    if "converged" not in diagnostics.columns:
        diagnostics = diagnostics.assign(converged=None)
    cost = (diagnostics.groupby(["dataset", "model", "method"])
            .agg(seconds_per_example=("seconds", "mean"), forward_passes=("forward_passes", "mean"),
                 ig_gap_median=("completeness_gap", lambda s: s.abs().median()),
                 ig_gap_max=("completeness_gap", lambda s: s.abs().max()),
                 ig_not_converged=("converged", _count_false))
            .reset_index()) if not diagnostics.empty else pd.DataFrame()
    provenance = {
        "study": config["study"], "config hash": settings_hash(config), "generated": dt.datetime.now().isoformat(
            timespec="seconds"), **hardware(), **(run_facts or {}), **library_versions(),
    }
    title = config.get("title", "Is attention an explanation?")

    md = [f"# {title}: study `{config['study']}`\n",
          "Does attention agree with causal importance, and how does that compare with the agreement among causal "
          "methods themselves (the ceiling) and with chance (the floor)? All numbers below are generated from the "
          "study's tables.\n", *[f"> **{text}**\n" for text in content_warnings(config)], "## Scope\n", *[f"- {line}" for line in scope_lines(config, data_report)],
          "\n## Key results\n",
          f"Agreement of each attention method with {method_label(reference)} "
          f"({metric_short_label(metric)} of |scores|, mean over explained examples); 'vs ceiling' and 'vs "
          "random floor' come from paired sign-flip tests on the same examples, corrected for multiple comparisons; "
          "'share of ceiling' is the normalised agreement.\n", markdown_table(key_results(findings)),
          "\n## Findings\n"]
    md += [f"- {f.text}" for f in findings] or ["- No attention-vs-causal comparisons were computed."]
    md += [f"- {text}" for section in sections for text in section.findings]
    md += ["\n## Model accuracy (evaluation split)\n", markdown_table(accuracy),
           f"\n## Agreement with {method_label(reference)} ({metric_short_label(metric)}, |scores|)\n",
           markdown_table(headline), "\n## Cost and integrated-gradients completeness\n", convergence_note(cost) + "\n", markdown_table(cost),
           *[f"\n## {section.title}\n\n{section.markdown}\n" for section in sections],
           "\n## Data\n", markdown_table(data_report), "\n## Methods\n"]
    md += [f"**{name}.** {text}\n" for name, text in METHODS_TEXT]
    md += ["\n## Provenance\n", markdown_table(pd.DataFrame(list(provenance.items()), columns=["what", "value"]))]
    if out_tables:
        write_csv_tables({"accuracy": accuracy, "agreement_with_reference": headline, "cost": cost,
                          "data": data_report, "comparisons": comparisons, "agreement_summary": summary,
                          **(extra_tables or {}), **{k: v for s in sections for k, v in s.tables.items()}},
                         Path(out_tables))
    Path(out_markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(out_markdown).write_text("\n".join(md))

    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, classes="t") if len(frame) \
            else "<p><em>no rows</em></p>"

    body = [f"<h1>{html.escape(title)}</h1><p class=sub>study <code>{html.escape(config['study'])}</code></p>",
            *[f"<p class=warn>{html.escape(text)}</p>" for text in content_warnings(config)],
            "<section id=scope><h2>Scope</h2><ul>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in scope_lines(config, data_report)) + "</ul></section>",
            "<section id=key-results><h2>Key results</h2><p>Agreement of each attention method with "
            f"{html.escape(method_label(reference))} ({html.escape(metric_short_label(metric))} of |scores|, mean "
            "over explained examples, 95% studentised-bootstrap interval). <em>vs ceiling</em> and <em>vs random floor</em> come from "
            "paired sign-flip tests on the same examples, corrected for multiple comparisons; <em>share of ceiling</em> "
            "is the normalised agreement.</p>" + table(key_results(findings)) + "</section>",
            "<section id=findings><h2>Findings</h2><ul>"
            + "".join(f"<li>{html.escape(f.text)}</li>" for f in findings)
            + "".join(f"<li>{html.escape(t)}</li>" for section in sections for t in section.findings)
            + "</ul></section>",
            "<section><h2>Model accuracy</h2>" + table(accuracy) + "</section>"]
    for caption, path in figures.items():
        if Path(path).exists():
            body.append("<section>" + figure_tag(Path(path), caption) + "</section>")
    body += [f"<section><h2>Agreement with {html.escape(method_label(reference))}</h2>" + table(headline) + "</section>",
             "<section><h2>Cost and completeness</h2><p>" + html.escape(convergence_note(cost)) + "</p>" + table(cost)
             + "</section>",
             *[f"<section><h2>{html.escape(section.title)}</h2>{section.html}</section>" for section in sections],
             "<section><h2>Data</h2>" + table(data_report) + "</section>",
             "<section><h2>Methods</h2>" + "".join(f"<p><b>{html.escape(n)}.</b> {html.escape(t)}</p>"
                                                    for n, t in METHODS_TEXT) + "</section>",
             "<section><h2>Provenance</h2>" + table(pd.DataFrame(list(provenance.items()), columns=["what", "value"]))
             + "<details><summary>config</summary><pre>" + html.escape(json.dumps(config, indent=1, default=str))
             + "</pre></details></section>"]
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table.t{border-collapse:collapse;font-size:.85em;margin:.5em 0}table.t td,table.t th{padding:.2em .6em;"
             "border-bottom:1px solid #ddd;text-align:left}figure img{max-width:min(100%,900px)}figcaption{color:#555;"
             "font-size:.9em}.sub{color:#666}li{margin:.4em 0}.warn{border-left:4px solid #c0392b;background:#fdf2f0;"
             "padding:.5em 1em;font-weight:600}")
    Path(out_html).write_text(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}"
                              f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
    return findings
