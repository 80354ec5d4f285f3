"""Stages of ``workflow/rules/report.smk``: published claims, study tables, the summary and its publication."""

from __future__ import annotations

import copy
import hashlib
import logging
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.logs import timed
from analysis.records import read_table, write_table
from analysis.stages.common import StageSettings, gather_tables

log = logging.getLogger(__name__)

STUDY_TABLES = {"evaluation": "evaluation", "summary": "agreement_summary", "comparisons": "comparisons",
                "diagnostics": "diagnostics", "data": "data_report"}
"""The study tables rule gather_study writes: its input and output name -> the kind of table."""


# ------------------------------------------------------------------------- claims
INTERVENTION_TESTS = ("permutation", "adversarial", "zeroing", "removal")
"""The per-run causal-test tables the claims read (written by the interventions rule)."""


@dataclass(frozen=True)
class ClaimsSettings(StageSettings):
    """What deciding the published claims reads: the ``claims`` block, the data seed and the models' entries."""

    level: float
    correction: str
    accuracy_margin: float
    n_permutations: int
    data_seed: int
    models: dict[str, dict[str, Any]]  # the claims match the study's models to the papers' by their entries

    reads = ("claims.level", "claims.correction", "claims.accuracy_margin", "claims.n_permutations", "data_seed",
             "models")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ClaimsSettings:
        block = config["claims"]
        return cls(level=block["level"], correction=block["correction"], accuracy_margin=block["accuracy_margin"],
                   n_permutations=block["n_permutations"], data_seed=int(config["data_seed"]),
                   models=copy.deepcopy(config["models"]))


def claim_tests(settings: ClaimsSettings, *, runs: Sequence[Sequence[Any]], agreement: Sequence[str],
                predictions: Sequence[str], interventions: dict[str, Sequence[str]],
                concentration: str | None, out: str) -> pd.DataFrame:
    """Decide every registered claim on every run; write the ``claim_tests`` table.

    ``runs`` lists (dataset, model, seed) in the order of the per-run path lists
    ``agreement``, ``predictions`` and each of ``interventions[test]`` (empty when the
    causal tests are disabled).
    """
    import analysis.published.directions  # noqa: F401  (registers the claims)
    from analysis.published.claims import ClaimData, ClaimSettings, decide

    keys = [(str(d), str(m), int(s)) for d, m, s in runs]
    data = ClaimData(
        {"models": settings.models}, agreement=dict(zip(keys, agreement)), predictions=dict(zip(keys, predictions)),
        interventions={key: {test: paths[i] for test, paths in interventions.items() if paths}
                       for i, key in enumerate(keys)},
        concentration=pd.read_parquet(concentration) if concentration else None)
    decided = ClaimSettings(level=settings.level, correction=settings.correction,
                            accuracy_margin=settings.accuracy_margin, n_permutations=settings.n_permutations,
                            seed=settings.data_seed)
    with timed(f"published claims on {len(keys)} runs ({decided.correction} within each claim)", log):
        table = decide(data, decided)
    for (claim, verdict), count in table.groupby(["claim", "verdict"]).size().items():
        log.info("%s: %d runs %s", claim, count, verdict)
    write_table(table, out)
    return table


# ---------------------------------------------------------------- study tables
def gather_study(inputs: dict[str, list[str]], outputs: dict[str, str]) -> None:
    """One study-wide table per kind of :data:`STUDY_TABLES` (``inputs`` and ``outputs`` keyed as it is); the
    agreement summary's intervals are intersected with each metric's declared range (a Kendall tau's within
    [-1, 1], where a length bucket of two examples gets a t-interval far wider)."""
    from analysis.metrics.agreement import METRICS

    ranges = {"agreement_summary": {name: metric.range for name, metric in METRICS.items()}}
    for key, table in STUDY_TABLES.items():
        gather_tables(list(inputs[key]), outputs[key], table=table, ranges=ranges.get(table))


def accuracy_figure(evaluation_path: str, out: str) -> None:
    """Accuracy of every model on the evaluation split, against the majority class."""
    from analysis.plots import figures

    figure = figures.accuracy_bars(read_table(evaluation_path, table="evaluation"))
    figure.savefig(out, bbox_inches="tight")


# ---------------------------------------------------------------------- summary
@dataclass(frozen=True)
class SummarySettings(StageSettings):
    """The whole config: the summary records its hash, and its sections read what they report from it."""

    config: dict[str, Any]

    reads = ("*",)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SummarySettings:
        return cls(config=copy.deepcopy(dict(config)))


def read_tables_once(paths: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Each named table, read once per file: names that share a file share one frame."""
    frames: dict[str, pd.DataFrame] = {}
    for name, path in paths.items():
        if path not in frames:
            frames[path] = read_table(path, table=name)
    return {name: frames[path] for name, path in paths.items()}


def study_summary(settings: SummarySettings, *, evaluation_path: str, summary_path: str, comparisons_path: str,
                  diagnostics_path: str, data_path: str, accuracy_figure: str, run_figures: list[str],
                  out_markdown: str, out_html: str, extra_tables: dict[str, str] | None = None,
                  extra_figures: dict[str, str] | None = None, out_tables: str | None = None,
                  examples_page: str | None = None, out_figures: str | None = None,
                  benchmarks: str | None = None) -> None:
    """Write the study summary (markdown and self-contained HTML) from the gathered tables.

    Figures go to the sections by key (``accuracy``, ``matrix/<dataset>/<model>/<seed>``,
    ``heatmaps/...``, and the keys of ``extra_figures``); ``examples_page`` is the per-example
    page the summary links, ``out_figures`` where it draws its own figures (the forest plot),
    ``benchmarks`` the study's benchmark folder (the cost table).
    """
    from analysis.report import write_summary

    config = settings.config
    figures = {"accuracy": accuracy_figure}
    first_seed = str(config["seeds"][0])
    for path in run_figures:
        parts = Path(path).parts
        dataset, model, seed = parts[-5], parts[-4], parts[-3]
        if seed != first_seed:
            continue  # one seed's per-run figures keep the report readable; every seed's are in results/
        if path.endswith("heatmaps.png") and not show_examples(config, dataset):
            continue  # content warning: examples of this dataset are shown only when the config asks
        kind = "matrix" if path.endswith("matrix.png") else "heatmaps"
        figures[f"{kind}/{dataset}/{model}/{seed}"] = path
    core = {"evaluation": evaluation_path, "agreement_summary": summary_path, "comparisons": comparisons_path,
            "diagnostics": diagnostics_path, "data_report": data_path}
    # one read per file: an extra table that names a core file (heads_comparisons) shares its frame
    tables = read_tables_once({**(extra_tables or {}), **core})
    with timed("writing the study summary", log):
        findings = write_summary(
            config=config, evaluation=tables["evaluation"], summary=tables["agreement_summary"],
            comparisons=tables["comparisons"], diagnostics=tables["diagnostics"],
            data_report=tables["data_report"], figures=figures,
            out_markdown=out_markdown, out_html=out_html,
            extra_tables={name: tables[name] for name in extra_tables or {}},
            extra_figures=dict(extra_figures or {}), out_tables=out_tables,
            run_facts=run_facts(evaluation_path), examples_page=examples_page, out_figures=out_figures,
            benchmarks=benchmarks,
        )
    for finding in findings:
        log.info("finding: %s", finding.text)


@dataclass(frozen=True)
class ExamplesSettings(StageSettings):
    """What the per-example page reads: the title, the datasets (content warnings) and the report switches."""

    config: dict[str, Any]  # title, study, datasets, report

    reads = ("title", "study", "datasets", "report")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ExamplesSettings:
        return cls(config={key: copy.deepcopy(config[key]) for key in ("title", "study", "datasets", "report")
                           if key in config})


def examples_page(settings: ExamplesSettings, *, importance_paths: list[str], out_html: str,
                  explain: Sequence[str] = ()) -> None:
    """The per-example page: explained examples' words coloured by each method's signed score (the first of
    each dataset's explain order, so they are among the published data's sample)."""
    from analysis.report.data import explain_order
    from analysis.report.examples import known_causes, write_examples_page

    with timed(f"writing the per-example page from {len(importance_paths)} runs", log):
        write_examples_page(settings.config, importance_paths=importance_paths, out_html=out_html,
                            order=explain_order(explain) or None, known=known_causes(settings.config, explain))


def show_examples(config: dict[str, Any], dataset: str) -> bool:
    """Whether the report may show example texts of ``dataset`` (HateXplain holds slurs by design)."""
    from analysis.data import content_warning

    return not content_warning(config, dataset) or bool(config.get("report", {}).get("show_offensive_examples", False))


def run_facts(evaluation_path: str) -> dict[str, str]:
    """Wall time of the study so far (from its first data table) and where its results are."""
    root = Path(evaluation_path).parent.parent
    starts = [p.stat().st_mtime for p in (root / "data").glob("*/train.parquet")]
    facts = {"results folder": str(root)}
    if starts:
        facts["wall time since data preparation (s)"] = f"{time.time() - min(starts):.0f}"
    for folder in sorted(p for p in (root / "data").glob("*") if p.is_dir()):
        facts[f"data fingerprint {folder.name}"] = data_fingerprint(folder)
    return facts


def data_fingerprint(folder: Path) -> str:
    """sha256 (first 16 hex digits) of a dataset's prepared examples: ids, texts and labels of every split."""
    digest = hashlib.sha256()
    for name in ("train", "eval", "explain"):
        path = folder / f"{name}.parquet"
        if path.exists():
            frame = pd.read_parquet(path, columns=["example_id", "text", "label"])
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------- publish
@dataclass(frozen=True)
class PublishSettings(StageSettings):
    """What publishing reads: the title, and the datasets and report switches (content warnings, licences)."""

    title: str
    config: dict[str, Any]  # datasets and report: which words the published data may hold

    reads = ("title", "datasets", "report")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PublishSettings:
        return cls(title=config["title"],
                   config={key: copy.deepcopy(config[key]) for key in ("datasets", "report") if key in config})


def publish(settings: PublishSettings, *, html: str, markdown: str, tables: str, out: str,
            config_files: list[str], examples: str | None = None, importance: Sequence[str] = (),
            agreement: Sequence[str] = (), explain: Sequence[str] = (), receipt: str | None = None) -> list[Path]:
    """Copy the summary (HTML, markdown, CSV tables, figures), the per-example page and the per-example data
    (parquet with a data card) to ``out`` with a README naming the command that rebuilds it.

    ``explain`` (each dataset's explain table) gives the order a sample of the data follows
    where all of it does not fit the report's budget. ``receipt`` (the rule's output: the
    folder is not, so that Snakemake neither deletes the previous report before the job nor
    leaves its timestamp file in the new one) lists the folder and the files published.
    """
    from analysis.provenance import CODE_PATHS, code_version
    from analysis.report.data import explain_order
    from analysis.report.publish import publish_report

    order = explain_order(explain)

    # the target goes first: --configfile and --config take every word after them
    # several files follow one --configfile: Snakemake keeps only the last of repeated --configfile flags
    command = " ".join(["HF_HUB_OFFLINE=1 snakemake publish --cores all",
                        *(["--configfile", *map(shlex.quote, config_files)] if config_files else [])])
    written = publish_report(html=Path(html), markdown=Path(markdown), tables=Path(tables), out=Path(out),
                             title=settings.title, command=command, config_files=list(config_files),
                             code=code_version(Path.cwd(), ignore=(str(out),), paths=CODE_PATHS),
                             examples=Path(examples) if examples else None, importance=list(importance),
                             agreement=list(agreement), config=settings.config, order=order)
    log.info("published %d files to %s", len(written), out)
    if receipt is not None:
        Path(receipt).parent.mkdir(parents=True, exist_ok=True)
        Path(receipt).write_text("\n".join([f"published to {out}", *(str(path) for path in written)]) + "\n")
    return written
