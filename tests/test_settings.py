"""Each stage's settings block holds exactly the config values it reads, so a change reruns exactly its jobs.

A rule passes its stage's block as ``params: settings`` (workflow/rules/common.smk,
``stage_settings``) and Snakemake reruns a job whose params changed; these tests show, on
the tiny study with a planted-shortcut dataset added, that changing a config value changes
the blocks that declare it (``reads``) and no other, and that the declarations name keys of
the schema.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from analysis.config import load_config, load_schema
from analysis.stages.common import DeviceSettings, StageSettings
from analysis.stages.groundtruth import FIGURE_VARIANTS, TABLE_VARIANTS

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "workflow" / "rules"


def settings_classes() -> dict[str, type[StageSettings]]:
    """Every stage's settings block, by class name."""
    found = {}
    for path in sorted((ROOT / "analysis" / "stages").glob("*.py")):
        module = importlib.import_module(f"analysis.stages.{path.stem}")
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, StageSettings) and value.__module__ == module.__name__
                    and value not in (StageSettings, DeviceSettings)):
                found[name] = value
    return found


CLASSES = settings_classes()


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The tiny study, and a dataset derived from its synthetic one with a planted shortcut."""
    tiny = load_config(ROOT / "config" / "tiny.yaml")
    datasets = {**tiny["datasets"], "planted": {"base": "synthetic", "train_n": 200, "eval_n": 100, "explain_n": 20,
                                                "shortcut": {"token": "zeugma", "rate": 0.3}}}
    return load_config(ROOT / "config" / "tiny.yaml", {"datasets": datasets})


def wildcard_values(config: dict[str, Any], name: str) -> list[str]:
    return {"dataset": list(config["datasets"]), "model": list(config["models"]), "figure": list(FIGURE_VARIANTS),
            "kind": list(TABLE_VARIANTS)}[name]


def blocks(config: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], Any]:
    """Every stage's block for every combination of its wildcards (an error's type where it cannot be built)."""
    out = {}
    for name, cls in CLASSES.items():
        combos: list[dict[str, str]] = [{}]
        for wildcard in cls.wildcards:
            combos = [{**combo, wildcard: value} for combo in combos for value in wildcard_values(config, wildcard)]
        for combo in combos:
            try:
                out[(name, tuple(combo.items()))] = cls.from_config(config, **combo).as_params()
            except Exception as error:  # a perturbed value the block cannot take: it reads that value
                out[(name, tuple(combo.items()))] = f"error: {type(error).__name__}"
    return out


def changed(before: dict, after: dict) -> set[tuple]:
    return {key for key in before if before[key] != after[key]}


def covers(declared: str, key: str) -> bool:
    """Whether the declared path ``declared`` (``*`` any one name; alone, the whole config) reads config key ``key``."""
    if declared == "*":
        return True
    d, k = declared.split("."), key.split(".")
    return all(a in ("*", b) for a, b in zip(d, k))


def reads(name: str, key: str) -> bool:
    return any(covers(declared, key) for declared in CLASSES[name].reads)


def get(config: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        config = config[part]
    return config


def with_value(config: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    changed_config = copy.deepcopy(config)
    *parents, last = key.split(".")
    node = changed_config
    for part in parents:
        node = node[part]
    node[last] = value
    return changed_config


def perturbed(value: Any) -> Any:
    """A different value of the same shape (the first item of a list changed, so "the first of" readers see it)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.125
    if isinstance(value, str):
        return f"{value}_changed"
    if isinstance(value, list):
        return [perturbed(value[0]), *value[1:]] if value else ["changed"]
    if isinstance(value, dict):
        return {"changed": 1}  # an empty mapping (a method with its default settings)
    return "changed"  # None


def leaves(config: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every value of the config that is not a non-empty mapping."""
    paths = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        paths += leaves(value, f"{path}.") if isinstance(value, dict) and value else [path]
    return paths


# one setting per stage: changing it reruns that stage's jobs
CHOSEN = {
    "DataSettings": "datasets.synthetic.train_n",
    "TrainSettings": "models.bilstm_tanh.epochs",
    "ExplainSettings": "importance.pooling",
    "AgreementSettings": "agreement.floor_draws",
    "SeedAgreementSettings": "agreement.level",
    "SeedSpreadSettings": "figures.headline_metric",
    "ConcentrationSettings": "agreement.n_resamples",
    "FigureSettings": "figures.heatmap_examples",
    "ShortcutSettings": "groundtruth.shortcut.top1_threshold",
    "PlausibilitySettings": "groundtruth.plausibility.variants",
    "SanitySettings": "groundtruth.sanity.n_examples",
    "GroundTruthFigureSettings": "groundtruth.sanity.variants",
    "GroundTruthTableSettings": "groundtruth.shortcut.variants",
    "SelectionSetSettings": "heads.selection_n",
    "SelectionExplainSettings": "heads.methods",
    "LayerScoresSettings": "importance.batch_size",
    "HeadAgreementSettings": "heads.variant",
    "HeadsFigureSettings": "heads.metrics",
    "InterventionSettings": "interventions.permutation.draws",
    "InterventionsGatherSettings": "models.bilstm_tanh.attention",
    "InterventionFiguresSettings": "interventions.ablation.removal",
    "ClaimsSettings": "claims.accuracy_margin",
    "SummarySettings": "report.show_offensive_examples",
    "PublishSettings": "title",
    "ExamplesSettings": "report.show_offensive_examples",
}


def test_every_stage_block_has_a_chosen_setting():
    assert set(CHOSEN) == set(CLASSES)


@pytest.mark.parametrize(("name", "key"), CHOSEN.items(), ids=list(CHOSEN))
def test_a_setting_changes_its_stage_block_and_no_block_that_does_not_read_it(config, name, key):
    before = blocks(config)
    after = blocks(with_value(config, key, perturbed(get(config, key))))
    moved = changed(before, after)
    assert any(stage == name for stage, _ in moved), f"changing {key} leaves {name} as it was"
    assert reads(name, key)
    strays = sorted({stage for stage, _ in moved if not reads(stage, key)})
    assert not strays, f"changing {key} changes {strays}, which do not declare it"


def test_no_block_changes_with_a_value_it_does_not_declare(config):
    """Every value of the config, changed one at a time: only the blocks that declare it change."""
    before = blocks(config)
    keys = leaves(config)
    assert len(keys) > 100
    strays = {}
    for key in keys:
        moved = changed(before, blocks(with_value(config, key, perturbed(get(config, key)))))
        undeclared = sorted({stage for stage, _ in moved if not reads(stage, key)})
        if undeclared:
            strays[key] = undeclared
    assert not strays, f"blocks that read a value they do not declare in `reads`: {strays}"


def test_a_per_dataset_or_per_model_block_holds_only_its_own_entry(config):
    before = blocks(config)
    moved = changed(before, blocks(with_value(config, "models.bilstm_tanh.epochs", 3)))
    assert ("TrainSettings", (("dataset", "synthetic"), ("model", "bilstm_tanh"))) in moved
    assert not [key for key in moved if key[0] == "TrainSettings" and ("model", "minilm") in key[1]]
    moved = changed(before, blocks(with_value(config, "datasets.planted.shortcut.rate", 0.5)))
    assert {key for key in moved if key[0] in ("DataSettings", "ShortcutSettings")} == {
        ("DataSettings", (("dataset", "planted"),)),
        *(("ShortcutSettings", (("dataset", "planted"), ("model", model))) for model in ("bilstm_tanh", "minilm"))}
    # a derived dataset reads its base's entry: changing the base's reruns both
    moved = changed(before, blocks(with_value(config, "datasets.synthetic.explain_n", 10)))
    assert {key for key in moved if key[0] == "DataSettings"} == {
        ("DataSettings", (("dataset", "synthetic"),)), ("DataSettings", (("dataset", "planted"),))}


def schema_has(schema: dict[str, Any], path: str) -> bool:
    node = schema
    for part in path.split("."):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        if part in properties:
            node = properties[part]
        elif isinstance(extra, dict):
            node = extra
        elif part == "*" and properties:
            return True  # the whole config, or any key of a block
        else:
            return False
    return True


@pytest.mark.parametrize("name", CLASSES, ids=list(CLASSES))
def test_a_block_reads_only_keys_of_the_schema(name):
    schema = load_schema()
    assert CLASSES[name].reads, f"{name} declares no config key"
    missing = [path for path in CLASSES[name].reads if not schema_has(schema, path)]
    assert not missing, f"{name}.reads names keys the schema does not have: {missing}"


@pytest.mark.parametrize("name", CLASSES, ids=list(CLASSES))
def test_a_block_comes_back_from_its_params(config, name):
    cls = CLASSES[name]
    block = cls.from_config(config, **{w: wildcard_values(config, w)[-1] for w in cls.wildcards})
    assert cls(**block.as_params()) == block  # what the script rebuilds is what the rule passed


def rule_settings() -> dict[str, tuple[str, str]]:
    """Rule -> (its rule file, the settings class its ``params: settings`` builds)."""
    found = {}
    for path in RULES.glob("*.smk"):
        for rule, body in re.findall(r"^\s*rule (\w+):\n(.*?)(?=^\s*rule |\Z)", path.read_text(), flags=re.M | re.S):
            match = re.search(r"settings=stage_settings\((\w+)\)", body)
            if match:
                found[rule] = (path.stem, match[1])
    return found


def test_every_rule_passes_a_block_of_its_own_stage_module():
    found = rule_settings()
    used = {cls for _, cls in found.values()}
    assert used == set(CLASSES), f"blocks no rule passes: {sorted(set(CLASSES) - used)}"
    for rule, (rule_file, name) in found.items():
        assert CLASSES[name].__module__ == f"analysis.stages.{rule_file}", f"rule {rule} passes {name}"
    # a rule that reads no setting has no block; these are the ones that read none
    rules = {rule for path in RULES.glob("*.smk") for rule in re.findall(r"^\s*rule (\w+):", path.read_text(), re.M)}
    assert rules - set(found) == {"merge_shards", "groundtruth_gather", "heads_gather", "gather_study",
                                  "accuracy_figure"}
