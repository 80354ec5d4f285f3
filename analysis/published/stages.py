"""Stage of the published-claims test (the workflow's ``claims`` rule calls this)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis.logs import timed
from analysis.published.claims import ClaimData, ClaimSettings, decide
from analysis.records import write_table

log = logging.getLogger("analysis.published")

INTERVENTION_TESTS = ("permutation", "adversarial", "zeroing", "removal")
"""The per-run causal-test tables the claims read (written by the interventions rule)."""


def claim_tests(config: dict[str, Any], *, runs: Sequence[Sequence[Any]], agreement: Sequence[str],
                predictions: Sequence[str], interventions: dict[str, Sequence[str]],
                concentration: str | None, out: str) -> pd.DataFrame:
    """Decide every registered claim on every run; write the ``claim_tests`` table.

    ``runs`` lists (dataset, model, seed) in the order of the per-run path lists
    ``agreement``, ``predictions`` and each of ``interventions[test]`` (empty when the
    causal tests are disabled).
    """
    import analysis.published.directions  # noqa: F401  (registers the claims)

    keys = [(str(d), str(m), int(s)) for d, m, s in runs]
    data = ClaimData(
        config, agreement=dict(zip(keys, agreement)), predictions=dict(zip(keys, predictions)),
        interventions={key: {test: paths[i] for test, paths in interventions.items() if paths}
                       for i, key in enumerate(keys)},
        concentration=pd.read_parquet(concentration) if concentration else None)
    settings = ClaimSettings.from_config(config)
    with timed(f"published claims on {len(keys)} runs ({settings.correction} within each claim)", log):
        table = decide(data, settings)
    for (claim, verdict), count in table.groupby(["claim", "verdict"]).size().items():
        log.info("%s: %d runs %s", claim, count, verdict)
    write_table(table, out)
    return table
