"""Shared by the listening-test tests: a small built test from constructed generated clips, and a real
uvicorn server in its own process (started as a researcher would, through the CLI)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from vocoder_energy.evaluation.clips import GeneratedClips, save_clips
from vocoder_energy.listening.stimuli import Design, build_test

SAMPLE_RATE = 16000
SYSTEMS = ["melgan_S", "hifigan_S", "wavegrad_S"]
ADMIN_TOKEN = "admin-token-for-tests"


def make_generated(folder: Path, utterances: int = 4, seconds: float = 0.6, seed: int = 0) -> dict[str, Path]:
    """results/generated-like npz files: the same references in each, systems at different levels and
    lengths (WaveGrad's hop gives another length), so normalisation and trimming have work to do."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ids = [f"LJ050-{i:04d}" for i in range(utterances)]
    reference = np.stack([0.2 * np.sin(2 * np.pi * (150 + 40 * i) * t) for i in range(utterances)])
    reference = (reference + 0.01 * rng.standard_normal(reference.shape)).astype(np.float32)
    paths = {}
    folder.mkdir(parents=True, exist_ok=True)
    for k, system in enumerate(SYSTEMS):
        generated = reference * (0.3 + k) + 0.05 * rng.standard_normal(reference.shape)
        if system.startswith("wavegrad"):
            generated = np.pad(generated, ((0, 0), (0, 256)))
        paths[system] = folder / f"{system}.npz"
        save_clips(GeneratedClips(generated.astype(np.float32), reference, ids), paths[system])
    return paths


def make_test(folder: Path, design: Design | None = None, **generated) -> tuple[Path, Path, dict]:
    design = design or Design(utterances=3, ratings_per_rater=6, repeats=2, seed=0)
    manifest = build_test(
        make_generated(folder / "generated", **generated),
        folder / "served" / "test",
        folder / "private" / "key.csv",
        design,
        SAMPLE_RATE,
    )
    return folder / "served" / "test", folder / "private" / "key.csv", manifest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``vocoder-energy-listen serve`` in a subprocess on 127.0.0.1; ``kill()`` is a SIGKILL."""

    def __init__(self, test_dir: Path, key: Path, db: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = os.environ | {"VOCODER_LISTEN_ADMIN_TOKEN": ADMIN_TOKEN}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vocoder_energy.listening.cli",
                "serve",
                "--test",
                str(test_dir),
                "--key",
                str(key),
                "--db",
                str(db),
                "--port",
                str(self.port),
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stdout.read()}")
            try:
                httpx.get(self.url + "/", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError("server did not start within 60 s") from None
                time.sleep(0.1)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vocoder_energy.listening.cli", *args], capture_output=True, text=True, timeout=120
    )
