"""Configs under Snakemake: the short `attention-study validate` message on errors, overlays, the packaged schema."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "config" / "tiny.yaml"


def snakemake(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env}
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=300)


def write(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def tiny():
    return yaml.safe_load(TINY.read_text())


def validate_message(path: Path) -> str:
    """What `attention-study validate` prints for a config file."""
    out = subprocess.run([sys.executable, "-m", "analysis", "validate", str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2
    return out.stderr.strip()


@pytest.mark.parametrize("typo,key,hint", [
    ("key", "importanse", "(did you mean 'importance'?)"),
    ("method", "importance.methods.integrated_gradeints", "(did you mean 'integrated_gradients'?)"),
])
def test_a_typo_under_snakemake_prints_the_validate_message_alone(tiny, tmp_path, typo, key, hint):
    if typo == "key":
        tiny["importanse"] = tiny.pop("importance")
    else:
        tiny["importance"]["methods"]["integrated_gradeints"] = tiny["importance"]["methods"].pop("integrated_gradients")
    bad = write(tmp_path / "bad.yaml", tiny)
    out = snakemake("-n", "--cores", "1", "--configfile", str(bad), "--config", f"results_dir={tmp_path}")
    assert out.returncode == 1
    printed = (out.stdout + out.stderr).strip()
    assert printed == validate_message(bad)  # the same message, and nothing else: no traceback, no schema
    lines = printed.splitlines()
    assert lines[0] == "invalid config:" and len(lines) == 2, printed
    assert lines[1].startswith(f"  {key}: ") and hint in lines[1]


def test_a_lone_partial_configfile_overlays_the_default_study(tmp_path):
    mine = write(tmp_path / "mine.yaml", {"study": "mine", "seeds": [0, 1], "data_dir": None,
                                           "models": {"minilm": {"epochs": 1}}})
    out = snakemake("-n", "--cores", "1", "--configfile", str(mine), "--config", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for dataset in default["datasets"]:
        for model in default["models"]:
            for seed in (0, 1):
                assert f"{tmp_path}/mine/{dataset}/{model}/{seed}/model" in out.stdout
    assert "config/config.yaml is extended" in out.stdout + out.stderr


def test_configfiles_overlay_a_whole_study_in_order(tmp_path):
    mine = write(tmp_path / "mine.yaml", {"study": "tiny_overlay", "seeds": [0, 1], "importance": {"shards": 2}})
    out = snakemake("-n", "--cores", "1", "--configfile", str(TINY), str(mine), "--config", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    study = tmp_path / "tiny_overlay"
    assert f"{study}/synthetic/minilm/1/shards/1/importance.parquet" in out.stdout  # seeds and shards from mine.yaml
    assert "/sst2/" not in out.stdout  # config.yaml's datasets stay out: tiny.yaml is a whole study
    assert "config/config.yaml" not in out.stdout + out.stderr


def test_without_mirror_and_hub_the_run_stops_before_any_job(tiny, tmp_path):
    """No ../shared/data beside the working directory and HF_HUB_OFFLINE: one error naming both fixes."""
    tiny.pop("data_dir")  # auto
    tiny["datasets"]["sst2"] = {"train_n": 100, "eval_n": 50, "explain_n": 4}
    study = write(tmp_path / "hub.yaml", tiny)
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    out = snakemake("-n", "--cores", "1", "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", str(study))
    assert out.returncode == 1
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 2 and lines[0] == "invalid config:", lines
    assert "no local mirror at ../shared/data" in lines[1] and "HF_HUB_OFFLINE=1" in lines[1]
    assert "data_dir: PATH" in lines[1] and "network access" in lines[1]


@pytest.mark.slow
def test_the_wheel_ships_the_schema_and_validates_without_the_repository(tmp_path):
    """A non-editable install: the schema inside the wheel, read by load_schema from the installed package."""
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(tmp_path / "wheel"),
                            "--no-deps", "--no-build-isolation", "-q"], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "analysis/schemas/config.schema.yaml" in names
        assert any(name.endswith("licenses/LICENSE") for name in names)
        assert archive.read("analysis/schemas/config.schema.yaml") == (ROOT / "analysis/schemas/config.schema.yaml").read_bytes()
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel),
                              "-q"], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = ("import analysis, analysis.config as c, sys; print(analysis.__file__); print(c.SCHEMA_PATH); "
             "c.load_schema(); from analysis.cli import main; sys.exit(main(['validate', sys.argv[1]]))")
    out = subprocess.run([sys.executable, "-c", probe, str(TINY)], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    package_file, schema_path = out.stdout.splitlines()[:2]
    assert package_file.startswith(str(site)) and schema_path.startswith(str(site))
    assert "study tiny" in out.stdout
