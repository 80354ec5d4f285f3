"""What each stage of a study cost on this machine, from the benchmark files its jobs wrote.

    python benchmarks/stage_cost.py results/study               # every seed run so far
    python benchmarks/stage_cost.py results/study --seed 0      # one seed (with the study-wide stages)
    python benchmarks/stage_cost.py results/study --project 3 5 --detail

Every rule that does real work writes a Snakemake benchmark file per job under
``<study>/benchmarks/`` (``workflow/rules/*.smk``). This prints, per stage (rule) and per
model family and model: jobs, seeds, total and mean wall time per job, share of the total,
the wall time of one seed, CPU time and peak memory, sorted by cost, with totals; then the
projected wall time of N seeds (study-wide stages once, per-seed stages N times). Times
are sums of job wall times, i.e. a run with ``--cores 1``; jobs that ran side by side
overlapped in the run itself, and slowed each other down. A job that resumed or reused
finished work (cached methods and causal tests, saved epochs) counts at the seconds that work
took when computed, where it keeps them (``analysis.report.cost.RECORDED_WORK``). Last, the stages that have no
benchmark files (or fewer than jobs with a log): not run yet, run before benchmarks were
recorded, failed, or still running; their cost is missing from every total above.
"""

from __future__ import annotations

import argparse
import re
import textwrap
from pathlib import Path

import pandas as pd

from analysis.report.cost import cost_summary, projected_seconds, stage_costs

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "workflow" / "rules"
RULE = re.compile(r"^\s*rule (\w+):", flags=re.M)
DIRECTIVE = r"^\s*{name}:\s*\n\s*res\(\"([^\"]+)\"\)"


def declared_stages(rules_dir: Path = RULES_DIR) -> dict[str, dict[str, str | None]]:
    """Rule -> its ``benchmark`` and ``log`` paths (relative to the study folder) as the rule files write them."""
    stages = {}
    for path in sorted(rules_dir.glob("*.smk")):
        text = path.read_text()
        starts = list(RULE.finditer(text))
        for start, end in zip(starts, [*starts[1:], None]):
            block = text[start.start():end.start() if end else len(text)]
            found = {name: re.search(DIRECTIVE.format(name=name), block, flags=re.M) for name in ("benchmark", "log")}
            stages[start[1]] = {name: match[1] if match else None for name, match in found.items()}
    return stages


def jobs_on_disk(study: Path, pattern: str, seed: int | None) -> set[tuple[tuple[str, str], ...]]:
    """The jobs (their wildcards) whose file of ``pattern`` (a log or benchmark path) exists, optionally of one seed."""
    if seed is not None:
        pattern = pattern.replace("{seed}", str(seed))
    wildcard = re.compile(r"\\\{(\w+)\\\}")
    matcher = re.compile(wildcard.sub(r"(?P<\1>[^/]+)", re.escape(pattern)))
    jobs = set()
    for path in study.glob(re.sub(r"\{[^}]+\}", "*", pattern)):
        match = matcher.fullmatch(path.relative_to(study).as_posix())
        if match:
            jobs.add(tuple(sorted(match.groupdict().items())))
    return jobs


def model_families(study: Path) -> dict[str, str]:
    """Model -> family, from the runs' evaluation tables (each carries its model's family)."""
    frames = [pd.read_parquet(path) for path in sorted(study.glob("*/*/*/evaluation.parquet"))]
    frames = [frame[["model", "family"]] for frame in frames if {"model", "family"} <= set(frame.columns)]
    return dict(pd.concat(frames).drop_duplicates().itertuples(index=False)) if frames else {}


def duration(seconds: float) -> str:
    if seconds is None or pd.isna(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(round(seconds)) // 60
    if minutes < 60:
        return f"{minutes}m {int(round(seconds)) % 60:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def print_summary(summary: pd.DataFrame, keys: list[str], *, total_row: bool) -> None:
    shown = pd.DataFrame({key: summary[key].fillna("-").astype(str) for key in keys})
    shown["jobs"] = summary["jobs"].astype(int).astype(str)
    shown["seeds"] = summary["seeds"].map(lambda n: "-" if pd.isna(n) else str(n))
    shown["wall"] = summary["total_seconds"].map(duration)
    shown["mean/job"] = summary["mean_seconds"].map(duration)
    shown["share"] = summary["share"].map(lambda s: f"{100 * s:.1f}%")
    shown["one seed"] = summary["one_seed_seconds"].map(duration)
    shown["cpu"] = summary["cpu_seconds"].map(duration)
    shown["max RSS"] = summary["max_rss_mib"].map(lambda m: "-" if pd.isna(m) else f"{m:.0f} MiB")
    if total_row:
        total = {key: "" for key in shown}
        total.update({keys[0]: "total", "jobs": str(int(summary["jobs"].sum())),
                      "wall": duration(summary["total_seconds"].sum()), "share": "100.0%",
                      "one seed": duration(summary["one_seed_seconds"].sum()),
                      "cpu": duration(summary["cpu_seconds"].sum()),
                      "max RSS": f"{summary['max_rss_mib'].max():.0f} MiB"})
        shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
    widths = {c: max(len(c), shown[c].str.len().max()) for c in shown}
    left = set(keys)
    print("  ".join(c.ljust(widths[c]) if c in left else c.rjust(widths[c]) for c in shown))
    for row in shown.itertuples(index=False):
        print("  ".join(v.ljust(widths[c]) if c in left else v.rjust(widths[c]) for c, v in zip(shown, row)))


def print_coverage(study: Path, seed: int | None) -> None:
    """The stages whose cost the totals miss: jobs with a log but no benchmark file, stages not run or not measured."""
    partial, not_run, unmeasured = [], [], []
    for rule, paths in declared_stages().items():
        if paths["benchmark"] is None:
            unmeasured.append(rule)
            continue
        logged = jobs_on_disk(study, paths["log"], seed) if paths["log"] else set()
        measured = jobs_on_disk(study, paths["benchmark"], seed)
        if not logged and not measured:
            not_run.append(rule)
        elif logged - measured:
            partial.append(f"{rule} {len(logged - measured)} of {len(logged)}")
    groups = {
        "jobs without a benchmark file (of the jobs with a log; run before benchmarks were recorded, failed, or "
        "still running)": partial,
        "not run (no log: not run yet, or not part of this study)": not_run,
        "not measured (no benchmark directive in workflow/rules)": unmeasured,
    }
    if not partial:
        print("\nEvery job with a log has a benchmark file.")
    if any(groups.values()):
        print("\nStages whose cost is missing from the totals above:")
    for heading, rules in groups.items():
        if rules:
            print(textwrap.fill(f"{heading}: {', '.join(rules)}", width=110, initial_indent="  ",
                                subsequent_indent="    "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", type=Path, help="the study's results folder, e.g. results/study")
    parser.add_argument("--seed", type=int, help="only this seed's jobs (and the study-wide stages)")
    parser.add_argument("--project", type=int, nargs="+", default=[3], metavar="N",
                        help="project the wall time of N seeds (default: 3, the published study)")
    parser.add_argument("--cores", type=int, default=2,
                        help="also project the wall time with this many jobs at a time (default: 2, this machine)")
    parser.add_argument("--detail", action="store_true", help="also print every stage x dataset x model")
    args = parser.parse_args()
    if not args.study.is_dir():
        raise SystemExit(f"{args.study}: no such results folder; pass results/<study> (config key `study`)")

    table = stage_costs(args.study / "benchmarks")
    if args.seed is not None:
        table = table[table["seed"].isna() | (table["seed"] == args.seed)].reset_index(drop=True)
    families = model_families(args.study)
    table["family"] = table["model"].map(families)
    seeds = sorted(table["seed"].dropna().unique())
    what = f"seed {args.seed}" if args.seed is not None else f"seeds {', '.join(map(str, seeds)) or 'none'}"
    ratio = table["cpu_seconds"].sum() / table["wall_seconds"].sum() if len(table) else float("nan")
    print(f"Stage costs of {args.study} ({what}), from {len(table)} benchmark files. Wall times are sums over jobs "
          "as measured, including any slowdown from concurrent jobs and other load on the machine (CPU time is "
          f"{ratio:.0%} of wall time here; near 100% for a quiet --cores 1 run); a job that resumed or reused "
          "finished work counts at least the seconds that work took. 'One seed' counts a per-seed stage once and a "
          "study-wide stage (seeds -) as is.\n")

    if table.empty:
        print(f"No benchmark files under {args.study / 'benchmarks'} yet.")
    else:
        print_summary(cost_summary(table, by=["rule"]), ["rule"], total_row=True)
        print("\nBy model family and model ('-': data preparation and study-wide stages):")
        print_summary(cost_summary(table, by=["family", "model"]), ["family", "model"], total_row=True)
        if args.detail:
            print("\nBy stage, dataset and model:")
            print_summary(cost_summary(table, by=["rule", "dataset", "model"]), ["rule", "dataset", "model"],
                          total_row=False)
        shared = projected_seconds(table, 0)
        per_seed = projected_seconds(table, 1) - shared
        print(f"\nProjected wall time on this machine: study-wide stages {duration(shared)} once, "
              f"per-seed stages {duration(per_seed)} per seed.")
        # CPU time: what the jobs cost had none waited for a core (other work on the machine inflates wall time)
        cpu = table.assign(wall_seconds=table["cpu_seconds"])
        labels = {n: f"{n} seed{'s' if n != 1 else ''}:" for n in sorted({1, *args.project})}
        width = max(map(len, labels.values()))
        for n, label in labels.items():
            serial = projected_seconds(table, n)
            print(f"  {label.ljust(width)} {duration(serial):>8} serial; on {args.cores} cores about "
                  f"{duration(serial / args.cores)}, or {duration(projected_seconds(cpu, n) / args.cores)} from CPU "
                  "time (no job waiting for a core)")
        print(f"  ({args.cores} cores: the serial time shared evenly between {args.cores} single-threaded jobs at a "
              "time, a lower bound where the last jobs run alone.)")

    print_coverage(args.study, args.seed)
    if args.seed is None and not table.empty and table.groupby("rule")["seed"].nunique().loc[
            lambda n: n > 0].nunique() > 1:
        print("\nNote: per-seed stages were measured on different numbers of seeds; 'one seed' is each stage's mean.")


if __name__ == "__main__":
    main()
