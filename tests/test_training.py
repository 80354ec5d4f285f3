"""Epoch selection on a validation split: the best epoch's weights come back, patience stops early."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.models import TrainSettings, predict, train_classifier, train_settings
from analysis.models import training as training_module
from analysis.models.training import chosen_epoch

POSITIVE, NEGATIVE, FILLER = ["great"], ["awful", "dull"], ["the", "film", "was", "a", "plot", "not"]


def sentiment_examples(n: int, seed: int) -> pd.DataFrame:
    """Short sentences whose label is 1 exactly when they contain "great"."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(FILLER, size=rng.integers(2, 6)))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(POSITIVE if label else NEGATIVE)))
        rows.append({"words": words, "label": label})
    return pd.DataFrame(rows)


def scripted_accuracies(monkeypatch, accuracies: list[float]) -> list[dict[str, torch.Tensor]]:
    """Make epoch k's validation accuracy ``accuracies[k - 1]``; returns each epoch's weights as measured."""
    snapshots = []

    def fake(model, encoded, labels, *, batch_size):
        snapshots.append({k: v.detach().clone() for k, v in model.module.state_dict().items()})
        return accuracies[len(snapshots) - 1]

    monkeypatch.setattr(training_module, "validation_accuracy", fake)
    return snapshots


def fresh_rnn(train: pd.DataFrame, *, dropout: float):
    """A small attention BiLSTM on ``train``'s vocabulary, initialised from torch seed 0."""
    from analysis.models.rnn import AttentionRNN, RNNClassifier, RNNConfig, Vocabulary

    torch.manual_seed(0)
    vocab = Vocabulary.build(list(train["words"]))
    network = AttentionRNN(RNNConfig(vocab_size=len(vocab), num_labels=2, embed_dim=8, hidden_dim=4,
                                     attention_dim=4, dropout=dropout))
    return RNNClassifier(network, vocab)


def same_weights(model, state) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.module.state_dict().items())


def test_the_best_epoch_is_restored_and_ties_keep_the_earlier(tiny_rnn, monkeypatch):
    train, validation = sentiment_examples(32, 0), sentiment_examples(8, 1)
    snapshots = scripted_accuracies(monkeypatch, [0.5, 0.8, 0.8, 0.6])
    history = train_classifier(tiny_rnn, list(train["words"]), train["label"].tolist(),
                               TrainSettings(epochs=4, batch_size=8, lr=0.01), seed=0, validation=validation)
    assert list(history.columns) == ["epoch", "loss", "seconds", "validation_accuracy", "validation_seconds", "chosen"]
    assert history["validation_accuracy"].tolist() == [0.5, 0.8, 0.8, 0.6]
    assert chosen_epoch(history) == 2 and history["chosen"].sum() == 1
    assert same_weights(tiny_rnn, snapshots[1]) and not same_weights(tiny_rnn, snapshots[3])
    assert not tiny_rnn.module.training


def test_patience_stops_after_epochs_without_improvement(tiny_rnn, monkeypatch):
    train, validation = sentiment_examples(32, 0), sentiment_examples(8, 1)
    snapshots = scripted_accuracies(monkeypatch, [0.5, 0.7, 0.6, 0.7, 0.9, 0.9, 0.9, 0.9])
    history = train_classifier(tiny_rnn, list(train["words"]), train["label"].tolist(),
                               TrainSettings(epochs=8, batch_size=8, lr=0.01, patience=2), seed=0,
                               validation=validation)
    assert history["epoch"].tolist() == [1, 2, 3, 4]  # epochs 3 and 4 did not beat epoch 2
    assert chosen_epoch(history) == 2 and same_weights(tiny_rnn, snapshots[1])


def test_chosen_epoch_predictions_come_back_and_training_is_otherwise_unchanged(monkeypatch):
    """A real run: the restored model scores the chosen epoch's validation accuracy; epochs match a plain run."""
    train, validation = sentiment_examples(64, 0), sentiment_examples(40, 1)

    def fresh():
        return fresh_rnn(train, dropout=0.2)

    settings = TrainSettings(epochs=4, batch_size=16, lr=0.01)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = train_classifier(fresh(), list(train["words"]), train["label"].tolist(), settings, seed=0)
        model = fresh()
        selected = train_classifier(model, list(train["words"]), train["label"].tolist(), settings, seed=0,
                                    validation=validation)
    finally:
        torch.set_num_threads(threads)
    assert list(plain.columns) == ["epoch", "loss", "seconds"]  # no validation: today's history
    assert selected["loss"].tolist() == pytest.approx(plain["loss"].tolist())  # measuring draws no random numbers
    predicted, _ = predict(model, list(validation["words"]))
    best = selected.loc[selected["chosen"], "validation_accuracy"].item()
    assert np.mean(predicted == validation["label"].to_numpy()) == pytest.approx(best)
    assert best == selected["validation_accuracy"].max()


def test_patience_needs_a_validation_split(tiny_rnn):
    with pytest.raises(ValueError, match="patience needs a validation split"):
        train_classifier(tiny_rnn, [["great"]], [1], TrainSettings(epochs=1, patience=2), seed=0)


def test_config_defaults_reach_the_train_settings():
    from pathlib import Path

    from analysis.config import load_config

    config = load_config(Path(__file__).resolve().parent.parent / "config" / "tiny.yaml")
    entry = config["models"]["bilstm_tanh"]
    assert entry["embeddings"] is None and entry["freeze_embeddings"] is False and entry["patience"] is None
    assert train_settings({**entry, "patience": 3}).patience == 3


@pytest.mark.parametrize("family", ["rnn", "transformer"])
def test_an_interrupted_training_resumes_to_the_weights_of_an_uninterrupted_run(family, tmp_path, monkeypatch,
                                                                                 caplog, request):
    """Killed in epoch 3 of 4, the rerun resumes after epoch 2 (weights, optimiser, schedule, dropout and
    batch-order draws, best epoch) and ends weight for weight where the uninterrupted run ends."""
    from conftest import build_tiny_bert

    from analysis.models.training import TrainingCheckpoint

    train, validation = sentiment_examples(64, 0), sentiment_examples(40, 1)
    settings = TrainSettings(epochs=4, batch_size=16, lr=0.01, warmup_ratio=0.1)

    def fresh():
        if family == "rnn":
            return fresh_rnn(train, dropout=0.3)
        return build_tiny_bert(request.getfixturevalue("minilm_tokenizer"))

    def fit(model, checkpoint=None):
        return train_classifier(model, list(train["words"]), train["label"].tolist(), settings, seed=0,
                                validation=validation, checkpoint=checkpoint)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = fresh()
        expected = fit(whole)
        checkpoint = TrainingCheckpoint(tmp_path / "training_checkpoint.pt", key="config-1")
        real, calls = training_module.length_bucketed_batches, []

        def killed_in_epoch_3(*args, **kwargs):
            calls.append(kwargs.get("rng") is not None)  # a training epoch's batch order (not validation's)
            if sum(calls) == 3:
                raise KeyboardInterrupt("simulated interruption")
            return real(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(training_module, "length_bucketed_batches", killed_in_epoch_3)
            with pytest.raises(KeyboardInterrupt):
                fit(fresh(), checkpoint)
        assert len(checkpoint.load()["history"]) == 2
        resumed = fresh()
        with caplog.at_level("INFO", logger="analysis.models.training"):
            history = fit(resumed, checkpoint)
    finally:
        torch.set_num_threads(threads)
    assert any("resuming training after epoch 2 of 4" in r.getMessage() for r in caplog.records)
    assert same_weights(resumed, whole.module.state_dict())
    pd.testing.assert_frame_equal(history.drop(columns=["seconds", "validation_seconds"]),
                                  expected.drop(columns=["seconds", "validation_seconds"]))


def test_a_checkpoint_of_another_configuration_is_ignored(tmp_path, tiny_rnn):
    from analysis.models.training import TrainingCheckpoint

    train = sentiment_examples(16, 0)
    TrainingCheckpoint(tmp_path / "c.pt", key="other").save({"history": [{"epoch": 1}, {"epoch": 2}]})
    checkpoint = TrainingCheckpoint(tmp_path / "c.pt", key="this")
    assert checkpoint.load() is None
    history = train_classifier(tiny_rnn, list(train["words"]), train["label"].tolist(),
                               TrainSettings(epochs=2, batch_size=8), seed=0, checkpoint=checkpoint)
    assert history["epoch"].tolist() == [1, 2] and len(checkpoint.load()["history"]) == 2
    checkpoint.clear()
    assert not (tmp_path / "c.pt").exists()
