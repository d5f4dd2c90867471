"""Objective quality metrics per utterance, each with its unit and direction, through well-kept packages.

| metric   | column(s)                       | better | package (what computes it)                        |
|----------|---------------------------------|--------|---------------------------------------------------|
| pesq     | pesq_wb                         | higher | ``pesq`` (ITU-T P.862.2 wide band, 16 kHz)        |
| stoi     | stoi                            | higher | ``pystoi`` (Taal et al. 2011)                     |
| mr_stft  | mr_stft                         | lower  | ``auraloss`` multi-resolution STFT distance       |
| mcd      | mcd_db                          | lower  | ours, numpy: warped cepstrum (see ``mel_cepstrum``) |
| f0       | f0_rmse_cents, vuv_error        | lower  | ``librosa.pyin`` F0 tracks                        |
| dnsmos   | dnsmos_p808, _sig, _bak, _ovrl  | higher | ``speechmos``'s DNSMOS networks (module ``dnsmos``)  |
| local_mos | local_mos                      | higher | a predictor file you provide (``local_predictor``)  |

``dnsmos`` and ``local_mos`` need no reference: they are *reference-free*, score all clips of a job in one
call, and score the ground truth too (the ceiling, ``reference_free``). Both take options from
``evaluation.<name>`` (DNSMOS: how short clips are windowed; local_mos: the file's path, its sample rate);
``local_mos`` needs them, so it is not computed by default.

pyworld and pysptk (the usual MCD/F0 tools) import ``pkg_resources``, which setuptools >= 81 no longer
ships; so MCD is computed here from the FFT cepstrum warped by SPTK's ``freqt`` recursion, and F0 by pYIN.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocoder_energy.evaluation.numba_cache import first_call_lock

SAMPLE_RATE = 16000  # PESQ wide band and the paper's audio


class MissingPackageError(ImportError):
    """A metric whose package is not installed; the message names the package and how to get it."""


@dataclass(frozen=True)
class Column:
    name: str
    unit: str
    higher_is_better: bool
    description: str


@dataclass(frozen=True)
class Metric:
    """``compute(reference, generated, sample_rate)`` scores one utterance. A reference-free metric (a MOS
    predictor) has ``score_clips(clips, sample_rate)`` instead, one row per clip, all clips in one call."""

    name: str
    package: str  # the import name, also the pip name
    columns: tuple[Column, ...]
    compute: Callable[[np.ndarray, np.ndarray, int], dict[str, float]] | None = None
    score_clips: Callable[..., list[dict[str, float]]] | None = None  # (clips, sample_rate, **options)
    needs_options: bool = False  # cannot run without evaluation.<name> (so never on by default)
    # Defined at any sample rate (also scored at a released model's own rate). PESQ and the DNSMOS nets are
    # 16 kHz only; MCD's warping constant and the F0 tracker's frames are set for 16 kHz.
    any_rate: bool = False

    @property
    def reference_free(self) -> bool:
        return self.score_clips is not None


def require(package: str, metric: str):
    """Import ``package`` or fail with a message naming it (and the metric that needs it)."""
    try:
        return importlib.import_module(package)
    except ImportError as err:
        raise MissingPackageError(
            f"metric '{metric}' needs the Python package '{package}', which is not installed "
            f"(pip install {package}; or drop '{metric}' from evaluation.metrics in the config): {err}"
        ) from err


# ------------------------------------------------------------------------------------------ PESQ, STOI
def _pesq(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> dict[str, float]:
    pesq = require("pesq", "pesq")
    if sample_rate not in (16000,):
        raise ValueError(f"wide-band PESQ needs 16 kHz audio, got {sample_rate} Hz")
    try:
        value = pesq.pesq(sample_rate, reference.astype(np.float64), generated.astype(np.float64), "wb")
    except pesq.PesqError:  # e.g. no speech detected in the reference: unavailable, not a made-up score
        value = float("nan")
    return {"pesq_wb": float(value)}


def _stoi(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> dict[str, float]:
    pystoi = require("pystoi", "stoi")
    return {"stoi": float(pystoi.stoi(reference, generated, sample_rate, extended=False))}


# ------------------------------------------------------------------------------ multi-resolution STFT
def _mr_stft(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> dict[str, float]:
    auraloss = require("auraloss", "mr_stft")
    import torch

    # Parallel WaveGAN's three resolutions: spectral convergence + log-magnitude L1, averaged.
    loss = auraloss.freq.MultiResolutionSTFTLoss()
    x = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))[None, None]
    y = torch.from_numpy(np.ascontiguousarray(generated, dtype=np.float32))[None, None]
    with torch.no_grad():
        return {"mr_stft": float(loss(y, x))}


# ---------------------------------------------------------------------------------------------- MCD
MCD_ORDER = 24  # mel-cepstral order at 16 kHz, c0 excluded from the distance
MCD_ALPHA = 0.42  # all-pass warping constant approximating the mel scale at 16 kHz
MCD_FFT, MCD_HOP = 1024, 80  # 64 ms Blackman window, 5 ms hop
SILENCE_DB = -60.0  # reference frames this far below the loudest frame are left out


def freqt(cepstrum: np.ndarray, order: int, alpha: float) -> np.ndarray:
    """SPTK's ``freqt``: frequency-warp cepstra (frames, m1+1) through a first-order all-pass filter."""
    frames = cepstrum.shape[0]
    g = np.zeros((frames, order + 1))
    beta = 1 - alpha * alpha
    for i in range(cepstrum.shape[1] - 1, -1, -1):
        d = g.copy()
        g[:, 0] = cepstrum[:, i] + alpha * d[:, 0]
        if order >= 1:
            g[:, 1] = beta * d[:, 0] + alpha * d[:, 1]
        for m in range(2, order + 1):
            g[:, m] = d[:, m - 1] + alpha * (d[:, m] - g[:, m - 1])
    return g


def mel_cepstrum(audio: np.ndarray, order: int = MCD_ORDER, alpha: float = MCD_ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Mel-cepstra (frames, order+1) and frame energies (dB) of a 16 kHz waveform.

    The real cepstrum of each Blackman-windowed frame's log power spectrum, warped to the mel-like
    scale with ``freqt`` and truncated to ``order``: the smoothed log envelope on a warped axis (SPTK's
    ``mcep`` fits the same envelope iteratively; values agree closely on smooth envelopes).
    """
    import librosa

    frames = librosa.util.frame(
        np.pad(audio.astype(np.float64), MCD_FFT // 2, mode="reflect"), frame_length=MCD_FFT, hop_length=MCD_HOP
    ).T
    spectrum = np.abs(np.fft.rfft(frames * np.blackman(MCD_FFT), axis=1)) ** 2
    energy_db = 10 * np.log10(spectrum.sum(axis=1) + 1e-20)
    log_spectrum = 0.5 * np.log(np.maximum(spectrum, 1e-10))  # log-magnitude
    cepstrum = np.fft.irfft(log_spectrum, axis=1)[:, : MCD_FFT // 2 + 1]
    cepstrum[:, 1:] *= 2  # one-sided cepstrum of a real, even sequence (c0 and c_N/2 once)
    cepstrum[:, -1] /= 2
    return freqt(cepstrum, order, alpha), energy_db


def _mcd(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> dict[str, float]:
    c_ref, energy = mel_cepstrum(reference)
    c_gen, _ = mel_cepstrum(generated)
    voiced = energy > energy.max() + SILENCE_DB
    diff = (c_ref - c_gen)[voiced, 1:]  # c0 (level) excluded; no DTW: copy synthesis is time-aligned
    per_frame = (10 / np.log(10)) * np.sqrt(2 * np.sum(diff**2, axis=1))
    return {"mcd_db": float(per_frame.mean()) if len(per_frame) else float("nan")}


# ------------------------------------------------------------------------------------------------ F0
F0_MIN, F0_MAX = 60.0, 500.0  # Hz: speech, men to children
F0_FRAME, F0_HOP = 1024, 160  # 64 ms frames, 10 ms hop


def f0_track(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """pYIN F0 (Hz, NaN where unvoiced) and its voicing decisions."""
    librosa = require("librosa", "f0")
    with first_call_lock(Path(librosa.__file__).parent):  # pYIN's numba cache: see numba_cache
        f0, voiced, _ = librosa.pyin(
            audio.astype(np.float64),
            fmin=F0_MIN,
            fmax=F0_MAX,
            sr=sample_rate,
            frame_length=F0_FRAME,
            hop_length=F0_HOP,
        )
    return f0, voiced


def _f0(reference: np.ndarray, generated: np.ndarray, sample_rate: int) -> dict[str, float]:
    f0_ref, v_ref = f0_track(reference, sample_rate)
    f0_gen, v_gen = f0_track(generated, sample_rate)
    both = v_ref & v_gen
    cents = 1200 * np.log2(f0_gen[both] / f0_ref[both])
    return {
        "f0_rmse_cents": float(np.sqrt(np.mean(cents**2))) if both.any() else float("nan"),
        "vuv_error": float(np.mean(v_ref != v_gen)),
    }


# ------------------------------------------------------------------------------------------ DNSMOS
def _dnsmos(clips: Sequence[np.ndarray], sample_rate: int, short_clips: str = "doubled") -> list[dict[str, float]]:
    """``short_clips``: evaluation.dnsmos (the authors' rule for clips under 9.01 s, or one window)."""
    require("onnxruntime", "dnsmos")
    from vocoder_energy.evaluation import dnsmos

    rows = dnsmos.score_clips(clips, sample_rate, short_clips=short_clips)
    return [{f"dnsmos_{name}": value for name, value in row.items()} for row in rows]


def _local_mos(
    clips: Sequence[np.ndarray], clip_rate: int, path: str | None = None, sample_rate: int = 16000
) -> list[dict]:
    """``path``/``sample_rate``: evaluation.local_mos (the file, and the rate it takes)."""
    from vocoder_energy.evaluation import local_predictor

    if not path:
        raise ValueError("metric 'local_mos' needs evaluation.local_mos.path (the predictor file)")
    try:
        scores = local_predictor.score_clips(clips, clip_rate, path, sample_rate)
    except local_predictor.PredictorMissing as missing:
        print(f"WARNING: local_mos skipped, {missing}: its column is left unavailable (NaN)")
        scores = [float("nan")] * len(clips)
    return [{"local_mos": score} for score in scores]


PREDICTED_MOS_UNIT = "predicted MOS (1-5)"

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("pesq", "pesq", (Column("pesq_wb", "MOS-LQO (1-4.64)", True, "wide-band PESQ"),), _pesq),
        Metric(
            "stoi",
            "pystoi",
            (Column("stoi", "index (0-1)", True, "short-time objective intelligibility"),),
            _stoi,
            any_rate=True,
        ),
        Metric(
            "mr_stft",
            "auraloss",
            (Column("mr_stft", "SC + log-mag L1", False, "multi-resolution STFT distance (1024/2048/512)"),),
            _mr_stft,
            any_rate=True,
        ),
        Metric(
            "mcd",
            "librosa",
            (Column("mcd_db", "dB", False, "mel-cepstral distortion, order 24, alpha 0.42, c0 excluded, no DTW"),),
            _mcd,
        ),
        Metric(
            "f0",
            "librosa",
            (
                Column("f0_rmse_cents", "cents", False, "log-F0 RMSE over frames voiced in both (pYIN)"),
                Column("vuv_error", "fraction of frames", False, "voiced/unvoiced decision error (pYIN)"),
            ),
            _f0,
        ),
        Metric(
            "dnsmos",
            "speechmos",
            (
                Column("dnsmos_p808", PREDICTED_MOS_UNIT, True, "DNSMOS P.808 overall quality, predicted"),
                Column("dnsmos_sig", PREDICTED_MOS_UNIT, True, "DNSMOS P.835 speech signal quality, predicted"),
                Column("dnsmos_bak", PREDICTED_MOS_UNIT, True, "DNSMOS P.835 background noise quality, predicted"),
                Column("dnsmos_ovrl", PREDICTED_MOS_UNIT, True, "DNSMOS P.835 overall quality, predicted"),
            ),
            score_clips=_dnsmos,
        ),
        Metric(
            "local_mos",
            "numpy",  # the file needs torch (TorchScript) or onnxruntime (ONNX), both installed with the project
            (Column("local_mos", "predicted MOS", True, "MOS predicted by the file in evaluation.local_mos.path"),),
            score_clips=_local_mos,
            needs_options=True,
        ),
    )
}


def columns(names: Iterable[str]) -> list[Column]:
    """The output columns of the named metrics, in order; an unknown name is an error naming the choices."""
    out = []
    for name in names:
        if name not in METRICS:
            raise ValueError(f"unknown objective metric '{name}' (choose from {', '.join(METRICS)})")
        out.extend(METRICS[name].columns)
    return out


def check_packages(names: Iterable[str]) -> None:
    """Fail before any work when a chosen metric's package is missing."""
    for name in names:
        columns([name])
        require(METRICS[name].package, name)


def score_clips(
    references: Sequence[np.ndarray],
    generated: Sequence[np.ndarray],
    names: Iterable[str],
    sample_rate: int,
    options: dict[str, dict] | None = None,
) -> list[dict]:
    """Every chosen metric on each (reference, generated) pair, one row per pair; reference-free metrics
    score all generated clips in one call (``options``: per metric name, e.g. local_mos's path). NaN for
    non-finite audio (a diverged model: unavailable, counted by the caller, never a made-up score)."""
    rows: list[dict] = [{} for _ in generated]
    finite = [bool(np.all(np.isfinite(clip))) for clip in generated]
    for name in names:
        metric = METRICS[name]
        if metric.reference_free:
            kept = [clip for clip, ok in zip(generated, finite) if ok]
            returned = metric.score_clips(kept, sample_rate, **(options or {}).get(name, {})) if kept else []
            if len(returned) != len(kept):
                raise ValueError(f"metric {name} scored {len(returned)} of {len(kept)} clips")
            scored = iter(returned)
            scores = [next(scored) if ok else None for ok in finite]
        else:
            scores = [
                metric.compute(ref, gen, sample_rate) if ok else None
                for ref, gen, ok in zip(references, generated, finite, strict=True)
            ]
        for row, score in zip(rows, scores):
            row.update(score if score is not None else {c.name: float("nan") for c in metric.columns})
    return rows


def reference_free(names: Iterable[str]) -> list[str]:
    """The metrics among ``names`` that need no reference (MOS predictors): they also score the ground
    truth, the ceiling a generated clip is read against (against itself any other metric is perfect)."""
    return [name for name in names if METRICS[name].reference_free]


# D_STFT is computed in ``quality`` (as the paper's authors did); its columns are described here beside
# the metrics', so that the summary and the analysis know every quality column without importing torch.
D_STFT_COLUMNS = {
    "d_stft": Column("d_stft", "ln-power distance", False, "mean |ln(1+|X|^2) - ln(1+|Y|^2)|, n_fft 1024, hop 256"),
    "d_stft_multiscale": Column(
        "d_stft_multiscale", "ln-power distance", False, "sum of D_STFT over n_fft 2048/1024/512/256, hop n_fft/4"
    ),
}
# Every quality column a quality document can hold, in the summary's order: D_STFT (both forms), then
# each metric's.
QUALITY_COLUMNS: list[Column] = [*D_STFT_COLUMNS.values(), *(c for m in METRICS.values() for c in m.columns)]
