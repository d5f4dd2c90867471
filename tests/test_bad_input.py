"""Bad audio and bad metadata: one line naming the file (and metadata line), what is wrong, what to do."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocoder_energy.core.errors import InputError
from vocoder_energy.core.logs import job_log
from vocoder_energy.data.audio import BadAudioError, load_audio
from vocoder_energy.data.corpus import CorpusError, make_synthetic_corpus, read_metadata_lines
from vocoder_energy.data.features import FeatureSettings, clip_problem, load_split, prepare_features

SETTINGS = FeatureSettings()
RATE = 22050  # the synthetic corpus's rate: clips are resampled to 16 kHz


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_synthetic_corpus(
        tmp_path_factory.mktemp("corpus") / "syn", clips=6, seed=0, min_seconds=0.5, max_seconds=1.0
    )


@pytest.fixture
def root(corpus, tmp_path) -> Path:
    return Path(shutil.copytree(corpus, tmp_path / "corpus"))


def _append(root: Path, clip_id: str, audio: np.ndarray | None) -> int:
    """A clip (its wav unless ``audio`` is None) listed at the end of metadata.csv; returns its line number."""
    if audio is not None:
        sf.write(root / "wavs" / f"{clip_id}.wav", audio.astype(np.float32), RATE, subtype="FLOAT")
    metadata = root / "metadata.csv"
    lines = metadata.read_text().splitlines() + [f"{clip_id}|text|text"]
    metadata.write_text("\n".join(lines) + "\n")
    return len(lines)


def _speech(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.3 * np.sin(2 * np.pi * 220 * t)


# --------------------------------------------------------------------------- metadata.csv
@pytest.mark.parametrize(
    "line, problem",
    [
        ("CLIP-1,some text,some text", r"no '\|' delimiter \(found ',' instead\)"),
        ("CLIP-1\tsome text\tsome text", r"no '\|' delimiter \(found '\\t' instead\)"),
        ("CLIP-1|only one text", "2 fields"),
        ("CLIP-1|a|b|c", "4 fields"),
        ("  |some text|some text", "empty id"),
        ("../CLIP-1|a|a", r"id '\.\./CLIP-1' is a path, not a file name under wavs/"),
    ],
)
def test_a_malformed_metadata_line_is_named_with_its_file_and_line(root, line, problem):
    metadata = root / "metadata.csv"
    metadata.write_text(metadata.read_text() + "\n" + line + "\n")  # a blank line still counts
    with pytest.raises(CorpusError, match=rf"metadata\.csv, line 8: {problem}; expected LJSpeech's") as err:
        read_metadata_lines(root)
    assert str(metadata) in str(err.value) and "id|text|normalized text" in str(err.value)


def test_a_duplicate_id_names_both_lines(root):
    first = (root / "metadata.csv").read_text().splitlines()[1].split("|")[0]
    _append(root, first, None)
    with pytest.raises(CorpusError, match=rf"line 7: duplicate id '{first}' \(first on line 2\)"):
        read_metadata_lines(root)


def test_metadata_that_is_not_utf8_names_the_line(root):
    metadata = root / "metadata.csv"
    metadata.write_bytes(metadata.read_bytes() + b"CLIP-9|caf\xe9|caf\xe9\n")
    with pytest.raises(CorpusError, match="line 7: not UTF-8 text"):
        read_metadata_lines(root)


def test_the_synthetic_corpus_writes_valid_ljspeech_metadata(corpus):
    entries = read_metadata_lines(corpus)
    assert [line for line, _ in entries] == list(range(1, 7))
    for text in (corpus / "metadata.csv").read_text().splitlines():
        assert len(text.split("|")) == 3


# --------------------------------------------------------------------------- bad audio files
def test_a_missing_wav_does_not_exist_rather_than_a_system_error(tmp_path):
    with pytest.raises(BadAudioError, match=r"missing\.wav: does not exist$") as err:
        load_audio(tmp_path / "missing.wav")
    assert err.value.reason == "does not exist" and isinstance(err.value, InputError)


def test_silent_and_too_short_clips_are_bad_but_a_short_clip_is_padded():
    assert clip_problem(np.zeros(20000, np.float32), SETTINGS).startswith("silent (")
    assert clip_problem(np.full(255, 0.5, np.float32), SETTINGS).startswith("shorter than 256 samples (255 at 16000 Hz")
    assert clip_problem(np.full(256, 0.5, np.float32), SETTINGS) is None  # one hop is enough
    # The thresholds come from the config.
    quiet = np.full(20000, 1e-4, np.float32)
    assert clip_problem(quiet, SETTINGS) is None
    assert clip_problem(quiet, replace(SETTINGS, silence_threshold=1e-3)).startswith("silent")
    assert clip_problem(np.full(1000, 0.5, np.float32), replace(SETTINGS, min_clip_samples=2000)).startswith(
        "shorter than 2000 samples"
    )
    # Only the samples used count: speech after the first segment does not make a clip usable.
    late = np.concatenate([np.zeros(SETTINGS.segment_samples, np.float32), np.full(100, 0.5, np.float32)])
    assert clip_problem(late, SETTINGS).startswith("silent")


def test_skip_lists_each_bad_file_with_its_line_and_reason_and_counts_them(root, tmp_path, capsys):
    lines = {
        "SILENT": _append(root, "SILENT", np.zeros(RATE)),
        "TINY": _append(root, "TINY", _speech(0.005)),  # 110 samples at 22.05 kHz -> 80 at 16 kHz
        "GONE": _append(root, "GONE", None),
        "HUSH": _append(root, "HUSH", np.zeros(RATE // 2)),
    }
    short_ok = _append(root, "SHORT-OK", _speech(0.1))  # under the 2^14 crop but long enough: padded
    out = tmp_path / "features"
    manifest = prepare_features(root, out, SETTINGS)

    reasons = {entry["id"]: entry for entry in manifest["skipped"]}
    assert list(reasons) == list(lines)
    for clip_id, line in lines.items():
        assert reasons[clip_id]["line"] == line and reasons[clip_id]["file"] == str(root / "wavs" / f"{clip_id}.wav")
    assert reasons["SILENT"]["reason"].startswith("silent")
    assert reasons["TINY"]["reason"].startswith("shorter than 256 samples")
    assert reasons["GONE"]["reason"] == "does not exist"
    assert manifest["skipped_by_reason"] == {"silent": 2, "shorter than 256 samples": 1, "does not exist": 1}
    assert manifest["clips"]["skipped"] == 4 and json.loads((out / "manifest.json").read_text()) == manifest

    printed = capsys.readouterr()
    assert "skipped 4 of 11 clips (bad_files: skip): 2 silent, 1 shorter than 256 samples, 1 does not exist" in (
        printed.out
    )
    assert f"GONE.wav (line {lines['GONE']} of {root / 'metadata.csv'}): does not exist" in printed.out + printed.err
    audio, _, ids = load_split(out / "test.npz")
    assert "SHORT-OK" in ids and short_ok == 11
    padded = audio[ids.index("SHORT-OK")]
    assert np.abs(padded[:1000]).max() > 0.1 and not padded[2000:].any()


@pytest.mark.parametrize(
    "clip_id, audio, reason",
    [
        ("SILENT", np.zeros(RATE), "silent"),
        ("TINY", _speech(0.005), "shorter than 256 samples"),
        ("GONE", None, "does not exist"),
    ],
)
def test_fail_stops_at_the_first_bad_file_with_file_line_reason_and_fix(root, tmp_path, clip_id, audio, reason):
    line = _append(root, clip_id, audio)
    out = tmp_path / "features"
    with pytest.raises(BadAudioError) as err:
        prepare_features(root, out, replace(SETTINGS, bad_files="fail"))
    message = str(err.value)
    assert message.startswith(f"{root / 'wavs' / clip_id}.wav: {reason}")
    assert f", listed on line {line} of {root / 'metadata.csv'}; " in message
    assert "bad_files: skip" in message and "\n" not in message
    assert not out.exists()  # nothing half-written


# --------------------------------------------------------------------------- how a job reports them
def test_job_log_reports_bad_input_in_one_line_and_exits_1(tmp_path, capsys):
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as exit_info, job_log(log):
        print("working")
        raise BadAudioError("corpus/wavs/A.wav", "silent (peak 0); set features: {bad_files: skip}")
    assert exit_info.value.code == 1
    line = "error: corpus/wavs/A.wav: silent (peak 0); set features: {bad_files: skip}\n"
    assert log.read_text() == "working\n" + line
    assert capsys.readouterr().err == line


SCRIPT = """
import sys
from vocoder_energy.core.logs import job_log
with job_log(sys.argv[1]):
    print("working")
    raise RuntimeError("a bug")
"""


def test_an_unexpected_error_prints_its_traceback_once_to_the_console_and_once_to_the_log(tmp_path):
    log = tmp_path / "job.log"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("Traceback") == 1 and "RuntimeError: a bug" in result.stderr
    assert log.read_text().count("Traceback") == 1 and "RuntimeError: a bug" in log.read_text()
