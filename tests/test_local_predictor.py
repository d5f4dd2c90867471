"""A MOS predictor by path (metric local_mos): tiny TorchScript and ONNX predictors the tests create, a
missing file skipped with a warning, a config that forgets the path refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from vocoder_energy.core.config_checks import ConfigError, check_metric_options
from vocoder_energy.evaluation import local_predictor
from vocoder_energy.evaluation.quality import evaluate_ground_truth, evaluate_quality

SR = 16000


class LoudnessMos(torch.nn.Module):
    """A 'predictor' with a hand-checkable answer: 1 + 4 x the clip's mean absolute value, and its length
    in seconds added as 1e-6 per sample (to see the resampling)."""

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return 1.0 + 4.0 * audio.abs().mean(dim=-1) + 1e-6 * audio.shape[-1]


@pytest.fixture(scope="module", params=["torch.export", "TorchScript"])
def torchscript(request, tmp_path_factory):
    """The predictor saved by torch.export (.pt2, the sample count dynamic) and as TorchScript (.pt)."""
    folder = tmp_path_factory.mktemp("predictor")
    if request.param == "torch.export":
        samples = torch.export.Dim("samples", min=2, max=10 * SR)
        program = torch.export.export(LoudnessMos(), (torch.zeros(1, SR),), dynamic_shapes=({1: samples},))
        torch.export.save(program, str(folder / "loudness.pt2"))
        return folder / "loudness.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(LoudnessMos()).save(str(folder / "loudness.pt"))
    return folder / "loudness.pt"


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    onnx = pytest.importorskip("onnx", reason="onnx builds the test's ONNX predictor (the dev extra installs it)")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Abs", ["audio"], ["magnitude"]),
            helper.make_node("ReduceMean", ["magnitude"], ["level"], keepdims=0),
            helper.make_node("Mul", ["level", "four"], ["scaled"]),
            helper.make_node("Add", ["scaled", "one"], ["mos"]),
        ],
        "loudness",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, "samples"])],
        [helper.make_tensor_value_info("mos", TensorProto.FLOAT, [])],
        initializer=[
            helper.make_tensor("four", TensorProto.FLOAT, [], [4.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("predictor") / "loudness.onnx"
    onnx.save(model, str(path))
    return path


def test_a_torchscript_predictor_scores_each_clip_at_its_own_rate(torchscript):
    quiet, loud = 0.1 * np.ones(SR), 0.5 * np.ones(SR // 2)
    assert local_predictor.score_clips([quiet, loud], SR, torchscript) == pytest.approx([1.4 + 0.016, 3.0 + 0.008])
    # A predictor taking 8 kHz: the clip is resampled first (half the samples).
    (eight_k,) = local_predictor.score_clips([quiet], SR, torchscript, model_rate=8000)
    assert eight_k == pytest.approx(1.4 + 0.008, abs=2e-3)


def test_an_onnx_predictor_gives_the_same_scores(onnx_file):
    clips = [0.1 * np.ones(SR), -0.5 * np.ones(100)]
    assert local_predictor.score_clips(clips, SR, onnx_file) == pytest.approx([1.4, 3.0], abs=1e-4)  # float32 sums


def test_the_metric_scores_generated_clips_and_the_ground_truth(torchscript):
    reference = np.stack([0.5 * np.ones(SR), 0.25 * np.ones(SR)])
    generated = 0.5 * reference
    options = {"local_mos": {"path": str(torchscript), "sample_rate": SR}}
    result = evaluate_quality(reference, generated, ids=["a", "b"], metrics=["local_mos"], options=options)
    truth = evaluate_ground_truth(reference, ["a", "b"], metrics=["local_mos"], options=options)
    assert result["metrics"]["local_mos"]["mean"] == pytest.approx(1 + 4 * 0.1875 + 0.016)
    assert truth["metrics"]["local_mos"]["mean"] == pytest.approx(1 + 4 * 0.375 + 0.016)


def test_a_missing_predictor_file_is_skipped_with_a_warning(tmp_path, capsys):
    options = {"local_mos": {"path": str(tmp_path / "utmos.pt")}}
    clips = np.stack([0.1 * np.ones(SR)])
    result = evaluate_quality(clips, clips, metrics=["local_mos"], options=options)
    assert np.isnan(result["metrics"]["local_mos"]["mean"])
    assert (
        f"local_mos skipped, evaluation.local_mos.path: {tmp_path / 'utmos.pt'} does not exist"
        in capsys.readouterr().out
    )


def test_a_predictor_returning_several_values_is_refused(tmp_path):
    class PerSample(torch.nn.Module):
        def forward(self, audio: torch.Tensor) -> torch.Tensor:
            return audio

    path = tmp_path / "per_sample.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(PerSample()).save(str(path))
    with pytest.raises(ValueError, match="returned 100 values for one clip"):
        local_predictor.score_clips([np.zeros(100)], SR, path)


def test_a_config_naming_local_mos_without_a_file_is_refused():
    with pytest.raises(ConfigError, match="local_mos needs evaluation.local_mos.path"):
        check_metric_options({"metrics": ["stoi", "local_mos"]})
    check_metric_options({"metrics": ["stoi", "local_mos"], "local_mos": {"path": "missing/is/fine.pt"}})
