"""Config validation: wrong keys, types and names get errors naming the key and the allowed values."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from analysis.config import ConfigError, load_config, methods_for, validate_config

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


@pytest.fixture
def tiny():
    return yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_is_valid(path):
    config = load_config(path)
    assert config["importance"]["methods"]


def test_defaults_are_filled(tiny):
    del tiny["agreement"]
    config = validate_config(tiny)
    assert config["agreement"]["n_resamples"] == 1000
    assert config["agreement"]["reference"] == "loo_delete"
    assert config["agreement"]["floor_draws"] == 10


@pytest.mark.parametrize(
    "mutate,pattern",
    [
        (lambda c: c.update(sede=[0]), r"\(top level\).*'sede'.*allowed keys"),
        (lambda c: c["datasets"]["synthetic"].update(train_n="many"), r"datasets\.synthetic\.train_n"),
        (lambda c: c["datasets"].update(sst3={}), r"datasets\.sst3: unknown dataset 'sst3'; choose one of .*sst2"),
        (lambda c: c["models"]["minilm"].update(family="gpt"), r"models\.minilm\.family.*transformer"),
        (lambda c: c["models"]["bilstm_tanh"].update(encoder="gru"), r"models\.bilstm_tanh\.encoder.*lstm"),
        (lambda c: c["importance"]["methods"].update(lime_x={}),
         r"importance\.methods\.lime_x.*unknown importance method.*choose one of.*integrated_gradients"),
        (lambda c: c["importance"]["methods"]["integrated_gradients"].update(steps=4),
         r"no setting\(s\) \['steps'\].*n_steps"),
        (lambda c: c["agreement"].update(metrics=["kendall"]), r"unknown metric 'kendall'.*kendall_tau"),
        (lambda c: c["agreement"].update(reference="rnn_attention"), r"not a causal"),
        (lambda c: c["agreement"].update(floor_draws=0), r"agreement\.floor_draws"),
        (lambda c: c["datasets"]["synthetic"].update(explain_n=500), r"explain_n \(500\) exceeds eval_n"),
        (lambda c: c["models"]["minilm"].pop("checkpoint"), r"needs `checkpoint`"),
    ],
)
def test_bad_configs_name_the_key(tiny, mutate, pattern):
    bad = copy.deepcopy(tiny)
    mutate(bad)
    with pytest.raises(ConfigError, match=pattern):
        validate_config(bad)


def test_methods_are_filtered_by_model_kind(tiny):
    config = validate_config(tiny)
    assert "rnn_attention" not in methods_for(config, "minilm")
    assert "attention_rollout" in methods_for(config, "minilm")
    assert "jw_gradient" in methods_for(config, "bilstm_tanh")
    assert "attention_rollout" not in methods_for(config, "bilstm_tanh")


def test_missing_checkpoint_folder_is_a_clear_error():
    from analysis.models.transformer import CheckpointError, TransformerClassifier

    with pytest.raises(CheckpointError, match="does not exist"):
        TransformerClassifier.load("./no/such/checkpoint", num_labels=2)


def test_cli_validate(capsys):
    from analysis.cli import main

    assert main(["validate", str(ROOT / "config" / "tiny.yaml")]) == 0
    assert "study tiny" in capsys.readouterr().out


def test_command_line_strings_are_coerced_where_the_schema_wants_numbers(tiny):
    from analysis.config import coerce_to_schema, load_schema

    tiny.update(seeds=["0", "1"], study="2024", data_dir="null", importance={"shards": "4", "methods": {
        "integrated_gradients": {"n_steps": "8"}, "loo_delete": {}}})
    config = validate_config(coerce_to_schema(tiny, load_schema()))
    assert config["seeds"] == [0, 1] and config["importance"]["shards"] == 4
    assert config["study"] == "2024"  # a string where the schema wants one stays a string
    assert config["data_dir"] is None  # `--config data_dir=null` reads from the hub
    # method settings are free-form in the schema; the method converts them to its defaults' types
    from analysis.importance import make_method

    method = make_method("integrated_gradients", config["importance"]["methods"]["integrated_gradients"])
    assert method.settings["n_steps"] == 8
