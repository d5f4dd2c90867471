"""Durable files and the generated-clips file: one writer and one reader each, whole or absent."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vocoder_energy.core.files import open_durably, write_json, write_text
from vocoder_energy.evaluation.clips import GeneratedClips, load_clips, save_clips


def test_write_json_is_indented_with_a_final_newline(tmp_path):
    path = tmp_path / "result.json"
    write_json({"value": 1.5, "unit": "J", "method": "measured", "missing": None}, path)
    text = path.read_text()
    assert text == json.dumps({"value": 1.5, "unit": "J", "method": "measured", "missing": None}, indent=2) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no tmp file left beside it


def test_a_failed_write_leaves_the_old_file_and_no_tmp_file(tmp_path):
    path = tmp_path / "table.csv"
    write_text("old\n", path)
    with pytest.raises(RuntimeError), open_durably(path) as handle:
        handle.write(b"half a ne")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_generated_clips_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    clips = GeneratedClips(
        rng.standard_normal((3, 64)).astype(np.float32),
        rng.standard_normal((3, 64)).astype(np.float32),
        ["a", "b", "c"],
    )
    path = tmp_path / "melgan_S.npz"
    save_clips(clips, path)
    loaded = load_clips(path)
    np.testing.assert_array_equal(loaded.generated, clips.generated)
    np.testing.assert_array_equal(loaded.reference, clips.reference)
    assert loaded.ids == ["a", "b", "c"] and all(type(i) is str for i in loaded.ids)
    assert loaded.sample_rate == 16000  # the default; a released model's own rate is kept (test_released_models)
    with np.load(path) as data:  # the file format the workflow's outputs keep
        assert sorted(data.files) == ["generated", "ids", "reference", "sample_rate"]


def test_a_file_that_is_not_generated_clips_is_named(tmp_path):
    path = tmp_path / "test.npz"
    np.savez(path, audio=np.zeros((2, 8)), mel=np.zeros((2, 4, 1)), ids=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"test\.npz: not a generated-audio file"):
        load_clips(path)
    np.savez(path, generated=np.zeros((2, 8)), reference=np.zeros((3, 8)), ids=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"test\.npz: generated, reference and ids differ in length"):
        load_clips(path)
