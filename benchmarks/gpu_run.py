"""The GPU suite's steps, each in its own process with its own time budget (started by gpu_suite.sh).

    python3 benchmarks/gpu_run.py --out DIR [--cpu-smoke] [--start EPOCH] [--budget 465] [--site /tmp/site]
                                  [--only tiny_study ferret_minilm cost_accounting full_suite ferret_bert_base]

Steps, most valuable first: the environment (versions, device), the models (random weights,
built offline from configs), the tiny study through Snakemake on the device, the explanation
suite beside ferret (MiniLM-sized), cost accounting in float32 and bfloat16, the whole
importance suite on the 872 SST-2 validation sentences (BERT-base-sized), and, with the time
left, the ferret comparison on the BERT-base-sized model. A step's timeout is the smaller of
its budget and what is left of the run's (``--budget`` seconds from ``--start``); a step that
fails or times out is recorded with its error and the next one runs. After every step
``gpu_results.json`` and ``gpu_results.md`` (:mod:`gpu_report`) are rewritten in ``--out``, so
a run cut short still leaves its results; each step's output goes to its own log there.

``--cpu-smoke`` runs every step on the CPU with tiny sizes (a 2-layer encoder, a few
sentences) and generous budgets: a check of the script, not a measurement.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_report import render  # noqa: E402

MIN_TRANSFORMERS = (5, 24)
LOG_LIMIT = 8 * 2**20  # bytes kept of a log (the head and the tail), well under the 16 MiB a file may have
STEP_FLOOR_S = 20  # a step is skipped when less than this is left of the run's budget


@dataclass
class Context:
    """What the steps share: mode, paths, sizes."""

    out: Path
    smoke: bool
    python: str
    site: str | None
    data: Path
    vocab: Path
    work: Path
    cores: int
    deadline: float
    models: dict[str, Path] = field(default_factory=dict)
    timeout: float = 0.0  # of the step being started

    @property
    def device(self) -> str:
        return "cpu" if self.smoke else "cuda"

    def left(self) -> float:
        return self.deadline - time.time()


@dataclass
class Step:
    """One measurement: its command, its budget (GPU run, smoke run), and how its output becomes a result."""

    name: str
    title: str
    budget_s: float
    smoke_budget_s: float
    command: Callable[[Context], list[str]]
    parse: Callable[[str, Context], dict[str, Any]]
    log: str  # a file in the results folder, or "-": printed with the suite's own output
    prepare: Callable[[Context], None] | None = None
    optional: bool = False  # runs only with at least its budget left
    env: dict[str, str] = field(default_factory=dict)


def stamp(start: float) -> str:
    return f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S} +{time.time() - start:.0f}s]"


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that is a JSON object."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def error_of(text: str) -> str | None:
    """The line of ``text`` that best names what went wrong: the last exception with a message, else the last
    line that mentions an error (Snakemake's "Error in rule ...", a kill, running out of memory)."""
    lines = [line.strip() for line in text.splitlines()]
    raised = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b.*: \S", line)]
    mentioned = [line for line in lines if re.search(r"Error|Exception|error:|Killed|out of memory", line)]
    hits = raised or mentioned
    return hits[-1][:500] if hits else None


def capped(text: str, limit: int = LOG_LIMIT) -> str:
    """``text`` within ``limit`` bytes: its head and tail around a note of what was cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    half = limit // 2
    return (data[:half].decode(errors="ignore") + f"\n[... {len(data) - limit} bytes cut ...]\n"
            + data[-half:].decode(errors="ignore"))


def run_process(command: list[str], timeout: float, env: dict[str, str]) -> tuple[int | None, str, float]:
    """(return code or None when it timed out, its output, seconds); the process group is killed on timeout."""
    start = time.time()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        output, _ = process.communicate()
        code = None
    return code, output.decode(errors="replace"), time.time() - start


def run_step(step: Step, context: Context, start: float) -> dict[str, Any]:
    """Run one step within its budget; its record (status, wall time, error, result)."""
    budget = step.smoke_budget_s if context.smoke else step.budget_s
    record: dict[str, Any] = {"name": step.name, "title": step.title, "budget_s": budget, "log": step.log,
                              "status": "skipped", "wall_s": 0.0, "error": None, "result": {}}
    left = context.left() - 10  # the results are written after the last step
    if left < (budget if step.optional else STEP_FLOOR_S):
        record["error"] = f"{left:.0f} s left of the run's budget"
        print(f"{stamp(start)} {step.name}: skipped ({record['error']})", flush=True)
        return record
    timeout = context.timeout = min(budget, left)
    record["budget_s"] = timeout
    output = ""
    try:
        if step.prepare:
            step.prepare(context)
        command = step.command(context)
        print(f"{stamp(start)} {step.name}: {' '.join(command)} (timeout {timeout:.0f} s)", flush=True)
        code, output, wall = run_process(command, timeout, step.env)
        record["wall_s"] = wall
        record["status"] = "ok" if code == 0 else ("timeout" if code is None else "failed")
        if code != 0:
            record["error"] = (f"timed out after {timeout:.0f} s" if code is None
                               else f"exit code {code}: {error_of(output) or 'see ' + step.log}")
    except Exception as error:  # a broken step never stops the others
        record["status"], record["error"] = "failed", f"{type(error).__name__}: {error}"
    try:
        record["result"] = step.parse(output, context)
    except Exception as error:
        record["result"] = {"parse_error": f"{type(error).__name__}: {error}"}
    if step.log == "-":
        print(capped(output, 64 * 1024), flush=True)
    else:
        with open(context.out / step.log, "a") as handle:
            handle.write(capped(output))
    print(f"{stamp(start)} {step.name}: {record['status']} in {record['wall_s']:.0f} s"
          + (f" ({record['error']})" if record["error"] else ""), flush=True)
    return record


# ---------------------------------------------------------------------------------------------- steps

def python(context: Context, script: str, *args: str) -> list[str]:
    return [context.python, str(ROOT / "benchmarks" / script), *args]


def environment_command(context: Context) -> list[str]:
    return python(context, "gpu_run.py", "--probe", *(["--site", context.site] if context.site else []))


def parse_last(kind: str) -> Callable[[str, Context], dict[str, Any]]:
    def parse(output: str, context: Context) -> dict[str, Any]:
        records = [r for r in json_lines(output) if r.get("probe") == kind]
        return records[-1] if records else {}
    return parse


def models_command(context: Context) -> list[str]:
    sizes = ["tiny"] if context.smoke else ["minilm", "bert-base"]
    return python(context, "gpu_run.py", "--build-models", str(context.work / "models"), "--vocab", str(context.vocab),
                  "--sizes", *sizes)


def models_prepare(context: Context) -> None:
    folder = context.work / "models"
    if context.smoke:
        context.models = {"minilm": folder / "tiny", "bert-base": folder / "tiny"}
    else:
        context.models = {"minilm": folder / "minilm", "bert-base": folder / "bert-base"}


def tiny_overlay(context: Context) -> Path:
    return context.work / "tiny_overlay.yaml"


def tiny_results(context: Context) -> Path:
    return context.work / "tiny_results"


def tiny_prepare(context: Context) -> None:
    """An overlay of config/tiny.yaml: results under the work folder, the device, MiniLM on the local checkpoint."""
    shutil.rmtree(tiny_results(context), ignore_errors=True)
    tiny_overlay(context).write_text(
        "# written by benchmarks/gpu_run.py: config/tiny.yaml on this machine's device, offline\n"
        f"results_dir: {tiny_results(context)}\n"
        f"device: {context.device}\n"
        f"models:\n  minilm: {{checkpoint: {context.models['minilm']}}}\n")


def tiny_command(context: Context) -> list[str]:
    # greedy scheduler: the ILP one needs pulp, which does not travel; --keep-going: one failure shows the rest
    return [context.python, "-m", "snakemake", "--cores", str(context.cores), "--scheduler", "greedy", "--keep-going",
            "--configfile", "config/tiny.yaml", str(tiny_overlay(context))]


def tiny_parse(output: str, context: Context) -> dict[str, Any]:
    study = tiny_results(context) / "tiny"
    done = re.findall(r"(\d+) of (\d+) steps \((\d+)%\) done", output)
    result: dict[str, Any] = {"device": context.device, "jobs_done": f"{done[-1][0]} of {done[-1][1]}" if done else "0",
                              "failed_rules": sorted(set(re.findall(r"Error in rule (\w+):", output))),
                              "log_tail": [line[:300] for line in output.strip().splitlines()[-40:]]}
    logs = sorted((study / "logs").rglob("*.log")) if (study / "logs").exists() else []
    texts = {path: path.read_text(errors="replace") for path in logs}
    result["gpu_jobs"] = sum("running on GPU" in text for text in texts.values())
    result["job_logs"] = len(texts)
    failed = [str(path.relative_to(study)) for path, text in texts.items() if "Traceback" in text]
    if failed:
        result["job_logs_with_errors"] = failed
    evaluation = study / "study" / "evaluation.parquet"
    if evaluation.exists():
        import pandas as pd

        frame = pd.read_parquet(evaluation)
        result["accuracy"] = {str(k): float(v) for k, v in zip(frame["model"], frame["accuracy"])}
    with open(context.out / "tiny_study.log", "a") as handle:  # the jobs' own logs after Snakemake's
        for path, text in texts.items():
            handle.write(f"\n===== {path.relative_to(study)} =====\n{capped(text, 256 * 1024)}")
    return result


def ferret_command(model: str, n: int) -> Callable[[Context], list[str]]:
    def command(context: Context) -> list[str]:
        # ferret's timed loop gets what is left of the step once the start-ups, the warm-ups (numba compiling
        # SHAP's code: about 12 s) and the pipeline's side are counted
        ferret_seconds = max(10.0, context.timeout * 0.5 if context.smoke else context.timeout - 55)
        return python(context, "ferret_comparison.py", "--device", context.device, "--ferret-python", context.python,
                      "--model", str(context.models[model]), "--data", str(context.data),
                      "-n", str(4 if context.smoke else n), "--ferret-max-seconds", f"{ferret_seconds:.0f}")
    return command


def ferret_parse(output: str, context: Context) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for record in json_lines(output):
        tool = record.get("tool")
        if tool == "pipeline":
            result["pipeline"] = record
        elif tool == "ferret":
            result["ferret"] = record
        elif tool == "comparison":
            result["ratio"] = record.get("ratio")
    return result


def cost_command(context: Context) -> list[str]:
    return python(context, "cost_accounting.py", "--device", context.device, "--dtypes", "float32", "bfloat16",
                  "--checkpoint", str(context.models["minilm"]), "--data", str(context.data),
                  "-n", str(4 if context.smoke else 64), "--json-rows", "--min-seconds", "1")


def cost_parse(output: str, context: Context) -> dict[str, Any]:
    records = json_lines(output)
    final = [r for r in records if r.get("benchmark") == "cost_accounting"]
    if final:
        result = dict(final[-1])
    else:  # cut short: the rows finished so far
        result = {"rows": [r for r in records if r.get("benchmark") == "cost_accounting_row"], "partial": True}
    result["model"] = "MiniLM-sized" if not context.smoke else "tiny"
    return result


def full_suite_command(context: Context) -> list[str]:
    # attention flow's max-flow problems run on the CPU (about 0.1 s a sentence for BERT-base): timed on 128
    return python(context, "gpu_full_suite.py", "--checkpoint", str(context.models["bert-base"]),
                  "--device", context.device, "--data", str(context.data),
                  *(["-n", "8", "--limit", "attention_flow=4"] if context.smoke else ["--limit", "attention_flow=128"]))


def full_suite_parse(output: str, context: Context) -> dict[str, Any]:
    records = json_lines(output)
    summary = [r for r in records if r.get("benchmark") == "full_suite"]
    return {"methods": [r for r in records if r.get("benchmark") == "full_suite_method"],
            "summary": summary[-1] if summary else None,
            "model": "BERT-base-sized" if not context.smoke else "tiny"}


STEPS = [
    Step("environment", "environment and device", 90, 300, environment_command, parse_last("environment"), "-"),
    Step("models", "random-weight models", 90, 300, models_command, parse_last("models"), "-",
         prepare=models_prepare),
    Step("tiny_study", "4. tiny study via Snakemake on the device", 150, 2400, tiny_command, tiny_parse,
         "tiny_study.log", prepare=tiny_prepare, env={"HF_HUB_OFFLINE": "1"}),
    Step("ferret_minilm", "1. ferret comparison, MiniLM-sized", 120, 1200, ferret_command("minilm", 30),
         ferret_parse, "ferret.log"),
    Step("cost_accounting", "2. cost accounting, float32 and bfloat16", 90, 900, cost_command, cost_parse,
         "cost_accounting.log"),
    Step("full_suite", "3. whole importance suite, 872 sentences, BERT-base-sized", 100, 900, full_suite_command,
         full_suite_parse, "full_suite.log"),
    Step("ferret_bert_base", "1b. ferret comparison, BERT-base-sized", 100, 600, ferret_command("bert-base", 30),
         ferret_parse, "ferret.log", optional=True),
]


# ---------------------------------------------------------------------------------------------- helpers run as steps

def probe(site: str | None) -> int:
    """Print the environment as one JSON line (``probe: environment``); exit 3 when transformers is too old."""
    import platform
    from importlib import metadata

    record: dict[str, Any] = {"probe": "environment", "python": platform.python_version(), "cpu_count": os.cpu_count()}
    for package in ("torch", "transformers", "captum", "ferret-xai", "shap", "lime", "snakemake", "numpy", "pandas",
                    "tokenizers", "huggingface-hub"):
        try:
            record[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            record[package] = None
    import torch
    import transformers

    record["transformers_path"] = str(Path(transformers.__file__).parent)
    record["cuda"] = torch.version.cuda
    record["float32_matmul_precision"] = torch.get_float32_matmul_precision()  # "highest": no TF32
    record["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        record.update(device_name=torch.cuda.get_device_name(0), device_memory_gib=properties.total_memory / 2**30,
                      device_capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                      device_count=torch.cuda.device_count())
    if site:
        from gpu_wheels import unmet_installed

        record["unmet_requirements"] = unmet_installed(Path(site))
    version = tuple(int(part) for part in re.findall(r"\d+", transformers.__version__)[:2])
    if version < MIN_TRANSFORMERS:
        record["error"] = (f"transformers {transformers.__version__} from {record['transformers_path']} is older than "
                           f"{'.'.join(map(str, MIN_TRANSFORMERS))}: the carried wheel did not shadow the image's")
    print(json.dumps(record))
    return 3 if "error" in record else 0


def build_models(folder: Path, vocab: Path, sizes: list[str]) -> int:
    """Build the random-weight checkpoints; print them as one JSON line (``probe: models``)."""
    from common import ENCODER_SIZES, build_random_checkpoint

    record: dict[str, Any] = {"probe": "models"}
    for size in sizes:
        start = time.time()
        path = build_random_checkpoint(folder / size, vocab, size)
        layers, hidden, heads, feed_forward = ENCODER_SIZES[size]
        weights = sum(p.stat().st_size for p in path.glob("*.safetensors"))
        record[size] = {"path": str(path), "layers": layers, "hidden": hidden, "heads": heads,
                        "feed_forward": feed_forward, "parameters_m": weights / 4 / 1e6,
                        "seconds": time.time() - start}
    print(json.dumps(record))
    return 0


def commit() -> str:
    """The commit gpu_stage.sh recorded (the device's copy of the tree may carry a stale .git), else git's."""
    recorded = ROOT / ".gpu" / "commit.txt"
    if recorded.exists():
        return recorded.read_text().strip() + " (recorded by gpu_stage.sh)"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.splitlines()
        return head + (f" (+{len(changed)} changed files)" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_results(results: dict[str, Any], out: Path) -> None:
    (out / "gpu_results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "gpu_results.md").write_text(render(results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="the folder the results go to ($OUT)")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU: a check of the script")
    parser.add_argument("--start", type=float, default=None, help="epoch seconds the run began (default: now)")
    parser.add_argument("--budget", type=float, default=465, help="seconds from --start the steps must end within")
    parser.add_argument("--site", default=None, help="the folder the wheels were installed into (checked)")
    parser.add_argument("--data", type=Path, default=ROOT / ".gpu" / "data" / "sst2" / "validation.parquet")
    parser.add_argument("--vocab", type=Path, default=ROOT / ".gpu" / "minilm" / "vocab.txt")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_suite"), help="models and the tiny study's results")
    parser.add_argument("--only", nargs="+", default=None, metavar="STEP",
                        choices=[step.name for step in STEPS if step.name not in ("environment", "models")],
                        help="run only these measurements (a second try after a fix); the environment and the "
                             "models always run")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--build-models", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return probe(args.site)
    if args.build_models:
        return build_models(args.build_models, args.vocab, args.sizes)
    if args.out is None:
        parser.error("--out is required")

    start = args.start or time.time()
    smoke = args.cpu_smoke
    budget = args.budget if not smoke else 4 * 3600.0
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    context = Context(out=args.out, smoke=smoke, python=sys.executable, site=args.site, data=args.data,
                      vocab=args.vocab, work=args.work, cores=os.cpu_count() or 1, deadline=start + budget)
    results: dict[str, Any] = {
        "suite": "benchmarks/gpu_suite.sh", "mode": "cpu-smoke" if smoke else "gpu",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit(),
        "budget_s": budget, "wall_s": None, "environment": {}, "models": {}, "steps": [],
    }
    print(f"{stamp(start)} suite: {results['mode']} run, {budget:.0f} s budget, results in {args.out}", flush=True)
    for step in STEPS:
        if args.only and step.name not in ("environment", "models", *args.only):
            continue
        record = run_step(step, context, start)
        results["steps"].append(record)
        if step.name == "environment":
            results["environment"] = record["result"] or {"error": record["error"]}
        elif step.name == "models":
            results["models"] = {role: {**record["result"].get(path.name, {}), "size": path.name}
                                 for role, path in context.models.items()}
        results["wall_s"] = time.time() - start
        write_results(results, args.out)
        if step.name in ("environment", "models") and record["status"] != "ok":
            print(f"{stamp(start)} suite: stopping, the {step.name} step failed: {record['error']}", flush=True)
            return 3
    print(f"{stamp(start)} suite: done; {args.out / 'gpu_results.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
