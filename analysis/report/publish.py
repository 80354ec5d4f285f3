"""Publish a finished study report into the repository: ``reports/<study>/``.

The workflow's report lives under ``results/<study>/study/`` beside data and model weights,
which are not committed. Publishing copies what a reader needs and checks its size:

- ``summary.html`` (self-contained, figures embedded) and ``summary.md``, whose figures are
  written beside it, downsampled, into ``figures/`` with every link rewritten by the one helper
  :func:`~analysis.report.document.relative_link`, so the markdown renders on GitHub;
- ``examples.html``, the per-example view, where the study made one;
- ``tables/``: the compact CSV tables (gzip above ``gzip_above`` bytes);
- ``data/``: per-example importance scores, their words and per-instance agreement as parquet
  (zstd), described by ``DATA.md`` (columns, units, provenance, licences), where the per-run
  tables are given;
- ``README.md``: which code and configuration produced them and the command that regenerates them.

:func:`check_sizes` refuses (or logs, with ``on_oversize="warn"``) a report whose summary is over
:data:`MAX_HTML_BYTES`, whose per-example page is over :data:`MAX_EXAMPLES_BYTES` or whose folder is
over :data:`MAX_TOTAL_BYTES`, naming the largest files and advising by what is large. The report is
built in a temporary folder beside ``out`` and takes its place only once it passes, so a refused
publish leaves the previous report as it was.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import logging
import re
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.report.document import HTML_BUDGET_BYTES, compact_png, relative_link
from analysis.report.examples import MAX_BYTES as EXAMPLES_BUDGET_BYTES

log = logging.getLogger(__name__)

PUBLISHED_TABLE_SUFFIX = ".csv"
GZIP_ABOVE_BYTES = 2_000_000
MAX_HTML_BYTES = HTML_BUDGET_BYTES
MAX_EXAMPLES_BYTES = EXAMPLES_BUDGET_BYTES
MAX_TOTAL_BYTES = 25_000_000
DATA_RESERVE_BYTES = 200_000
"""Of the folder's budget, what the data leave for the files written after them (README, DATA.md, provenance)."""
IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


class ReportSizeError(ValueError):
    """A published report is over its size budget."""


NOT_RECORDED = "not recorded"


def job_commits(tables: Path) -> list[str]:
    """The code commits the published tables' jobs ran under, from ``provenance.csv`` (its ``versions``
    column's ``code``), in first-seen order; :data:`NOT_RECORDED` for jobs that predate the record."""
    path = next((p for p in (tables / "provenance.csv", tables / "provenance.csv.gz") if p.exists()), None)
    if path is None:
        return []
    table = pd.read_csv(path)
    if "versions" not in table:
        return []
    seen: dict[str, None] = {}
    for versions in table["versions"].dropna():
        try:
            seen.setdefault(str(json.loads(versions).get("code", NOT_RECORDED)), None)
        except (ValueError, AttributeError):
            continue
    return list(seen)


def _figure_name(link: str, taken: set[str]) -> str:
    """A flat, unique file name for a linked figure (``../sst2/minilm/0/figures/matrix.png`` -> ``sst2-minilm-0-matrix.png``)."""
    parts = [p for p in Path(link).with_suffix("").parts if p not in ("..", ".", "figures", "study")]
    name = "-".join(parts) or "figure"
    candidate, n = f"{name}.png", 2
    while candidate in taken:
        candidate, n = f"{name}-{n}.png", n + 1
    taken.add(candidate)
    return candidate


def publish_markdown(markdown: Path, out: Path) -> list[Path]:
    """Copy ``markdown`` to ``out/summary.md`` with its figures downsampled into ``out/figures/``; every link rewritten.

    A link that does not resolve raises: the summary would render with a broken image.
    """
    text = markdown.read_text()
    target = out / "summary.md"
    written: dict[Path, Path] = {}
    taken: set[str] = set()

    def replace(match: re.Match) -> str:
        alt, link = match[1], match[2]
        if "://" in link or link.startswith("data:"):
            return match[0]
        source = (markdown.parent / link.replace("%20", " ").replace("%28", "(").replace("%29", ")")).resolve()
        if not source.is_file():
            raise FileNotFoundError(f"cannot publish {markdown}: its figure link {link!r} does not resolve "
                                    f"({source} is missing); rerun the summary (snakemake --forcerun summary ...)")
        if source not in written:
            written[source] = out / "figures" / _figure_name(link, taken)
            written[source].parent.mkdir(parents=True, exist_ok=True)
            written[source].write_bytes(compact_png(source))
        return f"![{alt}]({relative_link(written[source], target)})"

    target.write_text(IMAGE_LINK.sub(replace, text))
    return [target, *written.values()]


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _largest(folder: Path, n: int = 6) -> str:
    """The ``n`` largest files under ``folder`` with their sizes, largest first."""
    largest = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size)[:n]
    return ", ".join(f"{p.relative_to(folder).as_posix()} {p.stat().st_size / 1e6:.1f} MB" for p in largest)


def check_sizes(out: Path, *, max_html: int = MAX_HTML_BYTES, max_total: int = MAX_TOTAL_BYTES,
                max_examples: int = MAX_EXAMPLES_BYTES, on_oversize: str = "raise",
                name: Path | None = None) -> dict[str, int]:
    """The published report's sizes; raises :class:`ReportSizeError` (or logs) where one is over its budget.

    ``summary.html`` and ``examples.html`` each have their own budget, the folder another. The advice
    follows the cause: the summary, figures and tables alone over the folder's budget, or the data.
    ``name`` is the folder messages name (the final folder, where ``out`` is a temporary one).
    """
    name = name or out
    sizes = {page: (out / page).stat().st_size if (out / page).exists() else 0
             for page in ("summary.html", "examples.html")}
    sizes["data"] = folder_size(out / "data") if (out / "data").exists() else 0
    sizes["total"] = folder_size(out)
    problems = []
    if sizes["summary.html"] > max_html:
        problems.append(f"summary.html is {sizes['summary.html'] / 1e6:.1f} MB, over its {max_html / 1e6:g} MB "
                        "budget (fewer or smaller embedded figures: fold per-run figures into the per-example page "
                        "or leave them out of the summary)")
    if sizes["examples.html"] > max_examples:
        problems.append(f"examples.html is {sizes['examples.html'] / 1e6:.1f} MB, over its {max_examples / 1e6:g} MB "
                        "budget (the examples_page rule halves the examples per run to fit this budget; over it at "
                        "one per run, explain fewer runs or methods)")
    if sizes["total"] > max_total:
        rest = sizes["total"] - sizes["data"]
        cause = (f"without data/ the report is {rest / 1e6:.1f} MB: shrink the summary's figures and the CSV tables "
                 "(fewer runs, agreement.metrics or agreement.variants)" if rest > max_total else
                 f"data/ takes {sizes['data'] / 1e6:.1f} MB of it: publish fewer runs, or raise the budget")
        problems.append(f"{name} is {sizes['total'] / 1e6:.1f} MB, over its {max_total / 1e6:g} MB budget; largest: "
                        f"{_largest(out)} ({cause})")
    if problems:
        message = f"published report {name} is too large: " + "; ".join(problems)
        if on_oversize == "raise":
            raise ReportSizeError(message)
        log.warning(message)
    return sizes


def _merge_provenance(tables: Path, ids: dict[str, tuple[str, ...]]) -> None:
    """Add the data files' provenance ids to ``tables/provenance.csv`` (plain or gzipped)."""
    from analysis.report.summary import PROVENANCE_COLUMNS

    if not ids:
        return
    path = next((p for p in (tables / "provenance.csv", tables / "provenance.csv.gz") if p.exists()),
                tables / "provenance.csv")
    known = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["provenance_id", *PROVENANCE_COLUMNS])
    extra = pd.DataFrame([(k, *v) for k, v in ids.items() if k not in set(known["provenance_id"])],
                         columns=["provenance_id", *PROVENANCE_COLUMNS])
    pd.concat([known, extra], ignore_index=True).to_csv(path, index=False)


def publish_report(*, html: Path, markdown: Path, tables: Path, out: Path, title: str, command: str,
                   config_files: list[str], code: str, generated: _dt.datetime | None = None,
                   gzip_above: int = GZIP_ABOVE_BYTES, examples: Path | None = None,
                   importance: Sequence[str | Path] = (), agreement: Sequence[str | Path] = (),
                   config: dict[str, Any] | None = None, max_html: int = MAX_HTML_BYTES,
                   max_total: int = MAX_TOTAL_BYTES, max_examples: int = MAX_EXAMPLES_BYTES,
                   on_oversize: str = "raise", order: dict[str, Sequence[str]] | None = None) -> list[Path]:
    """Publish the study's report into ``out`` (replaced as a whole) and check its size; returns the files, README first.

    Only ``*.csv`` files are taken from ``tables`` (never parquet, data or weights); one larger
    than ``gzip_above`` bytes is stored gzip-compressed as ``*.csv.gz`` (pandas and most CSV
    readers open it directly). Optional extra inputs: ``examples`` (the per-example page),
    ``importance`` and ``agreement`` (the per-run tables: published as ``data/*.parquet`` with
    ``DATA.md``; ``config`` hides words of datasets under a content warning and names the
    sources' licences). The data take what the folder's budget leaves: every example where it
    fits, else the same sample of every run (the first examples of each dataset's explain
    ``order``; :func:`~analysis.report.data.export_within`), which ``DATA.md`` describes; the
    published per-example page then says which of its examples the data hold. A table that a
    new run no longer writes does not linger.

    The report is written into a temporary folder beside ``out`` and renamed to ``out`` only
    after :func:`check_sizes` passes: a refused or failed publish leaves ``out`` as it was.
    """
    html, markdown, tables, out = Path(html), Path(markdown), Path(tables), Path(out)
    for path in (html, markdown, tables, *([Path(examples)] if examples else [])):
        if not path.exists():
            raise FileNotFoundError(f"cannot publish: {path} is missing; run the study first "
                                    "(snakemake --cores all --configfile <config>), then publish")
    staging, previous = out.with_name(f".{out.name}.publishing"), out.with_name(f".{out.name}.previous")
    for folder in (staging, previous):
        if folder.exists():
            shutil.rmtree(folder)
    try:
        written = _write_report(
            staging, name=out, html=html, markdown=markdown, tables=tables, title=title, command=command,
            config_files=config_files, code=code, generated=generated, gzip_above=gzip_above,
            examples=Path(examples) if examples else None, importance=importance, agreement=agreement,
            config=config, max_html=max_html, max_total=max_total, max_examples=max_examples,
            on_oversize=on_oversize, order=order)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        out.rename(previous)
    staging.rename(out)
    shutil.rmtree(previous, ignore_errors=True)
    return [out / path.relative_to(staging) for path in written]


def _write_report(folder: Path, *, name: Path, html: Path, markdown: Path, tables: Path, title: str, command: str,
                  config_files: list[str], code: str, generated: _dt.datetime | None, gzip_above: int,
                  examples: Path | None, importance: Sequence[str | Path], agreement: Sequence[str | Path],
                  config: dict[str, Any] | None, max_html: int, max_total: int, max_examples: int, on_oversize: str,
                  order: dict[str, Sequence[str]] | None) -> list[Path]:
    """:func:`publish_report`'s work, written into the empty ``folder`` and checked there (messages name ``name``,
    the folder it will become); returns the files, README first."""
    from analysis.report.data import data_card, export_within, sample_note

    sizes = partial(check_sizes, folder, max_html=max_html, max_total=max_total, max_examples=max_examples,
                    on_oversize=on_oversize, name=name)
    (folder / "tables").mkdir(parents=True)
    shutil.copyfile(html, folder / "summary.html")
    written = [folder / "summary.html", *publish_markdown(markdown, folder)]
    if examples:
        shutil.copyfile(examples, folder / "examples.html")
        written.append(folder / "examples.html")
    n_tables = 0
    for table in sorted(tables.glob(f"*{PUBLISHED_TABLE_SUFFIX}")):
        n_tables += 1
        if table.stat().st_size > gzip_above:
            written.append(folder / "tables" / f"{table.name}.gz")
            with table.open("rb") as source, gzip.GzipFile(written[-1], "wb", mtime=0) as target:
                shutil.copyfileobj(source, target)
        else:
            written.append(folder / "tables" / table.name)
            shutil.copyfile(table, written[-1])
    files: dict[str, Path] = {}
    sample = ""
    if importance or agreement:
        budget = max_total - folder_size(folder) - DATA_RESERVE_BYTES
        if budget <= 0:  # the report is over its budget before any data: say what is large (or warn and go on)
            sizes()
        try:
            export = export_within(budget if budget > 0 else 2**62, importance=importance, agreement=agreement,
                                   out=folder / "data", config=config, order=order)
        except ValueError as error:
            raise ReportSizeError(str(error)) from error
        files, sample = export.files, sample_note(export)
        _merge_provenance(folder / "tables", export.provenance)
        page = _mark_examples(folder / "examples.html", files["importance"]) if examples and "importance" in files \
            else None
        (folder / "DATA.md").write_text(data_card(files=files, config=config, rows=export.rows, export=export,
                                                  page=page))
        written += [*files.values(), folder / "DATA.md"]
    when = (generated or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    n_figures = len(list((folder / "figures").glob("*.png"))) if (folder / "figures").exists() else 0
    readme = folder / "README.md"
    lines = [f"# {title}",
             f"Generated report of the study; open [`summary.html`](summary.html) (self-contained, figures included) "
             f"or read [`summary.md`](summary.md) ({n_figures} figures in [`figures/`](figures), downsampled)."]
    if examples:
        lines.append("[`examples.html`](examples.html) shows explained examples word by word, coloured by every "
                     "method's signed score.")
    lines.append(f"[`tables/`](tables) holds its {n_tables} CSV tables. The run (dataset, split, model, seed) is in "
                 "each table's own columns; `provenance_id` resolves in `tables/provenance.csv`, which holds two JSON "
                 "columns: `settings` (the settings of the stage that made the row, e.g. a method's settings and the "
                 "pooling) and `versions` (library versions and the code commit). Tables over "
                 f"{gzip_above / 1e6:g} MB are gzip-compressed (`.csv.gz`; `pandas.read_csv` opens them as they are).")
    if files:
        lines.append("[`data/`](data) holds per-example importance scores and per-instance agreement as parquet; "
                     "[`DATA.md`](DATA.md) describes their columns, units, labels, provenance and licences. " + sample)
    commits = job_commits(folder / "tables")
    recorded = [f"`{commit}`" for commit in commits if commit != NOT_RECORDED]
    jobs_code = ("" if not commits else " (the report); its tables' jobs ran under "
                 + (", ".join(recorded) if recorded else "no recorded commit")
                 + (" and older jobs that did not record theirs" if NOT_RECORDED in commits and recorded else "")
                 + " (`code` in the `versions` column of `tables/provenance.csv`)")
    readme.write_text("\n\n".join(lines) + "\n" + "\n".join([
        "", "| | |", "|---|---|", f"| generated | {when} |", f"| code | `{code}`{jobs_code} |",
        f"| configuration | {', '.join(f'`{c}`' for c in config_files) or 'the default'} |", "",
        "Regenerate (runs the study where results are missing, then copies the report here):", "",
        f"```bash\n{command}\n```", ""]))
    checked = sizes()
    log.info("published %s: summary.html %.2f MB, examples.html %.2f MB, %d files, %.1f MB in all", name,
             checked["summary.html"] / 1e6, checked["examples.html"] / 1e6, len(written) + 1, checked["total"] / 1e6)
    return [readme, *written]


def _mark_examples(page: Path, importance: Path) -> str:
    """Mark on the published per-example ``page`` which of its examples the published ``importance`` data hold
    (:func:`~analysis.report.examples.mark_published`); returns the paragraph that says so in ``DATA.md``."""
    from analysis.report.examples import mark_published

    keys = pd.read_parquet(importance, columns=["dataset", "model", "seed", "example_id"]).drop_duplicates()
    published = {(str(d), str(m), int(s), str(e)) for d, m, s, e in keys.itertuples(index=False)}
    text, shown, held = mark_published(page.read_text(), published)
    page.write_text(text)
    which = "all of them are" if held == shown else f"{held:,} of them are"
    return (f"The per-example page (`examples.html`) shows {shown:,} run x example pairs; {which} in "
            "`data/importance.parquet` (the page says so beside each example's prediction).")
