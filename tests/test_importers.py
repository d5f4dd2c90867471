"""Importers of released checkpoints: files written here in each original's exact container, with the fact
sheet's keys and shapes (released-checkpoints.md; the row builders of ``importers.synthetic`` at small widths
where the format allows them, seeded values), imported, loaded strictly into our model and run; then damaged
files refused with the right error. The published sizes: test_released_catalogue.py."""

import os

import pytest
import torch
from torch import nn

from vocoder_energy.core.files import UnsafeFileError
from vocoder_energy.models.importers import (
    FORMATS,
    CheckpointImportError,
    UnrepresentableError,
    import_checkpoint,
    load_imported,
)
from vocoder_energy.models.importers.safe_pickle import UnsafePickleError
from vocoder_energy.models.importers.synthetic import (
    bigvgan_rows,
    diffwave_params,
    diffwave_rows,
    glow_module,
    hifigan_rows,
    melgan_rows,
    tensors,
    vocos_rows,
    waveflow_rows,
)

# The WaveGlow files are written here as the original did (old weight norm, pickled modules whose source
# torch cannot find): torch's warnings about writing them are expected.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Couldn't retrieve source code for container:UserWarning"),
]


# format -> (state dict, container around it); small widths where the format allows them.
def case(name):
    if name == "jik876_v1":
        return "jik876", tensors(hifigan_rows(16, [16, 16, 4, 4], "1", [3, 7, 11], 3)), lambda sd: {"generator": sd}
    if name == "jik876_v3":
        return "jik876", tensors(hifigan_rows(16, [16, 16, 8], "2", [3, 5, 7], 2)), lambda sd: {"generator": sd}
    if name == "descript":
        return "descript", tensors(melgan_rows(4)), lambda sd: sd
    if name == "lmnt":
        params = diffwave_params(8, 4)
        container = {"step": 1000578, "optimizer": {"state": {}, "param_groups": []}, "params": params, "scaler": {}}
        return "lmnt", tensors(diffwave_rows(8, 4)), lambda sd: {**container, "model": sd}
    if name == "l0sg":
        extra = {"iteration": 7, "optimizer": {"state": {}, "param_groups": []}, "scheduler": {}, "learning_rate": 2e-4}
        return "l0sg", tensors(waveflow_rows(4)), lambda sd: {"model": sd, **extra}
    if name == "vocos":
        return "vocos", tensors(vocos_rows(16, 48, 2)), lambda sd: sd
    if name == "bigvgan_v1_base":
        return "bigvgan", tensors(bigvgan_rows(32, [16, 16, 4, 4], 80, True)), lambda sd: {"generator": sd}
    if name == "bigvgan_v2":
        return "bigvgan", tensors(bigvgan_rows(64, [8, 8, 4, 4, 4, 4], 100, False)), lambda sd: {"generator": sd}
    raise KeyError(name)


CASES = ["jik876_v1", "jik876_v3", "descript", "lmnt", "l0sg", "vocos", "bigvgan_v1_base", "bigvgan_v2"]
EXPECTED = {  # case -> (family, hyperparameters that must have been inferred)
    "jik876_v1": ("hifigan", dict(upsample_initial_channel=16, resblock="1", upsample_rates=[8, 8, 2, 2])),
    "jik876_v3": (
        "hifigan",
        dict(resblock="2", upsample_rates=[8, 8, 4], resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]]),
    ),
    "descript": ("melgan", dict(ngf=4, n_residual_layers=3, ratios=[8, 8, 2, 2], sample_rate=22050)),
    "lmnt": (
        "diffwave",
        dict(residual_channels=8, residual_layers=4, dilation_cycle_length=10, upsample_strides=[16, 16]),
    ),
    "l0sg": ("waveflow", dict(residual_channels=4, n_flows=8, n_layers=8, height=16)),
    "vocos": (
        "vocos",
        dict(dim=16, intermediate_dim=48, num_layers=2, n_mels=100, padding="center", sample_rate=24000),
    ),
    "bigvgan_v1_base": ("bigvgan", dict(upsample_rates=[8, 8, 2, 2], use_bias_at_final=True, use_tanh_at_final=True)),
    "bigvgan_v2": ("bigvgan", dict(upsample_rates=[4, 4, 2, 2, 2, 2], use_bias_at_final=False, sample_rate=24000)),
}


def write(tmp_path, obj, name="ckpt.pt", **kwargs):
    path = tmp_path / name
    torch.save(obj, path, **kwargs)
    return path


def run_generate(imported, frames=4):
    model = load_imported(imported)
    mel = torch.randn(1, model.n_mels, frames, generator=torch.Generator().manual_seed(1)) * 0.5
    audio = model.generate(mel, seed=0)
    # Released Vocos, as the original: its front end's F frames (clip / hop + 1) give (F - 1) x hop samples.
    extra = 1 if imported.hyperparameters.get("repeat_last_frame") is False else 0
    assert audio.shape == (1, (frames - extra) * model.hop_length)
    assert torch.isfinite(audio).all()
    return model, audio


@pytest.mark.parametrize("name", CASES)
def test_a_released_file_imports_loads_strictly_and_generates(tmp_path, name):
    fmt, sd, wrap = case(name)
    imported = import_checkpoint(write(tmp_path, wrap(sd)), fmt)
    family, inferred = EXPECTED[name]
    assert imported.family == family and imported.source["format"] == fmt
    assert inferred.items() <= imported.hyperparameters.items()
    run_generate(imported)
    # every weight arrives unchanged (weight norm: g -> original0, v -> original1)
    values = {tuple(t.flatten()[:4].tolist()) for t in imported.state_dict.values() if t.numel() >= 4}
    for key, t in sd.items():
        if t.numel() >= 4 and key not in imported.dropped and "filter" not in key and "window" not in key:
            assert tuple(t.flatten()[:4].tolist()) in values, key


def test_weight_norm_maps_to_the_parametrization(tmp_path):
    fmt, sd, wrap = case("jik876_v3")
    imported = import_checkpoint(write(tmp_path, wrap(sd)), fmt)
    assert torch.equal(imported.state_dict["conv_pre.parametrizations.weight.original0"], sd["conv_pre.weight_g"])
    assert torch.equal(imported.state_dict["ups.1.parametrizations.weight.original1"], sd["ups.1.weight_v"])
    model = load_imported(imported)  # weight norm folded: weight = g v / |v|
    v, g = sd["conv_post.weight_v"], sd["conv_post.weight_g"]
    assert torch.allclose(model.generator.conv_post.weight, g * v / v.norm(dim=(1, 2), keepdim=True), atol=1e-6)


def test_a_weight_norm_free_file_gives_the_same_model(tmp_path):
    fmt, sd, wrap = case("bigvgan_v1_base")
    reference = load_imported(import_checkpoint(write(tmp_path, wrap(sd)), fmt))
    folded = {k: v for k, v in reference.generator.state_dict().items()}
    imported = import_checkpoint(write(tmp_path, wrap(folded), "removed.pt"), fmt)
    assert any("weight norm had been removed" in note for note in imported.notes)
    mel = torch.randn(1, 80, 2, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(load_imported(imported).generate(mel), reference.generate(mel), atol=1e-5)


def test_dropped_entries_are_named_with_a_reason(tmp_path):
    fmt, sd, wrap = case("lmnt")
    imported = import_checkpoint(write(tmp_path, wrap(sd)), fmt)
    assert set(imported.dropped) == {"['step']", "['optimizer']", "['params']", "['scaler']"}
    fmt, sd, wrap = case("vocos")
    imported = import_checkpoint(write(tmp_path, wrap(sd)), fmt)
    assert set(imported.dropped) == {
        "feature_extractor.mel_spec.spectrogram.window",
        "feature_extractor.mel_spec.mel_scale.fb",
    }
    assert all(imported.dropped.values())


def test_l0sg_data_parallel_prefix_is_stripped(tmp_path):
    fmt, sd, wrap = case("l0sg")
    imported = import_checkpoint(write(tmp_path, wrap({f"module.{k}": v for k, v in sd.items()})), fmt)
    assert imported.family == "waveflow"


# --------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("name", CASES)
def test_damaged_files_are_refused_naming_the_file_and_keys(tmp_path, name):
    fmt, sd, wrap = case(name)
    keys = list(sd)
    victim = keys[len(keys) // 2]

    missing = {k: v for k, v in sd.items() if k != victim}
    with pytest.raises(CheckpointImportError, match=rf"missing.pt.*missing keys {victim}"):
        import_checkpoint(write(tmp_path, wrap(missing), "missing.pt"), fmt)

    extra = {**sd, "stray.weight": torch.zeros(3)}
    with pytest.raises(CheckpointImportError, match=r"extra.pt.*unexpected keys stray\.weight"):
        import_checkpoint(write(tmp_path, wrap(extra), "extra.pt"), fmt)

    wrong = {**sd, victim: torch.zeros(*sd[victim].shape[:-1], sd[victim].shape[-1] + 1)}
    with pytest.raises(CheckpointImportError, match=rf"wrong.pt.*(shapes do not match.*{victim}|{victim})"):
        import_checkpoint(write(tmp_path, wrap(wrong), "wrong.pt"), fmt)


@pytest.mark.parametrize(
    ("name", "given", "hint"),
    [("jik876_v1", "lmnt", "jik876"), ("lmnt", "jik876", "lmnt"), ("bigvgan_v1_base", "jik876", "bigvgan"),
     ("vocos", "descript", "vocos"), ("descript", "bigvgan", "descript"), ("l0sg", "nvidia_waveglow", "l0sg")],
)  # fmt: skip
def test_a_file_of_another_family_is_refused_with_a_hint(tmp_path, name, given, hint):
    _, sd, wrap = case(name)
    with pytest.raises(CheckpointImportError, match=rf"ckpt.pt: .*looks like a {hint}"):
        import_checkpoint(write(tmp_path, wrap(sd)), given)


def test_unknown_format_lists_the_known_ones(tmp_path):
    with pytest.raises(CheckpointImportError, match="unknown checkpoint format 'hifigan'; known: jik876, descript"):
        import_checkpoint(tmp_path / "x.pt", "hifigan")
    assert set(FORMATS) == {"jik876", "descript", "nvidia_waveglow", "lmnt", "ivanvovk", "l0sg", "vocos", "bigvgan"}


def test_discriminator_files_are_refused(tmp_path):
    do = {"mpd": {}, "msd": {}, "optim_g": {}, "optim_d": {}, "steps": 1, "epoch": 1}
    with pytest.raises(CheckpointImportError, match="discriminator/optimizer file"):
        import_checkpoint(write(tmp_path, do), "jik876")


def test_diffwave_params_must_agree_with_the_weights(tmp_path):
    fmt, sd, wrap = case("lmnt")
    obj = wrap(sd)
    obj["params"]["residual_channels"] = 64
    with pytest.raises(CheckpointImportError, match=r"params\['residual_channels'\] = 64 but the weights have 8"):
        import_checkpoint(write(tmp_path, obj), fmt)


# --------------------------------------------------------------------------- not representable


def test_vocos_encodec_is_not_representable(tmp_path):
    sd = {"feature_extractor.codebook_weights": torch.zeros(16, 8), "backbone.embed.weight": torch.zeros(4, 8, 7),
          "backbone.norm.scale.weight": torch.zeros(4, 4)}  # fmt: skip
    with pytest.raises(UnrepresentableError, match="AdaLayerNorm"):
        import_checkpoint(write(tmp_path, sd), "vocos")


# --------------------------------------------------------------------------- WaveGlow's pickled module


@pytest.fixture
def glow():
    """A module ``glow`` whose classes have the names of NVIDIA's, so the pickle refers to glow.WaveGlow etc."""
    with glow_module() as module:
        yield module


def waveglow_file(tmp_path, glow, name="waveglow.pt", **save_kwargs):
    torch.manual_seed(0)
    with torch.no_grad():
        model = glow.WaveGlow(n_channels=8, n_layers=3)
        for p in model.parameters():
            p.mul_(0.1)
    optimizer = torch.optim.Adam(model.parameters())
    container = {"model": model, "iteration": 580000, "optimizer": optimizer.state_dict(), "learning_rate": 1e-4}
    return write(tmp_path, container, name, **save_kwargs), model


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_waveglow_pickled_module_is_read_without_running_it(tmp_path, glow, legacy):
    path, original = waveglow_file(tmp_path, glow, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeFileError):  # the plain reader refuses it
        from vocoder_energy.core.files import load_file

        load_file(path)
    imported = import_checkpoint(path, "nvidia_waveglow")
    assert imported.hyperparameters["n_channels"] == 8 and imported.hyperparameters["n_layers"] == 3
    assert imported.hyperparameters["n_group"] == 8 and imported.hyperparameters["n_early_every"] == 4
    assert set(imported.dropped) == {"['iteration']", "['optimizer']", "['learning_rate']"}
    theirs = original.state_dict()
    assert torch.equal(
        imported.state_dict["WN.3.start.parametrizations.weight.original0"], theirs["WN.3.start.weight_g"]
    )
    assert torch.equal(imported.state_dict["convinv.11.weight"], theirs["convinv.11.conv.weight"][..., 0])
    run_generate(imported, frames=2)


def test_waveglow_state_dict_form_is_read_with_weights_only(tmp_path, glow):
    _, original = waveglow_file(tmp_path, glow)
    path = write(tmp_path, {"model": original.state_dict(), "iteration": 1}, "resaved.pt")
    assert import_checkpoint(path, "nvidia_waveglow").family == "waveglow"


def test_waveglow_damaged_module_is_refused(tmp_path, glow):
    _, original = waveglow_file(tmp_path, glow)
    del original.WN[5].cond_layer
    path = write(tmp_path, {"model": original}, "damaged.pt")
    with pytest.raises(CheckpointImportError, match=r"damaged.pt.*missing keys WN\.5\.cond_layer\.bias"):
        import_checkpoint(path, "nvidia_waveglow")


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_with_a_forbidden_class_is_refused_and_not_run(tmp_path, glow, legacy):
    marker = tmp_path / "executed"
    path = write(tmp_path, {"model": Exploit(marker), "iteration": 1}, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(
        UnsafePickleError, match=r"ckpt.pt: refused to read - the pickle references (posix|os|nt)\.system"
    ):
        import_checkpoint(path, "nvidia_waveglow")
    assert not marker.exists()


def test_a_module_of_an_unlisted_class_is_refused(tmp_path, glow):
    path, _ = waveglow_file(tmp_path, glow)
    model = nn.Sequential(nn.Linear(2, 2))
    path = write(tmp_path, {"model": model}, "other.pt")
    with pytest.raises(UnsafePickleError, match=r"torch.nn.modules.(container.Sequential|linear.Linear)"):
        import_checkpoint(path, "nvidia_waveglow")
