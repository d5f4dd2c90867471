"""features.py: the npz splits and manifest, both normalisations, pad/crop to 2^14 samples at 16 kHz,
and bad-file handling."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from vocoder_energy.data.audio import BadAudioError
from vocoder_energy.data.corpus import CorpusError, check_layout, make_synthetic_corpus
from vocoder_energy.data.features import FeatureSettings, load_split, prepare_features

CLIPS = 10
SEGMENT = 16384
SETTINGS = FeatureSettings()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_synthetic_corpus(
        tmp_path_factory.mktemp("corpus") / "syn", clips=CLIPS, seed=0, min_seconds=0.5, max_seconds=1.5
    )


@pytest.fixture(scope="module")
def per_spectrogram(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("features_per_spectrogram")
    manifest = prepare_features(corpus, out, SETTINGS)
    return out, manifest


def _copy_corpus(corpus: Path, dest: Path) -> Path:
    shutil.copytree(corpus, dest)
    return dest


def _add_clips(root: Path, entries: list[str], at: int) -> None:
    """Insert ``entries`` (ids) into metadata.csv at position ``at``."""
    lines = (root / "metadata.csv").read_text().splitlines()
    lines[at:at] = [f"{clip_id}|bad clip|bad clip" for clip_id in entries]
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")


def _write_bad(root: Path, kind: str) -> str:
    clip_id = {"garbage": "BAD-GARBAGE", "empty": "BAD-EMPTY", "nan": "BAD-NAN"}[kind]
    path = root / "wavs" / f"{clip_id}.wav"
    if kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    elif kind == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 22050)
    else:
        audio = np.full(4000, 0.1, dtype=np.float32)
        audio[1234] = np.nan
        sf.write(path, audio, 22050, subtype="FLOAT")
    return clip_id


# --------------------------------------------------------------------------- outputs and split
def test_prepare_features_writes_splits_and_manifest(corpus, per_spectrogram):
    out, manifest = per_spectrogram
    assert {p.name for p in out.iterdir()} == {"train.npz", "test.npz", "manifest.json"}
    assert json.loads((out / "manifest.json").read_text()) == manifest
    ids = check_layout(corpus)
    train_audio, train_mel, train_ids = load_split(out / "train.npz")
    test_audio, test_mel, test_ids = load_split(out / "test.npz")
    assert train_audio.shape == (8, SEGMENT) and test_audio.shape == (2, SEGMENT)
    assert train_mel.shape == (8, 80, 64) and test_mel.shape == (2, 80, 64)
    assert train_audio.dtype == np.float32 and train_mel.dtype == np.float32
    # 80/20 in metadata order: the test set is the last 20%.
    assert train_ids == ids[:8] and test_ids == ids[8:]
    assert manifest["clips"] == {"train": 8, "test": 2, "skipped": 0}
    assert manifest["skipped"] == []
    assert manifest["mel_frames"] == 64
    assert manifest["settings"]["normalisation"] == "per_spectrogram"
    assert manifest["settings"]["segment_samples"] == SEGMENT
    assert manifest["normalisation_stats"] is None
    assert manifest["corpus"] == str(corpus)


def test_prepare_features_is_deterministic(corpus, per_spectrogram, tmp_path):
    out, _ = per_spectrogram
    prepare_features(corpus, tmp_path, SETTINGS)
    for name in ("train.npz", "test.npz"):
        first, second = load_split(out / name), load_split(tmp_path / name)
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])
        assert first[2] == second[2]


def test_test_fraction_changes_the_split(corpus, tmp_path):
    manifest = prepare_features(corpus, tmp_path, replace(SETTINGS, test_fraction=0.3, hop_length=512))
    assert manifest["clips"] == {"train": 7, "test": 3, "skipped": 0}
    _, mel, ids = load_split(tmp_path / "test.npz")
    assert ids == check_layout(corpus)[7:]
    assert mel.shape == (3, 80, 32)


def test_per_spectrogram_normalisation_spans_zero_to_one(per_spectrogram):
    out, _ = per_spectrogram
    for name in ("train.npz", "test.npz"):
        _, mel, _ = load_split(out / name)
        np.testing.assert_allclose(mel.min(axis=(1, 2)), 0.0, atol=1e-6)
        np.testing.assert_allclose(mel.max(axis=(1, 2)), 1.0, atol=1e-6)


def test_per_spectrogram_mel_matches_its_audio(per_spectrogram):
    out, _ = per_spectrogram
    audio, mel, _ = load_split(out / "train.npz")
    raw = SETTINGS.mel(torch.from_numpy(audio)).numpy()
    low, high = raw.min(axis=(1, 2), keepdims=True), raw.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(mel, (raw - low) / (high - low), atol=1e-5)


# --------------------------------------------------------------------------- dataset normalisation
def test_dataset_normalisation_uses_training_bounds_only(corpus, tmp_path):
    # Quiet training clips and loud test clips: bounds taken from all clips would keep test mels in [0, 1].
    root = _copy_corpus(corpus, tmp_path / "corpus")
    ids = check_layout(root)
    for clip_id in ids[:8]:
        path = root / "wavs" / f"{clip_id}.wav"
        audio, rate = sf.read(path, dtype="float32")
        sf.write(path, audio * 0.05, rate, subtype="FLOAT")
    out = tmp_path / "features"
    manifest = prepare_features(root, out, replace(SETTINGS, normalisation="dataset"))
    train_audio, train_mel, _ = load_split(out / "train.npz")
    test_audio, test_mel, _ = load_split(out / "test.npz")
    assert float(train_mel.min()) == pytest.approx(0.0, abs=1e-6)
    assert float(train_mel.max()) == pytest.approx(1.0, abs=1e-6)
    assert float(test_mel.max()) > 1.0  # the test split is not forced into the training range

    raw_train = SETTINGS.mel(torch.from_numpy(train_audio)).numpy()
    raw_test = SETTINGS.mel(torch.from_numpy(test_audio)).numpy()
    stats = manifest["normalisation_stats"]
    assert stats == json.loads((out / "manifest.json").read_text())["normalisation_stats"]
    assert stats["min"] == pytest.approx(float(raw_train.min()), abs=1e-6)
    assert stats["max"] == pytest.approx(float(raw_train.max()), rel=1e-5)
    np.testing.assert_allclose(
        test_mel, (raw_test - stats["min"]) / (stats["max"] - stats["min"]), rtol=1e-4, atol=1e-5
    )
    # Dataset bounds, not per-spectrogram ones: individual training mels need not reach 0 and 1.
    assert (train_mel.max(axis=(1, 2)) < 0.999).any()


def test_dataset_all_clips_normalisation_is_the_authors_bounds(corpus, tmp_path):
    """Bounds over every clip (test included, before the split), running min and max starting at 0."""
    root = _copy_corpus(corpus, tmp_path / "corpus")
    for clip_id in check_layout(root)[:8]:  # quiet training clips, loud test clips
        path = root / "wavs" / f"{clip_id}.wav"
        audio, rate = sf.read(path, dtype="float32")
        sf.write(path, audio * 0.05, rate, subtype="FLOAT")
    out = tmp_path / "features"
    manifest = prepare_features(root, out, replace(SETTINGS, normalisation="dataset_all_clips"))
    train_audio, train_mel, _ = load_split(out / "train.npz")
    test_audio, test_mel, _ = load_split(out / "test.npz")
    raw = SETTINGS.mel(torch.from_numpy(np.concatenate([train_audio, test_audio]))).numpy()
    stats = manifest["normalisation_stats"]
    assert stats["min"] == 0.0  # log(1 + S) >= 0, so the minimum starting at 0 stays 0
    assert stats["max"] == pytest.approx(float(raw.max()), rel=1e-5)
    assert stats["max"] > float(raw[:8].max()) * 1.5  # the loud test clips set the maximum
    assert float(test_mel.max()) == pytest.approx(1.0, abs=1e-6)  # the test split lies inside [0, 1]
    assert float(train_mel.max()) < 0.9
    np.testing.assert_allclose(np.concatenate([train_mel, test_mel]), raw / stats["max"], rtol=1e-4, atol=1e-5)


def test_invalid_normalisation_names_the_setting(corpus, tmp_path):
    out = tmp_path / "features"
    with pytest.raises(ValueError, match="features.normalisation"):
        prepare_features(corpus, out, replace(SETTINGS, normalisation="global"))
    assert not out.exists()


# --------------------------------------------------------------------------- pad / crop
def test_clips_are_resampled_then_padded_or_cropped(corpus, per_spectrogram):
    out, _ = per_spectrogram
    by_id = {}
    for name in ("train.npz", "test.npz"):
        audio, _, ids = load_split(out / name)
        by_id.update(zip(ids, audio))
    short = long = 0
    for clip_id, stored in by_id.items():
        original, rate = sf.read(corpus / "wavs" / f"{clip_id}.wav", dtype="float32")
        assert rate == 22050
        expected = soxr.resample(original, rate, 16000, quality="HQ")
        if len(expected) < SEGMENT:
            short += 1
            np.testing.assert_allclose(stored[: len(expected)], expected, atol=1e-6)
            assert not stored[len(expected) :].any()  # zero padding at the end
        else:
            long += 1
            np.testing.assert_allclose(stored, expected[:SEGMENT], atol=1e-6)
    assert short and long  # the corpus exercises both branches


# --------------------------------------------------------------------------- bad files
def test_bad_files_are_skipped_and_listed(corpus, tmp_path):
    root = _copy_corpus(corpus, tmp_path / "corpus")
    good = check_layout(root)
    bad = [_write_bad(root, kind) for kind in ("garbage", "empty", "nan")]
    _add_clips(root, bad, at=2)
    manifest = prepare_features(root, tmp_path / "features", replace(SETTINGS, bad_files="skip"))
    assert manifest["clips"] == {"train": 8, "test": 2, "skipped": 3}
    reasons = {entry["id"]: entry for entry in manifest["skipped"]}
    assert list(reasons) == bad  # in metadata order
    for clip_id, word in zip(bad, ("unreadable", "empty", "non-finite")):
        entry = reasons[clip_id]
        assert entry["file"] == str(root / "wavs" / f"{clip_id}.wav")
        assert word in entry["reason"] and entry["line"] == 3 + bad.index(clip_id)
    _, _, train_ids = load_split(tmp_path / "features" / "train.npz")
    _, _, test_ids = load_split(tmp_path / "features" / "test.npz")
    assert train_ids + test_ids == good
    saved = json.loads((tmp_path / "features" / "manifest.json").read_text())
    assert saved["skipped"] == manifest["skipped"]


@pytest.mark.parametrize("kind", ["garbage", "empty", "nan"])
def test_bad_files_fail_names_the_file(corpus, tmp_path, kind):
    root = _copy_corpus(corpus, tmp_path / "corpus")
    clip_id = _write_bad(root, kind)
    _add_clips(root, [clip_id], at=3)
    out = tmp_path / "features"
    with pytest.raises(BadAudioError, match=f"{clip_id}.wav"):
        prepare_features(root, out, replace(SETTINGS, bad_files="fail"))
    assert not (out / "manifest.json").exists()


def test_no_usable_clips_raises(tmp_path):
    root = tmp_path / "corpus"
    (root / "wavs").mkdir(parents=True)
    clip_id = _write_bad(root, "empty")
    (root / "metadata.csv").write_text(f"{clip_id}|x|x\n")
    with pytest.raises(BadAudioError, match="no usable audio"):
        prepare_features(root, tmp_path / "features", SETTINGS)


def test_a_single_clip_cannot_make_both_splits(corpus, tmp_path):
    root = _copy_corpus(corpus, tmp_path / "corpus")
    first = (root / "metadata.csv").read_text().splitlines()[0]
    (root / "metadata.csv").write_text(first + "\n")
    with pytest.raises(CorpusError, match="training and a test split"):
        prepare_features(root, tmp_path / "features", SETTINGS)
