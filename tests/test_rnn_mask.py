"""The RNN's reserved mask input: leave-one-out by mask never scores a word zero by construction.

Replacing a word by ``<unk>`` changes nothing for an out-of-vocabulary word (its input is
``<unk>`` already), which gave about a fifth of all words an exact zero. The RNN now
replaces words by a reserved ``<mask>`` input with a zero embedding that is no word's input.
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_batch

from analysis.importance import make_method, pool_to_words
from analysis.models.rnn import MASK_ID, PAD_ID, UNK_ID, AttentionRNN, RNNClassifier, RNNConfig, Vocabulary
from analysis.models.transformer import CheckpointError

OOV_SENTENCE = "the film was zyzzyva great"  # "zyzzyva" is not in the tiny vocabulary
OOV_POSITION = 3


def loo_mask_word_scores(model: RNNClassifier, sentence: str) -> list[float]:
    batch = make_batch(model, [sentence])
    out = make_method("loo_mask").explain(model, batch)
    enc = batch.encoded
    return pool_to_words(out.token_scores, enc.word_index, enc.n_words_kept, out.pooling)[0].tolist()


def random_rnn(encoder: str = "lstm", attention: str = "tanh") -> RNNClassifier:
    torch.manual_seed(0)
    vocab = Vocabulary.build([["the", "film", "was", "great", "awful", "not", "plot", "dull", "a"]])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, encoder=encoder, attention=attention,
                                     embed_dim=16, hidden_dim=8, attention_dim=8, dropout=0.0))
    return RNNClassifier(network, vocab, max_length=32)


def test_vocabulary_reserves_pad_unk_and_mask():
    vocab = Vocabulary.build([["The", "film", "film", "<mask>", "<pad>", "<unk>"]], max_size=4)
    assert vocab.tokens[:3] == ["<pad>", "<unk>", "<mask>"]
    assert (PAD_ID, UNK_ID, MASK_ID) == (0, 1, 2)
    assert vocab.tokens == ["<pad>", "<unk>", "<mask>", "film"]  # max_size counts the reserved entries
    # known words start after the reserved entries; anything else, a literal reserved token included, is unknown
    assert vocab.ids(["FILM", "the", "<mask>", "<pad>", "<unk>"]) == [3, UNK_ID, UNK_ID, UNK_ID, UNK_ID]
    with pytest.raises(ValueError, match="reserved tokens"):
        Vocabulary(["<pad>", "<unk>", "film"])


def test_mask_id_is_no_word_input_nor_unk_or_pad(tiny_rnn):
    mask = tiny_rnn.mask_token_id
    assert mask == MASK_ID
    assert mask not in {tiny_rnn.pad_token_id, UNK_ID}
    words = [*tiny_rnn.vocab.tokens, "zyzzyva", "MASK", "[MASK]"]
    assert mask not in tiny_rnn.vocab.ids(words)
    assert mask not in tiny_rnn.encode([words]).input_ids.tolist()[0]


def test_mask_embedding_is_zero_and_differs_from_unk(tiny_rnn):
    ids = torch.tensor([[UNK_ID, MASK_ID]])
    with torch.no_grad():
        tiny_rnn.module.embedding.weight[MASK_ID] = 5.0  # the table's row is not what the model reads
        unk, mask = tiny_rnn.embed(ids)[0]
    assert torch.count_nonzero(mask) == 0
    assert torch.count_nonzero(unk) > 0
    tiny_rnn.module.embedding.reset_parameters()  # what the sanity check's randomisation does
    with torch.no_grad():
        assert torch.count_nonzero(tiny_rnn.embed(ids)[0, 1]) == 0


@pytest.mark.parametrize(("encoder", "attention"), [("lstm", "tanh"), ("cnn", "dot"), ("average", "uniform")])
def test_loo_mask_does_not_score_an_oov_word_zero_by_construction(encoder, attention, monkeypatch):
    model = random_rnn(encoder, attention)
    assert model.encode([OOV_SENTENCE.split()]).input_ids[0, OOV_POSITION] == UNK_ID
    scores = loo_mask_word_scores(model, OOV_SENTENCE)
    assert abs(scores[OOV_POSITION]) > 1e-5
    assert all(s != 0.0 for s in scores)
    # the old replacement, <unk>, is the OOV word's own input: zero up to float32 noise of the forward passes (the
    # probabilities are differenced in float64, so batch-shape rounding of the logits, ~1e-9, shows)
    monkeypatch.setattr(RNNClassifier, "mask_token_id", property(lambda self: UNK_ID))
    assert abs(loo_mask_word_scores(model, OOV_SENTENCE)[OOV_POSITION]) < 1e-7


def test_loo_mask_finds_the_oov_word_a_model_reads():
    """Output = sigmoid(10 * mean over words of tanh(embedding dim 0)); only <unk> has dim 0 nonzero."""
    vocab = Vocabulary.build([OOV_SENTENCE.replace("zyzzyva", "").split()])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, encoder="average", attention="uniform",
                                     embed_dim=4, hidden_dim=2, dropout=0.0))
    with torch.no_grad():
        network.embedding.weight[:, 0] = 0.0
        network.embedding.weight[UNK_ID, 0] = 3.0
        network.projection.weight.copy_(torch.eye(4))
        network.projection.bias.zero_()
        network.classifier.weight.zero_()
        network.classifier.weight[1, 0] = 10.0
        network.classifier.bias.zero_()
    model = RNNClassifier(network, vocab)
    n = len(OOV_SENTENCE.split())
    p_full = torch.sigmoid(torch.tensor(10.0 * torch.tanh(torch.tensor(3.0)).item() / n)).item()
    scores = loo_mask_word_scores(model, OOV_SENTENCE)
    # masking the OOV word removes the only input the output reads: p(class 1) falls to 1/2
    assert scores[OOV_POSITION] == pytest.approx(p_full - 0.5, abs=1e-6)
    assert scores[OOV_POSITION] > 0.1
    assert [s for j, s in enumerate(scores) if j != OOV_POSITION] == pytest.approx([0.0] * (n - 1), abs=1e-6)


def test_saved_model_keeps_the_mask_and_old_checkpoints_are_refused(tiny_rnn, tmp_path):
    from analysis.models import load_model

    tiny_rnn.save(str(tmp_path / "model"))
    loaded = load_model(tmp_path / "model")
    assert loaded.mask_token_id == MASK_ID
    assert loaded.vocab.tokens == tiny_rnn.vocab.tokens
    assert loo_mask_word_scores(loaded, OOV_SENTENCE) == pytest.approx(loo_mask_word_scores(tiny_rnn, OOV_SENTENCE))
    old = tmp_path / "model" / "vocab.json"
    old.write_text(json.dumps([t for t in tiny_rnn.vocab.tokens if t != "<mask>"]))
    with pytest.raises(CheckpointError, match="rerun the train rule"):
        load_model(tmp_path / "model")


def test_integrated_gradients_mask_baseline_is_the_mask_input_and_equals_the_pad_baseline(tiny_rnn):
    from analysis.attribution.gradient import baseline_ids

    enc = tiny_rnn.encode([OOV_SENTENCE.split()])
    mask = baseline_ids(tiny_rnn, enc, "mask")
    pad = baseline_ids(tiny_rnn, enc, "pad")
    assert mask.tolist() == [[MASK_ID] * len(OOV_SENTENCE.split())]
    with torch.no_grad():  # both are zero embeddings at every real position (documented in AttentionRNN.embed)
        assert torch.equal(tiny_rnn.embed(mask), tiny_rnn.embed(pad))
