"""Study configs: composed from files, validated by JSON schema with defaults, checked against the registries.

The schema (``analysis/schemas/config.schema.yaml``, installed with the package) catches
wrong keys and types; the registry checks catch unknown dataset, model family, method and
metric names, bad method settings, missing checkpoint folders and mirrors, and methods a
model family cannot run. Every error is one line that names the config key, what is wrong
and the allowed values, with a "did you mean" for a near miss; ``attention-study validate``
and the Snakefile print the same message.

A config file that names a whole study (every key the schema requires: study, datasets,
models, seeds) stands on its own; one that holds only some keys is merged over the
default study ``config/config.yaml`` (:func:`compose_config`, as Snakemake merges
``--configfile`` files: mappings key by key, lists and scalars replaced).
"""

from __future__ import annotations

import copy
import difflib
import logging
import math
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"
#: The default study, relative to the working directory (the repository): the base a partial config overlays.
DEFAULT_CONFIG = Path("config") / "config.yaml"


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
    That includes exponents without a decimal point (``lr: 2e-5``), which YAML 1.1, and so
    PyYAML and Snakemake, read as strings. Strings where the schema wants strings are left alone.
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
        if isinstance(parsed, str) and "number" in types:
            try:
                number = float(parsed)
            except ValueError:
                return value
            return number if math.isfinite(number) else value
    return value


def load_schema() -> dict[str, Any]:
    """The config schema shipped inside the package (read through importlib, so any install finds it)."""
    return yaml.safe_load(resources.files("analysis").joinpath("schemas", "config.schema.yaml").read_text())


def did_you_mean(name: Any, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to a misspelt ``name``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message shows the value, never a whole block of config."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _schema_problems(error: Any) -> list[str]:
    """One line per problem of a jsonschema error: the key, what is wrong, the allowed values; never the schema."""
    path = ".".join(map(str, error.absolute_path))
    where = path or "(top level)"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        here = f"in {path}" if path else "at the top level"
        return [f"{path + '.' if path else ''}{key}: unknown key{did_you_mean(key, allowed)}; "
                f"allowed {here}: {', '.join(allowed) or 'none'}" for key in sorted(set(error.instance) - set(allowed))]
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return [f"{where}: {_short(error.instance)} is not allowed{did_you_mean(error.instance, error.validator_value)}; "
                f"choose one of: {allowed}"]
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return [f"{where}: expected {' or '.join(expected)}, got {_short(error.instance)}"]
    message = error.message if len(error.message) <= 200 else error.message[:195] + " ..."
    return [f"{where}: {message}"]


def validate_schema(config: dict[str, Any]) -> dict[str, Any]:
    """Validate against the JSON schema, filling defaults in place; raise :class:`ConfigError`."""
    schema = load_schema()
    config.update(coerce_to_schema(dict(config), schema))
    validator = _validator_with_defaults(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [line for error in errors for line in _schema_problems(error)]
    if problems:
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ConfigError("invalid config:\n" + "\n".join(f"  {p}" for p in problems[:10]) + more)
    return config


def is_whole_study(config: dict[str, Any]) -> bool:
    """Whether ``config`` names every key the schema requires, so it stands on its own (not an overlay)."""
    return set(load_schema()["required"]) <= set(config)


def overlay(base: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """``base`` with each layer merged over it in turn, as Snakemake merges ``--configfile`` files.

    Mappings merge key by key (so a layer can change one setting of one model); lists and
    scalars replace. An overlay adds and changes entries, it cannot remove one: to drop a
    dataset, model or method, copy the study and edit it.
    """
    merged = copy.deepcopy(base)
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = overlay(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
    return merged


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"config file {path} holds a {type(config).__name__}, not a mapping of config keys")
    return config or {}


def compose_config(*paths: str | Path, overrides: dict[str, Any] | None = None,
                   default: str | Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """The config of ``snakemake --configfile PATH ... --config KEY=VALUE ...``, before validation.

    The files and ``overrides`` are merged in order (:func:`overlay`). When together they
    name a whole study (:func:`is_whole_study`) that is the config; otherwise they are
    merged over the default study ``default``, as in
    ``--configfile config/study.yaml mine.yaml`` or a lone ``--configfile mine.yaml``
    holding only some keys.
    """
    merged = overlay({}, *(read_config_file(p) for p in paths), overrides or {})
    if is_whole_study(merged):
        return merged
    if not Path(default).is_file():
        missing = sorted(set(load_schema()["required"]) - set(merged))
        raise ConfigError(f"invalid config:\n  (top level): missing {', '.join(missing)}; a config without them "
                          f"overlays the default study {default}, which is not in {Path.cwd()}: run from the "
                          f"repository, or give a whole study")
    return overlay(read_config_file(default), merged)


def check_registries(config: dict[str, Any]) -> None:
    """Names in the config must exist in the registries; method settings must be valid."""
    from analysis.data import BUILTIN_DATASETS
    from analysis.importance import IMPORTANCE_METHODS, MethodSettingsError, make_method
    from analysis.metrics.agreement import METRICS
    from analysis.models import MODEL_FAMILIES
    from analysis.models.transformer import CheckpointError, resolve_checkpoint
    from analysis.records import CAUSAL_FAMILIES
    from analysis.registry import UnknownNameError

    problems = []
    datasets = config["datasets"]
    for name, entry in datasets.items():
        # a misspelt built-in name or base gets its nearest name where the message names it
        base = (entry or {}).get("base")
        unknown, choices = (base, [*BUILTIN_DATASETS, *datasets]) if base is not None else (name, BUILTIN_DATASETS)
        hint = did_you_mean(unknown, [c for c in choices if c != name])
        problems += [p.replace(f"unknown dataset {unknown!r}", f"unknown dataset {unknown!r}{hint}", 1)
                     for p in dataset_problems(name, entry, config)]
    for name, entry in config["models"].items():
        if entry["family"] not in MODEL_FAMILIES:
            problems.append(f"models.{name}.family: unknown family {entry['family']!r}"
                            f"{did_you_mean(entry['family'], MODEL_FAMILIES.names())}; "
                            f"choose one of: {', '.join(MODEL_FAMILIES.names())}")
        if entry["family"] == "transformer" and "checkpoint" not in entry:
            problems.append(f"models.{name}: a transformer needs `checkpoint` (hub id, local folder or minilm-package)")
        if entry["family"] == "transformer" and "checkpoint" in entry:
            try:  # a checkpoint folder that is not there, a packaged checkpoint not installed or not intact
                resolve_checkpoint(entry["checkpoint"])
            except CheckpointError as error:
                problems.append(f"models.{name}.checkpoint: {error}")
        for key_name in ("train_n", "explain_n", *PER_DATASET_SETTINGS):
            cap = entry.get(key_name)
            if isinstance(cap, dict):
                problems += [f"models.{name}.{key_name}: {key!r} is not a dataset of this study"
                             f"{did_you_mean(key, datasets)}; use dataset names or `default`"
                             for key in cap if key != "default" and key not in datasets]
        if entry["family"] == "rnn" and "checkpoint" in entry:
            problems.append(f"models.{name}: `checkpoint` is for transformers; rnn models are trained from scratch")
    methods = config["importance"]["methods"]
    for name, settings in methods.items():
        if name not in IMPORTANCE_METHODS:
            problems.append(f"importance.methods.{name}: unknown importance method {name!r}"
                            f"{did_you_mean(name, IMPORTANCE_METHODS.names())}; "
                            f"choose one of: {', '.join(IMPORTANCE_METHODS.names())}")
            continue
        try:
            make_method(name, settings, where=f"importance.methods.{name}")
        except (UnknownNameError, MethodSettingsError) as error:
            known = IMPORTANCE_METHODS.get(name).defaults
            hints = [f"{key!r}{hint}" for key in settings or {} if key not in known
                     for hint in [did_you_mean(key, known)] if hint]
            problems.append(f"importance.methods.{name}: {error}" + (f"; for {', '.join(hints)}" if hints else ""))
    for metric in config["agreement"]["metrics"]:
        if metric not in METRICS:
            problems.append(f"agreement.metrics: unknown metric {metric!r}{did_you_mean(metric, METRICS.names())}; "
                            f"choose one of: {', '.join(METRICS.names())}")
    reference = config["agreement"]["reference"]
    if reference not in methods:
        problems.append(f"agreement.reference: {reference!r} is not among importance.methods"
                        f"{did_you_mean(reference, methods)}; choose one of: {', '.join(sorted(methods))}")
    elif reference in IMPORTANCE_METHODS and IMPORTANCE_METHODS.get(reference).family not in CAUSAL_FAMILIES:
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


def _reads_data(config: dict[str, Any]) -> bool:
    """Whether some dataset of the study is read (from a mirror or the hub) rather than generated."""
    from analysis.data import BUILTIN_DATASETS

    datasets = config["datasets"]

    def generated(name: str, depth: int = 0) -> bool:
        entry = datasets.get(name) or {}
        if entry.get("base") is not None and depth < 3:
            return generated(entry["base"], depth + 1)
        return (entry.get("generated_by") or BUILTIN_DATASETS.get(name, {}).get("generated_by")) is not None

    return not all(generated(name) for name in datasets)


def choose_data_source(config: dict[str, Any]) -> None:
    """Replace ``data_dir: auto`` by the source it stands for (the local mirror when it exists, else the hub).

    Raises :class:`ConfigError` when there is neither (no mirror, and the hub unreachable
    while some dataset is read rather than generated), saying both ways to fix it.
    """
    from analysis.data.loading import DataUnavailableError, choose_data_dir

    chosen = config["data_dir"]
    try:
        config["data_dir"] = choose_data_dir(chosen, reads_data=_reads_data(config))
    except DataUnavailableError as error:
        raise ConfigError(f"invalid config:\n  {error}") from None
    if config["data_dir"] != chosen:
        log.info("data_dir: %s; %s", chosen, data_source(config))


def data_source(config: dict[str, Any]) -> str:
    """One line for the log: where the study's datasets come from (a validated config)."""
    from analysis.data.loading import describe_data_source

    return describe_data_source(config["data_dir"]) if _reads_data(config) else "datasets: generated, none read"


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Schema validation with defaults, the data source, then registry, ground-truth and heads checks; returns the config."""
    from analysis.groundtruth.config import check_groundtruth_config
    from analysis.heads.config import check_heads_config

    validate_schema(config)
    choose_data_source(config)
    check_registries(config)
    check_groundtruth_config(config)
    check_heads_config(config)
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A config file (over the default study when it holds only some keys), validated.

    ``overrides`` replace whole top-level keys (``{"datasets": {...}}`` replaces every dataset).
    """
    config = compose_config(path)
    config.update(overrides or {})
    return validate_config(config)


def dataset_cap(value: int | dict[str, int] | None, dataset: str) -> int | None:
    """A model's cap (``train_n``, ``explain_n``) for one dataset: a number, or a mapping with ``default``."""
    if isinstance(value, dict):
        value = value.get(dataset, value.get("default"))
    return None if value is None else int(value)


# model settings that may be a mapping per dataset, resolved for the one dataset a model is trained on
PER_DATASET_SETTINGS = ("min_count",)


def model_entry_for(config: dict[str, Any], dataset: str, model_name: str) -> dict[str, Any]:
    """A copy of ``models.<model>`` with its per-dataset settings (``min_count``) resolved for ``dataset``.

    A setting whose mapping names neither the dataset nor ``default`` is dropped (the family's default
    applies). The caps ``train_n`` and ``explain_n`` stay mappings: the stages read them with
    :func:`dataset_cap`.
    """
    entry = copy.deepcopy(config["models"][model_name])
    for key in PER_DATASET_SETTINGS:
        if isinstance(entry.get(key), dict):
            value = dataset_cap(entry[key], dataset)
            if value is None:
                del entry[key]
            else:
                entry[key] = value  # in place: the entry keeps its key order (the job's params stay the same)
    return entry


def explain_cap(config: dict[str, Any], dataset: str, model_name: str) -> int | None:
    """``models.<model>.explain_n`` for one dataset: at most this many explained examples (None = all)."""
    return dataset_cap(config["models"][model_name].get("explain_n"), dataset)


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


def generated_datasets(config: dict[str, Any]) -> list[str]:
    """Datasets this project generates (the synthetic task, and entries derived from one), whose rationales are the
    words that decide the label rather than words people marked."""
    from analysis.data.specs import BUILTIN_DATASETS

    entries = {name: entry if isinstance(entry, dict) else {} for name, entry in config.get("datasets", {}).items()}

    def generated(name: str, seen: frozenset[str] = frozenset()) -> bool:
        entry = entries.get(name, {})
        if entry.get("generated_by") or (BUILTIN_DATASETS.get(name) or {}).get("generated_by"):
            return True
        base = entry.get("base")
        return bool(base) and base not in seen and generated(base, seen | {name})

    return [name for name in entries if generated(name)]


def transformer_models(config: dict[str, Any]) -> list[str]:
    return [name for name, entry in config.get("models", {}).items() if entry.get("family") == "transformer"]
