"""Stage of ``workflow/rules/data.smk``: read, check and subsample one dataset."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.logs import timed
from analysis.provenance import with_provenance
from analysis.records import EXAMPLE_COLUMNS, write_table
from analysis.seeding import derive_seed
from analysis.stages.common import StageSettings

log = logging.getLogger(__name__)


def dataset_entries(config: dict[str, Any], dataset: str) -> dict[str, dict[str, Any]]:
    """The config entry of ``dataset``, and its base's when the base is another entry (what its spec is read from)."""
    entries = config["datasets"]
    chosen = {dataset: entries[dataset]}
    base = (entries[dataset] or {}).get("base")
    if base is not None and base != dataset and base in entries:
        chosen[base] = entries[base]
    return copy.deepcopy(chosen)


@dataclass(frozen=True)
class DataSettings(StageSettings):
    """What preparing one dataset reads: its entry (with its base's), the data source and the data seed."""

    entries: dict[str, dict[str, Any]]  # the dataset's entry, and its base's for a derived dataset
    data_dir: str | None
    data_seed: int

    wildcards = ("dataset",)
    reads = ("datasets.*", "data_dir", "data_seed")

    @classmethod
    def from_config(cls, config: dict[str, Any], *, dataset: str) -> DataSettings:
        return cls(entries=dataset_entries(config, dataset), data_dir=config["data_dir"],
                   data_seed=int(config["data_seed"]))

    def spec(self, dataset: str):
        """The dataset's spec, read as :func:`analysis.data.dataset_spec` reads it from a whole config."""
        from analysis.data import spec_from_entry

        return spec_from_entry(dataset, self.entries[dataset], entries=self.entries, data_dir=self.data_dir)


def prepare_data(settings: DataSettings, dataset: str, *, out_train: str, out_eval: str, out_explain: str,
                 out_report: str, out_validation: str | None = None) -> None:
    """Read, check and subsample one dataset; write train, eval, validation and explain examples.

    An entry with ``base`` reads the registered dataset ``base`` (through its label filter,
    when the entry has ``labels``); with ``shortcut`` it then plants the shortcut token into
    the splits (:mod:`analysis.groundtruth.shortcuts`) and the tables gain
    ``shortcut_index`` and ``original_label``. The validation examples (for epoch selection,
    never for reported numbers) come from the dataset's validation split when it has one,
    else ``validation_n`` examples are held out of the training sample; the table is empty
    when neither applies (no epoch selection).
    """
    from analysis.data import prepare_splits, prepare_validation, stratified_sample

    entry = settings.entries[dataset]
    spec = settings.spec(dataset)
    seed = settings.data_seed
    columns = list(EXAMPLE_COLUMNS)
    with timed(f"preparing {dataset}", log):
        train, evaluation, report = prepare_splits(
            spec, train_n=entry["train_n"], eval_n=entry["eval_n"], seed=seed, data_dir=settings.data_dir,
            train_split=entry.get("train_split"), eval_split=entry.get("eval_split"),
            generator_settings=entry.get("generator"),
        )
        validation_n = entry.get("validation_n")
        if spec.validation_split is not None and not spec.generator:
            validation, validation_report = prepare_validation(spec, n=validation_n, seed=seed,
                                                               data_dir=settings.data_dir)
            report = pd.concat([report, validation_report], ignore_index=True)
        elif validation_n:
            validation = stratified_sample(train, min(int(validation_n), len(train) // 2),
                                           seed=derive_seed(seed, dataset, "validation"))
            train = train.loc[~train["example_id"].isin(set(validation["example_id"]))].reset_index(drop=True)
            rows = report["role"] == "train"
            report.loc[rows, "rows_kept"] = len(train)
            held_out = f"{len(validation)} examples held out of the training sample for epoch selection"
            report.loc[rows, "notes"] = ["; ".join(filter(None, [old, held_out])) for old in report.loc[rows, "notes"]]
        else:
            validation = train.iloc[0:0]
        if spec.generator:  # a generated eval set must not repeat training sentences
            before = len(evaluation)
            evaluation = evaluation.loc[~evaluation["text"].isin(set(train["text"]))].reset_index(drop=True)
            if len(evaluation) < before:
                report.loc[report["role"] == "eval", "notes"] += f"removed {before - len(evaluation)} texts also in train"
                report.loc[report["role"] == "eval", "rows_kept"] = len(evaluation)
        if entry.get("shortcut"):
            from analysis.groundtruth import shortcuts

            planted = shortcuts.ShortcutConfig.from_settings(entry["shortcut"], where=f"datasets.{dataset}.shortcut")
            train, evaluation, report = shortcuts.plant_splits(train, evaluation, report, planted, dataset=dataset,
                                                               seed=seed, label_names=spec.label_names)
            if len(validation):  # epoch selection sees the shortcut as training does
                validation, _ = shortcuts.plant_shortcut(
                    validation, planted, role="validation", label_names=spec.label_names,
                    seed=derive_seed(seed, planted.seed, dataset, "validation"), where=f"datasets.{dataset}.shortcut")
            else:  # no validation set: an empty table with the planted columns all the same
                validation = validation.reindex(columns=[*validation.columns, *shortcuts.SHORTCUT_COLUMNS])
            explain = shortcuts.sample_explained(evaluation, entry["explain_n"], seed=seed, share=planted.explain_share)
            columns += shortcuts.SHORTCUT_COLUMNS
        else:
            explain = stratified_sample(evaluation, min(entry["explain_n"], len(evaluation)), seed=seed)
        report = final_counts(report, {"train": train, "eval": evaluation, "validation": validation},
                              spec.label_names, dataset=dataset)
        report["dataset"] = dataset
        for frame in (train, evaluation, explain, validation):
            frame["dataset"] = dataset
    provenance = {"dataset": dataset, "model": "", "seed": seed, "settings": entry}
    write_table(with_provenance(train[columns], split=train["split"].iloc[0], **provenance), out_train)
    write_table(with_provenance(evaluation[columns], split=evaluation["split"].iloc[0], **provenance), out_eval)
    write_table(with_provenance(explain[columns], split=explain["split"].iloc[0], **provenance), out_explain)
    if out_validation is not None:
        write_table(with_provenance(validation[columns], split=validation["split"].iloc[0] if len(validation) else "",
                                    **provenance), out_validation)
    write_table(report, out_report)
    log.info("%s: %d train, %d eval, %d validation, %d explained examples", dataset, len(train), len(evaluation),
             len(validation), len(explain))


def final_counts(report: pd.DataFrame, frames: dict[str, pd.DataFrame], label_names: Sequence[str], *,
                 dataset: str) -> pd.DataFrame:
    """The data report with each role's kept rows and label counts read from its final table (after validation
    examples are held out of training and a shortcut is planted), and a row for a validation set held out of
    the training sample, which has no split of its own to report."""
    report = report.copy()
    for role, frame in frames.items():
        if not len(frame):
            continue
        counts = ", ".join(f"{label_names[int(k)]}: {int(v)}"
                           for k, v in frame["label"].value_counts().sort_index().items())
        rows = report["role"] == role
        if not rows.any():
            report = pd.concat([report, pd.DataFrame([{
                "dataset": dataset, "role": role, "split": str(frame["split"].iloc[0]),
                "source": "held out of the training sample", "rows_read": len(frame), "dropped_other_classes": 0,
                "dropped_empty": 0, "rows_available": len(frame), "notes": ""}])], ignore_index=True)
            rows = report["role"] == role
        report.loc[rows, "rows_kept"] = len(frame)
        report.loc[rows, "label_counts"] = counts
    for column in ("rows_read", "dropped_other_classes", "dropped_empty", "rows_available", "rows_kept"):
        if column in report:
            report[column] = report[column].fillna(0).astype(int)
    return report

