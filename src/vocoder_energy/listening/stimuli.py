"""Stimuli of a listening test: the same utterances for every system, loudness-normalised, under opaque IDs.

A built test is two things kept apart:

* the served directory (``test/``): ``test.json`` (the test's own random ID, the design settings and the
  stimulus IDs - no system names) and ``audio/<id>.wav`` (16-bit PCM, no metadata chunks);
* the key (``key.csv``): stimulus -> system, utterance, for a repeated stimulus the one it repeats, and
  for a gold question (``gold``) its kind and expected answers. Only the server's draw of each rater's
  list, the export and the admin view read it; the page never does.

Gold questions (``listening.gold`` per rater, see ``gold``) are stimuli like the others: an opaque ID,
the same length and loudness as the other versions of their utterance, nowhere in ``test.json``.
"""

from __future__ import annotations

import csv
import math
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
from tqdm import tqdm

from vocoder_energy.core.files import write_csv, write_json
from vocoder_energy.evaluation.clips import load_clips
from vocoder_energy.listening.gold import ANCHOR, expected_text, kinds, make_anchor
from vocoder_energy.listening.ratings import GROUND_TRUTH

PEAK_LIMIT = 0.99  # keep a loud clip from clipping after normalisation (lowers it below the target)
KEY_COLUMNS = ["stimulus", "system", "utterance", "repeat_of", "gold", "expected", "loudness_lufs", "gain_db"]


@dataclass(frozen=True)
class Design:
    """What the ``listening:`` config section sets."""

    utterances: int  # per system: the same ones for every system
    ratings_per_rater: int  # distinct stimuli each rater rates (repeats come on top)
    repeats: int  # stimuli each rater hears a second time, as a consistency check
    seed: int
    loudness_lufs: float = -23.0
    gold: int = 2  # gold questions each rater gets on top (low anchor and ground truth, alternating)


def new_stimulus_id() -> str:
    """An opaque, unguessable ID (nothing in it derives from the system or the utterance)."""
    return secrets.token_urlsafe(12)


def load_generated(path: str | Path, sample_rate: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``{utterance: generated}`` and ``{utterance: reference}`` of one ``results/generated/*.npz``, at the
    test's ``sample_rate`` (a released model's own rate is resampled: every stimulus plays at one rate)."""
    clips = load_clips(path, sample_rate)
    for name, audio in (("generated", clips.generated), ("reference", clips.reference)):
        if not np.all(np.isfinite(audio)):
            raise ValueError(f"{path}: non-finite samples in '{name}' (NaN or inf); regenerate this model's clips")
    ids = clips.ids
    generated = dict(zip(ids, clips.generated.reshape(len(ids), -1)))
    reference = dict(zip(ids, clips.reference.reshape(len(ids), -1)))
    return generated, reference


def normalise_loudness(audio: np.ndarray, sample_rate: int, target_lufs: float) -> tuple[np.ndarray, float, float]:
    """``audio`` at ``target_lufs`` integrated loudness (ITU-R BS.1770-4, pyloudnorm), peak-limited.

    Returns the audio, its measured loudness before and the gain applied in dB. Silence (or a clip
    shorter than one 400 ms gating block) has no loudness: it is left as it is (gain 0 dB).
    """
    audio = np.asarray(audio, dtype=np.float64)
    meter = pyloudnorm.Meter(sample_rate)
    loudness = meter.integrated_loudness(audio) if audio.size >= int(0.4 * sample_rate) else -math.inf
    gain_db = 0.0 if not math.isfinite(loudness) else target_lufs - loudness
    out = audio * 10 ** (gain_db / 20)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > PEAK_LIMIT:
        out *= PEAK_LIMIT / peak
        gain_db += 20 * math.log10(PEAK_LIMIT / peak)
    return out.astype(np.float32), loudness, gain_db


def pick_utterances(common: list[str], count: int, seed: int) -> list[str]:
    """``count`` utterances drawn with ``seed`` from those every system has (order of ``common`` fixed)."""
    if count > len(common):
        raise ValueError(
            f"listening.utterances is {count} but every system has only {len(common)} generated test clip(s) "
            f"in common; lower listening.utterances or raise evaluation.test_clips"
        )
    return sorted(random.Random(seed).sample(sorted(common), count))


def build_test(
    generated: dict[str, str | Path],
    test_dir: str | Path,
    key_path: str | Path,
    design: Design,
    sample_rate: int,
) -> dict:
    """Write the served test directory and the key from ``{system: generated npz}``; returns test.json."""
    if not generated:
        raise ValueError("no generated clips: configure at least one model")
    for reserved in (GROUND_TRUTH, ANCHOR):
        if reserved in generated:
            raise ValueError(f"'{reserved}' is reserved for the listening test and cannot name a model")
    clips: dict[str, dict[str, np.ndarray]] = {}
    references: dict[str, np.ndarray] = {}
    for system, path in generated.items():
        clips[system], refs = load_generated(path, sample_rate)
        for utterance, audio in refs.items():
            references.setdefault(utterance, audio)
    clips[GROUND_TRUTH] = references
    common = set.intersection(*(set(by_id) for by_id in clips.values()))
    utterances = pick_utterances(list(common), design.utterances, design.seed)
    primaries = len(utterances) * len(clips)
    if design.ratings_per_rater > primaries:
        raise ValueError(
            f"listening.ratings_per_rater is {design.ratings_per_rater} but the test has only {primaries} stimuli "
            f"({len(utterances)} utterances x {len(clips)} systems)"
        )
    if design.repeats > design.ratings_per_rater:
        raise ValueError(f"listening.repeats ({design.repeats}) cannot exceed ratings_per_rater")
    gold = kinds(design.gold)
    if max((gold.count(kind) for kind in ("low", "high")), default=0) > len(utterances):
        raise ValueError(
            f"listening.gold is {design.gold}: a rater's gold questions need {gold.count('low')} distinct "
            f"utterance(s) (one gold clip of each kind per utterance), the test has {len(utterances)}; "
            f"lower listening.gold or raise listening.utterances"
        )

    test_dir, key_path = Path(test_dir), Path(key_path)
    if key_path.resolve().is_relative_to(test_dir.resolve()):
        raise ValueError(f"{key_path}: the key must not lie inside the served directory {test_dir}")
    audio_dir = test_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows, stimuli = [], []

    def write(stimulus: str, audio: np.ndarray, system: str, utterance: str, repeat_of="", gold_kind="") -> None:
        audio, loudness, gain_db = normalise_loudness(audio, sample_rate, design.loudness_lufs)
        sf.write(audio_dir / f"{stimulus}.wav", audio, sample_rate, subtype="PCM_16", format="WAV")
        expected = expected_text(gold_kind) if gold_kind else ""
        rows.append([stimulus, system, utterance, repeat_of, gold_kind, expected, f"{loudness:.2f}", f"{gain_db:.2f}"])

    # Every system's version of an utterance gets the same length: duration must not tell systems apart.
    length = {utterance: min(clips[s][utterance].shape[-1] for s in clips) for utterance in utterances}
    cells = [(system, utterance) for system in sorted(clips) for utterance in utterances]
    for system, utterance in tqdm(cells, desc="listening stimuli", unit=" clips"):
        audio = clips[system][utterance][: length[utterance]]
        primary = new_stimulus_id()
        repeat = new_stimulus_id()  # the same clip under a second ID, for raters chosen to hear it twice
        write(primary, audio, system, utterance)
        write(repeat, audio, system, utterance, repeat_of=primary)
        stimuli.append({"id": primary, "repeat": repeat})
    if gold:  # one gold clip of each kind per utterance; which ones a rater gets, the server draws
        noise = np.random.default_rng(design.seed)
        for utterance in tqdm(utterances, desc="gold stimuli", unit=" utterances"):
            truth = references[utterance][: length[utterance]]
            write(new_stimulus_id(), make_anchor(truth, sample_rate, noise), ANCHOR, utterance, gold_kind="low")
            write(new_stimulus_id(), truth, GROUND_TRUTH, utterance, gold_kind="high")
    random.Random(design.seed).shuffle(stimuli)  # the served list's order must not follow the systems
    manifest = {
        "test": secrets.token_hex(8),
        "ratings_per_rater": design.ratings_per_rater,
        "repeats": design.repeats,
        "gold": design.gold,  # per rater; which stimuli are gold only the key says
        "seed": design.seed,
        "stimuli": stimuli,
    }
    write_json(manifest, test_dir / "test.json")
    key_path.parent.mkdir(parents=True, exist_ok=True)
    rows.sort()
    write_csv((dict(zip(KEY_COLUMNS, row)) for row in rows), KEY_COLUMNS, key_path)
    return manifest


def read_key(path: str | Path) -> dict[str, dict[str, str]]:
    """``{stimulus: {system, utterance, repeat_of, gold, expected, ...}}`` from a key.csv (``gold`` empty
    for a key written before gold questions existed)."""
    try:
        with open(path, newline="") as f:
            return {row["stimulus"]: {"gold": "", "expected": ""} | row for row in csv.DictReader(f)}
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{path}: no listening-test key; build the test with `snakemake listening_test`"
        ) from err


def gold_stimuli(key: dict[str, dict[str, str]]) -> dict[str, str]:
    """``{stimulus: "low" | "high"}``: the gold questions of a key."""
    return {stimulus: row["gold"] for stimulus, row in key.items() if row["gold"]}
