"""Shared fixtures: tiny models built offline in milliseconds, and paths to shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("STUDY_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from analysis.models.transformer import resolve_checkpoint

    return AutoTokenizer.from_pretrained(resolve_checkpoint("minilm-package"))


@pytest.fixture
def tiny_bert(minilm_tokenizer):
    """A randomly initialised 2-layer BERT classifier with the MiniLM tokenizer."""
    return build_tiny_bert(minilm_tokenizer)


def build_tiny_bert(minilm_tokenizer):
    """The :func:`tiny_bert` fixture's model, built afresh from torch seed 0 (dropout 0.1, BERT's default)."""
    from transformers import BertConfig, BertForSequenceClassification

    from analysis.models.attention_probe import PROBE_NAME
    from analysis.models.transformer import TransformerClassifier

    torch.manual_seed(0)
    config = BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=2, max_position_embeddings=64,
                        attn_implementation="eager")
    model = BertForSequenceClassification(config)
    model.set_attn_implementation(PROBE_NAME)
    return TransformerClassifier(model, minilm_tokenizer, max_length=64)


@pytest.fixture
def tiny_rnn():
    """A randomly initialised BiLSTM + tanh-attention classifier over a small vocabulary."""
    from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary

    torch.manual_seed(0)
    vocab = Vocabulary.build([["the", "film", "was", "great", "awful", "not", "plot", "dull", "a"]])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, embed_dim=16, hidden_dim=8,
                                     attention_dim=8, dropout=0.0))
    return RNNClassifier(network, vocab, max_length=32)


def make_batch(model, sentences, *, target=None, seed=0):
    """A :class:`Batch` of whitespace-split sentences explaining the predicted (or given) class."""
    from analysis.importance import Batch

    words = [s.split() for s in sentences]
    enc = model.encode(words)
    with torch.no_grad():
        predicted = model.logits(enc.input_ids, enc.attention_mask).argmax(-1)
    tgt = predicted if target is None else torch.as_tensor(target)
    return Batch(encoded=enc, target=tgt, example_ids=[f"ex{i}" for i in range(len(words))], words=words, seed=seed)


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "sst2" / "validation.parquet").exists():
        pytest.skip(f"../shared/data is absent ({SHARED_DATA}); set STUDY_SHARED_DATA to run the real-data tests")
    return SHARED_DATA
