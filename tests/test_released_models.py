"""Released checkpoints as models of the study, outside Snakemake: the config entry, features through a recipe,
generation at the model's rate, quality at both rates, the summary's and figure's labels."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from vocoder_energy.analysis.plots import RELEASED_COLOUR, label, point_colour
from vocoder_energy.analysis.summary import origin_columns
from vocoder_energy.analysis.tables import table2
from vocoder_energy.core.config_checks import ConfigError, check_config, check_entry
from vocoder_energy.core.model_entries import available_models, checkpoint_jobs, missing_checkpoints, trained_jobs
from vocoder_energy.data.corpus import make_synthetic_corpus
from vocoder_energy.data.features import FeatureSettings, prepare_features
from vocoder_energy.data.recipe_features import prepare_recipe_features, recipe_samples
from vocoder_energy.data.recipes import recipe_for
from vocoder_energy.evaluation.clips import GeneratedClips, load_clips, save_clips
from vocoder_energy.evaluation.quality import evaluate_clips
from vocoder_energy.models.importers import CheckpointImportError
from vocoder_energy.models.released import check_recipe

ENTRY = {"checkpoint": "ckpt/generator_v1", "format": "jik876", "features": "hifigan_22k"}


# ------------------------------------------------------------------------------------------- the entry
def test_trained_sizes_and_checkpoint_entries_are_told_apart():
    models = {"hifigan": {"S": {}, "LJ_V1": ENTRY, "M": None}, "vocos": {"mel24k": {**ENTRY, "format": "vocos"}}}
    assert trained_jobs(models) == [("hifigan", "S"), ("hifigan", "M")]
    assert list(checkpoint_jobs(models)) == [("hifigan", "LJ_V1"), ("vocos", "mel24k")]


@pytest.mark.parametrize(
    "label, entry, message",
    [
        ("V1", {}, "'V1' is not a size we train (S, M, L); a released model needs {checkpoint"),
        ("S", ENTRY, "models.hifigan.S: S is one of the paper's trained sizes; give the released checkpoint its own"),
        ("V1", {"checkpoint": "x"}, "models.hifigan.V1: missing format, features; a released checkpoint entry has"),
        ("V1", {**ENTRY, "steps": 6}, "models.hifigan.V1: unknown key(s) steps"),
        ("V1", {**ENTRY, "format": "jik"}, "models.hifigan.V1.format: unknown checkpoint format 'jik'; known: jik876"),
        ("V1", {**ENTRY, "format": "lmnt"}, "lmnt files hold diffwave generators, not hifigan; put the entry under"),
        ("V1", {**ENTRY, "features": "hifigan"}, "models.hifigan.V1.features: unknown mel recipe 'hifigan'; known:"),
        ("V1", {**ENTRY, "options": [6]}, "models.hifigan.V1.options: import options must be a dict"),
        ("V1", {**ENTRY, "options": {"inference_steps": 6}}, "unknown import option(s) inference_steps for format"),
    ],
)
def test_a_bad_entry_names_its_key_and_what_to_do(label, entry, message):
    with pytest.raises(ValueError) as err:
        check_entry("hifigan", label, entry)
    assert message in str(err.value)


def test_check_config_stops_on_a_bad_entry_and_skips_building_checkpoints(tmp_path):
    import yaml

    config = yaml.safe_load(open("config.yaml"))
    config["features"] |= {"sample_rate": 16000, "segment_samples": 16384, "n_mels": 80, "hop_length": 256}
    config["models"] = {"hifigan": {"S": {}, "LJ_V1": ENTRY}}
    check_config(config, build_models=True)  # no file yet: not an error (a warning when Snakemake starts)
    config["models"]["hifigan"]["LJ_V1"] = {**ENTRY, "format": "vocos"}
    with pytest.raises(ConfigError, match="models.hifigan.LJ_V1.format: vocos files hold vocos generators"):
        check_config(config, build_models=False)


def test_a_missing_checkpoint_file_is_said_with_what_to_do(tmp_path):
    present = tmp_path / "there.pt"
    present.write_bytes(b"x")
    models = {"hifigan": {"A": {**ENTRY, "checkpoint": str(present)}, "B": {**ENTRY, "checkpoint": "nowhere/g"}}}
    (line,) = missing_checkpoints(models)
    assert line.startswith("models.hifigan.B.checkpoint: nowhere/g does not exist")
    assert "hifigan B is left out of this run" in line and "python -m vocoder_energy.models.importers.synthetic" in line
    # Left out until the file is there; a family with nothing left goes too; trained sizes always stay.
    models["melgan"] = {"LJ": {**ENTRY, "checkpoint": "nowhere/m"}, "S": {}}
    models["diffwave"] = {"LJ": {**ENTRY, "checkpoint": "nowhere/d"}}
    assert available_models(models) == {"hifigan": {"A": models["hifigan"]["A"]}, "melgan": {"S": {}}}


def test_wavegrads_published_schedules_are_an_import_option_checked_at_the_start():
    entry = {"checkpoint": "w.pt", "format": "ivanvovk", "features": "wavegrad_22k", "options": {"inference_steps": 12}}
    check_entry("wavegrad", "LJ", entry)
    with pytest.raises(ConfigError, match=r"models.wavegrad.LJ.options: import option inference_steps=8 is not"):
        check_entry("wavegrad", "LJ", entry | {"options": {"inference_steps": 8}})


def test_a_recipe_that_does_not_fit_the_weights_is_refused_with_the_recipes_that_do():
    vocos_like = {"n_mels": 100, "hop_length": 256, "sample_rate": 24000}
    check_recipe("g.bin", vocos_like, "vocos_24k")
    with pytest.raises(CheckpointImportError) as err:
        check_recipe("g.bin", vocos_like, "hifigan_22k")
    message = str(err.value)
    assert message.startswith("g.bin: does not take the features of recipe hifigan_22k")
    assert "n_mels 100 (recipe: 80)" in message and "sample_rate 24000 (recipe: 22050)" in message
    assert "recipes that fit its shapes: bigvgan_24k_100, bigvgan_v2_24k_100, vocos_24k" in message


# ------------------------------------------------------------------------------------- recipe features
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    corpus = make_synthetic_corpus(root / "corpus", clips=6, seed=1, min_seconds=0.6, max_seconds=1.5)
    prepare_features(corpus, root / "hop256", FeatureSettings())
    return corpus, root


@pytest.mark.parametrize("name", ["hifigan_22k", "wavegrad_22k", "vocos_24k"])
def test_recipe_features_take_the_studys_test_utterances_at_the_recipes_rate(study, name):
    corpus, root = study
    recipe = recipe_for(name)
    manifest = prepare_recipe_features(corpus, root / "hop256" / "test.npz", recipe, 1.024, root / name)
    with np.load(root / name / "test.npz") as data, np.load(root / "hop256" / "test.npz") as studied:
        assert list(data["ids"]) == list(studied["ids"])
        audio, mel = data["audio"], data["mel"]
    # 1.024 s in whole hops: 22050 Hz -> 88 x 256, hop 300 -> 75 x 300, 24 kHz -> 96 x 256.
    expected = {"hifigan_22k": 22528, "wavegrad_22k": 22500, "vocos_24k": 24576}[name]
    assert recipe_samples(recipe, 1.024) == expected == audio.shape[1] == manifest["samples"]
    assert mel.shape == (len(audio), recipe.n_mels, recipe.frames(expected))
    # The original's frame rules: T/hop (hifigan padding), T/hop + 1 (centred), T/hop (WaveGrad drops one).
    assert mel.shape[2] == {"hifigan_22k": 88, "wavegrad_22k": 75, "vocos_24k": 97}[name]
    assert np.allclose(mel[0], recipe.mel(torch.from_numpy(audio[:1])).numpy()[0], atol=1e-5)
    assert manifest["front_end"].startswith(f"{name}: {recipe.sample_rate} Hz")


# -------------------------------------------------------------------------------------- clips, quality
def tone(rate, seconds=1.0, freq=220.0, seed=0):
    t = np.arange(int(rate * seconds)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.01, t.shape)
    return (0.5 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def test_clips_keep_their_rate_and_resample_on_request(tmp_path):
    clips = GeneratedClips(tone(22050)[None], tone(22050, seed=1)[None], ["a"], 22050)
    save_clips(clips, tmp_path / "c.npz")
    native = load_clips(tmp_path / "c.npz")
    assert native.sample_rate == 22050 and native.generated.shape == (1, 22050)
    common = load_clips(tmp_path / "c.npz", 16000)
    assert common.sample_rate == 16000 and common.generated.shape == (1, 16000)
    # The tone survives resampling: its spectral peak stays at 220 Hz.
    spectrum = np.abs(np.fft.rfft(common.generated[0]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 220) <= 1
    old = tmp_path / "old.npz"  # files written before the rate was stored are 16 kHz
    np.savez(old, generated=np.zeros((1, 8)), reference=np.zeros((1, 8)), ids=np.array(["a"]))
    assert load_clips(old).sample_rate == 16000


def test_quality_is_scored_at_the_common_rate_and_at_the_models_own():
    reference = tone(22050, seed=1)[None]
    generated = (reference + np.random.default_rng(2).normal(0, 0.05, reference.shape)).astype(np.float32)
    result = evaluate_clips(GeneratedClips(generated, reference, ["a"], 22050), metrics=["stoi", "pesq"])
    assert result["sample_rate"] == 16000 and result["model_sample_rate"] == 22050
    at_model = result["at_model_rate"]
    assert at_model["sample_rate"] == 22050
    assert set(at_model["metrics"]) == {"stoi"}  # PESQ is 16 kHz only
    assert "pesq_wb" in result["metrics"] and np.isfinite(result["metrics"]["pesq_wb"]["mean"])
    # Two different numbers (the 22.05 kHz spectrum has more noisy bins), both positive.
    assert at_model["d_stft"] > 0 and result["d_stft"]["value"] > 0
    assert at_model["d_stft"] != pytest.approx(result["d_stft"]["value"], rel=1e-3)
    same = evaluate_clips(GeneratedClips(reference, reference, ["a"], 22050), metrics=[])
    assert same["d_stft"]["value"] == 0 and same["at_model_rate"]["d_stft"] == 0


def test_a_16_khz_model_has_one_set_of_numbers():
    reference = tone(16000, seed=1)[None]
    generated = (reference * 0.9).astype(np.float32)
    result = evaluate_clips(GeneratedClips(generated, reference, ["a"], 16000), metrics=["stoi", "mcd"])
    assert result["at_model_rate"]["d_stft"] == result["d_stft"]["value"]
    assert result["at_model_rate"]["metrics"]["stoi"] == result["metrics"]["stoi"]


# --------------------------------------------------------------------------------- summary and figure
def test_a_released_rows_origin_replaces_its_training_columns():
    provenance = {"weights": "released", "project": "jik876/hifi-gan", "format": "jik876", "features": "hifigan_22k",
                  "checkpoint": "checkpoints/hifigan/LJ_V1/generator_v1"}  # fmt: skip
    row = origin_columns(provenance)
    assert row["weights"] == "released" and row["features"] == "hifigan_22k"
    assert row["weights_origin"] == "jik876/hifi-gan (jik876): checkpoints/hifigan/LJ_V1/generator_v1"
    assert np.isnan(row["train_steps"]) and row["train_energy_method"] == "unavailable"
    train = {"steps": 5, "train_seconds": 1.0, "batch_size": 2, "device_name": "cpu",
             "energy": {"kwh": 1e-6, "kg_co2eq": 7e-7, "method": "estimated"}}  # fmt: skip
    assert origin_columns(train)["weights"] == "trained" and origin_columns(train)["features"] == "study"


def test_tables_and_figure_say_which_weights_are_released():
    runs = pd.DataFrame(
        {"model": ["hifigan", "hifigan"], "size": ["S", "LJ_V1"], "weights": ["trained", "released"],
         "sample_rate_hz": [16000, 22050], "parameters_millions": [0.9, 13.9], "gflops": [1.0, 40.0],
         "energy": [1.0, 2.0], "energy_method": ["measured"] * 2, "real_time_factor": [0.1, 0.2]}
    )  # fmt: skip
    table = table2(runs)
    assert list(table.columns[:6]) == ["model", "size", "in_paper", "weights", "sample_rate_hz", "parameters_millions"]
    assert table["in_paper"].tolist() == [True, False]  # the paper trained HiFi-GAN, not jik876's V1
    assert np.isnan(table.loc[1, "paper_gflops"]) and table.loc[0, "paper_gflops"] > 0
    assert label("hifigan", "LJ_V1") == "HiFi-GAN LJ_V1 (released)" and label("hifigan", "S") == "HiFi-GAN S"
    assert point_colour("LJ_V1") == RELEASED_COLOUR and point_colour("S") != RELEASED_COLOUR


def test_generation_cuts_a_released_models_extra_frame_and_records_its_rate(tmp_path):
    from vocoder_energy.evaluation.generation import generate_test_audio
    from vocoder_energy.models import build_vocoder

    model = build_vocoder("hifigan", "S", upsample_initial_channel=16, sample_rate=24000, n_mels=100)
    reference = np.zeros((1, 10 * 256), dtype=np.float32)  # a centred recipe: 11 frames for 10 hops
    mel = np.random.default_rng(0).normal(size=(1, 100, 11)).astype(np.float32)
    np.savez(tmp_path / "test.npz", audio=reference, mel=mel, ids=np.array(["a"]))
    generate_test_audio(model, tmp_path / "test.npz", tmp_path / "out.npz")
    clips = load_clips(tmp_path / "out.npz")
    assert clips.generated.shape == (1, 2560) and clips.sample_rate == 24000
    assert json.dumps(clips.ids) == '["a"]'


def test_a_crowded_panel_names_only_its_pareto_efficient_points():
    from vocoder_energy.analysis.objectives import COSTS
    from vocoder_energy.analysis.plots import MAX_LABELS, labelled_rows

    few = pd.DataFrame({"on_front_gflops": [True, False, False]})
    assert len(labelled_rows(few, COSTS["gflops"])) == 3
    many = pd.DataFrame({"on_front_gflops": [i % 5 == 0 for i in range(MAX_LABELS + 4)]})
    assert labelled_rows(many, COSTS["gflops"]).index.tolist() == list(range(0, MAX_LABELS + 4, 5))


def test_markdown_writes_a_sample_rate_as_a_whole_number_beside_a_blank_row():
    from vocoder_energy.analysis.tables import markdown

    text = markdown(pd.DataFrame({"model": ["ground_truth", "hifigan"], "sample_rate_hz": [np.nan, 22050.0],
                                  "d_stft": [0.0, 0.0512345]}))  # fmt: skip
    assert "| hifigan | 22050 | 0.05123 |" in text and "| ground_truth |  | 0 |" in text


def test_the_mos_table_splits_a_released_label_with_underscores_off_its_family():
    from vocoder_energy.listening.mos import mos_table

    ratings = pd.DataFrame(
        {"listener": ["a", "b", "a", "b"], "system": ["hifigan_LJ_V1", "hifigan_LJ_V1", "ground_truth", "ground_truth"],
         "utterance": ["u1", "u1", "u1", "u1"], "score": [4, 5, 5, 5]}
    )  # fmt: skip
    table = mos_table(ratings, resamples=50).set_index("system")
    assert (table.loc["hifigan_LJ_V1", "model"], table.loc["hifigan_LJ_V1", "size"]) == ("hifigan", "LJ_V1")
    assert (table.loc["ground_truth", "model"], table.loc["ground_truth", "size"]) == ("ground_truth", "")
