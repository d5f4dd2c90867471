"""Training at scale, tested on the CPU: batch-size search, training energy, schedules, precision."""

import json
from types import SimpleNamespace

import pytest
import torch

from vocoder_energy.models import build_vocoder
from vocoder_energy.training.batch_size import largest_fitting_batch, resolve_batch_size, search_batch_size
from vocoder_energy.training.checkpoints import read_checkpoint, save_checkpoint
from vocoder_energy.training.loop import train
from vocoder_energy.training.monitoring import Validation
from vocoder_energy.training.precision import LossScaleWatch, autocast, gradient_scaler
from vocoder_energy.training.run import TrainingSettings
from vocoder_energy.training.schedules import build_schedulers

TINY = {
    "melgan": dict(ngf=4, n_residual_layers=1, disc_ndf=4),
    "hifigan": dict(upsample_initial_channel=16),
    "waveglow": dict(n_channels=8, n_layers=2, n_flows=4, n_early_every=2),
    "waveflow": dict(residual_channels=8, n_flows=2, n_layers=2),
    "diffwave": dict(residual_channels=4, residual_layers=2, dilation_cycle_length=2),
    "wavegrad": dict(up_channels=[80, 32, 32, 32, 16, 16, 16, 1], down_channels=[1, 8, 16, 16, 16, 32]),
}


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    audio = 0.3 * torch.randn(40, 1024, generator=generator)
    mel = torch.rand(40, 80, 4, generator=generator)
    return audio.numpy(), mel.numpy()


def tiny_model(family="diffwave"):
    torch.manual_seed(123)
    return build_vocoder(family, "S", **TINY.get(family, {}))


def make_overflow(model):
    """The model's loss times 1e35 (x 2^16 overflows fp32); returns the honest ``generator_losses``."""
    honest = model.generator_losses
    model.generator_losses = lambda audio, mel: {"loss": honest(audio, mel)["loss"] * 1e35}
    return honest


def out_of_memory_above(limit, tried):
    def step(batch):
        tried.append(batch)
        if batch > limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory (fake): batch {batch}")
        return batch * 1000  # peak bytes

    return step


def test_the_search_finds_the_largest_fitting_power_of_two():
    tried = []
    assert largest_fitting_batch(out_of_memory_above(23, tried), None, limit=1024, log=lambda m: None) == 16
    assert tried == [1, 2, 4, 8, 16, 32]
    assert largest_fitting_batch(out_of_memory_above(10**6, []), None, limit=100, log=lambda m: None) == 64


def test_the_search_keeps_headroom_and_lets_other_errors_through():
    # Batch 16 would fit but peak 16,000 of 17,000 bytes leaves under 15 % free: 8 is taken.
    assert largest_fitting_batch(out_of_memory_above(10**6, []), 17_000, limit=1024, log=lambda m: None) == 8

    def broken(batch):
        raise ValueError("a bug, not memory")

    with pytest.raises(ValueError, match="a bug"):
        largest_fitting_batch(broken, None, limit=8)
    with pytest.raises(RuntimeError, match="not even a batch of 1"):
        largest_fitting_batch(out_of_memory_above(0, []), None, limit=8, log=lambda m: None)


def test_auto_means_the_fallback_without_a_search_and_a_number_is_kept():
    assert resolve_batch_size("auto", 12, None) == 12
    assert resolve_batch_size(4, 12, lambda: 1 / 0) == 4


class FakeMeter:
    """A deterministic counter: 5 J per read."""

    method, domains = "measured", ["fake_gpu"]

    def __init__(self):
        self.joules = 0.0

    def read(self):
        self.joules += 5.0
        return self.joules


def test_batch_size_found_and_energy_are_kept_across_a_resume(data, tmp_path):
    ck, log = tmp_path / "ck.pt", tmp_path / "log.jsonl"
    auto = TrainingSettings(batch_size="auto", max_steps=2, checkpoint_every_seconds=3600, seed=1)

    def search():
        return largest_fitting_batch(out_of_memory_above(6, []), None, limit=40, log=lambda m: None)

    first = train(tiny_model(), *data, auto, ck, log, meter=FakeMeter(), batch_search=search)
    assert first["batch_size"] == 4
    # 5 J between the first read and the save: one interval of the fake counter.
    assert first["energy"]["joules"] == 5.0 and first["energy"]["method"] == "measured"

    def must_not_search():
        raise AssertionError("a resumed run keeps its batch size")

    more = TrainingSettings(batch_size="auto", max_steps=4, checkpoint_every_seconds=3600, seed=1)
    resumed = train(tiny_model(), *data, more, ck, log, meter=FakeMeter(), batch_search=must_not_search)
    assert resumed["resumed_from_step"] == 2 and resumed["batch_size"] == 4
    assert resumed["energy"]["joules"] == 10.0  # 5 J before the restart + 5 J after
    assert resumed["energy"]["kwh"] == pytest.approx(10.0 / 3.6e6)
    assert resumed["energy"]["kg_co2eq"] == pytest.approx(10.0 / 3.6e6 * 0.7)
    # Without a counter, a restart is estimated and the run says both.
    third = train(tiny_model(), *data, TrainingSettings(**{**more.__dict__, "max_steps": 5}), ck, log, meter=None)
    assert third["energy"]["method"] == "estimated+measured" and third["energy"]["joules"] > 10.0


def test_wavegrad_decays_its_learning_rate_every_ten_epochs(data, tmp_path):
    # 40 clips at batch 20: 2 steps per epoch, so step 20 ends epoch 10.
    settings = TrainingSettings(batch_size=20, max_steps=20, checkpoint_every_seconds=3600)
    model = tiny_model("wavegrad")
    model.setup_training()
    base = model.optimizers[0].param_groups[0]["lr"]
    summary = train(model, *data, settings, tmp_path / "ck.pt", tmp_path / "log.jsonl", meter=None)
    assert summary["epochs"] == 10 and summary["learning_rates"] == [pytest.approx(base * 0.9)]


def test_exponential_decay_applies_to_every_optimizer():
    model = tiny_model("hifigan")
    model.setup_training()
    schedulers = build_schedulers("hifigan", model.optimizers, "exponential")
    lr = [o.param_groups[0]["lr"] for o in model.optimizers]
    for optimizer, scheduler in zip(model.optimizers, schedulers):
        optimizer.step()
        scheduler.step()
    assert [o.param_groups[0]["lr"] for o in model.optimizers] == pytest.approx([x * 0.999 for x in lr])
    with pytest.raises(ValueError, match="lr_schedule"):
        build_schedulers("hifigan", model.optimizers, "cosine")


@pytest.mark.parametrize("precision,family", [("bf16", "diffwave"), ("bf16", "wavegrad"), ("fp16", "diffwave")])
def test_an_autocast_step_runs_on_the_cpu_and_weights_stay_fp32(data, tmp_path, precision, family):
    settings = TrainingSettings(batch_size=2, max_steps=1, precision=precision, checkpoint_every_seconds=3600)
    model = tiny_model(family)
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    summary = train(model, *data, settings, tmp_path / "ck.pt", tmp_path / "log.jsonl", meter=None)
    assert summary["steps"] == 1 and all(torch.isfinite(torch.tensor(v)) for v in summary["final_losses"].values())
    after = model.generator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(after[k].dtype == before[k].dtype for k in before)  # weights stay fp32
    assert (summary["grad_scale"] == 2.0**16) if precision == "fp16" else summary["grad_scale"] is None


def test_fp16_scales_the_loss_and_skips_a_step_whose_gradients_overflow(data):
    model = tiny_model()
    model.setup_training()
    model.grad_scaler = gradient_scaler("fp16", torch.device("cpu"))
    audio, mel = (torch.from_numpy(x[:2]) for x in data)
    honest = make_overflow(model)
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    with autocast("fp16", torch.device("cpu")):
        model.training_step(audio, mel)
    model.grad_scaler.update()
    assert all(torch.equal(before[k], v) for k, v in model.generator.state_dict().items())  # step skipped
    assert model.grad_scaler.get_scale() == 2.0**15  # and the scale backed off
    model.generator_losses = honest
    with autocast("fp16", torch.device("cpu")):
        model.training_step(audio, mel)
    model.grad_scaler.update()
    assert any(not torch.equal(before[k], v) for k, v in model.generator.state_dict().items())


def test_an_fp16_run_that_keeps_overflowing_counts_its_skipped_steps_and_warns(data, tmp_path, monkeypatch):
    monkeypatch.setattr(LossScaleWatch, "FLOOR", 2.0**14)  # reached after two skipped steps, not seventeen
    model = tiny_model("wavegrad")  # it clips: a skipped step's gradient norm is not finite
    make_overflow(model)
    settings = TrainingSettings(batch_size=2, max_steps=3, precision="fp16", checkpoint_every_seconds=3600)
    messages, log = [], tmp_path / "log.jsonl"
    summary = train(model, *data, settings, tmp_path / "ck.pt", log, meter=None, log=messages.append)
    assert summary["fp16_skipped_steps"] == 3 and read_checkpoint(tmp_path / "ck.pt")["fp16_skipped_steps"] == 3

    def no_constants(name):
        raise AssertionError(f"{name} in the loss log: not JSON")

    records = [json.loads(line, parse_constant=no_constants) for line in log.read_text().splitlines()]
    assert [r["loss_scale"] for r in records] == [2.0**15, 2.0**14, 2.0**13]
    assert all(r["grad_norm"] is None for r in records)  # not finite: logged as null
    assert sum("fp16 loss scale fell" in m for m in messages) == 1


def test_fp16_resumes_with_its_loss_scale_and_ends_like_an_uninterrupted_run(data, tmp_path):
    settings = TrainingSettings(batch_size=2, max_steps=4, precision="fp16", checkpoint_every_seconds=3600)
    straight = tiny_model()
    train(straight, *data, settings, tmp_path / "a" / "ck.pt", tmp_path / "a" / "log.jsonl", meter=None)
    first_half = TrainingSettings(**{**settings.__dict__, "max_steps": 2})
    checkpoint = tmp_path / "b" / "ck.pt"
    train(tiny_model(), *data, first_half, checkpoint, tmp_path / "b" / "log.jsonl", meter=None)
    resumed = tiny_model()
    summary = train(resumed, *data, settings, checkpoint, tmp_path / "b" / "log.jsonl", meter=None)
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 4
    assert resumed.grad_scaler.state_dict() == straight.grad_scaler.state_dict()
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    # The scale is restored, not started afresh: a run whose scale had backed off keeps it.
    state = read_checkpoint(checkpoint)
    assert state["grad_scaler"]["scale"] == 2.0**16
    state["grad_scaler"]["scale"] = 2.0**10
    save_checkpoint(state, checkpoint)
    one_more = TrainingSettings(**{**settings.__dict__, "max_steps": 5})
    again = tiny_model()
    train(again, *data, one_more, checkpoint, tmp_path / "b" / "log.jsonl", meter=None)
    assert again.grad_scaler.get_scale() == 2.0**10


@pytest.mark.parametrize("family", sorted(TINY))
def test_validation_logs_the_generators_losses_on_held_out_clips(data, tmp_path, family):
    settings = TrainingSettings(batch_size=2, max_steps=1, checkpoint_every_seconds=3600)
    model = tiny_model(family)
    validation = Validation(*data, every_seconds=0, out_dir=tmp_path / "val", sample_rate=16000, clips=2)
    train(model, *data, settings, tmp_path / "ck.pt", tmp_path / "log.jsonl", meter=None, validation=validation)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    (check,) = [r for r in records if "val_d_stft" in r]
    with torch.no_grad():
        names = model.generator_losses(*(torch.from_numpy(x[:2]) for x in data))
    assert {f"val_{name}" for name in names} | {"step", "seconds", "val_d_stft"} == set(check)
    assert all(torch.isfinite(torch.tensor(value)) for value in check.values())
    # The same losses the training log reports (less the discriminator's and the gradient norm).
    assert set(names) == set(records[0]) - {"step", "seconds", "loss_d", "grad_norm"}


def test_validation_is_logged_with_its_step_keeps_snippets_and_does_not_change_the_run(data, tmp_path):
    settings = TrainingSettings(batch_size=2, max_steps=3, checkpoint_every_seconds=3600, seed=3)
    plain = tiny_model()
    train(plain, *data, settings, tmp_path / "a" / "ck.pt", tmp_path / "a" / "log.jsonl", meter=None)

    validated = tiny_model()
    validation = Validation(*data, every_seconds=0, out_dir=tmp_path / "val", sample_rate=16000, clips=3)
    log = tmp_path / "b" / "log.jsonl"
    summary = train(validated, *data, settings, tmp_path / "b" / "ck.pt", log, meter=None, validation=validation)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    checks = [r for r in records if "val_d_stft" in r]
    assert [r["step"] for r in checks] == [1, 2, 3] and all(r["val_d_stft"] > 0 for r in checks)
    assert summary["last_validation_d_stft"] == checks[-1]["val_d_stft"]
    assert summary["final_losses"] and "val_d_stft" not in summary["final_losses"]
    assert len(list((tmp_path / "val").glob("step000000003_clip*.wav"))) == 2
    for name, value in plain.state_dict().items():
        assert torch.equal(value, validated.state_dict()[name]), name


def test_the_cuda_search_runs_real_steps_at_the_runs_precision(data, monkeypatch):
    # CUDA's memory calls faked on the CPU: peaks of 1, 2, 4, 8, 16 GB on a 10 GB device.
    trials = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: trials.append(device))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 2 ** (len(trials) - 1) * 10**9)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: SimpleNamespace(total_memory=10**10))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    audio, mel = (torch.from_numpy(x) for x in data)
    for precision in ("fp32", "bf16", "fp16"):
        trials.clear()
        assert search_batch_size(model, audio, mel, torch.device("cpu"), precision, log=lambda _: None) == 8
        assert len(trials) == 5  # batches 1, 2, 4, 8 fit; 16 leaves too little headroom
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # trials run on a copy
