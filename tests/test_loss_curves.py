"""Loss logs are read into training losses, validation D_STFT and held-out losses, and drawn."""

import json

import numpy as np
import pytest

from vocoder_energy.analysis.loss_figures import LossLog, model_figure, overview_figure


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
