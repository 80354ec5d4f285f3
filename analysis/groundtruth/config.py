"""The ``groundtruth`` block of a study config, checked against the study's datasets, models and methods."""

from __future__ import annotations

from typing import Any

from analysis.config import ConfigError


class GroundTruthConfigError(ConfigError):
    """The ``groundtruth`` block names something the study does not have."""


def check_groundtruth_config(config: dict[str, Any]) -> None:
    """Names in the ``groundtruth`` block must exist in the study; raises :class:`GroundTruthConfigError`."""
    settings = config["groundtruth"]
    problems = []
    for key, known in (("plausibility.datasets", config["datasets"]), ("sanity.datasets", config["datasets"]),
                       ("sanity.models", config["models"]), ("sanity.methods", config["importance"]["methods"])):
        block, field = key.split(".")
        for name in settings[block].get(field) or []:
            if name not in known:
                problems.append(f"groundtruth.{key}: {name!r} is not in the study's "
                                f"{'importance.methods' if field == 'methods' else field} ({sorted(known)})")
    if problems:
        raise GroundTruthConfigError("invalid config:\n" + "\n".join(f"  {p}" for p in problems))
