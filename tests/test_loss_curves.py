"""Loss logs are written, truncated and read one way, into training losses, validation D_STFT and
held-out losses, and drawn."""

import json

import numpy as np
import pytest

from vocoder_energy.analysis.loss_figures import LossLog, model_figure, overview_figure
from vocoder_energy.training.loss_log import (
    LossLogWriter,
    is_validation,
    last_losses,
    last_validation_d_stft,
    read,
    step_record,
    truncate_after,
    validation_record,
)


@pytest.fixture
def loss_log(tmp_path):
    records = []
    for step in range(1, 121):
        records.append({"step": step, "seconds": step * 0.1, "loss_d": 2.0 / step, "loss_g": 5.0 / step**0.5})
        if step % 40 == 0:
            records.append(
                {"step": step, "seconds": step * 0.1, "val_d_stft": 1.0 / step, "val_loss_g": 6.0 / step**0.5}
            )
    path = tmp_path / "losses.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_validation_records_go_to_their_own_series(loss_log):
    log = LossLog(loss_log)
    assert set(log.losses) == {"loss_d", "loss_g"} and len(log.losses["loss_g"][0]) == 120
    assert log.validation_d_stft[0].tolist() == [40, 80, 120]
    assert set(log.held_out_losses) == {"loss_g"}  # the prefix is dropped: drawn on the loss_g panel
    np.testing.assert_allclose(log.held_out_losses["loss_g"][1], [6.0 / s**0.5 for s in (40, 80, 120)])


def test_the_figures_are_drawn_from_a_log_with_and_without_validation(loss_log, tmp_path):
    model_figure("hifigan S", loss_log, tmp_path / "model.png")
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(line + "\n" for line in loss_log.read_text().splitlines() if "val_" not in line))
    overview_figure({"hifigan S": loss_log, "melgan S": plain}, [tmp_path / "all.png"])
    assert LossLog(plain).validation_d_stft[0].size == 0 and not LossLog(plain).held_out_losses
    for name in ("model.png", "all.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def written_log(path):
    with LossLogWriter(path) as log:
        log.write(step_record(1, 0.12345, {"loss_g": 3.0, "grad_norm": float("inf")}))
        log.write(validation_record(1, 0.2, 0.5, {"loss_g": 4.0}))
        log.write(step_record(2, 0.3, {"loss_g": 2.0, "grad_norm": 1.5}))
    return path


def test_step_and_validation_records_are_written_and_told_apart_one_way(tmp_path):
    path = written_log(tmp_path / "losses.jsonl")
    records = read(path)
    assert records[0] == {"step": 1, "seconds": 0.123, "loss_g": 3.0, "grad_norm": None}  # JSON has no inf
    assert records[1] == {"step": 1, "seconds": 0.2, "val_d_stft": 0.5, "val_loss_g": 4.0}
    assert [is_validation(r) for r in records] == [False, True, False]
    assert last_losses(path) == {"loss_g": 2.0, "grad_norm": 1.5} and last_validation_d_stft(path) == 0.5
    log = LossLog(path)
    assert log.losses["loss_g"][0].tolist() == [1, 2] and np.isnan(log.losses["grad_norm"][1][0])
    assert log.held_out_losses["loss_g"][1].tolist() == [4.0] and log.validation_d_stft[1].tolist() == [0.5]
    assert read(tmp_path / "none.jsonl") == [] and last_losses(tmp_path / "none.jsonl") == {}
    assert last_validation_d_stft(tmp_path / "none.jsonl") is None


def test_truncation_keeps_the_checkpointed_steps_and_drops_a_line_cut_short(tmp_path):
    path = written_log(tmp_path / "losses.jsonl")
    with open(path, "a") as handle:
        handle.write('{"step": 3, "seconds": 0.4, "loss_g": 1.')  # a hard kill in the middle of a write
    truncate_after(path, 1)
    assert [(r["step"], is_validation(r)) for r in read(path)] == [(1, False), (1, True)]
    path.write_text(path.read_text() + "not json\n" + json.dumps({"step": 1, "loss_g": 1.0}) + "\n")
    with pytest.raises(ValueError, match="line 3"):  # damage before the end is not a cut-short write
        truncate_after(path, 1)
    with pytest.raises(ValueError, match="losses.jsonl, line 3"):
        read(path)
