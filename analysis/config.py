"""Study configs: JSON-schema validation with defaults, plus checks against the registries.

The schema (``workflow/schemas/config.schema.yaml``) catches wrong keys and types; the
registry checks catch unknown dataset, model family, method and metric names and bad
method settings. Every error names the config key and the allowed values.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The config is invalid; the message names the key and the fix."""


def _validator_with_defaults(schema: dict[str, Any]):
    from jsonschema import Draft202012Validator, validators

    base = Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return validators.extend(base, {"properties": set_defaults})(schema)


def coerce_to_schema(value: Any, schema: dict[str, Any]) -> Any:
    """Turn strings into the numbers, booleans or nulls the schema expects, recursively.

    ``snakemake --config key={a: 1}`` hands nested values over as strings; where the schema
    wants an integer, number, boolean or null, a string that parses as one is converted.
    Strings where the schema wants strings are left alone.
    """
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {k: coerce_to_schema(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce_to_schema(v, schema.get("items", {})) for v in value]
    if isinstance(value, str) and "null" in types and value.strip() in ("null", "~"):
        return None  # `--config data_dir=null`: no folder is called "null"
    if isinstance(value, str) and set(types) & {"integer", "number", "boolean", "null"} and "string" not in types:
        parsed = yaml.safe_load(value)
        if isinstance(parsed, bool) and "boolean" in types or parsed is None and "null" in types:
            return parsed
        if isinstance(parsed, int | float) and not isinstance(parsed, bool) and {"integer", "number"} & set(types):
            return parsed
    return value


def load_schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate_schema(config: dict[str, Any]) -> dict[str, Any]:
    """Validate against the JSON schema, filling defaults in place; raise :class:`ConfigError`."""
    schema = load_schema()
    config.update(coerce_to_schema(dict(config), schema))
    validator = _validator_with_defaults(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors[:10]:
            key = ".".join(map(str, error.absolute_path)) or "(top level)"
            message = error.message
            if error.validator == "additionalProperties":
                allowed = sorted(error.schema.get("properties", {}))
                message += f"; allowed keys here: {allowed}" if allowed else ""
            lines.append(f"  config key {key}: {message}")
        raise ConfigError("invalid config:\n" + "\n".join(lines))
    return config


def check_registries(config: dict[str, Any]) -> None:
    """Names in the config must exist in the registries; method settings must be valid."""
    from analysis.importance import IMPORTANCE_METHODS, MethodSettingsError, make_method
    from analysis.metrics.agreement import METRICS
    from analysis.models import MODEL_FAMILIES
    from analysis.registry import UnknownNameError

    problems = []
    for name, entry in config["datasets"].items():
        problems += dataset_problems(name, entry, config)
    for name, entry in config["models"].items():
        if entry["family"] not in MODEL_FAMILIES:
            problems.append(f"models.{name}.family: unknown family {entry['family']!r}; choose one of {MODEL_FAMILIES.names()}")
        if entry["family"] == "transformer" and "checkpoint" not in entry:
            problems.append(f"models.{name}: a transformer needs `checkpoint` (hub id, local folder or minilm-package)")
        if entry["family"] == "rnn" and "checkpoint" in entry:
            problems.append(f"models.{name}: `checkpoint` is for transformers; rnn models are trained from scratch")
    methods = config["importance"]["methods"]
    for name, settings in methods.items():
        try:
            make_method(name, settings, where=f"importance.methods.{name}")
        except (UnknownNameError, MethodSettingsError) as error:
            problems.append(f"importance.methods.{name}: {error}")
    for metric in config["agreement"]["metrics"]:
        if metric not in METRICS:
            problems.append(f"agreement.metrics: unknown metric {metric!r}; choose one of {METRICS.names()}")
    reference = config["agreement"]["reference"]
    if reference not in methods:
        problems.append(f"agreement.reference: {reference!r} is not among importance.methods {sorted(methods)}")
    elif reference in IMPORTANCE_METHODS and IMPORTANCE_METHODS.get(reference).family not in ("gradient", "ablation"):
        problems.append(f"agreement.reference: {reference!r} is not a causal (gradient or ablation) method")
    from analysis.attention.encoder_support import encoder_method_problems  # revisions; methods a family refuses

    problems += encoder_method_problems(config)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  {p}" for p in problems))


def dataset_problems(name: str, entry: dict[str, Any], config: dict[str, Any] | None = None) -> list[str]:
    """What is wrong with one dataset entry: the entry itself, its base, labels and shortcut, sizes, the mirror.

    The entry is parsed as the stages parse it (:func:`analysis.data.spec_from_entry`,
    with the config's other entries and ``data_dir``), so an unknown name, a missing
    ``hub`` block or column choice, a bad label filter, label names that cannot be read,
    and a ``data_dir`` without the dataset's folder are reported here, before any job runs.
    """
    from analysis.data import DatasetEntryError, DataUnavailableError, spec_from_entry
    from analysis.data.loading import mirror_problem
    from analysis.registry import UnknownNameError

    config = config if config is not None else {"datasets": {name: entry}}
    try:
        # the shortcut's `label` is checked below against the classes left after a label filter
        spec = spec_from_entry(name, entry, entries=config.get("datasets", {}), data_dir=config.get("data_dir"))
    except (DatasetEntryError, UnknownNameError, DataUnavailableError) as error:
        return [str(error)]
    problems = []
    if entry.get("eval_n") is not None and entry.get("explain_n", 0) > entry["eval_n"]:
        problems.append(f"datasets.{name}.explain_n ({entry['explain_n']}) exceeds eval_n ({entry['eval_n']})")
    if entry.get("generator") and not spec.generator:
        problems.append(f"datasets.{name}.generator: {spec.name!r} is read, not generated; remove `generator`")
    if entry.get("shortcut") is not None:
        from analysis.groundtruth.shortcuts import ShortcutConfig, ShortcutError

        where = f"datasets.{name}.shortcut"
        try:
            ShortcutConfig.from_settings(entry["shortcut"], where=where).check_labels(spec.label_names, where=where)
        except ShortcutError as error:
            problems.append(str(error))
    missing_mirror = mirror_problem(spec, config.get("data_dir"))
    if missing_mirror:
        problems.append(missing_mirror)
    return problems


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Schema validation with defaults, then registry checks. Returns the completed config."""
    validate_schema(config)
    check_registries(config)
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    config = yaml.safe_load(path.read_text()) or {}
    config.update(overrides or {})
    return validate_config(config)


def methods_for(config: dict[str, Any], model_name: str) -> list[str]:
    """The configured methods that apply to a model's kind (others are skipped for it)."""
    from analysis.importance import IMPORTANCE_METHODS
    from analysis.models import MODEL_FAMILIES

    kind = MODEL_FAMILIES.get(config["models"][model_name]["family"]).kind
    return [m for m in config["importance"]["methods"] if kind in IMPORTANCE_METHODS.get(m).model_kinds]


def results_root(config: dict[str, Any]) -> Path:
    return Path(config["results_dir"]) / config["study"]


def rnn_models(config: dict[str, Any], *, uniform: bool = False) -> list[str]:
    """RNN models with learned attention (or, with ``uniform``, the frozen-uniform controls)."""
    return [name for name, entry in config.get("models", {}).items() if entry.get("family") == "rnn"
            and (entry.get("attention", "tanh") == "uniform") == uniform]


def transformer_models(config: dict[str, Any]) -> list[str]:
    return [name for name, entry in config.get("models", {}).items() if entry.get("family") == "transformer"]
