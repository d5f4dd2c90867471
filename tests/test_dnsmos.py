"""DNSMOS, the predicted MOS: windows, features, scores on real and constructed speech, the ground truth,
and the quality axis it gives the analysis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile
import soxr
from test_quality import speech_like

from vocoder_energy.analysis.runs import choose_quality
from vocoder_energy.analysis.tables import table1
from vocoder_energy.core.config_checks import ConfigError, check_quality_metric
from vocoder_energy.evaluation import dnsmos
from vocoder_energy.evaluation.quality import evaluate_ground_truth, evaluate_quality

SR = 16000
OUTPUTS = ("p808", "sig", "bak", "ovrl")


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> np.ndarray:
    """A sentence spoken by espeak-ng (real, if synthetic, speech: what DNSMOS was trained to judge) at 16 kHz."""
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed (tests/system/packages.txt; `make test` installs it as root)")
    wav = tmp_path_factory.mktemp("speech") / "sentence.wav"
    sentence = "The quick brown fox jumps over the lazy dog, and then it runs away into the forest."
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), sentence], check=True)
    audio, rate = soundfile.read(wav)
    audio = soxr.resample(audio, rate, SR)
    return 0.5 * audio / np.abs(audio).max()


def with_noise(clip: np.ndarray, snr_db: float) -> np.ndarray:
    noise = np.random.default_rng(0).standard_normal(len(clip)) * np.sqrt(np.mean(clip**2))
    return clip + noise * 10 ** (-snr_db / 20)


def hard_clipped(clip: np.ndarray, fraction_of_peak: float) -> np.ndarray:
    limit = fraction_of_peak * np.abs(clip).max()
    return np.clip(clip, -limit, limit) * (np.abs(clip).max() / limit)  # the same peak, flattened tops


def windows(clip: np.ndarray, short_clips: str = "doubled") -> np.ndarray:
    """All scored windows of one clip, (windows, 144160), as score_clips cuts them."""
    clip = np.asarray(clip, dtype=np.float32)
    return np.stack([dnsmos.window(clip, start) for start in dnsmos.window_starts(len(clip), short_clips)])


def test_a_short_clip_is_doubled_until_it_fills_a_window_and_windows_come_one_per_whole_second():
    short = np.arange(16384, dtype=np.float32)
    scored = windows(short)
    assert scored.shape == (7, dnsmos.WINDOW) and dnsmos.WINDOW == 144_160
    doubled = np.tile(short, 16)  # 2^14 -> 2^18 samples (16.4 s): int(16 - 9.01) + 1 = 7 windows
    assert all(np.array_equal(w, doubled[i * SR : i * SR + dnsmos.WINDOW]) for i, w in enumerate(scored))
    assert len(windows(np.zeros(12 * SR))) == 3  # int(12 - 9.01) + 1
    assert len(windows(np.zeros(int(10.5 * SR)))) == 1  # whole seconds: int(10 - 9.01) + 1
    assert dnsmos.window_starts(20 * SR) == [0, SR, 2 * SR, 3 * SR, 4 * SR, 5 * SR, 6 * SR]  # 7-11 skipped, as theirs
    (first,) = windows(short, short_clips="one_window")  # the cheap choice: the first window only
    assert np.array_equal(first, scored[0])
    assert len(windows(np.zeros(12 * SR), short_clips="one_window")) == 3  # long clips unchanged
    with pytest.raises(ValueError, match="short_clips"):
        windows(short, short_clips="tiled")
    with pytest.raises(ValueError, match="empty clip"):
        windows(np.zeros(0))


def assert_equal_to_speechmos(clips):
    """Our batched pass computes what the package's one-window-at-a-time reference computes."""
    from speechmos import dnsmos as reference

    for clip, mine in zip(clips, dnsmos.score_clips(clips, batch=3)):
        theirs = reference.run(clip.astype(np.float32), SR)
        for name in dnsmos.OUTPUTS:
            assert mine[name] == pytest.approx(float(theirs[f"{name}_mos"]), abs=1e-4), (len(clip), name)


def test_scores_equal_the_speechmos_package_s_own_loop():
    speech = speech_like(0)
    # 20 s: their loop skips windows 7-11 (float rounding), so do we
    assert_equal_to_speechmos([speech[: 2**14], np.tile(speech, 20)[: 20 * SR], 0.1 * np.sin(np.arange(3 * SR))])


def test_scores_equal_the_speechmos_package_s_own_loop_on_speech(spoken):
    assert_equal_to_speechmos([spoken[: 2**14], np.tile(spoken, 3)[: int(10.5 * SR)], np.clip(spoken * 4, -1, 1)])


def test_p808_features_are_relative_to_each_window_s_own_maximum():
    window = windows(speech_like(0))[0]
    features = dnsmos.p808_features(np.stack([window, 10 * window]))
    assert features.shape == (2, 900, 120)  # what the P.808 network takes
    assert np.allclose(features[0], features[1], atol=1e-5)  # level does not matter, only the shape
    assert features.max() == pytest.approx(1.0)  # the loudest bin is 0 dB: (0 + 40) / 40
    assert features.min() >= (-80 + 40) / 40 - 1e-6  # floored 80 dB below it


def test_scores_are_mos_values_and_do_not_depend_on_the_batch():
    clips = [speech_like(seed) for seed in range(3)] + [0.1 * np.random.default_rng(1).standard_normal(2 * SR)]
    batched = dnsmos.score_clips(clips, batch=64)
    one_by_one = [dnsmos.score_clips([clip], batch=1)[0] for clip in clips]
    for row, alone in zip(batched, one_by_one):
        assert set(row) == set(OUTPUTS)
        assert all(1.0 <= row[name] <= 5.0 for name in OUTPUTS), row
        assert row == pytest.approx(alone, abs=1e-4)


def test_a_diverged_clip_scores_nan_and_leaves_the_others_alone():
    good = speech_like(0)
    bad = good.copy()
    bad[100] = np.nan
    together = dnsmos.score_clips([good, bad])
    assert all(np.isnan(together[1][name]) for name in OUTPUTS)
    assert together[0] == pytest.approx(dnsmos.score_clips([good])[0])
    with pytest.raises(ValueError, match="16000 Hz"):
        dnsmos.score_clips([good], sample_rate=22050)


@pytest.mark.parametrize("damage", ["strong noise (0 dB SNR)", "hard clipping (tops above 3 % of the peak cut)"])
def test_speech_scores_higher_than_the_same_speech_damaged_on_every_output(spoken, damage):
    damaged = with_noise(spoken, 0.0) if damage.startswith("strong noise") else hard_clipped(spoken, 0.03)
    clean, worse = dnsmos.score_clips([spoken, damaged])
    for name in OUTPUTS:
        assert clean[name] > worse[name], f"{name}: clean {clean[name]:.2f}, {damage} {worse[name]:.2f}"


def test_the_quality_stage_scores_generated_clips_and_the_ground_truth(spoken):
    reference = np.stack([spoken[:SR], spoken[SR : 2 * SR]])
    generated = np.stack([with_noise(clip, 0.0) for clip in reference])
    result = evaluate_quality(reference, generated, ids=["a", "b"], metrics=["stoi", "dnsmos"])
    truth = evaluate_ground_truth(reference, ["a", "b"], metrics=["stoi", "dnsmos"])
    assert set(truth["metrics"]) == {f"dnsmos_{name}" for name in OUTPUTS}  # STOI needs a reference: left out
    for name in OUTPUTS:
        column = f"dnsmos_{name}"
        generated_score, ceiling = result["metrics"][column], truth["metrics"][column]
        assert generated_score["unit"] == "predicted MOS (1-5)" and generated_score["higher_is_better"]
        assert generated_score["n"] == ceiling["n"] == 2
        assert ceiling["mean"] > generated_score["mean"], column
    assert [row["utterance"] for row in truth["utterances"]] == ["a", "b"]


def test_evaluation_dnsmos_settings_reach_the_metric(spoken):
    reference = np.stack([spoken[: 2**14], spoken[2**14 : 2**15]])  # not 1 s: its windows would all be equal
    options = {"dnsmos": {"short_clips": "one_window"}}
    cheap = evaluate_ground_truth(reference, ["a", "b"], metrics=["dnsmos"], options=options)
    direct = dnsmos.score_clips(list(reference), short_clips="one_window")
    authors = dnsmos.score_clips(list(reference))
    for name in OUTPUTS:
        assert cheap["metrics"][f"dnsmos_{name}"]["mean"] == pytest.approx(np.mean([r[name] for r in direct]))
    difference = [abs(d[name] - a[name]) for d, a in zip(direct, authors) for name in OUTPUTS]
    assert 1e-4 < max(difference) < 0.5  # the choice changes the scores, a little


def test_auto_quality_is_human_mos_then_predicted_mos_then_d_stft():
    assert choose_quality("auto", has_mos=True, available={"d_stft", "dnsmos_p808"}).column == "mos"
    assert choose_quality("auto", has_mos=False, available={"d_stft", "dnsmos_p808"}).column == "dnsmos_p808"
    assert choose_quality("auto", has_mos=False, available={"d_stft"}).column == "d_stft"
    own = choose_quality("auto", has_mos=False, available={"d_stft", "local_mos"})  # a predictor of your own
    assert own.column == "local_mos" and own.higher_is_better
    both = {"d_stft", "local_mos", "dnsmos_p808"}  # the predictor the user configured, not the default one
    assert choose_quality("auto", has_mos=False, available=both).column == "local_mos"
    predicted = choose_quality("dnsmos", has_mos=False, available={"dnsmos_p808"})
    assert predicted.column == "dnsmos_p808" and predicted.higher_is_better and "predicted" in predicted.label
    with pytest.raises(ValueError, match="dnsmos_ovrl.*not in evaluation.metrics, or it was left unavailable"):
        choose_quality("dnsmos_ovrl", has_mos=False, available={"d_stft"})


def test_table1_has_a_ground_truth_row_with_its_predicted_mos():
    runs = pd.DataFrame([{"model": "hifigan", "size": "S", "d_stft": 0.5, "dnsmos_p808": 2.9}])
    truth = {"metrics": {"dnsmos_p808": {"mean": 3.6, "ci_low": 3.4, "ci_high": 3.8, "n": 2}}}
    table = table1(runs, None, truth)
    first = table.iloc[0]
    assert (first["model"], first["dnsmos_p808"], first["dnsmos_p808_ci_high"], first["d_stft"]) == (
        "ground_truth",
        3.6,
        3.8,
        0.0,
    )
    assert table.iloc[1]["dnsmos_p808"] == 2.9
    assert len(table1(runs)) == 1  # neither rated nor predicted: no ground truth row


def test_the_networks_take_the_job_s_threads_not_every_core():
    """Snakemake gives a job its threads as OMP_NUM_THREADS, which onnxruntime would otherwise ignore."""
    check = (
        "from vocoder_energy.evaluation import dnsmos; "
        "print([s.get_session_options().intra_op_num_threads for s in dnsmos._sessions()])"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[1, 1]"


def test_a_quality_axis_whose_metric_is_not_computed_is_refused_before_the_run():
    for quality, metric in [("dnsmos", "dnsmos"), ("dnsmos_bak", "dnsmos"), ("stoi", "stoi")]:
        with pytest.raises(ConfigError, match=f"computed by metric {metric}.*add {metric} to evaluation.metrics"):
            check_quality_metric(quality, {"metrics": ["pesq"]})
    for quality in ("auto", "mos", "d_stft", "dnsmos"):
        check_quality_metric(quality, {"metrics": ["dnsmos"]})
