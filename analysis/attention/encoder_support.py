"""Which importance methods run on which encoder family, from the declarations alone.

A method declares the requirements it makes of a checkpoint
(``ImportanceMethod.requirements``); a family declares the conditions under which its
checkpoints break one (:mod:`analysis.models.families`). From the two:

- :func:`encoder_method_problems` refuses, at config validation, every configured
  (transformer model, method) pair whose checkpoint breaks a requirement of the method,
  naming the model entry, the family and the reason. The checkpoint's family is read
  from its ``config.json`` without loading weights (a local folder, the packaged MiniLM,
  or a hub id at its ``revision`` in the local Hugging Face cache). A hub id that is not
  cached cannot be read offline: the check is logged as deferred, and the same refusal
  is raised when the model loads, before the method runs (``ImportanceMethod.check_model``);
- :func:`supported_encoders` / :func:`supported_encoders_markdown` give the table of
  families, the methods that run on them, and those refused (when, and why).
"""

from __future__ import annotations

import logging
from typing import Any

from analysis.importance.base import IMPORTANCE_METHODS, ImportanceMethod, make_method
from analysis.models.families import ENCODER_FAMILIES, refusal_message, unmet_requirements
from analysis.models.transformer import is_hub_id, read_checkpoint_config

log = logging.getLogger(__name__)


def _configured_methods(config: dict[str, Any]) -> list[ImportanceMethod]:
    methods = []
    for name, settings in config["importance"]["methods"].items():
        try:
            methods.append(make_method(name, settings))
        except Exception:  # noqa: BLE001 - an unknown name or bad setting is reported by check_registries
            continue
    return methods


def encoder_method_problems(config: dict[str, Any]) -> list[str]:
    """What config validation reports about model revisions and refused (model, method) pairs."""
    problems = []
    methods = [m for m in _configured_methods(config) if "transformer" in m.model_kinds]
    for name, entry in config["models"].items():
        revision = entry.get("revision")
        if entry.get("family") != "transformer" or "checkpoint" not in entry:
            if revision is not None:
                problems.append(f"models.{name}.revision: a revision pins a transformer's hub checkpoint; remove it")
            continue
        checkpoint = entry["checkpoint"]
        if revision is not None and not is_hub_id(checkpoint):
            problems.append(f"models.{name}.revision: {checkpoint!r} is not a hub id (a local folder or packaged "
                            "checkpoint has no revisions); remove `revision` or give a hub id")
            continue
        model_config, why = read_checkpoint_config(checkpoint, revision)
        if model_config is None:
            log.warning("models.%s: the config of checkpoint %r%s cannot be read offline (%s); which methods its "
                        "family refuses is checked when it loads, before any method runs", name, checkpoint,
                        f" at revision {revision!r}" if revision else "", why)
            continue
        unmet = unmet_requirements(model_config)
        # the causal tests and the per-head analysis read and edit the [CLS] row of raw attention, as
        # attention_last_mean does: a checkpoint that cannot give it cannot give them either
        raw = make_method("attention_last_mean")
        raw_reasons = [unmet[r] for r in sorted(raw.requirements()) if r in unmet]
        for block, what in (("interventions", "the causal tests on attention"), ("heads", "the per-head analysis")):
            if raw_reasons and config.get(block, {}).get("enabled"):
                problems.append(refusal_message(what, checkpoint, model_config, raw_reasons,
                                                where=f"models.{name} with {block}.enabled")
                                + f"; or set {block}.enabled: false, or remove {name} from models")
        for method in methods:
            reasons = [unmet[r] for r in sorted(method.requirements()) if r in unmet]
            if reasons:
                problems.append(refusal_message(method.name, checkpoint, model_config, reasons,
                                                where=f"models.{name} with importance.methods.{method.name}")
                                + f"; or remove {method.name} from importance.methods or {name} from models")
    return problems


def supported_encoders() -> list[dict[str, Any]]:
    """One row per declared family (and one for undeclared ones): the methods that run and those refused.

    ``attention_methods``: the attention methods that run on the family's checkpoints
    (with default settings); ``refused``: for each family condition, the checkpoints it
    concerns (``when``), the methods it refuses there, and why. Gradient and ablation
    methods (``other_methods``) make no requirements and run on every family.
    """
    import analysis.importance  # noqa: F401 - registers every method

    methods = [IMPORTANCE_METHODS.get(n)() for n in IMPORTANCE_METHODS.names()]
    attention = [m for m in methods if m.family == "attention" and "transformer" in m.model_kinds]
    others = sorted(m.name for m in methods if m.family != "attention" and "transformer" in m.model_kinds
                    and not m.requirements())
    rows = []
    for family in ENCODER_FAMILIES:
        refused = [{"when": c.when, "why": c.why,
                    "methods": [m.name for m in attention if c.requirement in m.requirements()]}
                   for c in family.conditions]
        rows.append({"family": family.name, "model_types": list(family.model_types), "layer_norm": family.layer_norm,
                     "layout": family.layout.name, "probe": family.layout.probe,
                     "attention_methods": [m.name for m in attention], "refused": [r for r in refused if r["methods"]],
                     "other_methods": others, "notes": family.attention_notes})
    rows.append({"family": "any other model_type", "model_types": [], "layer_norm": "?", "layout": "-",
                 "probe": "interface (tried)", "attention_methods": [],
                 "refused": [{"when": "always", "why": "no declaration in analysis/models/families.py: its layer "
                              "layout, layer-norm placement and how the probe reaches its attention are unknown",
                              "methods": [m.name for m in attention]}],
                 "other_methods": others, "notes": ""})
    return rows


def supported_encoders_markdown() -> str:
    """:func:`supported_encoders` as a markdown table, with each family's note on what its attention means."""
    rows = supported_encoders()
    every = rows[0]["attention_methods"]

    def listed(names: list[str]) -> str:
        return "all" if names == every else ", ".join(f"`{m}`" for m in names) or "none"

    lines = ["| Family | `model_type` | Layer norm | Attention methods that run | Refused (which checkpoints: "
             "methods, why) |", "|---|---|---|---|---|"]
    for row in rows:
        types = ", ".join(f"`{t}`" for t in row["model_types"]) or "-"
        refused = "<br>".join(f"{r['when']}: {listed(r['methods'])} ({r['why']})" for r in row["refused"]) or "none"
        lines.append(f"| {row['family']} | {types} | {row['layer_norm']} | {listed(row['attention_methods'])} | "
                     f"{refused} |")
    others = ", ".join(f"`{m}`" for m in rows[0]["other_methods"])
    lines += ["", f"Attention methods: {', '.join(f'`{m}`' for m in every)}. Gradient and ablation methods "
              f"({others}) make no requirements and run on every family.", ""]
    lines += [f"- **{row['family']}**: {row['notes']}." for row in rows if row["notes"]]
    return "\n".join(lines)
