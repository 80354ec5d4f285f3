"""Jain & Wallace (2019) attention classifiers, trained from scratch.

embedding -> encoder (BiLSTM, CNN, or no encoder: a projected average) -> attention
(additive "tanh": v^T tanh(W h_t), scaled dot with a learned query, or frozen uniform
for the Wiegreffe & Pinter baseline) -> linear classifier over the attended context.
The forward pass can take attention from outside (interventions) or hold it fixed
(detached) for the gradient Jain & Wallace used.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from analysis.models.base import Encoded, TextClassifier, pad_sequences

PAD, UNK = "<pad>", "<unk>"


@dataclass(frozen=True)
class RNNConfig:
    """Architecture of a Jain & Wallace model (their defaults: 300-d embeddings, 128-d hidden)."""

    vocab_size: int
    num_labels: int
    encoder: str = "lstm"  # lstm | cnn | average
    attention: str = "tanh"  # tanh | dot | uniform
    embed_dim: int = 128
    hidden_dim: int = 64
    attention_dim: int = 64
    dropout: float = 0.2
    cnn_kernels: tuple[int, ...] = (1, 3, 5, 7)


ENCODERS = ("lstm", "cnn", "average")
ATTENTIONS = ("tanh", "dot", "uniform")


class Vocabulary:
    """Lower-cased word vocabulary built from training words; index 0 pads, 1 is unknown."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, texts: list[list[str]], *, min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        counts = Counter(w.lower() for words in texts for w in words)
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max_size - 2]
        return cls([PAD, UNK, *ranked])

    def ids(self, words: list[str]) -> list[int]:
        return [self.index.get(w.lower(), 1) for w in words]

    def __len__(self) -> int:
        return len(self.tokens)


class AttentionRNN(nn.Module):
    """The network itself; see the module docstring."""

    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        if config.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {config.encoder!r}; choose one of {ENCODERS}")
        if config.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {config.attention!r}; choose one of {ATTENTIONS}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
        h = config.hidden_dim
        if config.encoder == "lstm":
            self.encoder = nn.LSTM(config.embed_dim, h, batch_first=True, bidirectional=True)
            self.output_dim = 2 * h
        elif config.encoder == "cnn":
            per = max(1, (2 * h) // len(config.cnn_kernels))
            self.convs = nn.ModuleList(nn.Conv1d(config.embed_dim, per, k, padding=k // 2) for k in config.cnn_kernels)
            self.output_dim = per * len(config.cnn_kernels)
        else:
            self.projection = nn.Linear(config.embed_dim, 2 * h)
            self.output_dim = 2 * h
        if config.attention == "tanh":
            self.attn_proj = nn.Linear(self.output_dim, config.attention_dim)
            self.attn_v = nn.Linear(config.attention_dim, 1, bias=False)
        elif config.attention == "dot":
            self.attn_query = nn.Parameter(torch.randn(self.output_dim) / math.sqrt(self.output_dim))
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.output_dim, config.num_labels)

    def encode(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states [B, T, D] (zero at padding)."""
        x = self.dropout(embeddings)
        if self.config.encoder == "lstm":
            lengths = mask.sum(1).clamp(min=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.encoder(packed)
            hidden, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        elif self.config.encoder == "cnn":
            xt = x.transpose(1, 2)
            hidden = torch.cat([torch.relu(conv(xt))[:, :, : x.shape[1]] for conv in self.convs], dim=1).transpose(1, 2)
        else:
            hidden = torch.tanh(self.projection(x))
        return hidden * mask.unsqueeze(-1).to(hidden.dtype)

    def attention_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.config.attention == "tanh":
            return self.attn_v(torch.tanh(self.attn_proj(hidden))).squeeze(-1)
        if self.config.attention == "dot":
            return hidden @ self.attn_query / math.sqrt(hidden.shape[-1])
        return torch.zeros(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)

    def forward(
        self,
        embeddings: torch.Tensor,
        mask: torch.Tensor,
        *,
        attention_override: torch.Tensor | None = None,
        detach_attention: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits [B, C], attention [B, T]).

        ``attention_override`` replaces the computed distribution (it must be zero at
        padding); ``detach_attention`` stops gradients through the attention weights.
        """
        hidden = self.encode(embeddings, mask)
        if attention_override is not None:
            attention = attention_override.to(hidden.dtype)
        else:
            scores = self.attention_scores(hidden).masked_fill(mask == 0, float("-inf"))
            attention = torch.softmax(scores, dim=-1)
            # an empty input (every word deleted) attends to nothing: context 0, logits = bias
            attention = torch.where(mask.any(dim=1, keepdim=True), attention, torch.zeros_like(attention))
        if detach_attention:
            attention = attention.detach()
        context = torch.einsum("bt,btd->bd", attention, hidden)
        return self.classifier(self.dropout(context)), attention


class RNNClassifier(TextClassifier):
    """:class:`TextClassifier` adapter around :class:`AttentionRNN` and its vocabulary."""

    kind = "rnn"

    def __init__(self, network: AttentionRNN, vocab: Vocabulary, *, max_length: int = 256,
                 device: torch.device | str = "cpu") -> None:
        self.network = network.to(device).eval()
        self.vocab = vocab
        self.max_length = max_length
        self.device = torch.device(device)
        self.num_labels = network.config.num_labels

    @property
    def module(self) -> torch.nn.Module:
        return self.network

    def encode(self, words: list[list[str]]) -> Encoded:
        kept = [w[: self.max_length] for w in words]
        ids, mask = pad_sequences([self.vocab.ids(w) for w in kept], 0)
        word_index = torch.where(mask.bool(), torch.arange(ids.shape[1]).expand_as(ids), torch.full_like(ids, -1))
        return Encoded(ids, mask, word_index, [len(w) for w in words], [len(w) for w in kept])

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.network.embedding(input_ids)

    def logits_from_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor, *,
                               detach_attention: bool = False,
                               attention_override: torch.Tensor | None = None) -> torch.Tensor:
        logits, _ = self.network(embeddings, attention_mask, detach_attention=detach_attention,
                                 attention_override=attention_override)
        return logits

    def cls_attention(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        _, attention = self.network(self.embed(input_ids), attention_mask)
        return attention[:, None, None, :]

    @property
    def pad_token_id(self) -> int:
        return 0

    @property
    def mask_token_id(self) -> int:
        return 1

    def save(self, folder: str) -> None:
        from safetensors.torch import save_file

        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.network.state_dict().items()}, path / "model.safetensors")
        (path / "rnn_config.json").write_text(json.dumps(asdict(self.network.config), indent=1))
        (path / "vocab.json").write_text(json.dumps(self.vocab.tokens))
        (path / "adapter.json").write_text(json.dumps({"family": "rnn", "max_length": self.max_length}))

    @classmethod
    def load(cls, folder: str, *, device: torch.device | str = "cpu") -> RNNClassifier:
        from safetensors.torch import load_file

        path = Path(folder)
        raw = json.loads((path / "rnn_config.json").read_text())
        raw["cnn_kernels"] = tuple(raw["cnn_kernels"])
        network = AttentionRNN(RNNConfig(**raw))
        network.load_state_dict(load_file(path / "model.safetensors"))
        vocab = Vocabulary(json.loads((path / "vocab.json").read_text()))
        meta = json.loads((path / "adapter.json").read_text())
        return cls(network, vocab, max_length=meta["max_length"], device=device)
