"""Gold questions of the listening test: clips whose right answer is known, to screen raters.

ITU-T P.808 screens crowd raters with gold and trapping questions. A trapping question is a spoken
instruction ("please select 2") that cannot be synthesised offline, so this test uses gold clips only:

* ``low``: the ``anchor`` system, a ground-truth clip band-limited to 3.5 kHz (the low anchor of
  ITU-R BS.1534, MUSHRA) with white noise of the same band at 5 dB SNR on top; expected 1-2.
* ``high``: the ground truth itself, under an ID of its own; expected 4-5.

Both are loudness-normalised and trimmed like every other stimulus, so only what a rater hears tells
them apart. The key records which stimuli are gold; a rater fails a gold question by answering outside
its expected range.
"""

from __future__ import annotations

import numpy as np

from vocoder_energy.listening.ratings import SCALE

ANCHOR = "anchor"  # the low gold's system name in the key and the ratings CSV; never shown to raters
ANCHOR_CUTOFF_HZ = 3500.0  # BS.1534's low anchor: a 3.5 kHz low-pass
ANCHOR_SNR_DB = 5.0  # speech to noise power, both within the band
EXPECTED = {"low": (SCALE[0], 2), "high": (4, SCALE[1])}  # the answers that pass, inclusive (1-2, 4-5)


def band_limit(audio: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """``audio`` with every component above ``cutoff_hz`` removed (zeroed FFT bins: no transition band)."""
    spectrum = np.fft.rfft(np.asarray(audio, dtype=np.float64))
    spectrum[np.fft.rfftfreq(len(audio), 1 / sample_rate) > cutoff_hz] = 0
    return np.fft.irfft(spectrum, n=len(audio))


def make_anchor(
    audio: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
    cutoff_hz: float = ANCHOR_CUTOFF_HZ,
    snr_db: float = ANCHOR_SNR_DB,
) -> np.ndarray:
    """The low anchor of ``audio``: band-limited to ``cutoff_hz`` plus white noise of the same band at
    ``snr_db`` below the band-limited speech (so its energy above the cut-off stays zero).
    """
    speech = band_limit(audio, sample_rate, cutoff_hz)
    noise = band_limit(rng.standard_normal(len(audio)), sample_rate, cutoff_hz)
    speech_power, noise_power = np.mean(speech**2), np.mean(noise**2)
    if speech_power == 0:
        raise ValueError("cannot make an anchor of a silent clip (no power below the cut-off)")
    noise *= np.sqrt(speech_power / noise_power / 10 ** (snr_db / 10))
    return speech + noise


def kinds(count: int) -> list[str]:
    """The gold questions of one rater: ``low`` and ``high`` alternating, a low anchor first."""
    return [("low", "high")[i % 2] for i in range(count)]


def expected_text(kind: str) -> str:
    low, high = EXPECTED[kind]
    return f"{low}-{high}"


def failed(score: int, kind: str) -> bool:
    """Whether ``score`` misses the expected range of a ``kind`` gold question."""
    low, high = EXPECTED[kind]
    return not low <= score <= high
