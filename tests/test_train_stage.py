"""The train stage's evaluation record: accuracy and its chance level come from the evaluation split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_chance_is_the_majority_share_of_the_evaluation_split(tmp_path):
    from analysis.config import load_config
    from analysis.stages.data import DataSettings, prepare_data
    from analysis.stages.train import TrainSettings, train_model

    config = load_config(ROOT / "config" / "tiny.yaml", {
        "results_dir": str(tmp_path), "datasets": {"synthetic": {"train_n": 200, "eval_n": 40, "explain_n": 5}},
        "models": {"rnn": {"family": "rnn", "epochs": 1, "embed_dim": 8, "hidden_dim": 4, "attention_dim": 4}},
    })
    d = tmp_path / "run"
    prepare_data(DataSettings.from_config(config, dataset="synthetic"), "synthetic", out_train=str(d / "train.parquet"),
                 out_eval=str(d / "eval.parquet"), out_explain=str(d / "explain.parquet"),
                 out_report=str(d / "report.parquet"))
    # give the two splits different class balances: train 80% class 0, evaluation 75% class 1
    train = pd.read_parquet(d / "train.parquet")
    train = pd.concat([train[train["label"] == 0].head(80), train[train["label"] == 1].head(20)])
    train.to_parquet(d / "train.parquet", index=False)
    evaluation = pd.read_parquet(d / "eval.parquet")
    evaluation = pd.concat([evaluation[evaluation["label"] == 0].head(5), evaluation[evaluation["label"] == 1].head(15)])
    evaluation.to_parquet(d / "eval.parquet", index=False)

    train_model(TrainSettings.from_config(config, dataset="synthetic", model="rnn"), "synthetic", "rnn", 0,
                train_path=str(d / "train.parquet"), eval_path=str(d / "eval.parquet"),
                out_model=str(d / "model"), out_evaluation=str(d / "evaluation.parquet"),
                out_predictions=str(d / "predictions.parquet"), out_history=str(d / "history.parquet"))
    summary = pd.read_parquet(d / "evaluation.parquet")
    assert summary["n_eval"].iloc[0] == 20
    assert summary["chance"].iloc[0] == pytest.approx(0.75)  # 15 of the 20 evaluation examples are class 1
    assert summary["chance"].iloc[0] != pytest.approx(0.80)  # not the training split's majority share
