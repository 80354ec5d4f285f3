"""The ``heads`` block of a study config: which models and methods the per-head analysis covers, checked."""

from __future__ import annotations

from typing import Any

from analysis.config import ConfigError
from analysis.records import CAUSAL_FAMILIES


class HeadsConfigError(ConfigError):
    """The ``heads`` block names something the study does not have."""


def heads_models(config: dict[str, Any]) -> list[str]:
    """Models of the study that get the per-head analysis: the transformers, when ``heads.enabled``."""
    from analysis.models import MODEL_FAMILIES

    if not config["heads"]["enabled"]:
        return []
    return [name for name, entry in config["models"].items()
            if MODEL_FAMILIES.get(entry["family"]).kind == "transformer"]


def heads_methods(config: dict[str, Any]) -> list[str]:
    """The causal methods heads are compared with (``heads.methods``; null = every configured causal method)."""
    from analysis.importance import IMPORTANCE_METHODS

    chosen = config["heads"]["methods"]
    if chosen is not None:
        return list(chosen)
    return [name for name in config["importance"]["methods"]
            if IMPORTANCE_METHODS.get(name).family in CAUSAL_FAMILIES
            and "transformer" in IMPORTANCE_METHODS.get(name).model_kinds]


def check_heads_config(config: dict[str, Any]) -> None:
    """Every method in ``heads.methods`` must be a configured causal method for transformers; metrics must exist."""
    from analysis.importance import IMPORTANCE_METHODS
    from analysis.metrics.agreement import METRICS

    settings = config["heads"]
    problems = []
    for name in settings["methods"] or []:
        if name not in config["importance"]["methods"]:
            problems.append(f"heads.methods: {name!r} is not in importance.methods ({sorted(config['importance']['methods'])}); "
                            "add it there (its settings are reused) or drop it here")
        elif IMPORTANCE_METHODS.get(name).family not in CAUSAL_FAMILIES:
            problems.append(f"heads.methods: {name!r} is a {IMPORTANCE_METHODS.get(name).family} method; heads are "
                            "compared with causal (gradient or ablation) methods only")
        elif "transformer" not in IMPORTANCE_METHODS.get(name).model_kinds:
            problems.append(f"heads.methods: {name!r} does not apply to transformers")
    for metric in settings["metrics"]:
        if metric not in METRICS:
            problems.append(f"heads.metrics: unknown metric {metric!r}; choose one of {METRICS.names()}")
    if settings["enabled"] and heads_models(config) and not heads_methods(config):
        problems.append("heads.methods: no causal method to compare heads with; name one, e.g. [loo_delete]")
    if problems:
        raise HeadsConfigError("invalid config:\n" + "\n".join(f"  {p}" for p in problems))
