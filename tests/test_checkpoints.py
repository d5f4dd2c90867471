"""Checkpoints survive kills and corruption, and loading never runs code."""

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vocoder_energy.core.files import UnsafeFileError
from vocoder_energy.models.generator_files import load_generator
from vocoder_energy.training import checkpoints
from vocoder_energy.training.checkpoints import (
    CorruptCheckpointError,
    encode,
    load_checkpoint,
    previous_path,
    read_checkpoint,
    save_checkpoint,
)


def state(step):
    return {"step": step, "weights": torch.full((64,), float(step)), "rng": torch.get_rng_state()}


def saved_twice(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(state(1), path)
    save_checkpoint(state(2), path)
    assert read_checkpoint(previous_path(path))["step"] == 1
    return path


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path):
    path.write_bytes(b"")


def flip_a_bit(path):
    data = bytearray(path.read_bytes())
    data[-300] ^= 0x04  # inside the tensor data: torch's own loader would not notice
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("corrupt", [truncate, empty, flip_a_bit])
def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, corrupt):
    path = saved_twice(tmp_path)
    corrupt(path)
    messages = []
    loaded = load_checkpoint(path, log=messages.append)
    assert loaded["step"] == 1 and torch.equal(loaded["weights"], torch.full((64,), 1.0))
    assert any("unreadable" in m and str(path) in m for m in messages)
    assert any("previous checkpoint" in m for m in messages)


def test_the_latest_checkpoint_never_disappears_while_a_new_one_is_installed(tmp_path, monkeypatch):
    # A job killed after the old checkpoint became `previous` but before the new one took its name.
    path = saved_twice(tmp_path)
    real_replace = os.replace

    def killed_before_the_new_file_lands(source, target):
        if Path(source).name == "checkpoint.pt.tmp":
            raise KeyboardInterrupt("killed")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", killed_before_the_new_file_lands)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(state(3), path)
    assert read_checkpoint(path)["step"] == 2 and read_checkpoint(previous_path(path))["step"] == 2
    # The rerun's next save: latest and previous are now one file, and no stray link is left behind.
    monkeypatch.undo()
    save_checkpoint(state(3), path)
    assert read_checkpoint(path)["step"] == 3 and read_checkpoint(previous_path(path))["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.previous.pt", "checkpoint.pt"]


def flip_a_header_bit(path):
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01  # in the SHA-256
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, flip_a_bit, flip_a_header_bit])
def test_a_new_checkpoint_is_checked_byte_for_byte_before_it_replaces_the_latest(tmp_path, monkeypatch, damage):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(state(1), path)
    real_fsync = os.fsync

    def damaged_on_the_way_to_disk(fd):
        real_fsync(fd)
        if stat.S_ISREG(os.fstat(fd).st_mode):  # the new file, not its directory
            damage(tmp_path / "checkpoint.pt.tmp")

    monkeypatch.setattr(os, "fsync", damaged_on_the_way_to_disk)
    with pytest.raises(CorruptCheckpointError, match="checkpoint.pt.tmp: the .* read back differs"):
        save_checkpoint(state(2), path)
    monkeypatch.undo()
    assert read_checkpoint(path)["step"] == 1  # the latest is untouched


def test_saving_checks_the_hash_and_never_unpickles(tmp_path, monkeypatch):
    def unpickled(*args, **kwargs):
        raise AssertionError("save_checkpoint unpickled the checkpoint")

    monkeypatch.setattr(checkpoints, "safe_torch_load", unpickled)
    monkeypatch.setattr(torch, "load", unpickled)
    save_checkpoint(state(1), tmp_path / "checkpoint.pt")
    monkeypatch.undo()
    assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 1


def test_no_readable_checkpoint_starts_over_and_says_so(tmp_path):
    path = saved_twice(tmp_path)
    truncate(path)
    empty(previous_path(path))
    messages = []
    assert load_checkpoint(path, log=messages.append) is None
    assert "starts over" in messages[-1]
    assert load_checkpoint(tmp_path / "none.pt", log=messages.append) is None  # a fresh run: nothing to say


class Payload:
    """Unpickling this would create a marker file: the code must never run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_carrying_pickled_code_is_refused_and_the_code_does_not_run(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(state(1), path)
    # Written by hand: the training loop never saves anything but weights and plain values.
    path.write_bytes(encode({**state(2), "extra": Payload(marker)}))
    with pytest.raises(UnsafeFileError, match=str(path)):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_generator_file_carrying_pickled_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "gen.pt"
    torch.save({"family": "diffwave", "size": "S", "hyperparameters": Payload(marker), "generator": {}}, path)
    with pytest.raises(UnsafeFileError, match="gen.pt"):
        load_generator(path)
    assert not marker.exists()
    assert not (tmp_path / "gen.pt.tmp").exists()


# ------------------------------------------------------------------ SIGKILL at random moments
JOB = """
import sys, torch
torch.set_num_threads(1)
from vocoder_energy.training.job import run_training_job
from vocoder_energy.training.run import TrainingSettings
features, out, root, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
settings = TrainingSettings(batch_size=2, max_steps=steps, checkpoint_every_seconds=0, seed=7)
hyper = dict(residual_channels=4, residual_layers=2, dilation_cycle_length=2)
run_training_job("diffwave", "S", hyper, settings, features, out + "/gen.pt", out + "/summary.json",
                 out + "/losses.jsonl", root, meter=None)
"""
STEPS = 80


def start(tmp_path, name):
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-c",
        JOB,
        str(tmp_path / "train.npz"),
        str(out),
        str(tmp_path / f"ck-{name}"),
        str(STEPS),
    ]
    return out, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def logged_steps(tmp_path, name):
    """The last step in the live job's loss log; a line still being written (or a log being truncated on
    resume) is skipped."""
    logs = list((tmp_path / f"ck-{name}").glob("*/losses.jsonl"))
    if not logs:
        return 0
    steps = [0]
    for line in logs[0].read_text().split("\n")[:-1]:  # complete lines only
        try:
            steps.append(json.loads(line)["step"])
        except (json.JSONDecodeError, KeyError):
            continue
    return steps[-1]


def test_sigkill_at_random_moments_then_a_rerun_ends_like_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "train.npz",
        audio=(0.3 * rng.standard_normal((6, 1024))).astype(np.float32),
        mel=rng.random((6, 80, 4)).astype(np.float32),
        ids=np.array([f"c{i}" for i in range(6)]),
    )
    out, straight = start(tmp_path, "straight")
    assert straight.wait() == 0, straight.stderr.read()

    moments = random.Random(1)
    killed_at = []
    for _ in range(3):
        out, job = start(tmp_path, "killed")
        # A random moment, counted in steps (a wall-clock delay would overshoot on a fast machine): the
        # kill lands at any point of a step, its checkpoint write included.
        target = logged_steps(tmp_path, "killed") + moments.randint(3, 12)
        while logged_steps(tmp_path, "killed") < target and job.poll() is None:
            time.sleep(0.005)
        if job.poll() is not None:
            break  # finished before this kill: the run is complete
        os.kill(job.pid, signal.SIGKILL)
        job.wait()
        logged = logged_steps(tmp_path, "killed")
        resumable = load_checkpoint(next((tmp_path / "ck-killed").glob("*/checkpoint.pt")))["step"]
        assert resumable >= logged - 1  # at most one checkpoint interval lost
        assert not (out / "gen.pt").exists()  # no finished-looking generator from a killed job
        killed_at.append(resumable)
    assert len(killed_at) >= 2 and killed_at[-1] < STEPS
    out, rerun = start(tmp_path, "killed")
    assert rerun.wait() == 0, rerun.stderr.read()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == STEPS and summary["resumed_from_step"] == killed_at[-1]
    final = torch.load(out / "gen.pt", weights_only=True)["generator"]
    reference = torch.load(tmp_path / "straight" / "gen.pt", weights_only=True)["generator"]
    assert all(torch.equal(final[k], reference[k]) for k in reference)
    log = [json.loads(line)["step"] for line in (out / "losses.jsonl").read_text().splitlines()]
    assert log == list(range(1, STEPS + 1))
