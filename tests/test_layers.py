"""Imports point down: workflow (rules, scripts) -> analysis.stages -> analyses and methods -> foundation."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "analysis"
RULES = ROOT / "workflow" / "rules"
SCRIPTS = ROOT / "workflow" / "scripts"
SCRIPT_IMPORTS = ("analysis.stages", "analysis.logs", "analysis.runtime")
"""What a workflow script may import from the package: its stage, logging and the job's threads."""
RULE_IMPORTS = ("analysis.stages", "analysis.config")
"""What the Snakefile and the rule files may import: settings and target lists, config validation."""


def imports_of(path: Path) -> set[str]:
    """Every module a Python file imports (at the top or inside functions), with ``from m import n`` as m and m.n."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module or "")
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def within(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(f"{m}.") for m in modules)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


LIBRARY_FILES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent.name != "stages")
"""Every module of the package outside analysis/stages: the analyses, methods and foundation (and api, cli)."""


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=[module_name(p) for p in LIBRARY_FILES])
def test_no_module_below_the_stages_imports_them(path):
    upward = sorted(n for n in imports_of(path) if within(n, ("analysis.stages", "analysis.pipeline")))
    assert not upward, f"{module_name(path)} imports {upward}: move what it needs below analysis.stages"


def test_stages_mirror_the_rule_files():
    stages = {p.stem for p in (PACKAGE / "stages").glob("*.py")} - {"__init__"}
    rules = {p.stem for p in RULES.glob("*.smk")}
    assert stages == rules, "one analysis/stages/<name>.py per workflow/rules/<name>.smk (common: what they share)"
    assert not (PACKAGE / "pipeline.py").exists()
    assert not [p for p in PACKAGE.glob("*/stages.py")], "a package's stages live in analysis/stages/<rule>.py"


def scripts_by_rule_file() -> dict[str, str]:
    """Script name -> the rule file whose rule runs it."""
    found = {}
    for rules in RULES.glob("*.smk"):
        for script in re.findall(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', rules.read_text()):
            found[script] = rules.stem
    return found


SCRIPT_FILES = sorted(SCRIPTS.glob("*.py"))


@pytest.mark.parametrize("path", SCRIPT_FILES, ids=[p.stem for p in SCRIPT_FILES])
def test_a_script_calls_only_its_rule_files_stage(path):
    imported = {n for n in imports_of(path) if within(n, ("analysis",))}
    assert imported and all(within(n, SCRIPT_IMPORTS) for n in imported), f"{path.name} imports {sorted(imported)}"
    rule_file = scripts_by_rule_file()[path.stem]
    stages = {n.split(".")[2] for n in imported if within(n, ("analysis.stages",))}
    assert stages <= {rule_file, "common"} and stages, f"{path.name} (rules/{rule_file}.smk) calls {sorted(stages)}"


def test_the_rule_files_import_only_stages_and_the_config():
    for path in [ROOT / "Snakefile", *RULES.glob("*.smk")]:
        imported = re.findall(r"^\s*(?:from|import)\s+(analysis[\w.]*)", path.read_text(), flags=re.M)
        assert all(within(n, RULE_IMPORTS) for n in imported), f"{path.name} imports {imported}"
        stages = {n.split(".")[2] for n in imported if within(n, ("analysis.stages",)) and n != "analysis.stages"}
        if path.suffix == ".smk" and path.stem != "common":
            assert stages <= {path.stem}, f"{path.name} takes settings from {sorted(stages)}"
