import json
import os
import signal
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from vocoder_energy.models import build_vocoder
from vocoder_energy.models.generator_files import load_generator
from vocoder_energy.training.checkpoints import read_checkpoint
from vocoder_energy.training.job import code_files, run_key, run_training_job
from vocoder_energy.training.loop import Interrupted, train
from vocoder_energy.training.run import TrainingSettings

TINY = dict(residual_channels=4, residual_layers=2, dilation_cycle_length=2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal((6, 4 * 256))).astype(np.float32)
    mel = rng.random((6, 80, 4)).astype(np.float32)
    return audio, mel


def tiny_model():
    torch.manual_seed(123)  # the same initial weights every time; training seeds itself
    return build_vocoder("diffwave", "S", **TINY)


def settings(**budget):
    return TrainingSettings(batch_size=2, checkpoint_every_seconds=3600, seed=7, **budget)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_budget_is_required():
    with pytest.raises(ValueError, match="max_steps and/or max_seconds"):
        TrainingSettings()


def test_resumed_training_equals_uninterrupted_training(data, tmp_path):
    straight = tiny_model()
    summary = train(straight, *data, settings(max_steps=4), tmp_path / "a" / "ckpt.pt", tmp_path / "a" / "log.jsonl")
    assert summary["steps"] == 4 and summary["resumed_from_step"] is None

    first = tiny_model()
    train(first, *data, settings(max_steps=2), tmp_path / "b" / "ckpt.pt", tmp_path / "b" / "log.jsonl")
    resumed = tiny_model()  # a fresh process would start from scratch weights like this
    summary = train(resumed, *data, settings(max_steps=4), tmp_path / "b" / "ckpt.pt", tmp_path / "b" / "log.jsonl")
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 4

    for name, value in weights(straight).items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]  # the loss log survives the restart


def test_a_signal_saves_a_checkpoint_and_the_rerun_continues(data, tmp_path):
    model = tiny_model()
    original_step = model.training_step

    def step_then_terminate(audio, mel):
        losses = original_step(audio, mel)
        if model._steps_seen == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what Slurm sends at the walltime
        model._steps_seen += 1
        return losses

    model._steps_seen = 0
    model.training_step = step_then_terminate
    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(Interrupted, match="at step 3"):
        train(model, *data, settings(max_steps=10), checkpoint, tmp_path / "log.jsonl")
    assert read_checkpoint(checkpoint)["step"] == 3
    summary = train(tiny_model(), *data, settings(max_steps=5), checkpoint, tmp_path / "log.jsonl")
    assert summary["resumed_from_step"] == 3 and summary["steps"] == 5


def test_a_checkpoint_due_on_the_last_step_is_written_once(data, tmp_path, monkeypatch):
    from vocoder_energy.training import run as run_module

    saved_steps = []
    real_save = run_module.save_checkpoint
    monkeypatch.setattr(
        run_module, "save_checkpoint", lambda state, path: (saved_steps.append(state["step"]), real_save(state, path))
    )
    every_step = TrainingSettings(batch_size=2, checkpoint_every_seconds=0, seed=7, max_steps=3)
    train(tiny_model(), *data, every_step, tmp_path / "ckpt.pt", tmp_path / "log.jsonl")
    assert saved_steps == [1, 2, 3]  # due after every step; the last one by the final save only


def test_time_budget_stops_training(data, tmp_path):
    summary = train(tiny_model(), *data, settings(max_seconds=1e-9), tmp_path / "c.pt", tmp_path / "l.jsonl")
    assert summary["steps"] == 1  # the budget is checked between steps
    assert summary["stopped_by"] == "max_seconds"


@pytest.mark.parametrize(
    "budget, steps, stopped_by",
    [
        (25, 2, "max_seconds (the next step would end past it)"),  # a third 10 s step would end at 30
        (30, 3, "max_seconds"),  # a step ending exactly on the budget is within it
        (35, 3, "max_seconds (the next step would end past it)"),
        (100, 4, "max_steps"),
    ],
)
def test_a_step_that_would_end_past_the_time_budget_is_not_started(
    data, tmp_path, monkeypatch, budget, steps, stopped_by
):
    from vocoder_energy.training import run as run_module

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(run_module, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    model = tiny_model()
    real_step = model.training_step

    def ten_second_step(audio, mel):
        clock.now += 10.0
        return real_step(audio, mel)

    model.training_step = ten_second_step
    limits = settings(max_seconds=budget, max_steps=4)
    summary = train(model, *data, limits, tmp_path / "c.pt", tmp_path / "l.jsonl")
    assert (summary["steps"], summary["stopped_by"]) == (steps, stopped_by)
    assert summary["train_seconds"] == 10.0 * steps <= budget
    assert read_checkpoint(tmp_path / "c.pt")["last_step_seconds"] == 10.0  # a resumed run predicts too


def training_job(tmp_path, data, out_dir, max_steps):
    """run_training_job on ``data`` saved as a features file, writing into ``out_dir``."""
    audio, mel = data
    features = tmp_path / "train.npz"
    tmp_path.mkdir(parents=True, exist_ok=True)
    if not features.exists():
        np.savez(features, audio=audio, mel=mel, ids=np.array([f"c{i}" for i in range(len(audio))]))
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = run_training_job(
        "diffwave", "S", TINY, settings(max_steps=max_steps), features,
        out_dir / "gen.pt", out_dir / "summary.json", out_dir / "losses.jsonl", tmp_path / "ck",
    )  # fmt: skip
    return summary


def test_training_job_writes_a_generator_that_reloads(data, tmp_path):
    out = tmp_path / "out"
    summary = training_job(tmp_path, data, out, max_steps=2)
    written = json.loads((out / "summary.json").read_text())
    assert written["steps"] == 2 == summary["steps"]
    # What the summary table reads from it (summary.summary_row).
    assert written["batch_size"] == 2 and written["device_name"] == "cpu"
    assert written["energy"]["kwh"] > 0 and written["energy"]["method"] in ("measured", "estimated")
    assert written["energy"]["kg_co2eq"] == pytest.approx(written["energy"]["kwh"] * 0.7)
    assert len((out / "losses.jsonl").read_text().splitlines()) == 2
    model = load_generator(out / "gen.pt")
    assert model.family == "diffwave"
    assert model.num_parameters() == build_vocoder("diffwave", "S", **TINY).num_parameters()
    audio_out = model.generate(torch.from_numpy(data[1][:1]), seed=0)
    assert audio_out.shape == (1, 4 * 256) and torch.isfinite(audio_out).all()
    # A second job with the same settings finds the finished checkpoint and does no more steps.
    again = training_job(tmp_path, data, out, max_steps=2)
    assert again["resumed_from_step"] == 2 and again["steps"] == 2


def test_the_seed_fixes_the_initial_weights_of_a_job(data, tmp_path):
    generators = []
    for run in ("a", "b"):
        torch.manual_seed(hash(run) % 1000)  # whatever the process did before must not matter
        training_job(tmp_path / run, data, tmp_path / run / "out", max_steps=1)
        generators.append(torch.load(tmp_path / run / "out" / "gen.pt", weights_only=True)["generator"])
    assert all(torch.equal(generators[0][k], generators[1][k]) for k in generators[0])


def test_steps_logged_after_the_last_checkpoint_are_dropped_on_resume(data, tmp_path):
    checkpoint, log = tmp_path / "ckpt.pt", tmp_path / "log.jsonl"
    train(tiny_model(), *data, settings(max_steps=2), checkpoint, log)
    with open(log, "a") as handle:  # a hard kill after step 3 was logged but before it was saved
        handle.write(json.dumps({"step": 3, "seconds": 9.0, "loss": 1.0}) + "\n")
    train(tiny_model(), *data, settings(max_steps=4), checkpoint, log)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3, 4]


def reworded(text):
    """``text`` with its docstring reworded, a comment added and a line reformatted: the same code."""
    return text.replace('"""', '"""Reworded. ', 1).replace("\n\n\n", "\n\n\n# a new comment\n", 1) + "\n# the end\n"


def test_the_run_key_keeps_a_comment_edit_and_follows_a_code_edit(data, tmp_path):
    features = tmp_path / "train.npz"
    np.savez(features, audio=data[0], mel=data[1], ids=np.array([f"c{i}" for i in range(len(data[0]))]))
    code = code_files(tiny_model())
    assert {path.name for path in code} >= {"diffwave.py", "base.py", "run.py", "loop.py", "job.py", "schedules.py"}

    def key(code, **budget):
        return run_key("diffwave", "S", TINY, settings(**(budget or {"max_steps": 2})), features, code)

    original = key(code)
    assert key(code, max_steps=10) == original  # a larger budget continues the same run
    for i, module in enumerate(code):
        copy = tmp_path / "copies" / f"{i}_{module.name}"
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(reworded(module.read_text()))
        assert key([*code[:i], copy, *code[i + 1 :]]) == original, module
        copy.write_text(module.read_text() + "\n_EDITED = True\n")
        assert key([*code[:i], copy, *code[i + 1 :]]) != original, module


def test_a_training_job_runs_in_the_directory_of_its_key(data, tmp_path):
    summary = training_job(tmp_path, data, tmp_path / "out", max_steps=1)
    key = run_key("diffwave", "S", TINY, settings(max_steps=1), tmp_path / "train.npz", code_files(tiny_model()))
    assert Path(summary["checkpoint"]) == tmp_path / "ck" / f"diffwave_S-{key}" / "checkpoint.pt"


# Per-step learning rates (training/step_lr.py) live in the optimizers' state: a resumed run must follow
# the schedule from where it stopped. A short, steep schedule so that a lost or repeated step would show.
# (One family through the loop: BigVGAN's decay uses the same mechanism, its state round trip is tested in
# test_models_bigvgan.)
STEP_SCHEDULED = {"vocos": dict(dim=8, intermediate_dim=12, num_layers=1, lr_total_steps=5)}


@pytest.mark.parametrize("family", list(STEP_SCHEDULED))
def test_per_step_learning_rates_resume_where_they_stopped(family, tmp_path):
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal((2, 8 * 256))).astype(np.float32)  # > 1,024 samples: their STFTs
    mel = rng.random((2, 80, 8)).astype(np.float32)

    def model():
        torch.manual_seed(123)
        return build_vocoder(family, "S", **STEP_SCHEDULED[family])

    straight = model()
    train(straight, audio, mel, settings(max_steps=3), tmp_path / "a" / "ckpt.pt", tmp_path / "a" / "log.jsonl")
    train(model(), audio, mel, settings(max_steps=2), tmp_path / "b" / "ckpt.pt", tmp_path / "b" / "log.jsonl")
    resumed = model()
    summary = train(
        resumed, audio, mel, settings(max_steps=3), tmp_path / "b" / "ckpt.pt", tmp_path / "b" / "log.jsonl"
    )
    assert summary["resumed_from_step"] == 2
    rates = [[group["lr"] for group in opt.param_groups] for opt in resumed.optimizers]
    assert rates == [[group["lr"] for group in opt.param_groups] for opt in straight.optimizers]
    assert rates[0][0] < resumed.optimizers[0].param_groups[0]["initial_lr"]  # the schedule has moved
    for name, value in weights(straight).items():
        assert torch.equal(value, resumed.state_dict()[name]), name
