"""Study-summary section: how concentrated each model's attention is, and where it is near uniform."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.attention.concentration import NEAR_UNIFORM_TVD
from analysis.config import rnn_models
from analysis.plots.style import method_label
from analysis.report.document import Figure, Findings, Paragraph, Section, Table
from analysis.report.sections import REPORT_SECTIONS, figures_by_key

FIGURE = "attention_concentration"  # the key of the workflow's attention_concentration figure

INTRO = ("How peaked is each attention method? Per example, over the words it scores (renormalised to sum to one, "
         "since special tokens are excluded): the largest weight beside the uniform weight 1/n, their ratio, the "
         "entropy over log n (1 = uniform) and the total-variation distance from uniform, which bounds what any "
         "permutation can do: TVD(p, permuted p) <= 2 TVD(p, uniform). Attention is marked near uniform when its mean "
         f"distance from uniform is at most {NEAR_UNIFORM_TVD} (averaged over examples, no permutation can then move "
         f"more than {2 * NEAR_UNIFORM_TVD:.0%} of the weight; a single example can be further from uniform). For "
         "such a model the claims about moving attention's weights (permuting, zeroing, replacing them) are vacuous, "
         "and so are the claims that attention ranks words worse than causal methods do (weights that barely vary "
         "barely act, so the model is close to its uniform-attention twin): rank agreement is still measured and "
         "shown, but an agreeing verdict there is never counted as support. Numbers are means over seeds; n counts the examples of all seeds.")


def seed_means(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x model x method: the seed means and how many seeds were near uniform."""
    grouped = summary.groupby(["dataset", "model", "method"], sort=True)
    table = grouped.agg(seeds=("seed", "nunique"), n=("n", "sum"), max_weight=("mean_max_weight", "mean"),
                        uniform_weight=("mean_uniform_weight", "mean"), max_ratio=("mean_max_ratio", "mean"),
                        entropy=("mean_normalised_entropy", "mean"), tvd_from_uniform=("mean_tvd_from_uniform", "mean"),
                        near_uniform_seeds=("near_uniform", "sum")).reset_index()
    table["near_uniform_seeds"] = table["near_uniform_seeds"].astype(int)
    return table


@REPORT_SECTIONS.register("attention_concentration")
def concentration_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                          figures: dict[str, str]) -> Section | None:
    summary = tables.get("attention_concentration")
    if summary is None or summary.empty:
        return None
    table = seed_means(summary)
    controls = rnn_models(config, uniform=True)  # attention frozen to uniform by construction
    learned = table[~table["model"].isin(controls)]
    flagged = learned[learned["near_uniform_seeds"] > 0]
    findings = []
    if not flagged.empty:
        parts = [f"{r.dataset} / {r.model} / {method_label(r.method)} (TVD from uniform {r.tvd_from_uniform:.3f}, "
                 f"largest weight {r.max_weight:.3g} against 1/n {r.uniform_weight:.3g}; "
                 + (f"{r.near_uniform_seeds} of {r.seeds} seeds)" if r.seeds > 1 else "its one seed)")
                 for r in flagged.itertuples()]
        findings.append("Learned attention that is near uniform, so that permuting it is vacuous and its rankings "
                        "are near-ties: " + "; ".join(parts) + ".")
    borderline = summary[~summary["model"].isin(controls)
                         & (summary["mean_tvd_from_uniform_low"] <= NEAR_UNIFORM_TVD)
                         & (summary["mean_tvd_from_uniform_high"] > NEAR_UNIFORM_TVD)]
    if not borderline.empty:
        parts = [f"{r.dataset} / {r.model} / seed {r.seed} / {method_label(r.method)} {r.mean_tvd_from_uniform:.4f} "
                 f"[{r.mean_tvd_from_uniform_low:.4f}, {r.mean_tvd_from_uniform_high:.4f}]"
                 + (" (marked near uniform)" if r.near_uniform else " (not marked)")
                 for r in borderline.sort_values(["dataset", "model", "seed", "method"]).itertuples()]
        findings.append(f"At the threshold: these runs' 95% interval of the mean distance from uniform contains "
                        f"{NEAR_UNIFORM_TVD}, so whether their weight claims count as vacuous rests on the point "
                        "estimate (the threshold itself is a convention): " + "; ".join(parts) + ".")
    checked = table[table["model"].isin(controls)]
    if not checked.empty:
        worst = float(checked["tvd_from_uniform"].max())
        findings.append(f"The frozen-uniform controls measure a largest distance from uniform of "
                        f"{'0' if worst == 0 else f'{worst:.1e}'}, as they must.")
    shown = table.assign(method=table["method"].map(method_label))
    figures = figures_by_key(figures)
    blocks = [Paragraph(INTRO)]
    if findings:
        blocks.append(Findings(findings))
    if FIGURE in figures:
        blocks.append(Figure(figures[FIGURE], "Attention concentration: each example's distance of attention from "
                             f"uniform (dashed: near uniform, at most {NEAR_UNIFORM_TVD}). Left of the line a "
                             "permutation test is vacuous.", key=FIGURE))
    blocks.append(Table(shown, caption="Concentration of each attention method, seed means"))
    return Section("Attention concentration", blocks, findings=findings, order=18)
