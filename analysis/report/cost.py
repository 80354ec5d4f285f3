"""What each stage of a study costs: Snakemake's benchmark files as a tidy table, and a summary to budget runs.

Every rule that does real work has a ``benchmark:`` file (``workflow/rules/*.smk``) under
``results/<study>/benchmarks/``: ``<rule>/<wildcard>=<value>/.../<wildcard>=<value>.tsv``,
or ``<rule>.tsv`` for a rule without wildcards, so each path says which job it measured
without a second table of rule layouts. A stage here is one rule. Stages with a ``seed``
wildcard are paid once per training seed; the others (data preparation, study-wide tables
and figures) once per study.

A benchmark file holds the wall time of a job's last run. A job that resumed (training after
an interruption) or reused finished work (methods and causal tests are cached, so a rerun
after a fix recomputes only what the fix touched) took less than a run from scratch: for the
three rules that keep what each part of their work took (:data:`RECORDED_WORK`), a job counts
at the larger of its wall time and the seconds its parts took when they were computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# Snakemake's benchmark columns kept here: wall seconds, CPU seconds of the job's processes,
# peak resident memory in MiB (Snakemake writes "NA" when a job ended before the first sample)
BENCHMARK_COLUMNS = {"s": "wall_seconds", "cpu_time": "cpu_seconds", "max_rss": "max_rss_mib"}
RUN_WILDCARDS = ("dataset", "model", "seed")
STAGE_COLUMNS = ["rule", *RUN_WILDCARDS, "other_wildcards", *BENCHMARK_COLUMNS.values(), "measured_seconds",
                 "recorded_seconds", "path"]
RECORDED_WORK: dict[str, tuple[str, tuple[str, ...]]] = {
    "train": ("training_history.parquet", ("seconds", "validation_seconds")),
    "explain": ("shards/{shard}/diagnostics.parquet", ("seconds",)),
    "interventions": ("interventions/cost.parquet", ("seconds",)),
}
"""Rule -> (its table under the run folder ``<study>/<dataset>/<model>/<seed>/``, the columns whose sum is the
seconds its work took when computed: per epoch, per method and example, per causal test; cached parts keep theirs)."""
SUMMARY_MEASURES = ["jobs", "seeds", "total_seconds", "mean_seconds", "share", "one_seed_seconds", "cpu_seconds",
                    "max_rss_mib"]


def benchmark_job(relative: Path) -> dict[str, str]:
    """The rule and wildcards of one benchmark file, from its path relative to the benchmarks folder."""
    parts = relative.with_suffix("").parts
    job = {"rule": parts[0]}
    for part in parts[1:]:
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise ValueError(
                f"benchmark file {relative}: path component {part!r} is not <wildcard>=<value>; write the rule's "
                'benchmark as res("benchmarks/<rule>/<wildcard>={<wildcard>}/....tsv") (see workflow/rules/*.smk)'
            )
        job[name] = value
    return job


def read_benchmark(path: Path) -> dict[str, float]:
    """One job's wall and CPU seconds and peak memory (the mean of the rows where the rule repeats the job)."""
    frame = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
    missing = [column for column in BENCHMARK_COLUMNS if column not in frame]
    if frame.empty or missing:
        raise ValueError(f"benchmark file {path}: no rows or missing columns {missing}; expected Snakemake's "
                         f"benchmark table ({', '.join(BENCHMARK_COLUMNS)} among its columns)")
    values = frame[list(BENCHMARK_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    return {new: float(values[old].mean()) for old, new in BENCHMARK_COLUMNS.items()}


def recorded_seconds(study_dir: Path, job: dict[str, str]) -> float:
    """The seconds the work of one job took when computed, from the table it keeps (:data:`RECORDED_WORK`);
    NaN for other rules or when the table is missing."""
    if job.get("rule") not in RECORDED_WORK or any(key not in job for key in RUN_WILDCARDS):
        return float("nan")
    relative, columns = RECORDED_WORK[job["rule"]]
    try:
        path = study_dir / job["dataset"] / job["model"] / job["seed"] / relative.format(**job)
    except KeyError:  # the job lacks a wildcard the table's path needs (a shard)
        return float("nan")
    if not path.exists():
        return float("nan")
    frame = pd.read_parquet(path)
    present = [column for column in columns if column in frame]
    return float(frame[present].apply(pd.to_numeric, errors="coerce").sum().sum()) if present else float("nan")


def stage_costs(benchmark_dir: str | Path) -> pd.DataFrame:
    """One row per benchmarked job: rule, dataset, model, seed, other wildcards and what the job cost.

    ``dataset``, ``model`` and ``seed`` are missing (NaN, ``<NA>``) where the rule has no such
    wildcard; ``other_wildcards`` holds the rest (``shard=0``, ``figure=sanity``; empty when
    none). Columns: rule, dataset, model, seed, other_wildcards, wall_seconds, cpu_seconds,
    max_rss_mib, measured_seconds, recorded_seconds, path (relative to ``benchmark_dir``).
    ``measured_seconds`` is the benchmark's wall time, ``recorded_seconds`` the seconds the job's
    parts took when computed (:func:`recorded_seconds`, from the study folder ``benchmark_dir``'s
    parent), and ``wall_seconds`` the larger of the two: at least what the job costs from scratch (a resumed
    job's first, interrupted run is not in its tables beyond the parts they keep). ``cpu_seconds`` adds the
    reused part (recorded beyond measured, spent on one core when it was computed) to the benchmark's CPU time.
    A folder that does not exist yet (no job has run) gives an empty table.
    """
    root = Path(benchmark_dir)
    rows = []
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        relative = path.relative_to(root)
        job = benchmark_job(relative)
        other = {k: v for k, v in job.items() if k not in ("rule", *RUN_WILDCARDS)}
        measured = read_benchmark(path)
        recorded = recorded_seconds(root.parent, job)
        reused = max(0.0, recorded - measured["wall_seconds"]) if np.isfinite(recorded) else 0.0
        rows.append({"rule": job["rule"], **{k: job.get(k, np.nan) for k in RUN_WILDCARDS},
                     "other_wildcards": ",".join(f"{k}={v}" for k, v in other.items()),
                     **measured, "cpu_seconds": measured["cpu_seconds"] + reused,
                     "wall_seconds": float(np.nanmax([measured["wall_seconds"], recorded])),
                     "measured_seconds": measured["wall_seconds"], "recorded_seconds": recorded,
                     "path": relative.as_posix()})
    table = pd.DataFrame(rows, columns=STAGE_COLUMNS)
    table["seed"] = pd.to_numeric(table["seed"]).astype("Int64")
    for column in (*BENCHMARK_COLUMNS.values(), "measured_seconds", "recorded_seconds"):
        table[column] = table[column].astype(float)
    return table


def cost_summary(table: pd.DataFrame, by: Sequence[str] = ("rule",)) -> pd.DataFrame:
    """Wall time per group of :func:`stage_costs` rows (per stage by default), most costly first.

    ``by`` names columns of ``table`` (``rule``, ``model``, a ``family`` column the caller
    added ...). Columns: the ``by`` columns, jobs, seeds (distinct seeds; ``<NA>`` for stages
    run once per study), total_seconds and mean_seconds (per job) of wall time, share (of
    the table's total wall time), one_seed_seconds, cpu_seconds, max_rss_mib (the largest
    job's). ``one_seed_seconds`` is the wall time of one seed: a per-seed stage's total
    divided by its number of seeds within the group, a once-per-study stage's total as is,
    so the column sums to the cost of a one-seed study. Missing ``by`` values form their own
    group (a study-wide stage has no model).
    """
    keys = list(by)
    absent = [key for key in keys if key not in table]
    if absent:
        raise ValueError(f"cost_summary: no column {absent} in the table (columns: {list(table.columns)})")
    if table.empty:
        return pd.DataFrame(columns=[*keys, *SUMMARY_MEASURES])
    # one seed's share of each stage within each group, then summed over the group's stages
    stage_keys = keys if "rule" in keys else [*keys, "rule"]
    per_stage = table.groupby(stage_keys, dropna=False, sort=False).agg(
        total_seconds=("wall_seconds", "sum"), seeds=("seed", "nunique"))
    per_stage["one_seed_seconds"] = per_stage["total_seconds"] / per_stage["seeds"].where(per_stage["seeds"] > 0, 1)
    one_seed = per_stage.groupby(keys, dropna=False, sort=False)["one_seed_seconds"].sum()
    summary = table.groupby(keys, dropna=False, sort=False).agg(
        jobs=("wall_seconds", "size"), seeds=("seed", "nunique"), total_seconds=("wall_seconds", "sum"),
        mean_seconds=("wall_seconds", "mean"), cpu_seconds=("cpu_seconds", "sum"),
        max_rss_mib=("max_rss_mib", "max"))
    summary["one_seed_seconds"] = one_seed.reindex(summary.index)
    summary["share"] = summary["total_seconds"] / table["wall_seconds"].sum()
    summary["seeds"] = summary["seeds"].astype("Int64").mask(summary["seeds"] == 0)
    summary = summary.reset_index().sort_values("total_seconds", ascending=False, kind="stable")
    return summary[[*keys, *SUMMARY_MEASURES]].reset_index(drop=True)


def projected_seconds(table: pd.DataFrame, n_seeds: int) -> float:
    """Serial wall time of a study with ``n_seeds`` seeds: once-per-study stages once, per-seed stages ``n_seeds`` times.

    Each per-seed stage counts at its mean over the seeds measured. Once-per-study stages are
    taken as measured, although some read one file per seed (gathering, seed agreement).
    """
    stages = cost_summary(table, by=("rule",))
    per_seed = stages["seeds"].notna()
    return float(stages.loc[~per_seed, "total_seconds"].sum() + n_seeds * stages.loc[per_seed, "one_seed_seconds"].sum())
