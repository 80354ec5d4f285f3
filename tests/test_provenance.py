"""Provenance columns: which data, model, seed, settings and library versions produced a table."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

import analysis
from analysis import provenance
from analysis.provenance import (
    TRACKED_LIBRARIES,
    canonical_json,
    library_versions,
    provenance_columns,
    settings_hash,
    thread_count,
    with_provenance,
)

PROVENANCE = {"dataset": "sst2", "split": "validation", "model": "bilstm_tanh", "seed": 3,
              "settings": {"lr": 0.002, "epochs": 6}}


def test_provenance_columns_are_the_run_its_settings_and_the_versions():
    columns = provenance_columns(**PROVENANCE)
    assert list(columns) == ["dataset", "split", "model", "seed", "settings", "versions"]
    assert columns["dataset"] == "sst2" and columns["split"] == "validation" and columns["model"] == "bilstm_tanh"
    assert columns["seed"] == 3 and isinstance(columns["seed"], int)
    assert json.loads(columns["settings"]) == {"epochs": 6, "lr": 0.002}
    assert json.loads(columns["versions"]) == {**library_versions(), **thread_count()}


def test_the_versions_record_torchs_thread_count_that_cpu_results_depend_on():
    import torch

    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert json.loads(provenance_columns(**PROVENANCE)["versions"])["torch_threads"] == threads
    finally:
        torch.set_num_threads(before)


def test_no_settings_are_stored_as_an_empty_object():
    assert provenance_columns(dataset="d", split="s", model="", seed=0)["settings"] == "{}"


def test_with_provenance_adds_or_overwrites_and_leaves_the_input_alone():
    frame = pd.DataFrame({"value": [1.0, 2.0], "seed": [99, 99]})
    out = with_provenance(frame, **PROVENANCE)
    assert out["value"].tolist() == [1.0, 2.0]
    assert out["seed"].tolist() == [3, 3] and (out["dataset"] == "sst2").all()
    assert list(frame.columns) == ["value", "seed"] and frame["seed"].tolist() == [99, 99]


def test_settings_hash_ignores_key_order_and_sees_every_value():
    one = {"method": "integrated_gradients", "settings": {"n_steps": 32, "baseline": "pad"}, "seed": 0}
    same = {"seed": 0, "settings": {"baseline": "pad", "n_steps": 32}, "method": "integrated_gradients"}
    assert settings_hash(one) == settings_hash(same)
    assert canonical_json(one) == canonical_json(same)
    assert settings_hash({**one, "seed": 1}) != settings_hash(one)
    assert settings_hash({**one, "settings": {"n_steps": 64, "baseline": "pad"}}) != settings_hash(one)
    assert len(settings_hash(one)) == 12 and int(settings_hash(one), 16) >= 0


def test_settings_hash_is_fixed_across_runs():
    """The hash keys the importance cache: it must not depend on the process (no salted hash())."""
    assert settings_hash({"b": 1, "a": [1, 2]}) == settings_hash({"a": [1, 2], "b": 1})
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_canonical_json_writes_other_objects_as_text():
    assert canonical_json({"path": Path("results/x")}) == '{"path":"results/x"}'


def test_versions_record_python_the_package_and_every_tracked_library():
    versions = library_versions()
    assert set(versions) == {"python", "analysis", "code", *TRACKED_LIBRARIES}
    assert versions["analysis"] == analysis.__version__
    assert versions["pandas"] == metadata.version("pandas") == pd.__version__
    assert all(isinstance(v, str) and v for v in versions.values())


def test_a_library_that_is_not_installed_is_recorded_as_absent(monkeypatch):
    library_versions.cache_clear()
    monkeypatch.setattr(provenance, "TRACKED_LIBRARIES", ("pandas", "no-such-library-anywhere"))
    try:
        versions = library_versions()
    finally:
        library_versions.cache_clear()
    assert versions["no-such-library-anywhere"] == "absent"
    assert versions["pandas"] == pd.__version__


@pytest.mark.parametrize("seed", [0, 7])
def test_provenance_survives_a_parquet_round_trip(tmp_path, seed):
    from analysis.records import read_table, write_table

    path = write_table(with_provenance(pd.DataFrame({"x": [1]}), **{**PROVENANCE, "seed": seed}), tmp_path / "t.parquet")
    back = read_table(path, table="t")
    assert int(back["seed"].iloc[0]) == seed
    assert json.loads(back["settings"].iloc[0]) == PROVENANCE["settings"]


def test_a_model_folder_fingerprint_reads_contents_not_times(tmp_path):
    """Caches are keyed by the model's weights: touching, copying or Snakemake's timestamp file keep
    the key; a retrained (changed) weight file changes it."""
    import os
    import shutil

    from analysis.stages.common import folder_fingerprint

    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (model / "config.json").write_text('{"hidden": 8}')
    key = folder_fingerprint(model)
    os.utime(model / "weights.bin", (1, 1))
    (model / ".snakemake_timestamp").write_text("")
    assert folder_fingerprint(model) == key
    copy = Path(shutil.copytree(model, tmp_path / "copy"))
    assert folder_fingerprint(copy) == key
    (model / "weights.bin").write_bytes(b"\x00\x02" * 1000)
    assert folder_fingerprint(model) != key
    (copy / "config.json").rename(copy / "other.json")
    assert folder_fingerprint(copy) != key
