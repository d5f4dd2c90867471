"""DNSMOS: Microsoft's non-intrusive MOS predictors (P.808 overall, and P.835 signal / background /
overall), run offline with onnxruntime on the ONNX files the ``speechmos`` package ships (MIT); nothing is
downloaded.

The procedure is the published one (Reddy et al., ICASSP 2021 / 2022; the DNS Challenge's
``dnsmos_local.py``, which ``speechmos`` repackages), written here so that every segment of every clip
goes through the networks in batches (cut a batch at a time, so memory does not grow with the clips):

- 16 kHz audio; the networks see 9.01 s windows (144,160 samples), one every second of the clip
  (``int(floor(seconds) - 9.01) + 1`` of them, whole seconds as the authors count);
- a clip shorter than a window is doubled (appended to itself) until it fills one, as the authors do: a
  2^14-sample clip becomes 2^18 samples, 16.4 s, and is scored on 7 windows, a 6 s clip on 4
  (``short_clips="one_window"`` scores a short clip on its first window only: 7 times cheaper on 2^14
  samples, within 0.04 of the authors' score on average on spoken crops, with no systematic shift);
- windows their loop skips are skipped too: it cuts window i at int((i + 9.01) * 16000), which floating
  point rounds one sample short for i = 7 to 23, and drops such a short window (clips of 17 s or more);
- P.835: the window's waveform in, three raw scores out, each mapped by the authors' quadratic polynomial;
- P.808: a 120-band log-mel spectrogram of the window less its last 160 samples (n_fft 321, hop 160,
  power in dB relative to the window's own maximum, floored 80 dB below it, then (dB + 40) / 40) in,
  the MOS out, unmapped;
- a clip's score is the mean over its windows.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 144_160  # 9.01 s
HOP = SAMPLE_RATE  # a window every second
OUTPUTS = ("p808", "sig", "bak", "ovrl")
# P.835's raw network outputs -> MOS (the authors' non-personalised fits), highest power first.
P835_POLYNOMIALS = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}


@functools.cache
def _sessions():
    """The two ONNX networks from the installed ``speechmos`` package, loaded once per process."""
    from importlib.resources import files

    import onnxruntime

    models = files("speechmos") / "dnsmos_models"
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings about unused initialisers on every load
    # The job's thread count, as Snakemake gives it to torch and BLAS (onnxruntime ignores OMP_NUM_THREADS and
    # would take every core, competing with the jobs beside it); 0 = onnxruntime's default outside a job.
    options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "0"))

    def load(name: str):
        return onnxruntime.InferenceSession(str(models / name), options, providers=["CPUExecutionProvider"])

    return load("sig_bak_ovr.onnx"), load("model_v8.onnx")


SHORT_CLIPS = ("doubled", "one_window")  # evaluation.dnsmos.short_clips: the authors' rule, or 7x cheaper


def window_starts(length: int, short_clips: str = "doubled") -> list[int]:
    """Where the scored 9.01 s windows of a ``length``-sample clip start (in the doubled clip if short): one
    per whole second; a short clip doubled until it fills a window and scored on every window that gives
    (``doubled``, the authors' rule) or on its first (``one_window``)."""
    if short_clips not in SHORT_CLIPS:
        raise ValueError(f"evaluation.dnsmos.short_clips must be one of {SHORT_CLIPS}, not {short_clips!r}")
    if length == 0:
        raise ValueError("DNSMOS: an empty clip has no score")
    extended = length
    while extended < WINDOW:  # doubled, not tiled to length: the authors' rule, which sets the window count
        extended *= 2
    count = int(np.floor(extended / SAMPLE_RATE) - WINDOW / SAMPLE_RATE) + 1  # whole seconds, as theirs
    if length < WINDOW and short_clips == "one_window":
        count = 1
    # As their loop: a window whose end, int((i + 9.01) * 16000), rounds one sample short is skipped
    # (floating point does so for i = 7 to 23, so clips of 17 s or more lose those windows there too).
    return [i * HOP for i in range(count) if int((i + WINDOW / SAMPLE_RATE) * SAMPLE_RATE) - i * HOP >= WINDOW]


def window(clip: np.ndarray, start: int) -> np.ndarray:
    """The window at ``start``; a short clip is read as repeated end to end (which doubling gives)."""
    if len(clip) >= WINDOW:
        return clip[start : start + WINDOW]
    return clip[(start + np.arange(WINDOW)) % len(clip)]


def p808_features(segments: np.ndarray) -> np.ndarray:
    """(windows, 900, 120) log-mel inputs of the P.808 network, each window relative to its own maximum."""
    import librosa

    power = librosa.feature.melspectrogram(
        y=segments[:, :-160], sr=SAMPLE_RATE, n_fft=321, hop_length=160, n_mels=120
    )  # (windows, 120, 900)
    decibels = np.stack([librosa.power_to_db(one, ref=np.max) for one in power])
    return ((decibels + 40.0) / 40.0).transpose(0, 2, 1).astype(np.float32)


def score_clips(
    clips: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE, batch: int = 4, short_clips: str = "doubled"
) -> list[dict]:
    """``{"p808", "sig", "bak", "ovrl"}`` per clip, each the mean over the clip's windows.

    Samples are clipped to [-1, 1] first (what a 16-bit file of the clip would hold); a clip with
    non-finite samples scores NaN. Windows of all clips go through the networks ``batch`` at a time (4: on a
    2-core CPU 0.20 s per window, the P.835 network nearly all of it; 0.26 s one by one, 0.38 s sixteen at a
    time). ``short_clips``: see ``windows``.
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"DNSMOS needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    clips = [np.clip(np.asarray(clip, dtype=np.float32), -1.0, 1.0) for clip in clips]
    finite = [bool(np.all(np.isfinite(clip))) for clip in clips]
    # (clip, start) of every window; windows are cut a batch at a time (the paper's 2,620 clips x 7 windows
    # at once would be 10.6 GB), and each clip's scores summed as its windows come through.
    todo = [(c, start) for c, clip in enumerate(clips) if finite[c] for start in window_starts(len(clip), short_clips)]
    sums = np.zeros((len(clips), len(OUTPUTS)))
    counts = np.zeros(len(clips))
    p835, p808 = _sessions()
    for first in range(0, len(todo), batch):
        owners, starts = zip(*todo[first : first + batch])
        chunk = np.stack([window(clips[c], start) for c, start in zip(owners, starts)])
        raw = p835.run(None, {"input_1": chunk})[0]
        scores = [p808.run(None, {"input_1": p808_features(chunk)})[0][:, 0]]
        scores += [np.polyval(P835_POLYNOMIALS[name], raw[:, column]) for column, name in enumerate(OUTPUTS[1:])]
        np.add.at(sums, list(owners), np.stack(scores, axis=1))
        np.add.at(counts, list(owners), 1)
    rows = []
    for c, ok in enumerate(finite):
        rows.append({name: float(sums[c, k] / counts[c]) if ok else float("nan") for k, name in enumerate(OUTPUTS)})
    return rows
