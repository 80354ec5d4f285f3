"""Device choice: ``cpu`` is honoured, the scheduler's CUDA_VISIBLE_DEVICES wins, and
concurrent jobs on a machine with several GPUs take different ones by lock files.

GPUs are faked (``torch.cuda.is_available`` / ``device_count`` / ``set_device``), so these
run on any CPU; the one test on a real GPU is marked ``gpu`` and skips without CUDA.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from analysis import runtime
from analysis.runtime import choose_device, claim_gpu, device_for, release_gpu_claims, set_threads

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """No claim carried over between tests, and no CUDA_VISIBLE_DEVICES from the caller's shell."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    release_gpu_claims()
    yield
    release_gpu_claims()


def fake_gpus(monkeypatch, count: int) -> list[int]:
    """Pretend ``count`` GPUs are visible; returns the indices passed to ``torch.cuda.set_device``."""
    current: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    return current


def hold(lock_dir: Path, device_id: str, slot: int = 0):
    """Another job's lock on GPU ``device_id`` (a second open file: flock conflicts within a process too)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    handle = open(lock_dir / f"{socket.gethostname()}-gpu{device_id}-slot{slot}.lock", "a+")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_cpu_is_honoured_where_gpus_are_visible(monkeypatch, tmp_path):
    fake_gpus(monkeypatch, 2)
    assert choose_device("cpu", lock_dir=tmp_path / "locks") == torch.device("cpu")
    assert not (tmp_path / "locks").exists()  # no GPU taken


def test_auto_without_a_gpu_is_the_cpu_and_cuda_without_one_says_what_to_set(monkeypatch, tmp_path):
    fake_gpus(monkeypatch, 0)
    assert choose_device("auto", lock_dir=tmp_path) == torch.device("cpu")
    for setting in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError, match=f"device: {setting} was asked for .* set device: auto or cpu"):
            choose_device(setting)


def test_explicit_index_is_used_and_checked(monkeypatch):
    current = fake_gpus(monkeypatch, 2)
    assert choose_device("cuda:1") == torch.device("cuda", 1) and current == [1]
    with pytest.raises(RuntimeError, match=r"cuda:2 was asked for but 2 CUDA device\(s\) are visible"):
        choose_device("cuda:2")
    with pytest.raises(ValueError, match="'tpu' is not one of auto, cpu, cuda, cuda:N"):
        choose_device("tpu")


def test_without_a_lock_folder_the_first_gpu(monkeypatch):
    current = fake_gpus(monkeypatch, 2)
    assert choose_device("auto") == torch.device("cuda", 0) and current == [0]


def test_a_second_job_takes_the_next_free_gpu_and_becomes_current(monkeypatch, tmp_path, caplog):
    current = fake_gpus(monkeypatch, 2)
    other = hold(tmp_path, "0")
    try:
        with caplog.at_level(logging.INFO, logger="analysis.runtime"):
            assert choose_device("cuda", lock_dir=tmp_path) == torch.device("cuda", 1)
    finally:
        other.close()
    assert current == [1]
    assert "running on GPU cuda:1, the first free of 2" in caplog.text  # the job's log names its GPU


def test_a_job_keeps_its_gpu_and_gives_it_back(monkeypatch, tmp_path):
    fake_gpus(monkeypatch, 2)
    first = choose_device("auto", lock_dir=tmp_path)
    assert choose_device("auto", lock_dir=tmp_path) == first == torch.device("cuda", 0)
    with pytest.raises(BlockingIOError):  # held while the job runs
        hold(tmp_path, "0")
    release_gpu_claims()
    hold(tmp_path, "0").close()  # free again


def test_cuda_visible_devices_wins(monkeypatch, tmp_path):
    """A scheduler that assigned GPU 3 (SLURM --gpus=1) leaves one visible device: cuda:0, no lock."""
    current = fake_gpus(monkeypatch, 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert choose_device("auto", lock_dir=tmp_path / "locks") == torch.device("cuda", 0)
    assert current == [0] and not (tmp_path / "locks").exists()


def test_several_visible_devices_are_shared_out_by_their_ids(monkeypatch, tmp_path):
    """CUDA_VISIBLE_DEVICES=2,5: the locks name GPUs 2 and 5, so other visible sets do not collide."""
    fake_gpus(monkeypatch, 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    other = hold(tmp_path, "2")
    try:
        assert choose_device("auto", lock_dir=tmp_path) == torch.device("cuda", 1)
    finally:
        other.close()
    assert (tmp_path / f"{socket.gethostname()}-gpu5-slot0.lock").exists()


def test_when_every_gpu_is_taken_jobs_share_them_evenly(tmp_path, caplog):
    others = [hold(tmp_path, "0"), hold(tmp_path, "1"), hold(tmp_path, "0", slot=1)]
    try:
        with caplog.at_level(logging.WARNING, logger="analysis.runtime"):
            assert claim_gpu(tmp_path, ["0", "1"]) == 1  # GPU 0 has two jobs already, GPU 1 one
    finally:
        for handle in others:
            handle.close()
    assert "all 2 visible GPUs are taken" in caplog.text and "--resources gpu=2" in caplog.text


def test_two_concurrent_jobs_get_different_gpus_and_a_finished_job_frees_its_own(tmp_path):
    """Separate processes, as Snakemake runs jobs: each holds its GPU until it exits."""
    script = ("import sys\nfrom analysis.runtime import claim_gpu\n"
              "print(claim_gpu(sys.argv[1], ['0', '1']), flush=True)\nsys.stdin.read()\n")

    def start() -> tuple[subprocess.Popen, int]:
        job = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        return job, int(job.stdout.readline())

    def finish(job: subprocess.Popen) -> None:
        job.stdin.close()
        assert job.wait(timeout=30) == 0

    first, first_gpu = start()
    second, second_gpu = start()
    try:
        assert {first_gpu, second_gpu} == {0, 1}
        finish(first)
        third, third_gpu = start()
        assert third_gpu == first_gpu  # the first job's GPU came back when it ended
        finish(third)
    finally:
        for job in (first, second):
            if job.poll() is None:
                finish(job)


def test_device_for_locks_in_the_study_results_folder(monkeypatch, tmp_path):
    fake_gpus(monkeypatch, 2)
    config = {"device": "auto", "results_dir": str(tmp_path), "study": "demo"}
    assert device_for(config) == torch.device("cuda", 0)
    assert list((tmp_path / "demo" / runtime.GPU_LOCK_FOLDER).glob("*-gpu0-slot0.lock"))


def test_set_threads_sets_torch_threads_and_none_keeps_them():
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_real_gpu_is_taken_and_usable(tmp_path):
    device = choose_device("auto", lock_dir=tmp_path)
    assert device.type == "cuda" and device.index < torch.cuda.device_count()
    assert torch.cuda.current_device() == device.index
    assert float(torch.ones(3, device=device).sum()) == 3.0
    assert choose_device("cuda:0") == torch.device("cuda", 0)
