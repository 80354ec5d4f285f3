"""The GPU suite's results (gpu_results.json, written by benchmarks/gpu_run.py) as a markdown page.

    python benchmarks/gpu_report.py OUT/gpu_results.json > benchmarks/results/gpu_h200.md

One section per measurement, each built from its step's record; a step that failed, timed
out or was skipped says so (with its error) instead of its figures. The page is a pure
function of the JSON (:func:`render`), so that it can be rebuilt from a committed results file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

FERRET_FIDELITY = ("LIME min(n², 5000) samples, Partition SHAP 500 evaluations, "
                   "IG 50 steps (run twice, for IG and IG x input)")


def number(value: Any, spec: str = ".3g", missing: str = "-") -> str:
    """``value`` formatted with ``spec``, or ``missing`` for None, NaN and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return missing
    return format(value, spec)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table (the first column left-aligned, the others right-aligned)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def step_of(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((step for step in results.get("steps", []) if step.get("name") == name), None)


def status_line(step: dict[str, Any] | None) -> list[str]:
    """A sentence for a step that has no figures to show (not run, failed, timed out), else nothing."""
    if step is None:
        return ["Not run."]
    if step.get("status") == "ok":
        return []
    error = step.get("error")
    return [f"**{step.get('status', '?')}** after {number(step.get('wall_s'), '.0f')} s "
            f"(budget {number(step.get('budget_s'), '.0f')} s)" + (f": `{error}`" if error else ".")]


def header(results: dict[str, Any]) -> list[str]:
    env = results.get("environment", {})
    device = env.get("device_name") or env.get("device", "?")
    mode = " (CPU smoke run, tiny sizes: not a measurement)" if results.get("mode") != "gpu" else ""
    lines = [f"# GPU benchmarks: {device}{mode}", ""]
    versions = ", ".join(f"{name} {env[name]}" for name in ("python", "torch", "cuda", "transformers", "captum",
                                                            "ferret-xai", "shap", "snakemake") if env.get(name))
    lines += [f"Run {results.get('date', '?')} at commit {results.get('commit', '?')} by "
              f"`benchmarks/gpu_suite.sh`, {number(results.get('wall_s'), '.0f')} s of a "
              f"{number(results.get('budget_s'), '.0f')} s budget. {versions}."]
    if env.get("float32_matmul_precision"):
        lines[-1] += f" float32 matrix products at torch's `{env['float32_matmul_precision']}` precision."
    if env.get("device_memory_gib"):
        lines[-1] += (f" {device}: {number(env['device_memory_gib'], '.0f')} GiB, {env.get('cpu_count', '?')} CPU "
                      f"cores beside it.")
    if env.get("unmet_requirements"):
        lines += ["", f"Installed with unmet version requirements ({len(env['unmet_requirements'])}): "
                  + "; ".join(f"{p['package']} needs {p['requires']}, has {p['installed']}"
                              for p in env["unmet_requirements"]) + "."]
    if env.get("error"):
        lines += ["", f"**Environment check failed**: `{env['error']}`"]
    models = results.get("models", {})
    if models:
        lines += ["", "Models (random weights, built offline from configs; speed does not depend on trained weights): "
                  + "; ".join(f"{name}: {m.get('layers')} layers, hidden {m.get('hidden')}, {m.get('heads')} heads, "
                              f"{number(m.get('parameters_m'), '.3g')}M parameters" for name, m in models.items())
                  + ". Tokenizer: WordPiece over the MiniLM vocabulary."]
    lines += ["", *table(["step", "status", "wall s", "budget s"],
                         [[step.get("title", step.get("name", "?")), step.get("status", "?"),
                           number(step.get("wall_s"), ".0f"), number(step.get("budget_s"), ".0f")]
                          for step in results.get("steps", [])])]
    return lines


def per_example(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    return f"{seconds * 1e3:.0f} ms/example" if seconds < 1 else f"{seconds:.2f} s/example"


def ferret_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Explanation suite beside ferret", ""]
    shown = False
    for name in ("ferret_minilm", "ferret_bert_base"):
        step = step_of(results, name)
        if step is None:
            continue
        shown = True
        result = step.get("result") or {}
        ours, ferret = result.get("pipeline") or {}, result.get("ferret") or {}
        lines += [f"### {step.get('title', name)}", ""]
        if not ours and not ferret:
            lines += status_line(step) + [""]
            continue
        ig = (f"KernelSHAP {ours.get('kernel_shap_samples', '?')} and LIME {ours.get('lime_samples', '?')} samples "
              f"each, IG median {number(ours.get('ig_steps_median'), '.0f')} Gauss-Legendre steps with median "
              f"completeness gap {number(ours.get('ig_completeness_gap_median'), '.0e')} "
              f"(max {number(ours.get('ig_completeness_gap_max'), '.0e')})")
        rows = []
        if ferret.get("total_s_per_example") is not None:
            rows.append([f"ferret {ferret.get('versions', {}).get('ferret-xai', '')}".strip(),
                         per_example(ferret.get("explain_s_per_example")),
                         per_example(ferret.get("evaluate_s_per_example")),
                         per_example(ferret.get("total_s_per_example")), FERRET_FIDELITY])
        if ours:
            rows.append(["pipeline", per_example(ours.get("explain_s_per_example")),
                         per_example(ours.get("evaluate_s_per_example")),
                         per_example(ours.get("total_s_per_example")), ig])
        lines += table(["", "explain", "evaluate", "total", "fidelity"], rows) + [""]
        n = ours.get("n", ferret.get("n"))
        if result.get("ratio"):
            lines += [f"On the first {n} SST-2 validation sentences, from one run: the pipeline is "
                      f"**{result['ratio']:.1f}x** faster than ferret (target 10x)."]
        elif ferret.get("error") or result.get("ferret_error"):
            lines += [f"ferret's side failed: `{ferret.get('error') or result.get('ferret_error')}`"]
        by_method = ours.get("explain_s_per_example_by_method") or {}
        if by_method:
            lines += ["Pipeline, explain by method: " + ", ".join(
                f"{method} {seconds * 1e3:.1f} ms" for method, seconds in by_method.items()) + " per example."]
        if ferret.get("stand_ins"):
            lines += [f"ferret ran with stand-ins for modules it imports but does not use here: "
                      f"{', '.join(ferret['stand_ins'])}."]
        lines += status_line(step) + [""]
    return lines + ([] if shown else ["Not run.", ""])


def cost_section(results: dict[str, Any]) -> list[str]:
    step = step_of(results, "cost_accounting")
    lines = ["## Cost accounting: achieved throughput against the model's own speed", ""]
    rows = (step or {}).get("result", {}).get("rows") or []
    if not rows:
        return lines + status_line(step) + [""]
    result = step["result"]
    lines += [f"{result.get('n', '?')} SST-2 validation sentences, batch size {result.get('batch_size', '?')}, "
              f"model {result.get('model', '?')}. `ratio`: seconds per example over the same work (forward and "
              f"backward passes counted by hooks) at the speed of plain batched forward and forward+backward passes "
              f"measured beside it (target: within 1.3x for gradient and ablation methods). bfloat16 against "
              f"float32: the largest raw score difference, the largest difference of per-example |scores| "
              f"normalised to sum to one (as the agreement metrics compare them), and the smallest Kendall tau "
              f"between the two rankings of an example's words.", ""]
    dtypes = list(dict.fromkeys(row.get("dtype", "float32") for row in rows))
    by_key = {(row.get("method"), row.get("dtype", "float32")): row for row in rows}
    methods = list(dict.fromkeys(row.get("method") for row in rows))
    others = [d for d in dtypes if d != "float32"]
    head = ["method", "family"]
    for dtype in dtypes:
        head += [f"{dtype} ms/ex", f"{dtype} ratio"]
    for dtype in others:
        head += [f"max abs diff ({dtype})", "normalised", "min tau"]
    body = []
    for method in methods:
        first = next(by_key[(method, d)] for d in dtypes if (method, d) in by_key)
        line = [str(method), str(first.get("family", ""))]
        for dtype in dtypes:
            row = by_key.get((method, dtype), {})
            seconds = row.get("s_per_example")
            line += [number(seconds * 1e3 if isinstance(seconds, (int, float)) else None, ".2f"),
                     number(row.get("ratio"), ".2f")]
        for dtype in others:
            row = by_key.get((method, dtype), {})
            line += [number(row.get("max_abs_diff_vs_float32"), ".1e"),
                     number(row.get("max_abs_diff_normalised_vs_float32"), ".1e"),
                     number(row.get("min_kendall_tau_vs_float32"), ".3f")]
        body.append(line)
    lines += table(head, body)
    for dtype in dtypes:
        bound = by_key.get(("(forward+backward)", dtype))
        if bound and isinstance(bound.get("forward_s_per_example"), (int, float)):
            lines += ["", f"{dtype}: plain forward {bound['forward_s_per_example'] * 1e3:.3f} ms/example, "
                          f"forward+backward {bound['s_per_example'] * 1e3:.3f} ms/example."]
    return lines + [""] + status_line(step) + [""]


def full_suite_section(results: dict[str, Any]) -> list[str]:
    step = step_of(results, "full_suite")
    lines = ["## The whole importance suite on the SST-2 validation set", ""]
    result = (step or {}).get("result") or {}
    rows = result.get("methods") or []
    if not rows:
        return lines + status_line(step) + [""]
    summary = result.get("summary") or {}
    lines += [f"Every method `config/config.yaml` runs for a transformer, with its settings, on "
              f"{summary.get('n', result.get('n', '?'))} sentences, model {result.get('model', '?')}, batch size "
              f"{summary.get('batch_size', '?')}; peak GPU memory from `torch.cuda.max_memory_allocated`, reset "
              f"before each method.", ""]
    body = [[str(row.get("method")) + (f" (first {row['n']})" if row.get("n") and row["n"] < summary.get("n", 0)
                                       else ""), str(row.get("family", "")), number(row.get("seconds"), ".1f"),
             number(row["s_per_example"] * 1e3 if isinstance(row.get("s_per_example"), (int, float)) else None, ".2f"),
             number(row.get("forward_passes_per_example"), ".1f"), number(row.get("peak_mib"), ".0f")]
            for row in rows]
    lines += table(["method", "family", "seconds", "ms/example", "passes/example", "peak MiB"], body)
    if summary:
        extrapolated = summary.get("extrapolated") or []
        lines += ["", f"Total {number(summary.get('total_s'), '.1f')} s"
                  + (f" ({', '.join(extrapolated)} counted at its measured rate for all {summary.get('n')} sentences)"
                     if extrapolated else "") + f"; peak GPU memory {number(summary.get('peak_mib'), '.0f')} MiB."]
    ig = next((row for row in rows if row.get("method") == "integrated_gradients"), None)
    if ig and ig.get("ig_steps_median") is not None:
        lines += [f"Integrated gradients: median {number(ig['ig_steps_median'], '.0f')} steps (max "
                  f"{number(ig.get('ig_steps_max'), '.0f')}), median completeness gap "
                  f"{number(ig.get('completeness_gap_median'), '.0e')}."]
    return lines + [""] + status_line(step) + [""]


def tiny_study_section(results: dict[str, Any]) -> list[str]:
    step = step_of(results, "tiny_study")
    lines = ["## The workflow's GPU path: the tiny study end to end", ""]
    if step is None:
        return lines + ["Not run.", ""]
    result = step.get("result") or {}
    verdict = "passed" if step.get("status") == "ok" else f"**{step.get('status')}**"
    lines += [f"`snakemake --configfile config/tiny.yaml <overlay>` with `device: {result.get('device', '?')}` "
              f"and the MiniLM entry on a local random-weight checkpoint: {verdict} in "
              f"{number(step.get('wall_s'), '.0f')} s; {result.get('jobs_done', '?')} jobs done; "
              f"{result.get('gpu_jobs', '?')} job logs name the GPU they ran on."]
    if result.get("failed_rules"):
        lines += [f"Failed rules: {', '.join(result['failed_rules'])} (their logs are in tiny_study.log)."]
    if result.get("accuracy"):
        lines += ["Accuracy: " + ", ".join(f"{k} {number(v, '.3f')}" for k, v in result["accuracy"].items()) + "."]
    if step.get("error"):
        lines += [f"Error: `{step['error']}`"]
    if result.get("log_tail"):
        lines += ["", "<details><summary>end of the log</summary>", "", "```", *result["log_tail"], "```", "",
                  "</details>"]
    return lines + [""]


SECTIONS: list[Callable[[dict[str, Any]], list[str]]] = [
    header, ferret_section, cost_section, full_suite_section, tiny_study_section,
]


def render(results: dict[str, Any]) -> str:
    """The markdown page of one run of the suite."""
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(results) + [""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(render(json.loads(Path(sys.argv[1]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
