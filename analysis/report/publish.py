"""Publish a finished study report into the repository: ``reports/<study>/``.

The workflow's report lives under ``results/<study>/study/`` beside data and model weights,
which are not committed. Publishing copies only what a reader needs (the self-contained
HTML, the markdown, the compact CSV tables) and writes a README that says which code and
configuration produced them and the one command that regenerates them.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import shutil
import subprocess
from pathlib import Path

PUBLISHED_TABLE_SUFFIX = ".csv"
GZIP_ABOVE_BYTES = 2_000_000


def code_version(root: Path, *, ignore: tuple[str, ...] = ()) -> str:
    """The git commit of ``root`` (with "+ uncommitted changes" when tracked files differ), or "unknown".

    ``ignore`` lists paths (relative to ``root``) left out of the dirty check: the folder being
    published is tracked and is rewritten by the very step that asks.
    """
    excludes = [f":(exclude){path}" for path in ignore]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *excludes],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} + uncommitted changes" if dirty else commit


def publish_report(*, html: Path, markdown: Path, tables: Path, out: Path, title: str, command: str,
                   config_files: list[str], code: str, generated: _dt.datetime | None = None,
                   gzip_above: int = GZIP_ABOVE_BYTES) -> list[Path]:
    """Copy the study's HTML, markdown and CSV tables to ``out`` and write its README.

    Only ``*.csv`` files are taken from ``tables`` (never parquet, data or weights); one larger
    than ``gzip_above`` bytes is stored gzip-compressed as ``*.csv.gz`` (pandas and most CSV
    readers open it directly), so the repository stays small. ``out`` is
    replaced as a whole so a table that a new run no longer writes does not linger. Returns
    the files written, README first.
    """
    html, markdown, tables, out = Path(html), Path(markdown), Path(tables), Path(out)
    for path in (html, markdown, tables):
        if not path.exists():
            raise FileNotFoundError(f"cannot publish: {path} is missing; run the study first "
                                    "(snakemake --cores all --configfile <config>), then publish")
    if out.exists():
        shutil.rmtree(out)
    (out / "tables").mkdir(parents=True)
    written = [out / "summary.html", out / "summary.md"]
    shutil.copyfile(html, written[0])
    shutil.copyfile(markdown, written[1])
    for table in sorted(tables.glob(f"*{PUBLISHED_TABLE_SUFFIX}")):
        if table.stat().st_size > gzip_above:
            written.append(out / "tables" / f"{table.name}.gz")
            with table.open("rb") as source, gzip.GzipFile(written[-1], "wb", mtime=0) as target:
                shutil.copyfileobj(source, target)
        else:
            written.append(out / "tables" / table.name)
            shutil.copyfile(table, written[-1])
    when = (generated or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    n_tables = len(written) - 2
    readme = out / "README.md"
    readme.write_text(
        f"# {title}\n\n"
        f"Generated report of the study; open [`summary.html`](summary.html) (self-contained, figures "
        f"included) or read [`summary.md`](summary.md). [`tables/`](tables) holds its {n_tables} CSV tables; "
        "`provenance_id` in a table resolves in `tables/provenance.csv` (dataset, split, model, seed, "
        "method settings, library versions). Tables over "
        f"{gzip_above / 1e6:g} MB are gzip-compressed (`.csv.gz`; `pandas.read_csv` opens them as they are).\n\n"
        "| | |\n|---|---|\n"
        f"| generated | {when} |\n"
        f"| code | `{code}` |\n"
        f"| configuration | {', '.join(f'`{c}`' for c in config_files) or 'the default'} |\n\n"
        "Regenerate (runs the study where results are missing, then copies the report here):\n\n"
        f"```bash\n{command}\n```\n"
    )
    return [readme, *written]
