"""Importers of released checkpoints: files written here in each original's exact container, with the fact
sheet's keys and shapes (released-checkpoints.md; small widths where the format allows them, seeded values),
imported, loaded strictly into our model and run; then damaged files refused with the right error."""

import os
import sys
import types

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

# The WaveGlow files are written here as the original did (old weight norm, pickled modules whose source
# torch cannot find): torch's warnings about writing them are expected.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Couldn't retrieve source code for container:UserWarning"),
]

# --------------------------------------------------------------------------- key tables (fact sheet)


def wn(prefix, v_shape, transposed=False, bias=True):
    out = v_shape[1] if transposed else v_shape[0]
    g = (v_shape[0],) + (1,) * (len(v_shape) - 1)
    return ([(f"{prefix}.bias", (out,))] if bias else []) + [(f"{prefix}.weight_g", g), (f"{prefix}.weight_v", v_shape)]


def tensors(rows, seed=0):
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in rows:
        t = torch.randn(shape, generator=gen) * 0.05
        if key.endswith("weight_g"):
            t = t.abs() + 0.05
        sd[key] = t
    return sd


def hifigan_rows(channels, kernels, resblock, resblock_kernels, n_convs):
    c = [channels // 2**i for i in range(len(kernels) + 1)]
    rows = wn("conv_pre", (c[0], 80, 7))
    for i, k in enumerate(kernels):
        rows += wn(f"ups.{i}", (c[i], c[i + 1], k), transposed=True)
    for j in range(3 * len(kernels)):
        w, kr = c[j // 3 + 1], resblock_kernels[j % 3]
        for group in ("convs1", "convs2") if resblock == "1" else ("convs",):
            for n in range(n_convs):
                rows += wn(f"resblocks.{j}.{group}.{n}", (w, w, kr))
    return rows + wn("conv_post", (1, c[-1], 7))


def melgan_rows(ngf):
    ci, co, r = [16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf], [8 * ngf, 4 * ngf, 2 * ngf, ngf], [8, 8, 2, 2]
    rows = wn("model.1", (ci[0], 80, 7))
    for s in range(4):
        rows += wn(f"model.{3 + 5 * s}", (ci[s], co[s], 2 * r[s]), transposed=True)
        for b in range(3):
            rows += wn(f"model.{4 + 5 * s + b}.block.2", (co[s], co[s], 3))
            rows += wn(f"model.{4 + 5 * s + b}.block.4", (co[s], co[s], 1))
            rows += wn(f"model.{4 + 5 * s + b}.shortcut", (co[s], co[s], 1))
    return rows + wn("model.24", (1, ngf, 7))


def diffwave_rows(ch, layers):
    rows = [("input_projection.weight", (ch, 1, 1)), ("input_projection.bias", (ch,))]
    rows += [("diffusion_embedding.projection1.weight", (512, 128)), ("diffusion_embedding.projection1.bias", (512,))]
    rows += [("diffusion_embedding.projection2.weight", (512, 512)), ("diffusion_embedding.projection2.bias", (512,))]
    for i in (1, 2):
        rows += [
            (f"spectrogram_upsampler.conv{i}.weight", (1, 1, 3, 32)),
            (f"spectrogram_upsampler.conv{i}.bias", (1,)),
        ]
    for i in range(layers):
        p = f"residual_layers.{i}"
        rows += [(f"{p}.dilated_conv.weight", (2 * ch, ch, 3)), (f"{p}.dilated_conv.bias", (2 * ch,))]
        rows += [(f"{p}.diffusion_projection.weight", (ch, 512)), (f"{p}.diffusion_projection.bias", (ch,))]
        rows += [
            (f"{p}.conditioner_projection.weight", (2 * ch, 80, 1)),
            (f"{p}.conditioner_projection.bias", (2 * ch,)),
        ]
        rows += [(f"{p}.output_projection.weight", (2 * ch, ch, 1)), (f"{p}.output_projection.bias", (2 * ch,))]
    rows += [("skip_projection.weight", (ch, ch, 1)), ("skip_projection.bias", (ch,))]
    return rows + [("output_projection.weight", (1, ch, 1)), ("output_projection.bias", (1,))]


def wavegrad_rows(schedule_steps=50):
    names = ("betas alphas alphas_cumprod alphas_cumprod_prev sqrt_alphas_cumprod sqrt_recip_alphas_cumprod "
             "sqrt_alphas_cumprod_m1 posterior_log_variance_clipped posterior_mean_coef1 "
             "posterior_mean_coef2").split()  # fmt: skip
    rows = [(n, (schedule_steps,)) for n in names] if schedule_steps else []

    def conv(p, o, i, k):
        return [(f"{p}.conv1d.weight", (o, i, k)), (f"{p}.conv1d.bias", (o,))]

    ui, uo = [768, 512, 512, 256, 128], [512, 512, 256, 128, 128]
    di, do = [32, 128, 128, 256], [128, 128, 256, 512]
    fi, fo = [32, 128, 128, 256, 512], [128, 128, 256, 512, 512]
    rows += conv("nn.ublock_preconv", 768, 80, 3)
    for u in range(5):
        p = f"nn.ublocks.{u}"
        rows += conv(f"{p}.first_block_main_branch.upsampling.2", uo[u], ui[u], 3)
        rows += conv(f"{p}.first_block_main_branch.modulation.convolution", uo[u], uo[u], 3)
        rows += conv(f"{p}.first_block_residual_branch.0", uo[u], ui[u], 1)
        rows += conv(f"{p}.second_block_main_branch.modulation_0.convolution", uo[u], uo[u], 3)
        rows += conv(f"{p}.second_block_main_branch.modulation_1.convolution", uo[u], uo[u], 3)
    rows += conv("nn.ublock_postconv", 1, 128, 3) + conv("nn.dblock_preconv", 32, 1, 5)
    for d in range(4):
        for n in (1, 2, 3):
            rows += conv(f"nn.dblocks.{d}.main_branch.{n}.convolution", do[d], di[d] if n == 1 else do[d], 3)
        rows += conv(f"nn.dblocks.{d}.residual_branch.0", do[d], di[d], 1)
    for f in range(5):
        rows += conv(f"nn.films.{f}.signal_conv.0", fi[f], fi[f], 3)
        rows += conv(f"nn.films.{f}.scale_conv", fo[f], fi[f], 3) + conv(f"nn.films.{f}.shift_conv", fo[f], fi[f], 3)
    return rows


def waveflow_rows(r, flows=8, layers=8):
    rows = []
    for f in range(flows):
        p = f"flows.{f}.coupling"
        rows += wn(f"{p}.net.front_conv.0.conv", (r, 1, 1, 1))
        for n in range(layers):
            rows += wn(f"{p}.net.res_blocks.{n}.filter_gate_conv.conv", (2 * r, r, 3, 3))
            rows += wn(f"{p}.net.res_blocks.{n}.filter_gate_conv_c", (2 * r, 80, 1, 1))
            rows += wn(f"{p}.net.res_blocks.{n}.res_skip_conv", (2 * r, r, 1, 1))
        rows += [(f"{p}.proj_log_s_t.conv.weight", (2, r, 1, 1)), (f"{p}.proj_log_s_t.conv.bias", (2,))]
    for u in (0, 2):
        rows += wn(f"upsample_conv.{u}", (1, 1, 3, 32), transposed=True)
    return rows


def vocos_rows(dim, inter, layers):
    rows = [
        ("feature_extractor.mel_spec.spectrogram.window", (1024,)),
        ("feature_extractor.mel_spec.mel_scale.fb", (513, 100)),
    ]
    rows += [("backbone.embed.weight", (dim, 100, 7)), ("backbone.embed.bias", (dim,))]
    rows += [("backbone.norm.weight", (dim,)), ("backbone.norm.bias", (dim,))]
    for b in range(layers):
        p = f"backbone.convnext.{b}"
        rows += [(f"{p}.gamma", (dim,)), (f"{p}.dwconv.weight", (dim, 1, 7)), (f"{p}.dwconv.bias", (dim,))]
        rows += [(f"{p}.norm.weight", (dim,)), (f"{p}.norm.bias", (dim,))]
        rows += [(f"{p}.pwconv1.weight", (inter, dim)), (f"{p}.pwconv1.bias", (inter,))]
        rows += [(f"{p}.pwconv2.weight", (dim, inter)), (f"{p}.pwconv2.bias", (dim,))]
    rows += [("backbone.final_layer_norm.weight", (dim,)), ("backbone.final_layer_norm.bias", (dim,))]
    return rows + [("head.out.weight", (1026, dim)), ("head.out.bias", (1026,)), ("head.istft.window", (1024,))]


FILTER = [0.00202896469, 0.00938946567, -0.0255434588, -0.0576573834, 0.128572583, 0.443209797, 0.443209797,
          0.128572583, -0.0576573834, -0.0255434588, 0.00938946567, 0.00202896469]  # fmt: skip


def bigvgan_rows(channels, kernels, n_mels, bias_at_final):
    c = [channels // 2**i for i in range(len(kernels) + 1)]
    rows = wn("conv_pre", (c[0], n_mels, 7))
    for i, k in enumerate(kernels):
        rows += wn(f"ups.{i}.0", (c[i], c[i + 1], k), transposed=True)

    def act(p, w):
        return [(f"{p}.act.alpha", (w,)), (f"{p}.act.beta", (w,)), (f"{p}.upsample.filter", (1, 1, 12)),
                (f"{p}.downsample.lowpass.filter", (1, 1, 12))]  # fmt: skip

    for j in range(3 * len(kernels)):
        w, kr = c[j // 3 + 1], [3, 7, 11][j % 3]
        for group in ("convs1", "convs2"):
            for n in range(3):
                rows += wn(f"resblocks.{j}.{group}.{n}", (w, w, kr))
        for a in range(6):
            rows += act(f"resblocks.{j}.activations.{a}", w)
    rows += act("activation_post", c[-1])
    return rows + wn("conv_post", (1, c[-1], 7), bias=bias_at_final)


def bigvgan_sd(*args):
    sd = tensors(bigvgan_rows(*args))
    for k in sd:
        if k.endswith("filter"):
            sd[k] = torch.tensor(FILTER).view(1, 1, 12)
    return sd


def diffwave_params(ch, layers):
    return dict(batch_size=16, learning_rate=2e-4, max_grad_norm=None, sample_rate=22050, n_mels=80, n_fft=1024,
                hop_samples=256, crop_mel_frames=62, residual_layers=layers, residual_channels=ch,
                dilation_cycle_length=10, noise_schedule=torch.linspace(1e-4, 0.05, 50).tolist())  # fmt: skip


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
        return "bigvgan", bigvgan_sd(32, [16, 16, 4, 4], 80, True), lambda sd: {"generator": sd}
    if name == "bigvgan_v2":
        return "bigvgan", bigvgan_sd(64, [8, 8, 4, 4, 4, 4], 100, False), lambda sd: {"generator": sd}
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
    assert audio.shape == (1, frames * model.hop_length)
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


def test_wavegrad_is_mapped_but_not_representable(tmp_path):
    sd = tensors(wavegrad_rows())
    with pytest.raises(
        UnrepresentableError, match=r"ckpt.pt: our wavegrad family cannot represent ivanvovk's FiLM layers \[0, 2, 3\]"
    ):
        import_checkpoint(write(tmp_path, {"model": sd}), "ivanvovk")
    del sd["nn.films.4.scale_conv.conv1d.bias"]  # a damaged file fails on its keys first
    with pytest.raises(CheckpointImportError, match="missing keys nn.films.4.scale_conv.conv1d.bias"):
        import_checkpoint(write(tmp_path, {"model": sd}), "ivanvovk")


def test_vocos_encodec_is_not_representable(tmp_path):
    sd = {"feature_extractor.codebook_weights": torch.zeros(16, 8), "backbone.embed.weight": torch.zeros(4, 8, 7),
          "backbone.norm.scale.weight": torch.zeros(4, 4)}  # fmt: skip
    with pytest.raises(UnrepresentableError, match="AdaLayerNorm"):
        import_checkpoint(write(tmp_path, sd), "vocos")


# --------------------------------------------------------------------------- WaveGlow's pickled module


@pytest.fixture
def glow(monkeypatch):
    """A module ``glow`` whose classes have the names of NVIDIA's, so the pickle refers to glow.WaveGlow etc."""
    module = types.ModuleType("glow")
    weight_norm = torch.nn.utils.weight_norm

    class WN(nn.Module):
        def __init__(self, n_in, n_cond, n_layers, n_channels):
            super().__init__()
            self.in_layers, self.res_skip_layers = nn.ModuleList(), nn.ModuleList()
            self.start = weight_norm(nn.Conv1d(n_in, n_channels, 1))
            self.end = nn.Conv1d(n_channels, 2 * n_in, 1)
            self.cond_layer = weight_norm(nn.Conv1d(n_cond, 2 * n_channels * n_layers, 1))
            for i in range(n_layers):
                self.in_layers.append(
                    weight_norm(nn.Conv1d(n_channels, 2 * n_channels, 3, dilation=2**i, padding=2**i))
                )
                out = 2 * n_channels if i < n_layers - 1 else n_channels
                self.res_skip_layers.append(weight_norm(nn.Conv1d(n_channels, out, 1)))

    class Invertible1x1Conv(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv1d(c, c, 1, bias=False)
            q, _ = torch.linalg.qr(torch.randn(c, c))
            self.conv.weight.data = q.unsqueeze(-1)

    class WaveGlow(nn.Module):
        def __init__(self, n_channels, n_layers):
            super().__init__()
            self.upsample = nn.ConvTranspose1d(80, 80, 1024, stride=256)
            self.WN, self.convinv = nn.ModuleList(), nn.ModuleList()
            remaining = 8
            for k in range(12):
                if k % 4 == 0 and k > 0:
                    remaining -= 2
                self.convinv.append(Invertible1x1Conv(remaining))
                self.WN.append(WN(remaining // 2, 640, n_layers, n_channels))

    for cls in (WN, Invertible1x1Conv, WaveGlow):
        cls.__module__, cls.__qualname__ = "glow", cls.__name__
        setattr(module, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, "glow", module)
    return module


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
