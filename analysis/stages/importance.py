"""Stages of ``workflow/rules/importance.smk``: every importance method on one shard of a run, and the merge."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.logs import timed
from analysis.provenance import settings_hash, with_provenance
from analysis.records import EXAMPLE_COLUMNS, IMPORTANCE_COLUMNS, ResultCache, read_table, write_table
from analysis.seeding import seed_everything
from analysis.stages.common import DeviceSettings, folder_fingerprint, gather_tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainSettings(DeviceSettings):
    """What explaining one model reads: the configured methods that apply to it, pooling, batch size, shards."""

    methods: dict[str, dict[str, Any]]  # importance.methods that apply to the model's kind, in config order
    pooling: str
    batch_size: int
    n_shards: int
    explain_n: int | None  # models.<model>.explain_n for this dataset: at most this many examples (None = all)

    wildcards = ("dataset", "model")
    reads = (*DeviceSettings.reads, "importance.methods", "importance.pooling", "importance.batch_size",
             "importance.shards", "models.*.family", "models.*.explain_n")

    @classmethod
    def from_config(cls, config: dict[str, Any], *, dataset: str, model: str) -> ExplainSettings:
        from analysis.config import explain_cap, methods_for

        block = config["importance"]
        return cls(**cls.runtime(config),
                   methods={name: copy.deepcopy(block["methods"][name]) for name in methods_for(config, model)},
                   pooling=block["pooling"], batch_size=int(block["batch_size"]), n_shards=int(block["shards"]),
                   explain_n=explain_cap(config, dataset, model))


def shard_of(examples: pd.DataFrame, shard: int, n_shards: int) -> pd.DataFrame:
    """Rows of shard ``shard`` out of ``n_shards`` contiguous, near-equal chunks (in file order)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is outside 0..{n_shards - 1}")
    bounds = np.linspace(0, len(examples), n_shards + 1).round().astype(int)
    return examples.iloc[bounds[shard] : bounds[shard + 1]].reset_index(drop=True)


def run_explain(settings: ExplainSettings, dataset: str, model_name: str, seed: int, *, model_dir: str,
                explain_path: str, out_importance: str, out_diagnostics: str, out_heads: str,
                shard: int = 0) -> None:
    """Every configured importance method that applies to the model, plus per-head attention.

    With ``settings.n_shards`` > 1 only shard ``shard`` of the explained examples is
    processed (scatter); :func:`merge_shards` gathers them. Each method's finished table is
    cached in ``importance_cache/`` beside the outputs, keyed by the method's settings and
    version, the model files and the explained examples; a rerun after an interruption (or
    after adding a method, or a fix that bumped a method's version) computes only what is
    missing.
    """
    from analysis.importance import attention_heads_table, compute_importance, explained_classes, make_method
    from analysis.models import load_model

    model = load_model(model_dir, device=settings.torch_device())
    from analysis.data import random_prefix

    explained = random_prefix(read_table(explain_path, table="examples", columns=EXAMPLE_COLUMNS), settings.explain_n)
    examples = shard_of(explained, shard, settings.n_shards)
    split = examples["split"].iloc[0]
    pooling, batch_size = settings.pooling, settings.batch_size
    cache = ResultCache(Path(out_importance).parent / "importance_cache", {
        "model": folder_fingerprint(model_dir), "examples": settings_hash(examples["example_id"].tolist()),
        "seed": seed, "pooling": pooling}, kind="method")
    tables, diagnostics = [], []
    targets = None  # the predicted classes, computed once for every method that is not cached
    for method_name, method_settings in settings.methods.items():
        method = make_method(method_name, method_settings, where=f"importance.methods.{method_name}")
        decides = method.cache_decides()
        finished = cache.get(method_name, last="importance", decides=decides)
        if finished is not None:
            tables.append(finished["importance"])
            diagnostics.append(finished["diagnostics"])
            continue
        seed_everything(seed)
        if targets is None:
            targets = explained_classes(model, examples, batch_size=batch_size)
        with timed(f"{method_name} on {len(examples)} {dataset} examples ({model_name}, seed {seed})", log):
            importance, diag = compute_importance(model, examples, method, batch_size=batch_size, pooling=pooling,
                                                  seed=seed, targets=targets)
        recorded = {"method": method_name, **method.settings, "pooling": pooling, "explained_class": "predicted",
                    "special_tokens": "excluded"}
        provenance = {"dataset": dataset, "split": split, "model": model_name, "seed": seed, "settings": recorded}
        importance = with_provenance(importance[IMPORTANCE_COLUMNS], **provenance)
        diag = with_provenance(diag, **provenance)
        if diag["completeness_gap"].notna().any():
            gaps = diag["completeness_gap"].abs()
            log.info("completeness gap |sum(attr) - (f(x) - f(baseline))|: median %.2e, max %.2e (steps up to %d)",
                     gaps.median(), gaps.max(), diag["n_steps"].max())
        log.info("%s: %.1f forward-pass equivalents per example", method_name, diag["forward_passes"].mean())
        cache.put(method_name, {"diagnostics": diag, "importance": importance}, decides=decides)
        tables.append(importance)
        diagnostics.append(diag)
    with timed(f"per-head attention of {model_name}", log):
        heads = attention_heads_table(model, examples, batch_size=batch_size, pooling=pooling)
    write_table(with_provenance(heads, dataset=dataset, split=split, model=model_name, seed=seed,
                                settings={"pooling": pooling}), out_heads)
    write_table(pd.concat(tables, ignore_index=True), out_importance)
    write_table(pd.concat(diagnostics, ignore_index=True), out_diagnostics)


def merge_shards(*, importance_paths: list[str], diagnostics_paths: list[str], heads_paths: list[str],
                 out_importance: str, out_diagnostics: str, out_heads: str) -> None:
    """Gather the shards of one run into its importance, diagnostics and attention-head tables."""
    for paths, out, table in [(importance_paths, out_importance, "importance"),
                              (diagnostics_paths, out_diagnostics, "diagnostics"),
                              (heads_paths, out_heads, "attention_heads")]:
        gather_tables(paths, out, table=table)
