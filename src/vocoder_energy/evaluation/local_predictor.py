"""A MOS predictor the user provides as a file, by path, never downloaded (metric ``local_mos``): for
example UTMOS or another learned predictor exported with ``torch.export`` (``.pt2``, a graph: loading it runs
no Python code), to ONNX (``.onnx``), or to TorchScript (any other suffix; deprecated by torch 2.13).

The file's contract: one float32 input of shape (1, samples), a waveform in [-1, 1] at
``evaluation.local_mos.sample_rate`` (16 kHz by default; the clips are resampled to it), and one output
holding the clip's MOS (any shape with one value). Clips go through one at a time (their lengths differ).
For ``.pt2`` the sample count must be a dynamic dimension of the export. A TorchScript file is code run by
torch's interpreter: use only files you trust.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ONNX_SUFFIXES = (".onnx",)


class PredictorMissing(FileNotFoundError):
    """The configured predictor file does not exist (the metric is then left unavailable)."""


@functools.cache
def _load(path: str) -> Callable[[np.ndarray], float]:
    if path.endswith(ONNX_SUFFIXES):
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda clip: session.run(None, {name: clip})[0]
    import torch

    if path.endswith(".pt2"):
        module = torch.export.load(path).module()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; it still runs
            module = torch.jit.load(path, map_location="cpu").eval()

    def run(clip: np.ndarray):
        with torch.inference_mode():
            return module(torch.from_numpy(clip)).numpy()

    return run


def score_clips(
    clips: Sequence[np.ndarray], sample_rate: int, path: str | Path, model_rate: int = 16000
) -> list[float]:
    """The predictor's MOS for each clip; ``PredictorMissing`` (naming the file) when there is no file."""
    path = Path(path)
    if not path.is_file():
        raise PredictorMissing(f"evaluation.local_mos.path: {path} does not exist")
    predict = _load(str(path.resolve()))
    scores = []
    for clip in clips:
        clip = np.clip(np.asarray(clip, dtype=np.float64), -1.0, 1.0)
        if sample_rate != model_rate:
            from vocoder_energy.data.audio import resample

            clip = resample(clip, sample_rate, model_rate)
        value = np.asarray(predict(clip.astype(np.float32)[np.newaxis]), dtype=np.float64)
        if value.size != 1:
            raise ValueError(f"{path}: the predictor returned {value.size} values for one clip (expected one MOS)")
        scores.append(float(value.reshape(())))
    return scores
