"""The study summary's comparison with published findings, from the ``claim_tests`` table.

For every claim with data in this study: the published direction, our test (named: exact
binomial, paired sign-flip, equivalence), a table of our numbers and verdicts per
dataset x model (replication rows first, then extensions), the n a decision would need
where none was reached, and, where we differ, the likely reasons. One finding per claim
joins the summary's findings list; the verdict counts count replication and extension
rows separately and never count vacuous rows as support.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from analysis.attention.concentration import NEAR_UNIFORM_TVD
from analysis.published.claims import (
    AGREES,
    DIFFERS,
    DOUBTFUL,
    EXTENSION,
    INCONCLUSIVE,
    MIXED,
    PUBLISHED_CLAIMS,
    REPLICATION,
    ROW_RULE,
    UNTESTABLE,
    VACUOUS,
    VERDICTS,
    ClaimSettings,
    outcomes,
    summarise,
)
from analysis.report.document import Block, Findings, Group, Paragraph, Section, Table
from analysis.report.methods import POWER_ID
from analysis.report.sections import REPORT_SECTIONS
from analysis.stats.paired import corrected_label, correction_name


def intro(settings: ClaimSettings) -> str:
    return (
        "Each row puts a direction a paper reported beside this study's numbers. Every claim is decided per run "
        "(dataset x model x training seed) by a test on the same examples that fits it: an exact binomial test for "
        "a share (with a Clopper-Pearson interval), a paired sign-flip test when two quantities are compared on the "
        "same examples (with a studentised-bootstrap interval of the mean difference), an equivalence test "
        f"(TOST, each side at half the level) for \"about as accurate\" (margin {settings.accuracy_margin:g}). p-values are corrected with "
        f"{correction_name(settings.correction)} correction within "
        f"each claim, separately for the paper's own setting (replication) and for extensions, at level "
        f"{1 - settings.level:g}. A run *agrees* or *differs* when its corrected test rejects on the published or "
        "the other side; it is *inconclusive* when the test could have decided at this n but did not (the table "
        "gives the n that 80% power at the observed effect would take), *untestable* when no outcome at this n "
        "could reach the level, and *vacuous* when it agrees but the model's attention is near uniform "
        f"(mean distance from uniform at most {NEAR_UNIFORM_TVD}; see Attention concentration), which makes the "
        "test uninformative (each claim says why): vacuous rows are never counted as support. " + ROW_RULE + " Our numbers are the seed mean of "
        f"the estimate, with the range of the seeds' {settings.level:.0%} intervals in brackets.")


def _table(rows: pd.DataFrame) -> pd.DataFrame:
    fuller = rows["power_in_fuller_search"] if "power_in_fuller_search" in rows else pd.Series(False, index=rows.index)
    shown = rows.assign(
        n_needed=[("" if not np.isfinite(v) else f"{int(v):,}" + (" (of the fuller search)" if f else ""))
                  for v, f in zip(rows["n_needed"], fuller)],
    )
    columns = {"dataset": "dataset", "model": "model", "estimate_label": "estimate", "ours": "ours", "n": "n",
               "p_adjusted": "p (corrected)", "seeds": "seeds", "verdict": "verdict", "n_needed": "n for 80% power"}
    if shown["compares_with"].astype(str).str.len().gt(0).any():
        columns["compares_with"] = "compares with"
    return shown[list(columns)].rename(columns=columns)


def _finding(claim, rows: pd.DataFrame) -> str:
    parts = []
    for scope in (REPLICATION, EXTENSION):
        part = rows[rows["scope"] == scope]
        if len(part):
            parts.append(f"{scope} {summarise(part)}")
    return (f"Published direction ({claim.source}): \"{claim.published}\" Verdicts here: " + "; ".join(parts)
            + " dataset x model combinations.")


PLURAL = {"agrees": "agree", "differs": "differ"}  # "3 agree, 1 differs": counts of rows, plural beyond one


def claim_anchor(name: str) -> str:
    """The id of a claim's subsection (the verdict table links to it)."""
    return f"claim-{name.replace('_', '-')}"


def claim_title(name: str, source: str) -> str:
    """A short name for a claim: its paper (author, year) and the registered name without the paper's prefix."""
    words = name.split("_", 1)[-1].replace("_", " ")
    return f"{source.split(',')[0]}: {words}"


VERDICT_MEANINGS = {
    AGREES: "the corrected test decided on the paper's side (most seeds)",
    DIFFERS: "on the other side",
    MIXED: "seeds decided both ways",
    INCONCLUSIVE: "could have decided at this n, did not",
    UNTESTABLE: "could not decide at this n",
    VACUOUS: "agrees, but on near-uniform attention",
}
"""The verdict words, defined under the first screen's verdict table (the rules in full: the section intro)."""


def verdict_legend(verdicts: set[str]) -> str:
    """'Agrees: ...; differs: ...' for the verdicts that occur, in :data:`VERDICTS` order."""
    text = "; ".join(f"{v}: {VERDICT_MEANINGS[v]}" for v in VERDICTS if v in verdicts)
    return text[:1].upper() + text[1:]


def verdict_table(rows: pd.DataFrame, *, correction: str = "holm") -> tuple[Table, str]:
    """Claims x verdicts: how many dataset x model rows of each scope got each verdict; and a sentence giving the
    totals, which opens the table's caption (then the tests, the correction and the verdict words that occur).

    One row per claim and scope (replication: the paper's own setting; extension: other models
    or datasets); each claim links to its subsection; zero counts are blank. ``rows`` is :func:`outcomes`.
    """
    records = []
    for _, claim_rows in rows.groupby("order", sort=True):
        name = claim_rows["claim"].iloc[0]
        link = f"[{claim_title(name, claim_rows['source'].iloc[0])}](#{claim_anchor(name)})"
        for scope in (REPLICATION, EXTENSION):
            part = claim_rows[claim_rows["scope"] == scope]
            if part.empty:
                continue
            counts = Counter(part["verdict"])
            records.append([link, scope, *[str(counts[v]) if counts[v] else "" for v in VERDICTS]])
            link = ""  # the claim is named on its first row only
    frame = pd.DataFrame(records, columns=["claim", "scope", *VERDICTS])
    parts = []
    for scope in (REPLICATION, EXTENSION):
        counts = Counter(rows.loc[rows["scope"] == scope, "verdict"])
        if counts:
            listed = ", ".join(f"{counts[v]} {PLURAL.get(v, v) if counts[v] != 1 else v}" for v in VERDICTS if counts[v])
            where = "in the papers' own settings" if scope == REPLICATION else "in extensions"
            parts.append(f"{where}, {listed} (of {sum(counts.values())})")
    n_claims = rows["claim"].nunique()
    meanings = {PUBLISHED_CLAIMS.get(name).agreeing_means for name in rows["claim"].unique()
                if name in PUBLISHED_CLAIMS}
    doubtful = sum(PUBLISHED_CLAIMS.get(name).agreeing_means == DOUBTFUL for name in rows["claim"].unique()
                   if name in PUBLISHED_CLAIMS)
    meaning = (f" (a row that agrees: {meanings.pop()})" if len(meanings) == 1
               else f" (a row that agrees finds the paper's direction; for {doubtful} of the {n_claims} claims that "
                    f"also means {DOUBTFUL})" if doubtful else "")
    sentence = (f"Dataset x model rows of the {n_claims} published claim{'s' if n_claims != 1 else ''} "
                f"tested{meaning}: " + "; ".join(parts) + ".")
    table = Table(frame, caption=f"{sentence} Paired, exact or equivalence tests, {corrected_label(correction)}, "
                  "with each paper's own methods (the lead and the forest plot use the study's ceiling). "
                  f"{verdict_legend(set(rows['verdict']))}" + _vacuous_note(rows) + ".",
                  folded=False, sortable=False, filterable=False, markup=("claim",),
                  column_classes={"claim": "claim", **{v: v for v in VERDICTS}}, id="verdicts")
    return table, sentence


def _vacuous_note(rows: pd.DataFrame) -> str:
    """The caption's note on vacuous rows, naming the model they share (a row of a model comparison names
    both models, 'a vs b'), or every model where they share none; empty without vacuous rows."""
    models = [set(str(m).split(" vs ")) for m in rows.loc[rows["verdict"] == VACUOUS, "model"]]
    if not models:
        return ""
    shared = set.intersection(*models)
    names = f"all on {', '.join(sorted(shared))}" if shared else ", ".join(sorted(set.union(*models)))
    return f" (here {names}; never counted as support)"


@REPORT_SECTIONS.register("published")
def published_section(config: dict[str, Any], tables: dict[str, pd.DataFrame],
                      figures: dict[str, str]) -> Section | None:
    """Our numbers beside the published directions, or None when no claim has data."""
    tests = tables.get("claim_tests")
    if tests is None or tests.empty:
        return None
    import analysis.published.directions  # noqa: F401  (registers the claims)

    settings = ClaimSettings.from_config(config)
    rows = outcomes(tests)
    findings: list[str] = []
    claims: list[Block] = []
    for _, claim_rows in rows.groupby("order", sort=True):
        name = claim_rows["claim"].iloc[0]
        claim = PUBLISHED_CLAIMS.get(name)
        findings.append(_finding(claim, claim_rows))
        run_test = tests.loc[tests["claim"] == name, "test"].iloc[0]
        blocks: list[Block] = [Paragraph(f"**Published:** {claim.published}"),
                               Paragraph(f"**Our test ({run_test}):** {claim.test}")]
        if claim.scope_note:
            blocks.append(Paragraph(f"*Scope:* {claim.scope_note}"))
        for scope in (REPLICATION, EXTENSION):
            part = claim_rows[claim_rows["scope"] == scope]
            if part.empty:
                continue
            blocks.append(Table(_table(part), caption=f"**{scope.capitalize()}** ({summarise(part)})"))
        notes = []
        if (claim_rows["verdict"] == VACUOUS).any() or claim_rows["near_uniform_seeds"].gt(0).any():
            where = ", ".join(f"{r.dataset} / {r.model}" for r in claim_rows.itertuples() if r.near_uniform_seeds)
            notes.append(f"Near-uniform attention in some seeds of: {where}. {claim.uniform_note}; those seeds' "
                         f"agreeing tests are marked vacuous and not counted as support.")
        for scope in (REPLICATION, EXTENSION):
            untestable = claim_rows[(claim_rows["verdict"] == UNTESTABLE) & (claim_rows["scope"] == scope)]
            if untestable.empty:
                continue
            keys = set(zip(untestable["dataset"], untestable["model"]))
            seeds = tests[(tests["claim"] == name) & (tests["scope"] == scope) & (tests["verdict"] == UNTESTABLE)
                          & np.array([(d, m) in keys for d, m in zip(tests["dataset"], tests["model"])])]
            n_min = seeds["n_min"].replace(np.inf, np.nan)
            if n_min.notna().any():
                unit = ("non-zero paired differences" if seeds["test"].str.contains("sign-flip").any()
                        else "examples")
                where = ", ".join(f"{d} / {m}" for d, m in sorted(keys))
                notes.append(f"Untestable {scope} rows ({where}): at their n no outcome could reach the level after "
                             f"the correction within this claim's {scope} runs; the test needs at least "
                             f"{int(np.nanmax(n_min)):,} {unit} per run to decide at all.")
        differing = claim_rows[claim_rows["verdict"].isin([DIFFERS, MIXED])]
        if len(differing):
            where = ", ".join(f"{r.dataset} / {r.model}" for r in differing.itertuples())
            notes.append(f"**Where we differ ({where}), likely reasons:** {claim.reasons}")
        blocks += [Paragraph(note) for note in notes]
        claims.append(Group(claim_title(name, claim.source), blocks, id=claim_anchor(name)))
    verdicts, _ = verdict_table(rows, correction=settings.correction)  # its caption opens with the totals
    blocks = [Paragraph(intro(settings)), Findings(findings), *claims,
              Paragraph(f"The n each kind of test needs for 80% power, the sample sizes of every run and the tests "
                        f"that could not decide at theirs: [Methods, sample sizes and power](#{POWER_ID}).")]
    return Section("Comparison with published findings", blocks, findings=findings, order=10, id="published",
                   tables={"published_comparison": rows, "claim_tests": tests}, front=[verdicts])


import analysis.published.replication_section  # noqa: E402, F401  (registers the replication table section)
