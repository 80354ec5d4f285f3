"""Datasets as data: every dataset, built-in or from a config, is one entry parsed by one function.

An entry says where the dataset lives and how its columns map to ours: a ``hub`` block
(Hugging Face id, config name, revision), the text column (or a pre-tokenised
``tokens_column``), the label column and label names (read from the hub's ClassLabel
feature when left out), which splits train and evaluate (and, optionally, select the
epoch), an optional label filter ``labels``, an optional per-word ``rationale_column``,
and, for formats this project must convert or write itself, a ``hub_converter`` or
``generated_by`` named from :data:`HUB_CONVERTERS` / :data:`GENERATORS`. The built-in
datasets are such entries (:data:`BUILTIN_DATASETS`); a config entry with a built-in's
name overrides some of its keys, a config entry with a ``hub`` block of its own defines
a new dataset, and one with ``base`` derives a dataset from another entry (a subset of
its classes, a planted shortcut). :func:`spec_from_entry` turns any of them into a
:class:`DatasetSpec`. A local mirror is a folder laid out as
``<data_dir>/<dataset>/<split>.parquet`` with the columns the entry names (a derived
dataset reads its base's folder).
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from analysis.data.synthetic import generate_examples
from analysis.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSpec:
    """How to read one text-classification dataset.

    ``text_column`` holds a string, or ``tokens_column`` a list of words (HateXplain);
    ``rationale_column`` a 0/1 per-word human rationale, carried along as ``gt_mask``.
    ``hub_converter`` turns the hub's rows into the local mirror's columns where the two
    differ. ``generator`` is the function that writes a dataset this project makes itself
    (no hub, no files; ``None`` for a dataset that is read). ``splits`` are the splits
    the dataset has; ``validation_split`` is one held out for model selection (e.g. the
    epoch), apart from the evaluation split; ``None`` where the dataset has none.

    A derived spec (an entry with ``base``) also has ``base``, the dataset whose files it
    reads; a label filter (``labels``) sets ``label_map`` from the label ids as read
    (named by ``read_label_names``) to its own ids; rows of classes not in the map are
    dropped before any subsampling. Specs come from :func:`spec_from_entry`.
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
    generator: Callable[..., pd.DataFrame] | None = None
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
        """The dataset whose rows are read (``base`` for a derived one): its mirror folder, seeds and example ids."""
        return self.base or self.name

    @property
    def labels_as_read(self) -> tuple[str, ...]:
        """The label names of the rows as read, before any ``label_map``."""
        return self.read_label_names or self.label_names


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



# The Python-only parts of a dataset, named from its entry (`hub_converter: hatexplain`).
HUB_CONVERTERS: Registry[Callable[[pd.DataFrame], pd.DataFrame]] = Registry("hub converter")
HUB_CONVERTERS.add("hatexplain", hatexplain_from_hub)
HUB_CONVERTERS.add("eraser_movies", eraser_movies_from_hub)
#: ``generator(n_examples, *, seed, split, settings)`` -> rows in a mirror's columns (with ``id``).
GENERATORS: Registry[Callable[..., pd.DataFrame]] = Registry("dataset generator")
GENERATORS.add("synthetic", generate_examples)


# The built-in datasets, as entries of the config's `datasets` (the same keys, read by
# `spec_from_entry`). `splits` lists every split a dataset has, beyond the ones used.
BUILTIN_DATASETS: dict[str, dict[str, Any]] = {
    "sst2": {
        "hub": {"id": "stanfordnlp/sst2"},
        "text_column": "sentence",
        "label_names": ["negative", "positive"],
        "splits": ["train", "validation"],
        "train_split": "train",
        "eval_split": "validation",
        "citation": "Socher et al. 2013 (EMNLP); GLUE, Wang et al. 2019",
        "notes": {"unit": "GLUE's 67k training phrases (sub-sentence spans of the treebank); whole sentences are "
                  "sst2_sentences"},
    },
    "sst2_sentences": {
        "hub": {"id": "SetFit/sst2"},
        "label_names": ["negative", "positive"],
        "splits": ["train", "validation", "test"],
        "train_split": "train",
        "eval_split": "test",
        "validation_split": "validation",
        "citation": "Socher et al. 2013 (EMNLP); sentence-level binary split of Jain & Wallace 2019 (NAACL)",
        "notes": {"unit": "whole sentences, root labels of the treebank with neutral dropped (6,920 / 872 / 1,821)",
                  "case": "the local mirror keeps the trees' case; the hub copy is lower-cased"},
    },
    "imdb": {
        "hub": {"id": "stanfordnlp/imdb"},
        "label_names": ["negative", "positive"],
        "splits": ["train", "test"],
        "train_split": "train",
        "eval_split": "test",
        "citation": "Maas et al. 2011 (ACL)",
        "notes": {"validation": "no validation split: one would be a held-out stratified share of train",
                  "overlap": "123 texts occur in both train and test, as in the original release"},
    },
    "ag_news": {
        "hub": {"id": "fancyzhx/ag_news"},
        "label_names": ["World", "Sports", "Business", "Sci/Tech"],
        "splits": ["train", "test"],
        "train_split": "train",
        "eval_split": "test",
        "citation": "Zhang et al. 2015 (NeurIPS)",
    },
    "hatexplain": {
        "hub": {"id": "Hate-speech-CNERG/hatexplain"},
        "hub_converter": "hatexplain",
        "tokens_column": "tokens",
        "rationale_column": "rationale",
        "label_names": ["non-toxic", "toxic"],
        "splits": ["train", "validation", "test"],
        "train_split": "validation",
        "eval_split": "test",
        "citation": "Mathew et al. 2021 (AAAI)",
        "notes": {"content_warning": "contains offensive language by design"},
    },
    "movie_rationales": {
        "hub": {"id": "eraser-benchmark/movie_rationales"},
        "hub_converter": "eraser_movies",
        "tokens_column": "tokens",
        "rationale_column": "rationale",
        "label_names": ["negative", "positive"],
        "splits": ["train", "validation", "test"],
        "train_split": "train",
        "eval_split": "test",
        "validation_split": "validation",
        "citation": "Zaidan et al. 2007 (NAACL); ERASER, DeYoung et al. 2020 (ACL)",
        "notes": {"local_mirror": "not in ../shared/data: hub only", "length": "long reviews (~700 words): "
                  "rationales beyond max_length are truncated away and left out of the rationale metrics"},
    },
    "synthetic": {
        "generated_by": "synthetic",
        "rationale_column": "gt_mask",
        "label_names": ["negative", "positive"],
        "splits": ["train", "validation"],
        "train_split": "train",
        "eval_split": "validation",
        "citation": "this project (analysis.data.synthetic)",
    },
}

#: Keys of an entry that say what the dataset is. The others say what a study takes from it
#: (train_n, eval_n, explain_n, validation_n, generator settings) or makes of it (base, labels, shortcut).
SPEC_KEYS = ("hub", "text_column", "tokens_column", "label_column", "label_names", "splits", "train_split",
             "eval_split", "validation_split", "rationale_column", "hub_converter", "generated_by", "citation", "notes")
#: The spec keys a derived entry (with ``base``) may set: which of its base's splits it uses.
DERIVED_KEYS = ("train_split", "eval_split", "validation_split")


class DatasetEntryError(ValueError):
    """A dataset entry of the config is invalid; the message names the key and the fix."""


class LabelFilterError(DatasetEntryError):
    """A dataset entry's ``labels`` names a class the dataset does not have, or ids that do not fit."""


def filter_labels(spec: DatasetSpec, labels: dict[str, int], *, where: str) -> DatasetSpec:
    """``spec`` restricted to the classes named in ``labels`` and relabelled to its ids.

    ``labels`` maps label names of ``spec`` to new label ids, which must be 0..k-1 with
    k >= 2; classes not named are dropped. Several names may share an id (merged
    classes); the new class is then called by their names joined with `` + ``. The new
    ``label_names`` follow the new ids. On a spec that is already filtered (a dataset
    derived from a filtered hub entry) the two maps compose: ids as read -> the new ids.
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
    if spec.label_map is not None:
        label_map = {read: label_map[old] for read, old in spec.label_map.items() if old in label_map}
    return replace(spec, label_names=names, label_map=label_map, read_label_names=spec.labels_as_read)


def _needs_base(name: str, key: str) -> DatasetEntryError:
    what = {"shortcut": ("a planted-shortcut variant", "shortcut"), "labels": ("a subset of the classes", "binary")}
    variant, suffix = what[key]
    return DatasetEntryError(f"datasets.{name}.{key} needs `base`: {variant} is a dataset of its own; name it e.g. "
                             f"{name}_{suffix} and set base: {name}")


def _merge(declared: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The spec keys of ``declared`` with those ``entry`` sets written over them (``hub`` key by key)."""
    fields = copy.deepcopy({k: v for k, v in declared.items() if k in SPEC_KEYS})
    for key in SPEC_KEYS:
        if key in entry:
            value = copy.deepcopy(entry[key])
            fields[key] = {**fields.get("hub", {}), **value} if key == "hub" and isinstance(value, Mapping) else value
    return fields


def _spec_from_fields(name: str, fields: Mapping[str, Any], *, where: str) -> DatasetSpec:
    """A spec from the merged spec keys of one entry; ``label_names`` is ``None`` when left to the data."""
    hub, generated_by = fields.get("hub"), fields.get("generated_by")
    if hub is not None and generated_by is not None:
        raise DatasetEntryError(f"{where}: give `hub` (a dataset that is read) or `generated_by` (one this project "
                                f"writes), not both")
    if hub is not None and not hub.get("id"):
        raise DatasetEntryError(f"{where}.hub.id is missing: give the dataset's Hugging Face id, e.g. "
                                f"hub: {{id: cardiffnlp/tweet_eval, config: sentiment}}")
    tokens_column = fields.get("tokens_column")
    text_column = fields.get("text_column", None if tokens_column else "text")
    if bool(text_column) == bool(tokens_column):
        raise DatasetEntryError(f"{where}: give text_column (a string per row) or tokens_column (a list of words per "
                                f"row), exactly one of them; got text_column={text_column!r}, "
                                f"tokens_column={tokens_column!r}")
    for key in ("train_split", "eval_split"):
        if not fields.get(key):
            raise DatasetEntryError(f"{where}.{key} is missing: name the split the models are trained on (train_split) "
                                    f"and the one they are evaluated on (eval_split), e.g. train and test")
    converter = fields.get("hub_converter")
    label_names = fields.get("label_names")
    if label_names is not None:
        label_names = tuple(str(n) for n in label_names)
        if len(label_names) < 2 or len(set(label_names)) < len(label_names):
            raise DatasetEntryError(f"{where}.label_names: give at least two distinct class names, in label-id order; "
                                    f"got {list(label_names)}")
    elif generated_by is not None or converter is not None:
        kind = "generated" if generated_by is not None else f"converted (hub_converter: {converter})"
        raise DatasetEntryError(f"{where}.label_names is missing: a {kind} dataset has no ClassLabel feature to read "
                                f"them from; list the class names in label-id order, e.g. [negative, positive]")
    named = (fields["train_split"], fields.get("validation_split"), fields["eval_split"])
    return DatasetSpec(
        name=name,
        hub_id=hub["id"] if hub else None,
        hub_config=hub.get("config") if hub else None,
        revision=None if not hub or hub.get("revision") is None else str(hub["revision"]),
        label_names=label_names,  # type: ignore[arg-type]  # None until read from the data (spec_from_entry)
        splits=tuple(fields.get("splits") or dict.fromkeys(s for s in named if s)),
        train_split=fields["train_split"],
        eval_split=fields["eval_split"],
        validation_split=fields.get("validation_split"),
        text_column=text_column or None,
        tokens_column=tokens_column or None,
        label_column=fields.get("label_column") or "label",
        rationale_column=fields.get("rationale_column"),
        hub_converter=HUB_CONVERTERS.get(converter, where=f"{where}.hub_converter") if converter else None,
        generator=GENERATORS.get(generated_by, where=f"{where}.generated_by") if generated_by else None,
        citation=fields.get("citation") or "",
        notes=dict(fields.get("notes") or {}),
    )


def spec_from_entry(name: str, entry: Mapping[str, Any] | None, *, entries: Mapping[str, Any] | None = None,
                    data_dir: Any = None) -> DatasetSpec:
    """The spec of the dataset entry ``name`` (built-in, overridden built-in, hub entry or derived).

    * ``name`` of a built-in (:data:`BUILTIN_DATASETS`): its declaration with the entry's
      spec keys written over it (``hub`` key by key, so ``hub: {revision: <sha>}`` pins a
      built-in).
    * an entry with ``hub`` (or ``generated_by``): a dataset of its own, read from the hub
      or from ``<data_dir>/<name>/``. ``label_names`` left out are the names of the label
      column's ClassLabel feature (:func:`~analysis.data.loading.class_label_names`: the
      hub's features, or those a mirror written by ``datasets`` keeps in its parquet
      metadata). ``labels`` filters and relabels its classes.
    * an entry with ``base``: the spec of ``base`` (a built-in, or another entry of
      ``entries`` that is not derived itself, as that entry defines it) under ``name``,
      with its own split choices, label filter and shortcut notes.

    Raises :class:`DatasetEntryError` (or :class:`~analysis.registry.UnknownNameError`
    for an unknown converter or generator name), naming the key, and
    :class:`~analysis.data.loading.DataUnavailableError` when label names must be read
    from data that cannot be reached.
    """
    entry = dict(entry or {})
    where = f"datasets.{name}"
    if entry.get("base") is not None:
        return _derived_spec(name, entry, entries or {}, data_dir)
    if "shortcut" in entry:
        raise _needs_base(name, "shortcut")
    declared = BUILTIN_DATASETS.get(name)
    if declared is None and "hub" not in entry and "generated_by" not in entry:
        if "labels" in entry:
            raise _needs_base(name, "labels")
        raise DatasetEntryError(
            f"{where}: unknown dataset {name!r}; choose one of {sorted(BUILTIN_DATASETS)}, give the entry a `hub` "
            f"block ({{id: <owner/name>}}) and its columns to read a hub dataset, or `base: <one of them>` to derive "
            f"a dataset from one")
    if declared is not None and "labels" in entry:
        raise _needs_base(name, "labels")  # a built-in's name means all of its classes
    spec = _spec_from_fields(name, _merge(declared or {}, entry), where=where)
    if spec.label_names is None:
        # reading the data is loading's business, and loading builds on this module
        from analysis.data.loading import class_label_names

        spec = replace(spec, label_names=class_label_names(spec, data_dir))
    if entry.get("labels") is not None:
        spec = replace(spec, notes={**spec.notes, "labels": dict(entry["labels"])})
        spec = filter_labels(spec, dict(entry["labels"]), where=f"{where}.labels")
    return spec


def _derived_spec(name: str, entry: dict[str, Any], entries: Mapping[str, Any], data_dir: Any) -> DatasetSpec:
    """The spec of an entry with ``base`` (see :func:`spec_from_entry`)."""
    base = entry["base"]
    where = f"datasets.{name}"
    if name in BUILTIN_DATASETS:
        raise DatasetEntryError(f"{where}: a derived dataset (base: {base}) cannot take the name of the registered "
                                f"dataset {name!r}; rename the entry, e.g. {base}_shortcut")
    if base == name:
        raise DatasetEntryError(f"{where}.base: an entry cannot be its own base")
    if base in entries:
        base_entry = entries[base] or {}
        if base_entry.get("base") is not None:
            raise DatasetEntryError(f"{where}.base: {base!r} is itself derived (base: {base_entry['base']}); derive "
                                    f"from {base_entry['base']!r} directly")
        spec = spec_from_entry(base, base_entry, entries=entries, data_dir=data_dir)
    elif base in BUILTIN_DATASETS:
        spec = DATASETS.get(base)
    else:
        raise DatasetEntryError(f"{where}.base: unknown dataset {base!r}; choose one of {sorted(BUILTIN_DATASETS)} "
                                f"or another entry of datasets")
    misplaced = [key for key in SPEC_KEYS if key in entry and key not in DERIVED_KEYS]
    if misplaced:
        raise DatasetEntryError(f"{where}.{misplaced[0]}: a derived dataset reads the data of its base {base!r} as "
                                f"that entry describes it; set {misplaced[0]} on datasets.{base}, or drop `base` to "
                                f"define a dataset of its own")
    notes = {**spec.notes, "base": base}
    if entry.get("labels") is not None:
        notes["labels"] = dict(entry["labels"])
    if entry.get("shortcut"):
        notes["shortcut"] = dict(entry["shortcut"])
    spec = replace(spec, name=name, base=base, notes=notes, **{k: entry[k] for k in DERIVED_KEYS if k in entry})
    if entry.get("labels") is not None:
        spec = filter_labels(spec, dict(entry["labels"]), where=f"{where}.labels")
    return spec


#: The built-in datasets' specs, by name.
DATASETS: Registry[DatasetSpec] = Registry("dataset")
for _name in BUILTIN_DATASETS:
    DATASETS.add(_name, spec_from_entry(_name, {}))


def dataset_spec(config: dict[str, Any], name: str) -> DatasetSpec:
    """The spec of the config's dataset entry ``name`` (:func:`spec_from_entry` with the config's entries and data_dir).

    E.g. ``ag_news_binary: {base: ag_news, labels: {World: 0, Business: 1}}`` reads
    ag_news and keeps two of its classes; ``tweet_sentiment: {hub: {id: cardiffnlp/tweet_eval,
    config: sentiment}, train_split: train, eval_split: test}`` reads a hub dataset. Stages
    that look a dataset up by its config name use this rather than ``DATASETS.get``, and
    pass this spec to :func:`~analysis.data.prepare.prepare_splits`.
    """
    entries = config.get("datasets", {})
    if name not in entries:
        raise KeyError(f"dataset {name!r} is not in the config's datasets ({sorted(entries)})")
    return spec_from_entry(name, entries[name], entries=entries, data_dir=config.get("data_dir"))


def content_warning(config: dict[str, Any], name: str) -> str | None:
    """The content warning of the config's dataset ``name`` (HateXplain: offensive language), if any."""
    if name not in config.get("datasets", {}):
        return None
    return dataset_spec(config, name).notes.get("content_warning")
