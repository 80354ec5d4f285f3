"""Jain & Wallace (2019) attention classifiers.

embedding -> encoder (BiLSTM, CNN, or no encoder: a projected average) -> attention
(additive "tanh": v^T tanh(W h_t), scaled dot with a learned query, or frozen uniform
for the Wiegreffe & Pinter baseline) -> linear classifier over the attended context.
The forward pass can take attention from outside (interventions) or hold it fixed
(detached) for the gradient Jain & Wallace used.

The vocabulary reserves three inputs: ``<pad>`` (0), ``<unk>`` (1, every word outside
the vocabulary) and ``<mask>`` (2, the replacement that leave-one-out, Shapley sampling,
LIME and the input-side ablations put in place of a word; see :meth:`AttentionRNN.embed`).
No word of any text maps to ``<mask>``, so replacing a word by it always changes the input,
also for an out-of-vocabulary word, whose own input is ``<unk>``.

The embedding table starts random, or from pretrained word vectors (``embeddings``, as
Jain & Wallace did; see :func:`initialise_embeddings`), and is fine-tuned with the rest
unless ``freeze_embeddings``.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from analysis.models.base import Encoded, TextClassifier, pad_sequences
from analysis.models.embeddings import EmbeddingsError, WordVectors, lookup_forms

log = logging.getLogger(__name__)

PAD, UNK, MASK = "<pad>", "<unk>", "<mask>"
RESERVED = (PAD, UNK, MASK)
PAD_ID, UNK_ID, MASK_ID = range(len(RESERVED))


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
    embeddings: str | None = None  # the pretrained vectors the table started from (a name or path), if any
    freeze_embeddings: bool = False  # True: the table is not trained


ENCODERS = ("lstm", "cnn", "average")
ATTENTIONS = ("tanh", "dot", "uniform")


class Vocabulary:
    """Lower-cased word vocabulary built from training words.

    Index 0 pads, 1 is unknown, 2 is the mask input; words start at 3. A text word that
    spells a reserved token (a literal ``<pad>`` or ``<mask>``) is unknown, so no word's
    input is ever the padding or the mask.
    """

    def __init__(self, tokens: list[str]) -> None:
        if tuple(tokens[: len(RESERVED)]) != RESERVED:
            raise ValueError(f"a vocabulary starts with the reserved tokens {list(RESERVED)}, "
                             f"not {list(tokens[: len(RESERVED)])}")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.word_index = {t: i for i, t in enumerate(tokens) if i >= len(RESERVED)}

    @classmethod
    def build(cls, texts: list[list[str]], *, min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        counts = Counter(w.lower() for words in texts for w in words)
        ranked = sorted((w for w, c in counts.items() if c >= min_count and w not in RESERVED),
                        key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max_size - len(RESERVED)]
        return cls([*RESERVED, *ranked])

    def ids(self, words: list[str]) -> list[int]:
        return [self.word_index.get(w.lower(), UNK_ID) for w in words]

    def lookup_spellings(self) -> set[str]:
        """Every spelling under which the words are looked up in pretrained vectors (:func:`initialise_embeddings`)."""
        return {form for word in self.tokens[len(RESERVED):] for form in lookup_forms(word)}

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
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        self.embedding.weight.requires_grad_(not config.freeze_embeddings)
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

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Word embeddings [B, T, E]; the ``<mask>`` input is the zero vector.

        The mask's embedding is fixed at zero here, whatever its (unused) row of the table
        holds, so neither training nor the sanity check's re-initialisation can change it
        and no checkpoint needs to store it. Zero rather than the mean embedding of the
        vocabulary because it is fixed: it does not move with training or depend on which
        (often rarely updated) words made the vocabulary, and it carries no word's content,
        while the word keeps its position (unlike deletion). It differs from the ``<unk>``
        embedding, a random row (the mean pretrained vector when the table starts from
        ``embeddings``) that training moves only when some training word is out of
        the vocabulary, so replacing an out-of-vocabulary word by the mask changes the input
        (unless someone sets the ``<unk>`` row to zero by hand, as a test's planted model
        may). Note that the zero vector is
        also the ``<pad>`` row: the integrated-gradients baselines "pad" and "mask" are the
        same input for an RNN (zero embeddings at every real position).
        """
        embeddings = self.embedding(input_ids)
        return embeddings.masked_fill((input_ids == MASK_ID).unsqueeze(-1), 0.0)

    def encode(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states [B, T, D] (zero at padding)."""
        x = self.dropout(embeddings)
        if self.config.encoder == "lstm":
            # cuDNN's LSTM has no backward pass in eval mode, which every gradient attribution and the
            # adversarial search need: those use the native kernels (same numbers, slower on a GPU)
            cudnn_ok = self.training or not torch.is_grad_enabled() or not x.is_cuda
            with torch.backends.cudnn.flags(enabled=cudnn_ok and torch.backends.cudnn.enabled):
                hidden = self.bilstm(x, mask)
        elif self.config.encoder == "cnn":
            xt = x.transpose(1, 2)
            hidden = torch.cat([torch.relu(conv(xt))[:, :, : x.shape[1]] for conv in self.convs], dim=1).transpose(1, 2)
        else:
            hidden = torch.tanh(self.projection(x))
        return hidden * mask.unsqueeze(-1).to(hidden.dtype)

    def bilstm(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The bidirectional LSTM over each text's first ``mask.sum(1)`` positions: [B, T, 2H].

        What a packed sequence computes (each direction starts from a zero state at the text's
        own first or last word; padding never enters a real position's state), without
        packing: the forward direction runs over the padded batch, the backward direction over
        each text reversed within its length, and its outputs are reversed back. The backward
        pass of a packed LSTM on a CPU is quadratic in the text length (every time step's slice
        gradient is a zero tensor the size of the whole batch): 1.2 s instead of 0.08 s for 32
        texts of about 230 words, so IMDB epochs took 10-20 minutes.
        """
        lstm = self.encoder
        batch, steps = x.shape[:2]
        lengths = mask.sum(1, keepdim=True).to(torch.long)
        positions = torch.arange(steps, device=x.device).unsqueeze(0)
        # index of position t in the text reversed within its length (an involution; padding stays)
        flip = torch.where(positions < lengths, lengths - 1 - positions, positions).unsqueeze(-1)
        zeros = x.new_zeros(1, batch, lstm.hidden_size)

        def direction(inputs: torch.Tensor, suffix: str) -> torch.Tensor:
            weights = [getattr(lstm, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            out, _, _ = torch.lstm(inputs, (zeros, zeros), weights, True, 1, 0.0, self.training, False, True)
            return out

        forward = direction(x, "")
        backward = direction(x.gather(1, flip.expand(-1, -1, x.shape[-1])), "_reverse")
        backward = backward.gather(1, flip.expand(-1, -1, backward.shape[-1]))
        return torch.cat([forward, backward], dim=-1)

    def attention_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.config.attention == "tanh":
            return self.attn_v(torch.tanh(self.attn_proj(hidden))).squeeze(-1)
        if self.config.attention == "dot":
            return hidden @ self.attn_query / math.sqrt(hidden.shape[-1])
        return torch.zeros(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)

    def attend(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The attention distribution [B, T] over hidden states [B, T, D] (zero at padding)."""
        scores = self.attention_scores(hidden).masked_fill(mask == 0, float("-inf"))
        attention = torch.softmax(scores, dim=-1)
        # an empty input (every word deleted) attends to nothing: context 0, logits = bias
        return torch.where(mask.any(dim=1, keepdim=True), attention, torch.zeros_like(attention))

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
        attention = attention_override.to(hidden.dtype) if attention_override is not None else self.attend(hidden, mask)
        if detach_attention:
            attention = attention.detach()
        context = torch.einsum("bt,btd->bd", attention, hidden)
        return self.classifier(self.dropout(context)), attention


@dataclass(frozen=True)
class EmbeddingCoverage:
    """How much of a vocabulary the pretrained vectors covered (for the training log)."""

    source: str
    n_words: int  # vocabulary words, reserved inputs excluded
    n_found: int  # of which have a vector (under their own or their PTB-unescaped spelling)
    n_unescaped: int  # of which found only PTB-unescaped
    random_std: float  # standard deviation of the random rows of the words without a vector
    missing: tuple[str, ...]  # the most frequent words without a vector (up to 20)

    @property
    def share(self) -> float:
        return self.n_found / self.n_words if self.n_words else 0.0

    def describe(self) -> str:
        return (f"{self.source}: {self.n_found} of {self.n_words} vocabulary words ({self.share:.1%}) have a vector "
                f"({self.n_unescaped} under their PTB-unescaped spelling); the other {self.n_words - self.n_found} "
                f"start as N(0, {self.random_std:.3f}^2), e.g. {', '.join(self.missing[:10]) or '-'}")


def initialise_embeddings(network: AttentionRNN, vocab: Vocabulary, vectors: WordVectors, *,
                          generator: torch.Generator | None = None) -> EmbeddingCoverage:
    r"""Fill ``network``'s embedding table from pretrained ``vectors``; returns the coverage.

    - a vocabulary word with a vector gets it: the vocabulary is lower-cased (``str.lower``,
      as GloVe 6B's is), and a word without a vector of its own is looked up under its Penn
      Treebank-unescaped spelling (``-lrb-`` as ``(``, ``\/`` as ``/``; SST is PTB-tokenised);
    - a vocabulary word without a vector gets a random row drawn from N(0, s^2), s the
      standard deviation of all entries of the vocabulary's pretrained vectors, so it has the
      scale of its neighbours (Jain & Wallace's torchtext vectors give zero);
    - ``<pad>`` and ``<mask>`` stay zero (see :meth:`AttentionRNN.embed`);
    - ``<unk>`` (words outside the training vocabulary) gets the mean of the vocabulary's
      pretrained vectors: a typical word rather than a random one, and not the mask's zero,
      so replacing an unknown word by ``<mask>`` still changes the input.

    Random draws use ``generator`` (default: torch's global generator, seeded by the stage).
    """
    if vectors.dim != network.config.embed_dim:
        raise EmbeddingsError(f"the vectors {vectors.source} are {vectors.dim}-d but the model's embed_dim is "
                              f"{network.config.embed_dim}")
    lookup = vectors.lookup()
    rows, sources, n_unescaped, missing = [], [], 0, []
    for row, word in enumerate(vocab.tokens[len(RESERVED):], start=len(RESERVED)):
        forms = [form for form in lookup_forms(word) if form in lookup]
        if forms:
            rows.append(row)
            sources.append(lookup[forms[0]])
            n_unescaped += forms[0] != word
        else:
            missing.append(word)
    if not rows:
        raise EmbeddingsError(f"no word of the {len(vocab) - len(RESERVED)}-word vocabulary has a vector in "
                              f"{vectors.source}: is it a vector file of this language, lower-cased like the "
                              "vocabulary?")
    pretrained = torch.from_numpy(vectors.matrix[sources]).float()
    std = float(pretrained.std())
    weight = network.embedding.weight
    table = torch.randn(weight.shape, generator=generator) * std
    table[rows] = pretrained
    table[PAD_ID] = 0.0
    table[MASK_ID] = 0.0
    table[UNK_ID] = pretrained.mean(0)
    with torch.no_grad():
        weight.copy_(table.to(weight.device, weight.dtype))
    coverage = EmbeddingCoverage(vectors.source, len(vocab) - len(RESERVED), len(rows), n_unescaped, std,
                                 tuple(missing[:20]))
    log.info("embeddings %s", coverage.describe())
    return coverage


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
        ids, mask = pad_sequences([self.vocab.ids(w) for w in kept], PAD_ID)
        word_index = torch.where(mask.bool(), torch.arange(ids.shape[1]).expand_as(ids), torch.full_like(ids, -1))
        return Encoded(ids, mask, word_index, [len(w) for w in words], [len(w) for w in kept])

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.network.embed(input_ids)

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
        return PAD_ID

    @property
    def mask_token_id(self) -> int:
        """The reserved ``<mask>`` input (a zero embedding, see :meth:`AttentionRNN.embed`), not ``<unk>``."""
        return MASK_ID

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

        from analysis.models.transformer import CheckpointError

        path = Path(folder)
        tokens = json.loads((path / "vocab.json").read_text())
        if tuple(tokens[: len(RESERVED)]) != RESERVED:
            raise CheckpointError(
                f"{path / 'vocab.json'} starts with {tokens[: len(RESERVED)]}, not {list(RESERVED)}: the model was "
                "saved before the RNN vocabulary reserved a <mask> input (leave-one-out by [UNK] gave "
                "out-of-vocabulary words a zero score); delete the model folder and rerun the train rule")
        raw = json.loads((path / "rnn_config.json").read_text())
        raw["cnn_kernels"] = tuple(raw["cnn_kernels"])
        network = AttentionRNN(RNNConfig(**raw))
        network.load_state_dict(load_file(path / "model.safetensors"))
        vocab = Vocabulary(tokens)
        meta = json.loads((path / "adapter.json").read_text())
        return cls(network, vocab, max_length=meta["max_length"], device=device)
