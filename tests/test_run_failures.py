"""Real runs that go wrong: a bad wav in the corpus, and a main process killed mid-training.

Both through Snakemake as a user runs it, in a clone, every call under a hard timeout.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from test_workflow import TINY, clone, job_counts, only_models, write_config

TIMEOUT = 300  # seconds for any one Snakemake call; the slowest here takes well under a minute


def one_model(**sections) -> dict:
    """The tiny config with DiffWave S only (its training step is the cheapest), plus ``sections``."""
    config = yaml.safe_load(TINY.read_text())
    return only_models(config, {"diffwave": config["models"]["diffwave"]}) | sections


def usual_command(target: str, configfile: Path) -> list[str]:
    return [sys.executable, "-m", "snakemake", target, "--configfile", str(configfile), "--cores", "2"]


def run(workdir: Path, command: list[str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command[3:])} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.mark.slow
def test_a_bad_wav_stops_the_job_with_one_line_and_skip_goes_on_without_redoing_the_corpus(tmp_path):
    repo = clone(tmp_path / "repo")
    features = one_model()["features"]
    fail = write_config(tmp_path / "fail.yaml", one_model(features=features | {"bad_files": "fail"}))
    run(repo, usual_command("data/corpus/synthetic/metadata.csv", fail))
    corpus = repo / "data" / "corpus" / "synthetic"
    metadata_mtime = (corpus / "metadata.csv").stat().st_mtime_ns
    third = (corpus / "metadata.csv").read_text().splitlines()[2].split("|")[0]
    sf.write(corpus / "wavs" / f"{third}.wav", np.zeros(20000, np.float32), 22050)

    result = run(repo, usual_command("data/features/hop256/manifest.json", fail), check=False)
    line = (
        f"error: data/corpus/synthetic/wavs/{third}.wav: silent (peak 0 in the samples used, silence_threshold 0)"
        ", listed on line 3 of data/corpus/synthetic/metadata.csv; replace the file or delete its line, "
        "or set features: {bad_files: skip} to leave bad files out"
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and line in output, output
    assert output.count("error: ") == 1 and "Traceback" not in output
    assert "logs/features/hop256.log" in output  # Snakemake points to the log, which holds the same line
    log = (repo / "logs" / "features" / "hop256.log").read_text()
    assert line in log and "Traceback" not in log
    assert not (repo / "data" / "features" / "hop256").exists()

    skip = write_config(tmp_path / "skip.yaml", one_model(features=features | {"bad_files": "skip"}))
    result = run(repo, usual_command("data/features/hop256/manifest.json", skip))
    assert "skipped 1 of 5 clips (bad_files: skip): 1 silent" in (repo / "logs" / "features" / "hop256.log").read_text()
    manifest = json.loads((repo / "data" / "features" / "hop256" / "manifest.json").read_text())
    assert [(entry["id"], entry["line"]) for entry in manifest["skipped"]] == [(third, 3)]
    assert manifest["skipped_by_reason"] == {"silent": 1}
    assert (corpus / "metadata.csv").stat().st_mtime_ns == metadata_mtime  # the corpus was not made again


@pytest.mark.slow
def test_after_the_main_process_is_killed_unlock_then_the_usual_command_resumes_training(tmp_path):
    repo = clone(tmp_path / "repo")
    training = {"batch_size": 2, "max_steps": 40, "checkpoint_every_seconds": 0.2, "seed": 0}
    configfile = write_config(tmp_path / "config.yaml", one_model(training=training))
    usual = usual_command("results/train/diffwave_S.json", configfile)

    # A run killed with its whole process group (SIGKILL: no handler runs) once training has checkpointed.
    with open(tmp_path / "killed-run.log", "w") as output:
        main = subprocess.Popen(usual, cwd=repo, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + TIMEOUT
            while not list(repo.glob("results/checkpoints/diffwave_S-*/checkpoint.pt")):
                assert main.poll() is None, (tmp_path / "killed-run.log").read_text()
                assert time.monotonic() < deadline, "training never checkpointed"
                time.sleep(0.05)
        finally:
            os.killpg(main.pid, signal.SIGKILL)
            main.wait(timeout=60)
    assert not (repo / "results" / "train" / "diffwave_S.json").exists()  # killed mid-training
    features_mtime = (repo / "data" / "features" / "hop256" / "train.npz").stat().st_mtime_ns

    # The README's order: the usual command is refused by the stale lock; --unlock; the usual command.
    refused = run(repo, usual, check=False)
    assert refused.returncode != 0 and "Directory cannot be locked" in refused.stdout + refused.stderr
    assert "--unlock" in refused.stdout + refused.stderr
    run(repo, usual_command("results/train/diffwave_S.json", configfile) + ["--unlock"])
    resumed = run(repo, usual)
    assert job_counts(resumed.stdout + resumed.stderr) == {"train": 1}  # only the killed job, nothing before it

    summary = json.loads((repo / "results" / "train" / "diffwave_S.json").read_text())
    assert summary["steps"] == 40 and summary["resumed_from_step"] >= 1  # continued from the checkpoint
    steps = [json.loads(line)["step"] for line in (repo / "results" / "train" / "diffwave_S_losses.jsonl").open()]
    assert steps == list(range(1, 41))
    assert (repo / "data" / "features" / "hop256" / "train.npz").stat().st_mtime_ns == features_mtime
