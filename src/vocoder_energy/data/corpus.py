"""Corpora in the LJSpeech layout: the real LJSpeech download and a deterministic synthetic stand-in.

Both produce ``<root>/metadata.csv`` (``id|text|normalised text``) and ``<root>/wavs/<id>.wav``.
Every producer writes into a temporary sibling and renames it at the end, so a failure never leaves
something that looks like a finished corpus.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import requests
import soundfile as sf
from tqdm import tqdm

from vocoder_energy.core.errors import InputError
from vocoder_energy.core.files import fsync_dir

# LJSpeech's address, size and checksum are config defaults (workflow/schemas/config.schema.yaml).
CHUNK_BYTES = 1 << 20


class CorpusError(InputError, RuntimeError):
    """A corpus that failed a check (size, checksum, layout, metadata format)."""


# --------------------------------------------------------------------------- download
def download(url: str, dest: str | Path, size_bytes: int | None = None, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` with a progress bar, resuming a partial ``dest.part`` (HTTP Range).

    The file appears at ``dest`` only after its size and SHA-256 match; on a mismatch the partial
    file is deleted (it cannot be trusted for a resume) and ``CorpusError`` names what differed.
    Not ``core.files.open_durably``: the partial file must outlive a killed job so that the next one
    resumes it, so it is streamed to ``dest.part`` here and renamed (durably) once checked.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if size_bytes is not None and have > size_bytes:
        part.unlink()
        have = 0
    if size_bytes is None or have < size_bytes:
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=60) as response:
            if have and response.status_code != 206:  # server ignored the range: start over
                have = 0
            response.raise_for_status()
            total = size_bytes or (have + int(response.headers.get("Content-Length", 0))) or None
            with (
                open(part, "ab" if have else "wb") as out,
                tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name) as bar,
            ):
                for chunk in response.iter_content(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
    got = part.stat().st_size
    if size_bytes is not None and got != size_bytes:
        raise CorpusError(f"{url}: downloaded {got} bytes, expected {size_bytes}; rerun to resume")
    if sha256 is not None:
        digest = file_sha256(part)
        if digest != sha256.lower():
            part.unlink()
            raise CorpusError(f"{url}: SHA-256 {digest} does not match the expected {sha256}; partial file removed")
    os.replace(part, dest)
    fsync_dir(dest.parent)
    return dest


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- extract
def extract_corpus(archive: str | Path, dest: str | Path, expected_clips: int | None = None) -> Path:
    """Stream-extract an LJSpeech-style archive (one top folder) into ``dest`` and check its layout."""
    dest = Path(dest)
    staging = dest.with_name(dest.name + ".extracting")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        # Streaming mode reads a .tar.bz2 in one pass; seekable mode is very slow on bz2.
        with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tqdm(tar, desc=f"extract {Path(archive).name}", unit=" files"):
                tar.extract(member, staging, filter="data")
        tops = [p for p in staging.iterdir() if p.is_dir()]
        root = tops[0] if len(tops) == 1 and not (staging / "metadata.csv").exists() else staging
        check_layout(root, expected_clips)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(root, dest)  # a whole folder appears at once (core.files publishes single files)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise CorpusError(f"{archive}: cannot extract ({err})") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


METADATA_FORMAT = "LJSpeech's `id|text|normalized text` (3 fields separated by |)"


def read_metadata_lines(root: str | Path) -> list[tuple[int, str]]:
    """(line number, clip id) of every clip in ``metadata.csv``, after checking the LJSpeech format.

    A malformed line (another delimiter, a wrong number of fields, an empty, path-like or duplicate
    id, bytes that are not UTF-8) raises ``CorpusError`` naming the file and the line.
    """
    path = Path(root) / "metadata.csv"
    if not path.is_file():
        raise CorpusError(f"{path}: missing (not an LJSpeech-layout corpus)")
    entries: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise CorpusError(f"{path}, line {number}: not UTF-8 text ({err.reason}); save the file as UTF-8") from None
        if not line.strip():
            continue
        problem = _metadata_problem(line, first_line)
        if problem:
            raise CorpusError(f"{path}, line {number}: {problem}; expected {METADATA_FORMAT} - fix or remove the line")
        clip_id = line.split("|", 1)[0].strip()
        first_line[clip_id] = number
        entries.append((number, clip_id))
    if not entries:
        raise CorpusError(f"{path}: no clips listed; expected one line per clip in {METADATA_FORMAT}")
    return entries


def _metadata_problem(line: str, first_line: dict[str, int]) -> str | None:
    fields = line.split("|")
    if len(fields) == 1:
        found = next((repr(d) for d in (",", "\t", ";") if d in line), None)
        return f"no '|' delimiter (found {found} instead)" if found else "no '|' delimiter"
    if len(fields) != 3:
        return f"{len(fields)} fields"
    clip_id = fields[0].strip()
    if not clip_id:
        return "empty id"
    if "/" in clip_id or "\\" in clip_id or clip_id in (".", ".."):
        return f"id {clip_id!r} is a path, not a file name under wavs/"
    if clip_id in first_line:
        return f"duplicate id {clip_id!r} (first on line {first_line[clip_id]})"
    return None


def check_layout(root: str | Path, expected_clips: int | None = None) -> list[str]:
    """``metadata.csv`` lists clips and each has ``wavs/<id>.wav``; returns the ids."""
    root = Path(root)
    entries = read_metadata_lines(root)
    missing = [(n, i) for n, i in entries if not (root / "wavs" / f"{i}.wav").is_file()]
    if missing:
        examples = ", ".join(f"{i}.wav (line {n})" for n, i in missing[:3])
        raise CorpusError(
            f"{root}: {len(missing)} wav file(s) listed in metadata.csv do not exist under wavs/, e.g. {examples}"
        )
    if expected_clips is not None and len(entries) != expected_clips:
        raise CorpusError(f"{root}: {len(entries)} clips, expected {expected_clips}")
    return [clip_id for _, clip_id in entries]


# --------------------------------------------------------------------------- synthetic corpus
def synthetic_utterance(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """A speech-like signal: a glottal pulse train with a wandering pitch, shaped by moving formants,
    chopped into syllables, with noisy fricative bursts and silence at the edges."""
    from scipy.signal import lfilter

    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    # Pitch: a speaker base (90-220 Hz) with slow intonation and a falling declination.
    base = rng.uniform(90, 220)
    f0 = base * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t + rng.uniform(0, 6))) * (1 - 0.1 * t / seconds)
    phase = np.cumsum(f0 / sample_rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    excitation = lfilter([1.0], [1.0, -0.97], pulses)  # a soft glottal roll-off
    # Syllables of 120-300 ms, each with its own vowel (formant set) and voiced/unvoiced choice.
    out = np.zeros(n)
    edge = n // 4  # edge silence may not swallow a short clip whole (it would come out silent)
    start = min(int(rng.uniform(0.05, 0.15) * sample_rate), edge)
    end = n - min(int(rng.uniform(0.05, 0.15) * sample_rate), edge)
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]
    while start < end:
        length = min(int(rng.uniform(0.12, 0.3) * sample_rate), end - start)
        segment = slice(start, start + length)
        voiced = rng.random() > 0.2
        source = excitation[segment] if voiced else rng.normal(0, 0.3, length)
        y = np.zeros(length)
        for formant, bandwidth in zip(vowels[rng.integers(len(vowels))], (80, 100, 120)):
            r = np.exp(-np.pi * bandwidth / sample_rate)
            theta = 2 * np.pi * formant * rng.uniform(0.9, 1.1) / sample_rate
            y += lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], source)
        out[segment] = y * np.hanning(length)
        start += length + int(rng.uniform(0.0, 0.08) * sample_rate)
    peak = np.max(np.abs(out)) or 1.0
    return (out / peak * rng.uniform(0.3, 0.9)).astype(np.float32)


def make_synthetic_corpus(
    dest: str | Path,
    clips: int = 48,
    seed: int = 0,
    sample_rate: int = 22050,
    min_seconds: float = 1.0,
    max_seconds: float = 10.0,
) -> Path:
    """A deterministic corpus of ``clips`` speech-like wavs in the LJSpeech layout."""
    dest = Path(dest)
    staging = dest.with_name(dest.name + ".writing")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "wavs").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    lines = []
    for index in tqdm(range(clips), desc="synthetic corpus", unit=" clips"):
        clip_id = f"SYN{index // 1000 + 1:03d}-{index % 1000 + 1:04d}"
        seconds = rng.uniform(min_seconds, max_seconds)
        audio = synthetic_utterance(rng, seconds, sample_rate)
        sf.write(staging / "wavs" / f"{clip_id}.wav", audio, sample_rate, subtype="PCM_16")
        lines.append(f"{clip_id}|synthetic utterance {index + 1}|synthetic utterance {index + 1}")
    (staging / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    check_layout(staging, expected_clips=clips)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(staging, dest)  # a whole folder appears at once (core.files publishes single files)
    return dest
