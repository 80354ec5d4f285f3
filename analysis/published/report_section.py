"""The study summary's comparison with published findings.

For every registered :class:`~analysis.published.claims.PublishedClaim` with data in
this study: the published direction, our test, a table of our numbers and verdicts per
dataset x model, and, where we differ, the likely reasons. One finding per claim joins
the summary's findings list.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from analysis.attention.concentration import NEAR_UNIFORM_TVD, near_uniform_runs
from analysis.published.claims import DIFFERS, MIXED, PUBLISHED_CLAIMS, Outcome, PublishedClaim
from analysis.published.directions import summarise
from analysis.report.sections import REPORT_SECTIONS, Section
from analysis.report.summary import markdown_table

INTRO = ("Each row puts a direction a paper reported beside this study's numbers. A verdict compares 95% bootstrap "
         "intervals, never point estimates: *agrees* when the interval lies on the published side, *differs* when it "
         "lies on the other side, *unresolved* when it straddles (too few examples to tell); a run's verdict is "
         "taken per training seed and the row shows the verdict a majority of seeds share (*mixed* when seeds point "
         "both ways). Our numbers are seed means, with the range of the seeds' intervals in brackets. Where we "
         "differ, the likely reasons follow the table; the reductions listed at the top of this report apply "
         "throughout.")


def outcome_table(outcomes: list[Outcome], caveats: dict[tuple[str, str], str] | None = None) -> pd.DataFrame:
    caveats = caveats or {}
    return pd.DataFrame([{"dataset": o.dataset, "model": o.model, "ours": o.ours, "verdict": o.verdict,
                          "seeds": o.seed_text, "caveat": caveats.get((o.dataset, o.model), "")} for o in outcomes],
                        columns=["dataset", "model", "ours", "verdict", "seeds", "caveat"])


def uniform_caveats(claim: PublishedClaim, outcomes: list[Outcome], tables: dict[str, pd.DataFrame]) -> dict[tuple[str, str], str]:
    """(dataset, model) -> caveat, where the claim's attention method was near uniform in some seeds."""
    if claim.vacuous_if_uniform is None:
        return {}
    flagged = near_uniform_runs(tables.get("attention_concentration"), [claim.vacuous_if_uniform])
    caveats = {}
    for o in outcomes:
        seeds = sorted(seed for dataset, model, seed in flagged if (dataset, model) == (o.dataset, o.model))
        if seeds:
            caveats[(o.dataset, o.model)] = (f"vacuous: attention near uniform in {len(seeds)} of "
                                             f"{len(o.seed_verdicts)} seeds")
    return caveats


def evaluate_claims(config: dict[str, Any], tables: dict[str, pd.DataFrame]) -> list[tuple[str, Any, list[Outcome]]]:
    """(name, claim, outcomes) for every registered claim with data in this study (registered on import of
    :mod:`analysis.published.directions`, above)."""
    evaluated = []
    for name, claim in PUBLISHED_CLAIMS.items():
        outcomes = claim.evaluate(tables, config)
        if outcomes:
            evaluated.append((name, claim, outcomes))
    return sorted(evaluated, key=lambda item: item[1].order)


@REPORT_SECTIONS.register("published")
def published_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                      figures: dict[str, str]) -> Section | None:
    """Our numbers beside the published directions, or None when no claim has data."""
    evaluated = evaluate_claims(config, tables)
    if not evaluated:
        return None
    md, body, findings, rows = [INTRO, ""], [f"<p>{html.escape(INTRO).replace('*', '')}</p>"], [], []
    for _, claim, outcomes in evaluated:
        caveats = uniform_caveats(claim, outcomes, tables)
        frame = outcome_table(outcomes, caveats)
        rows.append(frame.assign(claim=claim.source, published=claim.published))
        differing = [o for o in outcomes if o.verdict in (DIFFERS, MIXED)]
        vacuous = ""
        if caveats:
            where = ", ".join(f"{d} / {m}" for d, m in caveats)
            vacuous = f"; vacuous on {len(caveats)} of them, where attention is near uniform ({where})"
        findings.append(f"Published direction ({claim.source}): \"{claim.published}\" Verdicts here: "
                        f"{summarise(outcomes)} dataset x model combinations{vacuous}.")
        md += [f"### {claim.source}\n", f"**Published:** {claim.published}\n", f"**Our test:** {claim.test}\n",
               markdown_table(frame)]
        body += [f"<h3>{html.escape(claim.source)}</h3>", f"<p><b>Published:</b> {html.escape(claim.published)}</p>",
                 f"<p><b>Our test:</b> {html.escape(claim.test)}</p>",
                 frame.to_html(index=False, border=0, classes="t")]
        if caveats:
            note = (f"Vacuous rows: where the attention is near uniform (mean TVD from uniform at most "
                    f"{NEAR_UNIFORM_TVD}), no permutation can move more than {2 * NEAR_UNIFORM_TVD:.0%} of its weight, "
                    f"so an unchanged output says nothing about whether attention explains the prediction "
                    f"(see Attention concentration).")
            md.append(f"\n{note}\n")
            body.append(f"<p>{html.escape(note)}</p>")
        if differing:
            where = ", ".join(f"{o.dataset} / {o.model}" for o in differing)
            md.append(f"\n**Where we differ ({where}), likely reasons:** {claim.reasons}\n")
            body.append(f"<p><b>Where we differ</b> ({html.escape(where)}), <b>likely reasons:</b> "
                        f"{html.escape(claim.reasons)}</p>")
    return Section("Comparison with published findings", "\n".join(md), "".join(body), findings=findings, order=10,
                   tables={"published_comparison": pd.concat(rows, ignore_index=True)})
