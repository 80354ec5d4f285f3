"""Compare two results folders of the same study (used by ``benchmarks/slurm_single_node.sh``).

    python benchmarks/slurm/compare_results.py RESULTS_A RESULTS_B

Every ``*.parquet`` table under RESULTS_A must exist under RESULTS_B (and the reverse) and hold
the same rows and columns, and every trained model's files must be the same bytes. Equality is
exact: the pipeline is deterministic on the CPU, so a SLURM run and a local run of the same
config must give the same numbers to the last bit.

Left out of the comparison, because they describe the run rather than the study:

- wall-clock columns: any column whose name has the word ``seconds`` (``seconds``,
  ``train_seconds``, ``seconds_per_example`` ...), or names a timestamp or host;
  the script prints which of them did differ, so a reader can check what was excluded;
- the key in the file names of ``importance_cache/`` (a hash over the model files' names, sizes
  and modification times, so it differs between any two trainings): cached tables are matched
  by method name instead, and their contents are compared like every other table;
- ``.snakemake_timestamp`` files.

The absolute results folder, where it appears inside a string cell, is replaced by a placeholder.
Exit status 0 when everything is equal, 1 otherwise; one line per file and a PASS/FAIL line.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

RUN_COLUMN = re.compile(r"(^|_)(seconds|timestamp|hostname|host)(_|$)")
CACHE_KEY = re.compile(r"-[0-9a-f]{12}(?=(\.diagnostics)?\.parquet$)")


def is_run_column(name: str) -> bool:
    return bool(RUN_COLUMN.search(name))


def index_tables(root: Path) -> dict[str, Path]:
    """Relative path (cache keys removed) -> file, for every parquet table under ``root``."""
    tables = {}
    for path in root.rglob("*.parquet"):
        rel = str(path.relative_to(root))
        if "importance_cache" in path.parts:
            rel = CACHE_KEY.sub("", rel)
        if rel in tables:
            raise SystemExit(f"two cached tables for one method under {root}: {tables[rel]} and {path}")
        tables[rel] = path
    return tables


def normalise_paths(frame: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Replace the results folder's absolute path inside string cells by a placeholder."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(lambda v: v.replace(str(root), "<results>") if isinstance(v, str) else v)
    return out


def compare_table(path_a: Path, path_b: Path, root_a: Path, root_b: Path) -> tuple[bool, str, list[str]]:
    """(equal?, message, run columns that differed) for one table."""
    a = normalise_paths(pd.read_parquet(path_a), root_a)
    b = normalise_paths(pd.read_parquet(path_b), root_b)
    if list(a.columns) != list(b.columns):
        return False, f"columns differ: {sorted(set(a.columns) ^ set(b.columns))}", []
    if a.shape != b.shape:
        return False, f"shapes differ: {a.shape} vs {b.shape}", []
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    run_columns = [c for c in a.columns if is_run_column(c)]
    differed = [c for c in run_columns if not a[c].equals(b[c])]
    kept = [c for c in a.columns if c not in run_columns]
    try:
        pd.testing.assert_frame_equal(a[kept], b[kept], check_exact=True)
    except AssertionError:
        bad = [c for c in kept if not a[c].equals(b[c])]
        detail = []
        for c in bad[:5]:
            if pd.api.types.is_numeric_dtype(a[c]) and pd.api.types.is_numeric_dtype(b[c]):
                gap = (a[c].astype(float) - b[c].astype(float)).abs().max()
                detail.append(f"{c} (max |diff| {gap:.3g})")
            else:
                detail.append(c)
        return False, f"values differ in {', '.join(detail) or 'the index or dtypes'}", differed
    return True, f"{len(a)} rows x {len(kept)} columns equal", differed


def model_files(root: Path) -> dict[str, Path]:
    """Files of every trained model folder (``<dataset>/<model>/<seed>/model/``)."""
    return {str(p.relative_to(root)): p for p in root.rglob("model/*")
            if p.is_file() and p.name != ".snakemake_timestamp"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_a", type=Path)
    parser.add_argument("results_b", type=Path)
    args = parser.parse_args(argv)
    root_a, root_b = args.results_a.resolve(), args.results_b.resolve()

    tables_a, tables_b = index_tables(root_a), index_tables(root_b)
    models_a, models_b = model_files(root_a), model_files(root_b)
    ok = bool(tables_a) and bool(models_a)
    if not tables_a or not models_a:
        print(f"no parquet tables or no model files under {root_a}")
    for missing in sorted((tables_a.keys() ^ tables_b.keys()) | (models_a.keys() ^ models_b.keys())):
        ok = False
        print(f"MISSING {missing} (only under {root_a if missing in tables_a or missing in models_a else root_b})")

    differed_run_columns: set[str] = set()
    n_equal_tables = 0
    common_tables = sorted(tables_a.keys() & tables_b.keys())
    for rel in common_tables:
        equal, message, differed = compare_table(tables_a[rel], tables_b[rel], root_a, root_b)
        differed_run_columns.update(differed)
        n_equal_tables += equal
        ok &= equal
        print(f"{'equal ' if equal else 'DIFFER'} {rel}: {message}")

    n_equal_models = 0
    common_models = sorted(models_a.keys() & models_b.keys())
    for rel in common_models:
        equal = models_a[rel].read_bytes() == models_b[rel].read_bytes()
        n_equal_models += equal
        ok &= equal
        print(f"{'equal ' if equal else 'DIFFER'} {rel}: {models_a[rel].stat().st_size} bytes")

    print(f"parquet tables compared: {len(common_tables)}, equal: {n_equal_tables}; "
          f"model files compared: {len(common_models)}, identical: {n_equal_models}")
    print("run-describing columns left out (differing between the runs): "
          f"{', '.join(sorted(differed_run_columns)) or 'none'}")
    print(f"{'PASS' if ok else 'FAIL'}: the results under {root_a} and {root_b} are "
          f"{'equal' if ok else 'NOT equal'} (every parquet table exactly, every model file byte for byte)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
