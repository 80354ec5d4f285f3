"""The Jain & Wallace RNN classifiers: shapes, attention over real tokens only, every encoder and
attention, save/load, and a training loop that learns a separable task deterministically.

(The reserved ``<mask>`` input is tested in test_rnn_mask.py, epoch selection in test_training.py.)
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from analysis.models import load_model
from analysis.models.rnn import ATTENTIONS, ENCODERS, AttentionRNN, RNNClassifier, RNNConfig, Vocabulary
from analysis.models.training import TrainSettings, predict, train_classifier

WORDS = ["the", "film", "was", "great", "awful", "not", "plot", "dull", "a"]
SENTENCES = [["the", "film", "was", "great"], ["dull"], ["a", "plot", "not", "awful", "the", "film"]]
COMBINATIONS = list(itertools.product(ENCODERS, ATTENTIONS))


def build(encoder: str = "lstm", attention: str = "tanh", *, num_labels: int = 3, seed: int = 0,
          vocabulary: list[list[str]] | None = None, dropout: float = 0.0) -> RNNClassifier:
    torch.manual_seed(seed)
    vocab = Vocabulary.build(vocabulary or [WORDS])
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=num_labels, encoder=encoder,
                                     attention=attention, embed_dim=12, hidden_dim=6, attention_dim=5,
                                     dropout=dropout, cnn_kernels=(1, 3)))
    return RNNClassifier(network, vocab, max_length=16)


@torch.no_grad()
def forward(model: RNNClassifier, sentences: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [B, C], attention [B, T]) of the network on ``sentences``."""
    enc = model.encode(sentences)
    return model.network(model.embed(enc.input_ids), enc.attention_mask)


@pytest.mark.parametrize(("encoder", "attention"), COMBINATIONS)
def test_forward_shapes_and_attention_over_real_tokens_only(encoder, attention):
    model = build(encoder, attention)
    enc = model.encode(SENTENCES)
    logits, weights = forward(model, SENTENCES)
    batch, width = len(SENTENCES), max(map(len, SENTENCES))
    assert enc.input_ids.shape == (batch, width)
    assert logits.shape == (batch, 3) and weights.shape == (batch, width)
    real = enc.attention_mask.bool()
    assert torch.allclose(weights.sum(-1), torch.ones(batch), atol=1e-6)
    assert torch.all(weights[~real] == 0) and torch.all(weights >= 0)
    assert model.cls_attention(enc.input_ids, enc.attention_mask).shape == (batch, 1, 1, width)
    if attention == "uniform":
        lengths = real.sum(-1, keepdim=True).float()
        assert torch.allclose(weights, real.float() / lengths)


@pytest.mark.parametrize(("encoder", "attention"), COMBINATIONS)
def test_padding_changes_no_prediction(encoder, attention):
    """A sentence scored alone and inside a padded batch gets the same logits and attention."""
    model = build(encoder, attention)
    logits, weights = forward(model, SENTENCES)
    for row, sentence in enumerate(SENTENCES):
        one_logits, one_weights = forward(model, [sentence])
        assert torch.allclose(one_logits[0], logits[row], atol=1e-5)
        assert torch.allclose(one_weights[0], weights[row, : len(sentence)], atol=1e-6)


def test_an_empty_input_attends_to_nothing_and_scores_the_bias():
    model = build("average", "tanh")
    enc = model.encode([["great"]])
    with torch.no_grad():
        logits, weights = model.network(model.embed(enc.input_ids), torch.zeros_like(enc.attention_mask))
    assert torch.all(weights == 0)
    assert torch.allclose(logits[0], model.network.classifier.bias)


def test_unknown_encoder_or_attention_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown encoder 'gru'; choose one of \('lstm', 'cnn', 'average'\)"):
        AttentionRNN(RNNConfig(vocab_size=5, num_labels=2, encoder="gru"))
    with pytest.raises(ValueError, match=r"unknown attention 'additive'; choose one of \('tanh', 'dot', 'uniform'\)"):
        AttentionRNN(RNNConfig(vocab_size=5, num_labels=2, attention="additive"))


def test_words_are_truncated_at_max_length_and_counted():
    model = build()
    enc = model.encode([["great"] * 20, ["dull"]])
    assert enc.input_ids.shape == (2, 16)
    assert enc.n_words == [20, 1] and enc.n_words_kept == [16, 1] and enc.truncated == [True, False]


@pytest.mark.parametrize(("encoder", "attention"), [("lstm", "tanh"), ("cnn", "dot"), ("average", "uniform")])
def test_save_and_load_give_identical_logits(encoder, attention, tmp_path):
    model = build(encoder, attention, seed=3)
    with torch.no_grad():  # move the weights off their initial values, so that loading them is what is tested
        for parameter in model.network.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.save(str(tmp_path / "model"))
    loaded = load_model(tmp_path / "model")
    assert isinstance(loaded, RNNClassifier)
    assert loaded.network.config == model.network.config and loaded.max_length == model.max_length
    assert loaded.vocab.tokens == model.vocab.tokens
    assert not loaded.network.training  # loaded for use: dropout off
    enc = model.encode(SENTENCES + [["zyzzyva", "great"]])  # an out-of-vocabulary word too
    with torch.no_grad():
        assert torch.equal(loaded.logits(enc.input_ids, enc.attention_mask),
                           model.logits(enc.input_ids, enc.attention_mask))


def separable(n: int, seed: int) -> tuple[list[list[str]], list[int]]:
    """Label 1 exactly when the sentence holds "great" (else "awful"), among filler words."""
    rng = np.random.default_rng(seed)
    words, labels = [], []
    for i in range(n):
        sentence = list(rng.choice(["the", "film", "was", "a", "plot"], size=int(rng.integers(2, 6))))
        sentence.insert(int(rng.integers(0, len(sentence) + 1)), "great" if i % 2 else "awful")
        words.append(sentence)
        labels.append(i % 2)
    return words, labels


def test_training_lowers_the_loss_learns_the_task_and_repeats_exactly_under_a_seed():
    words, labels = separable(96, 0)
    settings = TrainSettings(epochs=8, batch_size=16, lr=0.03)

    def run() -> tuple[RNNClassifier, list[float]]:
        model = build("lstm", "tanh", num_labels=2, vocabulary=words, dropout=0.1)
        history = train_classifier(model, words, labels, settings, seed=0)
        return model, history["loss"].tolist()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same sums in the same order
    try:
        first, losses = run()
        second, again = run()
    finally:
        torch.set_num_threads(threads)
    assert len(losses) == 8 and losses[-1] < 0.1 * losses[0]  # about 0.6 -> under 0.01 (any seed 0-5)
    assert again == losses
    assert all(torch.equal(a, b) for a, b in zip(first.network.state_dict().values(),
                                                  second.network.state_dict().values()))
    assert not first.network.training  # back in eval mode after training
    test_words, test_labels = separable(40, 1)
    predicted, _ = predict(first, test_words)
    assert np.mean(predicted == np.array(test_labels)) == 1.0


def test_bilstm_states_and_gradients_equal_those_of_a_packed_sequence():
    """The unpacked BiLSTM (backward direction over each text reversed within its length) is a packed LSTM."""
    torch.manual_seed(0)
    network = AttentionRNN(RNNConfig(vocab_size=10, num_labels=2, embed_dim=6, hidden_dim=5)).eval()
    lengths = torch.tensor([7, 3, 1, 5])
    mask = (torch.arange(7)[None] < lengths[:, None]).long()
    inputs = torch.randn(4, 7, 6)
    ours, packed_in = inputs.clone().requires_grad_(), inputs.clone().requires_grad_()
    hidden = network.bilstm(ours, mask) * mask[..., None]
    packed = torch.nn.utils.rnn.pack_padded_sequence(packed_in, lengths, batch_first=True, enforce_sorted=False)
    reference, _ = torch.nn.utils.rnn.pad_packed_sequence(network.encoder(packed)[0], batch_first=True, total_length=7)
    torch.testing.assert_close(hidden, reference, atol=1e-6, rtol=1e-5)
    weights = torch.randn_like(hidden)
    (hidden * weights).sum().backward()
    (reference * weights).sum().backward()
    torch.testing.assert_close(ours.grad, packed_in.grad, atol=1e-6, rtol=1e-5)
    # the backward direction at a text's last word has seen only that word: padding never leaks in
    last = network.bilstm(inputs[1:2, :3], mask[1:2, :3])[0, 2, 5:]
    torch.testing.assert_close(hidden[1, 2, 5:], last, atol=1e-6, rtol=1e-5)
