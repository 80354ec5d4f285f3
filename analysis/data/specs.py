"""The dataset registry: where each dataset lives and how its columns map to ours.

A spec names the Hugging Face hub id (and revision), the text/label columns, the label
names, which splits exist, and an optional converter for hub formats that differ from
the local mirror (HateXplain). A local mirror is a folder laid out as
``<data_dir>/<dataset>/<split>.parquet`` with the columns the spec names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    """How to read one text-classification dataset.

    ``text_column`` holds a string, or ``tokens_column`` a list of words (HateXplain);
    ``rationale_column`` a 0/1 per-word human rationale, carried along as ``gt_mask``.
    ``hub_converter`` turns the hub's rows into the local mirror's columns where the two
    differ. ``generator`` marks a dataset this project writes itself (no hub, no files).
    """

    name: str
    hub_id: str | None
    label_names: tuple[str, ...]
    splits: tuple[str, ...]
    train_split: str
    eval_split: str
    text_column: str | None = "text"
    tokens_column: str | None = None
    label_column: str = "label"
    rationale_column: str | None = None
    hub_config: str | None = None
    revision: str | None = None
    hub_converter: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    generator: bool = False
    citation: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    DATASETS.add(spec.name, spec)
    return spec


# HateXplain on the hub: one row per post with ``post_tokens``, ``annotators`` (a dict of
# lists with the three annotators' labels: 0 hatespeech, 1 normal, 2 offensive) and
# ``rationales`` (one 0/1 list per annotator who marked one). The local mirror already
# holds the converted form: binary toxic label and the union of annotators' rationales.
HATEXPLAIN_NORMAL = 1


def hatexplain_from_hub(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert hub-format HateXplain rows to the mirror's columns.

    The label is the annotators' majority (posts without a majority are dropped, as in
    Mathew et al. 2021), made binary: toxic (hate speech or offensive) = 1, normal = 0.
    The rationale is the union over annotators' token masks (all zeros for normal posts).
    """
    rows = []
    for record in frame.to_dict("records"):
        labels = list(record["annotators"]["label"])
        top, count = Counter(labels).most_common(1)[0]
        if 2 * count <= len(labels):
            continue  # no majority: HateXplain calls these "undecided"
        toxic = int(top != HATEXPLAIN_NORMAL)
        tokens = list(record["post_tokens"])
        masks = [list(m) for m in record.get("rationales") or [] if len(m)]
        for mask in masks:
            if len(mask) != len(tokens):
                raise ValueError(
                    f"HateXplain post {record.get('id')!r}: rationale has {len(mask)} entries for {len(tokens)} tokens"
                )
        rationale = [int(any(m[i] for m in masks)) for i in range(len(tokens))] if masks and toxic else [0] * len(tokens)
        rows.append({"id": record.get("id"), "tokens": tokens, "label": toxic, "rationale": rationale})
    return pd.DataFrame(rows, columns=["id", "tokens", "label", "rationale"])


register_dataset(
    DatasetSpec(
        name="sst2",
        hub_id="stanfordnlp/sst2",
        text_column="sentence",
        label_names=("negative", "positive"),
        splits=("train", "validation"),
        train_split="train",
        eval_split="validation",
        citation="Socher et al. 2013 (EMNLP); GLUE, Wang et al. 2019",
    )
)
register_dataset(
    DatasetSpec(
        name="imdb",
        hub_id="stanfordnlp/imdb",
        label_names=("negative", "positive"),
        splits=("train", "test"),
        train_split="train",
        eval_split="test",
        citation="Maas et al. 2011 (ACL)",
        notes={"local_mirror": "only a 1,000-review balanced test sample; train and evaluate on disjoint parts of it"},
    )
)
register_dataset(
    DatasetSpec(
        name="ag_news",
        hub_id="fancyzhx/ag_news",
        label_names=("World", "Sports", "Business", "Sci/Tech"),
        splits=("train", "test"),
        train_split="train",
        eval_split="test",
        citation="Zhang et al. 2015 (NeurIPS)",
    )
)
register_dataset(
    DatasetSpec(
        name="hatexplain",
        hub_id="Hate-speech-CNERG/hatexplain",
        text_column=None,
        tokens_column="tokens",
        rationale_column="rationale",
        label_names=("non-toxic", "toxic"),
        splits=("train", "validation", "test"),
        train_split="validation",
        eval_split="test",
        hub_converter=hatexplain_from_hub,
        citation="Mathew et al. 2021 (AAAI)",
        notes={"content_warning": "contains offensive language by design"},
    )
)
register_dataset(
    DatasetSpec(
        name="synthetic",
        hub_id=None,
        label_names=("negative", "positive"),
        splits=("train", "validation"),
        train_split="train",
        eval_split="validation",
        rationale_column="gt_mask",
        generator=True,
        citation="this project (analysis.data.synthetic)",
    )
)
