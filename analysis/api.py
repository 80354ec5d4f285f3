"""Explain texts from Python: load a classifier, run named methods, get tidy tables and HTML.

    from analysis.api import Explainer

    explainer = Explainer.from_run("results/default/sst2/minilm/0/model")
    explanation = explainer.explain(["a gripping , funny film", "dull and far too long"])
    explanation.scores                    # one row per text x method x word
    explanation.agreement("kendall_tau")  # every pair of methods, per text
    explanation.html(0)                   # the first text, words coloured by each method

The same code runs behind ``attention-study explain`` (:mod:`analysis.cli`). Texts are
split into words as the study splits its examples (:func:`analysis.data.words_of`);
methods come from the registry (:data:`analysis.importance.IMPORTANCE_METHODS`) and run
through the study's engine (:func:`analysis.importance.compute_importance`), so scores
are those the pipeline would compute: subword scores pooled to words, special tokens
excluded, every method explaining the predicted class.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from analysis.data import words_of
from analysis.importance import IMPORTANCE_METHODS, MethodSettingsError, compute_importance, make_method
from analysis.models import CheckpointError, TextClassifier, TransformerClassifier, load_model
from analysis.models.training import predict
from analysis.provenance import with_provenance
from analysis.records import IMPORTANCE_COLUMNS, write_table
from analysis.runtime import choose_device
from analysis.seeding import seed_everything

log = logging.getLogger(__name__)

DEFAULT_METHODS: tuple[str, ...] = (
    "rnn_attention", "attention_last_mean", "attention_all_mean", "attention_rollout",
    "saliency", "integrated_gradients", "loo_delete",
)
"""Methods :meth:`Explainer.explain` runs when none are named, kept to those the model supports:
the raw attention of the model's kind (RNN attention; last-layer and all-layer [CLS] attention
and rollout), one gradient and one ablation method. All are fast; the costlier attention
variants (flow, value zeroing, ALTI, ...) are a ``methods=[...]`` away."""

SCORE_COLUMNS = ["text_id", "text", "word_index", "word", "method", "family", "signed", "score", "predicted",
                 "predicted_label", "probability"]
TEXT_COLUMNS = ["text_id", "text", "n_words", "n_words_kept", "predicted", "predicted_label", "probability"]

# Colours of the HTML view (Wong 2011's colour-blind-safe vermillion and blue): a word's
# background is the positive or the negative colour, its opacity the score's share of
# the largest |score| of that method on that text.
_POSITIVE_RGB = (213, 94, 0)
_NEGATIVE_RGB = (0, 114, 178)


class UntrainedHeadError(CheckpointError):
    """A checkpoint has no fine-tuned classification head and the caller did not allow a random one."""


@dataclass
class Explainer:
    """A loaded classifier ready to explain texts.

    Build one with :meth:`from_checkpoint` (a Hugging Face checkpoint or a run folder) or
    :meth:`from_run` (a model trained by the study). ``label_names[c]`` names class ``c``
    where the checkpoint or the run's data says; ``untrained_head`` is True when the
    classification head was randomly initialised (allowed only on request).
    """

    model: TextClassifier
    source: str
    label_names: list[str] | None = None
    untrained_head: bool = False

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, *, revision: str | None = None,
                        num_labels: int | None = None, allow_untrained_head: bool = False, max_length: int = 128,
                        device: str = "auto") -> Explainer:
        """Load a sequence-classification checkpoint: a hub id, a local folder or ``minilm-package``.

        A folder saved by the study's train stage (it has ``adapter.json``) is loaded as by
        :meth:`from_run`. ``revision`` pins a hub commit, tag or branch. ``num_labels`` is
        needed only for a checkpoint without a head and more than two classes. A checkpoint
        whose classification weights are not in the checkpoint (a pretrained encoder such as
        the packaged MiniLM) raises :class:`UntrainedHeadError` unless
        ``allow_untrained_head``: its predictions come from a randomly initialised layer.
        ``device``: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        """
        checkpoint = str(checkpoint)
        if _model_folder(checkpoint) is not None:
            return cls.from_run(checkpoint, device=device)
        from transformers import AutoConfig

        from analysis.models.transformer import resolve_checkpoint

        source = resolve_checkpoint(checkpoint)
        try:
            with _quiet_transformers():  # its load report of new weights is replaced by the check below
                if num_labels is None:
                    num_labels = AutoConfig.from_pretrained(source, revision=revision).num_labels
                model = TransformerClassifier.load(checkpoint, num_labels=int(num_labels), max_length=max_length,
                                                   revision=revision, device=choose_device(device))
        except (OSError, ValueError, RuntimeError) as error:
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(
                f"could not load checkpoint {checkpoint!r}{f' at revision {revision!r}' if revision else ''} "
                f"({source}): {error}. Without network access use a local folder or 'minilm-package'."
            ) from error
        fresh = _fresh_head_weights(model, source, revision)
        if fresh:
            what = (f"checkpoint {checkpoint!r} has no fine-tuned classification head ({', '.join(fresh)} "
                    f"were not in the checkpoint and were randomly initialised), so its predictions mean nothing")
            if not allow_untrained_head:
                raise UntrainedHeadError(
                    f"{what}. Explain a classifier fine-tuned on your task instead (a hub checkpoint with a "
                    f"classification head, or a model trained by the study, results/<study>/<dataset>/<model>/<seed>/"
                    f"model), or pass allow_untrained_head=True (command line: --allow-untrained-head) to explain "
                    f"the random head's prediction anyway.")
            log.warning("%s; explaining the randomly initialised head as asked", what)
        id2label = getattr(model.model.config, "id2label", None) or {}
        names = [str(id2label.get(c, c)) for c in range(model.num_labels)]
        generic = names == [f"LABEL_{c}" for c in range(model.num_labels)]
        return cls(model, checkpoint, label_names=None if generic else names, untrained_head=bool(fresh))

    @classmethod
    def from_run(cls, folder: str | os.PathLike, *, device: str = "auto") -> Explainer:
        """Load a model trained by the study: ``results/<study>/<dataset>/<model>/<seed>/model`` or its parent.

        Class names come from the run's prepared data (``results/<study>/data/<dataset>/``)
        when it is there.
        """
        model_folder = _model_folder(folder)
        if model_folder is None:
            raise CheckpointError(
                f"{folder} is not a model folder of the study: it has no adapter.json, and neither has {folder}/model. "
                f"Give results/<study>/<dataset>/<model>/<seed>/model after the train rule has run, or use "
                f"Explainer.from_checkpoint for a Hugging Face checkpoint.")
        with _quiet_transformers():
            model = load_model(model_folder, device=choose_device(device))
        return cls(model, str(folder), label_names=_run_label_names(model_folder, model.num_labels))

    def default_methods(self) -> list[str]:
        """The :data:`DEFAULT_METHODS` this model supports, in that order."""
        return [name for name in DEFAULT_METHODS if make_method(name).supports(self.model)]

    def supported_methods(self) -> list[str]:
        """Every registered method this model supports."""
        return [name for name, method in IMPORTANCE_METHODS.items() if method().supports(self.model)]

    def label_name(self, label: int) -> str:
        """The name of class ``label``, or the number when the model's classes have no names."""
        return self.label_names[label] if self.label_names else str(int(label))

    def explain(self, texts: str | Sequence[str], methods: Sequence[str] | None = None,
                settings: Mapping[str, Mapping[str, Any]] | None = None, *, batch_size: int = 32,
                pooling: str = "sum", seed: int = 0, progress: bool = False) -> Explanation:
        """Word scores of every method for every text, explaining the predicted class.

        ``methods`` are registry names (``attention-study methods`` lists them); by default
        :meth:`default_methods`. ``settings`` maps a method name to its settings (as under
        ``importance.methods`` in a study config), e.g. ``{"integrated_gradients":
        {"n_steps": 64}}``; unnamed settings keep the method's defaults. ``batch_size`` and
        ``pooling`` (subword -> word: sum, mean, max, first) are the study's
        ``importance.batch_size`` and ``importance.pooling``; ``seed`` seeds every method
        (only ``random`` and the sampling methods draw numbers). Words beyond the model's
        ``max_length`` are not scored (``Explanation.texts.n_words_kept``).
        """
        texts = [texts] if isinstance(texts, str) else [str(text) for text in texts]
        if not texts:
            raise ValueError("explain() needs at least one text")
        words = [words_of(text) for text in texts]
        empty = [i for i, text_words in enumerate(words) if not text_words]
        if empty:
            raise ValueError(f"text {empty[0]} ({texts[empty[0]]!r}) has no words to explain; remove it")
        names = self.default_methods() if methods is None else list(dict.fromkeys(methods))
        if not names:
            raise ValueError("no methods were named; `attention-study methods` lists them")
        settings = dict(settings or {})
        stray = sorted(set(settings) - set(names))
        if stray:
            raise MethodSettingsError(f"settings were given for {stray}, which are not among the methods {names}")
        objects = [make_method(name, dict(settings.get(name) or {}), where="methods") for name in names]
        for method in objects:
            try:
                method.check_model(self.model)  # its error says why (model kind, gradients, the checkpoint's family)
            except MethodSettingsError as error:
                raise MethodSettingsError(f"{error}; this model supports: {', '.join(self.supported_methods())}") from None

        examples = pd.DataFrame({"example_id": [str(i) for i in range(len(texts))], "words": words,
                                 "label": np.full(len(texts), -1, dtype=np.int64)})  # no gold labels here
        encoded = self.model.encode(words)
        predicted, probabilities = predict(self.model, words, batch_size=batch_size, encoded=encoded)
        text_table = pd.DataFrame({
            "text_id": np.arange(len(texts)), "text": texts, "n_words": encoded.n_words,
            "n_words_kept": encoded.n_words_kept, "predicted": predicted.astype(np.int64),
            "predicted_label": [self.label_name(c) for c in predicted],
            "probability": probabilities[np.arange(len(texts)), predicted],
        })
        score_parts, diagnostic_parts = [], []
        for method in objects:
            seed_everything(seed)
            scores, diagnostics = compute_importance(self.model, examples, method, batch_size=batch_size,
                                                     pooling=pooling, seed=seed, targets=predicted,
                                                     progress=progress)
            score_parts.append(scores)
            diagnostic_parts.append(diagnostics)
        scores = pd.concat(score_parts, ignore_index=True)
        scores["text_id"] = scores["example_id"].astype(np.int64)
        scores = scores.merge(text_table[["text_id", "text", "predicted_label", "probability"]], on="text_id")
        order = {name: rank for rank, name in enumerate(names)}
        scores = scores.sort_values(["text_id", "method", "word_index"], key=lambda c: c.map(order) if c.name == "method"
                                    else c, kind="stable").reset_index(drop=True)
        diagnostics = pd.concat(diagnostic_parts, ignore_index=True)
        diagnostics.insert(0, "text_id", diagnostics.pop("example_id").astype(np.int64))
        return Explanation(
            scores=scores[SCORE_COLUMNS], texts=text_table[TEXT_COLUMNS],
            diagnostics=diagnostics.sort_values(["text_id"], kind="stable").reset_index(drop=True),
            methods=tuple(names), source=self.source, seed=seed, pooling=pooling,
            settings={method.name: dict(method.settings) for method in objects},
        )


@dataclass(frozen=True)
class Explanation:
    """What :meth:`Explainer.explain` returns: tidy tables and views of them.

    ``scores``: one row per text x method x word (``SCORE_COLUMNS``); ``score`` explains
    the predicted class. ``texts``: one row per text with its prediction and how many
    words were scored. ``diagnostics``: one row per text x method with its cost and, for
    integrated gradients, the completeness gap |sum of scores - (f(x) - f(baseline))|.
    """

    scores: pd.DataFrame
    texts: pd.DataFrame
    diagnostics: pd.DataFrame
    methods: tuple[str, ...]
    source: str
    seed: int = 0
    pooling: str = "sum"
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def word_table(self, text: int) -> pd.DataFrame:
        """Text ``text``'s scores as a word x method table (rows in word order)."""
        rows = self._rows(text)
        table = rows.pivot(index="word_index", columns="method", values="score")
        table = table.reindex(columns=[m for m in self.methods if m in table.columns])
        table.insert(0, "word", rows.drop_duplicates("word_index").set_index("word_index")["word"])
        table.columns.name = None
        return table

    def agreement(self, metric: str | Sequence[str] = "kendall_tau", variant: str = "abs") -> pd.DataFrame:
        """Agreement of every pair of methods on every text (:func:`analysis.metrics.compute_agreement`).

        ``metric``: one or more names of :data:`analysis.metrics.METRICS` (``attention-study
        metrics`` lists them); ``variant``: ``abs`` compares |scores| (the study's headline),
        ``signed`` the scores themselves. One row per text x method pair x metric; in a pair
        of an attention and a causal method the attention method is ``method_a``.
        """
        from analysis.metrics import compute_agreement

        importance = self.scores.assign(
            example_id=self.scores["text_id"].astype(str), label=-1,
            n_words=self.scores["text_id"].map(self.texts.set_index("text_id")["n_words_kept"]),
        )[IMPORTANCE_COLUMNS]
        metrics = [metric] if isinstance(metric, str) else list(metric)
        table = compute_agreement(importance, metrics=metrics, variants=[variant], length_edges=[0], seed=self.seed)
        table.insert(0, "text_id", table.pop("example_id").astype(np.int64))
        return (table.drop(columns=["length_bucket"]).sort_values(["text_id"], kind="stable")
                .reset_index(drop=True))

    def html(self, text: int) -> str:
        """A self-contained HTML snippet of text ``text``: one line of words per method.

        A word's background shows the method's score divided by its largest |score| on this
        text (vermillion: raises the predicted class's probability, or attention; blue:
        lowers it); hovering shows the score. Words beyond the model's ``max_length`` are
        shown uncoloured.
        """
        from analysis.plots.style import method_label

        info = self.texts.iloc[self._position(text)]
        rows = self._rows(text)
        words = words_of(info["text"])
        lines = []
        for method in self.methods:
            method_rows = rows[rows["method"] == method]
            if method_rows.empty:
                continue
            scores = dict(zip(method_rows["word_index"], method_rows["score"].astype(float)))
            largest = max((abs(v) for v in scores.values() if np.isfinite(v)), default=0.0) or 1.0
            spans = " ".join(_word_span(word, method, scores.get(index), largest) for index, word in enumerate(words))
            lines.append(f'<tr><th style="text-align:left;font-weight:normal;padding:0 1em 0 0;white-space:nowrap">'
                         f'{html.escape(method_label(method))}</th><td>{spans}</td></tr>')
        title = (f"Text {int(info['text_id'])}: predicted <b>{html.escape(str(info['predicted_label']))}</b> "
                 f"(probability {info['probability']:.3f})")
        if info["n_words_kept"] < info["n_words"]:
            title += f"; the first {int(info['n_words_kept'])} of {int(info['n_words'])} words fit the model"
        return (f'<div class="attention-study-explanation" style="font-family:sans-serif;line-height:1.9">'
                f'<p style="margin:0 0 .3em">{title}</p><table style="border-collapse:collapse">{"".join(lines)}'
                f'</table><p style="margin:.3em 0 0;font-size:smaller;color:#555">Colour: each method\'s score '
                f'divided by its largest |score| on this text; vermillion raises the predicted class (or is '
                f'attention), blue lowers it. Hover over a word for its score.</p></div>')

    def _repr_html_(self) -> str:
        return "".join(self.html(text) for text in self.texts["text_id"])

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``scores`` as parquet with provenance columns (model, seed, each method's settings, versions)."""
        parts = [
            with_provenance(rows, dataset="", split="", model=self.source, seed=self.seed,
                            settings={"method": method, **self.settings.get(method, {}), "pooling": self.pooling,
                                      "explained_class": "predicted", "special_tokens": "excluded"})
            for method, rows in self.scores.groupby("method", sort=False)
        ]
        return write_table(pd.concat(parts, ignore_index=True), path)

    def _position(self, text: int) -> int:
        positions = np.flatnonzero(self.texts["text_id"].to_numpy() == int(text))
        if not len(positions):
            raise IndexError(f"no text {text}; this explanation has texts 0..{len(self.texts) - 1}")
        return int(positions[0])

    def _rows(self, text: int) -> pd.DataFrame:
        self._position(text)
        return self.scores[self.scores["text_id"] == int(text)]


def _word_span(word: str, method: str, score: float | None, largest: float) -> str:
    if score is None:
        return f'<span title="{html.escape(method)}: not scored (beyond max_length)">{html.escape(word)}</span>'
    share = min(abs(score) / largest, 1.0) if np.isfinite(score) else 0.0
    red, green, blue = _POSITIVE_RGB if score >= 0 else _NEGATIVE_RGB
    return (f'<span title="{html.escape(method)}: {score:.4g}" style="background:rgba({red},{green},{blue},'
            f'{share:.2f});padding:0 .15em;border-radius:3px">{html.escape(word)}</span>')


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
"""Where a Hugging Face checkpoint keeps its weights, in the order ``from_pretrained`` prefers them."""


def _fresh_head_weights(model: TransformerClassifier, source: str, revision: str | None) -> list[str]:
    """The classification head's weights that the checkpoint does not hold (``from_pretrained`` made them up).

    The head is every parameter outside the encoder (``base_model_prefix``): ``classifier.*``,
    DistilBERT's ``pre_classifier.*``. The checkpoint's weight names are read from its
    files' headers, not its tensors. When they cannot be read, the config's
    ``architectures`` decide: a checkpoint saved from a ``...ForSequenceClassification``
    class has a head.
    """
    network = model.model
    prefix = f"{network.base_model_prefix}."
    head = sorted(name for name, _ in network.named_parameters() if not name.startswith(prefix))
    stored = _stored_weight_names(source, revision)
    if stored is None:
        architectures = getattr(network.config, "architectures", None) or []
        if any(name.endswith("ForSequenceClassification") for name in architectures) or not architectures:
            return []
        return head
    return [name for name in head if name not in stored]


def _stored_weight_names(source: str, revision: str | None) -> set[str] | None:
    """Names of the tensors in a checkpoint's weight files, or None when no weight file is found."""
    from transformers.utils import cached_file

    for name in WEIGHT_FILES:
        try:
            path = cached_file(source, name, revision=revision, _raise_exceptions_for_missing_entries=False)
        except (OSError, ValueError):
            path = None
        if path is None:
            continue
        if name.endswith(".index.json"):
            return set(json.loads(Path(path).read_text())["weight_map"])
        if name.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(path, framework="pt") as weights:
                return set(weights.keys())
        return set(torch.load(path, map_location="cpu", mmap=True, weights_only=True))
    return None


def _model_folder(folder: str | os.PathLike) -> Path | None:
    """The model folder of a run (``.../<seed>/model`` or ``.../<seed>``), or None when ``folder`` is neither."""
    path = Path(folder).expanduser()
    for candidate in (path, path / "model"):
        if (candidate / "adapter.json").is_file():
            return candidate
    return None


def _run_label_names(model_folder: Path, num_labels: int) -> list[str] | None:
    """Class names from the run's prepared data, ``results/<study>/data/<dataset>/eval.parquet``, if present."""
    parts = model_folder.resolve().parents  # <seed>, <model>, <dataset>, <study>
    if len(parts) < 4:
        return None
    table = parts[3] / "data" / parts[2].name / "eval.parquet"
    if not table.is_file():
        return None
    try:
        frame = pd.read_parquet(table, columns=["label", "label_name"]).drop_duplicates("label")
    except (OSError, KeyError, ValueError):
        return None
    names = dict(zip(frame["label"].astype(int), frame["label_name"].astype(str)))
    return [names.get(c, str(c)) for c in range(num_labels)]


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars: the untrained head is reported here instead."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


__all__ = ["DEFAULT_METHODS", "Explainer", "Explanation", "UntrainedHeadError"]
