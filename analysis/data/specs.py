"""The dataset registry: where each dataset lives and how its columns map to ours.

A spec names the Hugging Face hub id (and revision), the text/label columns, the label
names, which splits exist, and an optional converter for hub formats that differ from
the local mirror (HateXplain, the ERASER movie rationales). A config entry with
``base`` derives a dataset from a registered one (:func:`dataset_spec`): a subset of its
classes, relabelled (``labels``, e.g. AG News World vs Business), and/or a
planted-shortcut variant (:mod:`analysis.groundtruth.shortcuts`). A local mirror is a
folder laid out as ``<data_dir>/<dataset>/<split>.parquet`` with the columns the spec
names (a derived dataset reads its base's folder).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from analysis.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSpec:
    """How to read one text-classification dataset.

    ``text_column`` holds a string, or ``tokens_column`` a list of words (HateXplain);
    ``rationale_column`` a 0/1 per-word human rationale, carried along as ``gt_mask``.
    ``hub_converter`` turns the hub's rows into the local mirror's columns where the two
    differ. ``generator`` marks a dataset this project writes itself (no hub, no files).
    ``validation_split`` is a split held out for model selection (e.g. the epoch), apart
    from the evaluation split; ``None`` where the dataset has none.

    A derived spec (:func:`dataset_spec`) also has ``base``, the registered dataset whose
    files it reads, and, with a label filter, ``label_map`` from the label ids as read
    (named by ``read_label_names``) to its own ids; rows of classes not in the map are
    dropped before any subsampling.
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
    validation_split: str | None = None
    citation: str = ""
    notes: dict[str, Any] = field(default_factory=dict)
    base: str | None = None
    label_map: dict[int, int] | None = None
    read_label_names: tuple[str, ...] | None = None

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def data_name(self) -> str:
        """The registered dataset whose rows are read: its mirror folder, seeds and example ids."""
        return self.base or self.name

    @property
    def labels_as_read(self) -> tuple[str, ...]:
        """The label names of the rows as read, before any ``label_map``."""
        return self.read_label_names or self.label_names


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    DATASETS.add(spec.name, spec)
    return spec


# HateXplain on the hub: one row per post with ``post_tokens``, ``annotators`` (a dict of
# lists with the three annotators' labels: 0 hatespeech, 1 normal, 2 offensive) and
# ``rationales`` (one 0/1 list per annotator who marked one). The local mirror already
# holds the converted form: binary toxic label and the union of annotators' rationales.
HATEXPLAIN_NORMAL = 1


def as_list(value: Any) -> list[Any]:
    """A hub field that holds a sequence as a plain list (``None`` -> empty).

    Rows that come through ``datasets`` -> pandas hold NumPy arrays where the hub has
    lists, and ``array or []`` is ambiguous for arrays, so every converter goes
    through this.
    """
    if value is None:
        return []
    if isinstance(value, float) and value != value:  # NaN for a missing cell
        return []
    return list(value)


def hatexplain_from_hub(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert hub-format HateXplain rows to the mirror's columns.

    The label is the annotators' majority (posts without a majority are dropped, as in
    Mathew et al. 2021), made binary: toxic (hate speech or offensive) = 1, normal = 0.
    The rationale is the union over annotators' token masks (all zeros for normal posts).
    """
    rows = []
    for record in frame.to_dict("records"):
        labels = [int(v) for v in as_list(record["annotators"]["label"])]
        top, count = Counter(labels).most_common(1)[0]
        if 2 * count <= len(labels):
            continue  # no majority: HateXplain calls these "undecided"
        toxic = int(top != HATEXPLAIN_NORMAL)
        tokens = [str(t) for t in as_list(record["post_tokens"])]
        masks = [[int(v) for v in m] for m in (as_list(m) for m in as_list(record.get("rationales"))) if len(m)]
        for mask in masks:
            if len(mask) != len(tokens):
                raise ValueError(
                    f"HateXplain post {record.get('id')!r}: rationale has {len(mask)} entries for {len(tokens)} tokens"
                )
        rationale = [int(any(m[i] for m in masks)) for i in range(len(tokens))] if masks and toxic else [0] * len(tokens)
        rows.append({"id": record.get("id"), "tokens": tokens, "label": toxic, "rationale": rationale})
    return pd.DataFrame(rows, columns=["id", "tokens", "label", "rationale"])


def find_span(words: list[str], span: list[str]) -> list[int]:
    """Start positions of every occurrence of ``span`` as a contiguous run of ``words``."""
    if not span or len(span) > len(words):
        return []
    first = span[0]
    return [i for i in range(len(words) - len(span) + 1) if words[i] == first and words[i : i + len(span)] == span]


def eraser_movies_from_hub(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert the hub's ERASER movie-rationale rows to per-word rationale masks.

    The hub version (``eraser-benchmark/movie_rationales``; DeYoung et al. 2020, after
    Zaidan et al. 2007) has ``review`` (the ERASER document: whitespace-tokenised, one
    sentence a line), ``label`` (0 NEG, 1 POS) and ``evidences``, the text of each human
    rationale span without its token offsets. The words are the review's whitespace
    tokens; every occurrence of an evidence's token sequence is marked, because the
    offsets that would say which occurrence was meant are not on the hub. Evidences not
    found in the review are counted in ``unmatched_evidences`` (and logged), never
    silently lost.
    """
    rows = []
    for index, record in enumerate(frame.to_dict("records")):
        words = str(record["review"]).split()
        mask = [0] * len(words)
        unmatched = 0
        for evidence in as_list(record.get("evidences")):
            span = str(evidence).split()
            starts = find_span(words, span)
            unmatched += not starts
            for start in starts:
                mask[start : start + len(span)] = [1] * len(span)
        rows.append({"id": str(record.get("id", index)), "tokens": words, "label": int(record["label"]),
                     "rationale": mask, "unmatched_evidences": unmatched})
    out = pd.DataFrame(rows, columns=["id", "tokens", "label", "rationale", "unmatched_evidences"])
    if len(out) and out["unmatched_evidences"].sum():
        log.warning("movie_rationales: %d evidence spans of %d reviews were not found in their review text",
                    int(out["unmatched_evidences"].sum()), int((out["unmatched_evidences"] > 0).sum()))
    return out


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
        notes={"unit": "GLUE's 67k training phrases (sub-sentence spans of the treebank); whole sentences are "
               "sst2_sentences"},
    )
)
register_dataset(
    DatasetSpec(
        name="sst2_sentences",
        hub_id="SetFit/sst2",
        label_names=("negative", "positive"),
        splits=("train", "validation", "test"),
        train_split="train",
        eval_split="test",
        validation_split="validation",
        citation="Socher et al. 2013 (EMNLP); sentence-level binary split of Jain & Wallace 2019 (NAACL)",
        notes={"unit": "whole sentences, root labels of the treebank with neutral dropped (6,920 / 872 / 1,821)",
               "case": "the local mirror keeps the trees' case; the hub copy is lower-cased"},
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
        notes={"validation": "no validation split: one would be a held-out stratified share of train",
               "overlap": "123 texts occur in both train and test, as in the original release"},
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
        name="movie_rationales",
        hub_id="eraser-benchmark/movie_rationales",
        text_column=None,
        tokens_column="tokens",
        rationale_column="rationale",
        label_names=("negative", "positive"),
        splits=("train", "validation", "test"),
        train_split="train",
        eval_split="test",
        validation_split="validation",
        hub_converter=eraser_movies_from_hub,
        citation="Zaidan et al. 2007 (NAACL); ERASER, DeYoung et al. 2020 (ACL)",
        notes={"local_mirror": "not in ../shared/data: hub only", "length": "long reviews (~700 words): "
               "rationales beyond max_length are truncated away and left out of the rationale metrics"},
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


class LabelFilterError(ValueError):
    """A dataset entry's ``labels`` names a class the base does not have, or ids that do not fit."""


def filter_labels(spec: DatasetSpec, labels: dict[str, int], *, where: str) -> DatasetSpec:
    """``spec`` restricted to the classes named in ``labels`` and relabelled to its ids.

    ``labels`` maps label names of ``spec`` to new label ids, which must be 0..k-1 with
    k >= 2; classes not named are dropped. Several names may share an id (merged
    classes); the new class is then called by their names joined with `` + ``. The new
    ``label_names`` follow the new ids.
    """
    if not labels:
        raise LabelFilterError(f"{where}: name at least two labels of {spec.data_name!r} ({list(spec.label_names)})")
    unknown = [name for name in labels if name not in spec.label_names]
    if unknown:
        raise LabelFilterError(f"{where}: unknown label(s) {', '.join(map(repr, unknown))} of dataset {spec.data_name!r}; "
                               f"its labels are {list(spec.label_names)}")
    if any(not isinstance(i, int) or isinstance(i, bool) for i in labels.values()):
        raise LabelFilterError(f"{where}: the new label ids must be integers; got {list(labels.values())}")
    ids = sorted(set(labels.values()))
    if ids != list(range(len(ids))):
        raise LabelFilterError(f"{where}: the new label ids must be 0..{len(ids) - 1} with none skipped; got {ids}")
    if len(ids) < 2:
        raise LabelFilterError(f"{where}: every named label maps to id {ids[0]}: a classifier needs at least two "
                               f"classes")
    names = tuple(" + ".join(n for n in spec.label_names if labels.get(n) == i) for i in ids)
    label_map = {spec.label_names.index(name): new for name, new in labels.items()}
    return replace(spec, label_names=names, label_map=label_map, read_label_names=spec.label_names)


def derived_spec(name: str, entry: dict[str, Any]) -> DatasetSpec:
    """The spec of a config entry with ``base``: the base's spec under ``name``, filtered by ``labels``.

    Raises :class:`~analysis.registry.UnknownNameError` for an unknown base and
    :class:`LabelFilterError` for a bad ``labels``; both name the config key.
    """
    base = entry["base"]
    spec = DATASETS.get(base, where=f"datasets.{name}.base")
    notes = {**spec.notes, "base": base}
    if entry.get("labels") is not None:
        notes["labels"] = dict(entry["labels"])
    if entry.get("shortcut"):
        notes["shortcut"] = dict(entry["shortcut"])
    spec = replace(spec, name=name, base=base, notes=notes)
    if entry.get("labels") is not None:
        spec = filter_labels(spec, dict(entry["labels"]), where=f"datasets.{name}.labels")
    return spec


def dataset_spec(config: dict[str, Any], name: str) -> DatasetSpec:
    """The spec of the config's dataset entry ``name``, derived entries included.

    An entry with ``base`` (e.g. ``sst2_shortcut: {base: sst2, shortcut: {...}}``, a
    planted-shortcut variant, or ``ag_news_binary: {base: ag_news, labels: {World: 0,
    Business: 1}}``, a subset of the classes) reads the registered dataset ``base`` and
    is reported under its own name: its spec is the base's spec renamed, with ``base``
    set, the label filter applied (:func:`filter_labels`) and the transforms in
    ``notes``. Any other entry names a registered dataset. Stages that look a dataset up
    by its config name use this rather than ``DATASETS.get``, and pass this spec (not the
    base's) to :func:`~analysis.data.prepare.prepare_splits`.
    """
    entries = config.get("datasets", {})
    if name not in entries:
        raise KeyError(f"dataset {name!r} is not in the config's datasets ({sorted(entries)})")
    entry = entries[name] or {}
    if entry.get("base") is None:
        return DATASETS.get(name, where=f"datasets.{name}")
    return derived_spec(name, entry)


def content_warning(config: dict[str, Any], name: str) -> str | None:
    """The content warning of the config's dataset ``name`` (HateXplain: offensive language), if any."""
    if name not in config.get("datasets", {}):
        return None
    return dataset_spec(config, name).notes.get("content_warning")
