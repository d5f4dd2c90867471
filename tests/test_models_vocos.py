import io
import math

import pytest
import torch

from vocoder_energy.models import build_vocoder
from vocoder_energy.models.vocos import (
    ConvNeXtBlock,
    InverseSTFT,
    ISTFTHead,
    Vocos,
    htk_mel_basis,
)
from vocoder_energy.testing import check_vocoder

COUNTS = {"S": 3_584_770, "M": 13_459_970, "L": 29_626_626}  # at 80 mels, n_fft 1024
PUBLISHED_MEL_MODEL = 13_531_650  # charactr/vocos-mel-24khz: configs/vocos.yaml at 100 mels
TINY = dict(dim=16, intermediate_dim=24, num_layers=2)


def shape_arithmetic(n_mels, dim, intermediate, layers, n_fft):
    """The generator's parameters from its layer shapes (weights + biases; no buffer)."""
    embed = n_mels * dim * 7 + dim
    block = dim + (dim * 7 + dim) + 2 * dim + (dim * intermediate + intermediate) + (intermediate * dim + dim)
    head = dim * (n_fft + 2) + (n_fft + 2)
    return embed + 2 * dim + layers * block + 2 * dim + head


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_parameter_counts_follow_the_layer_shapes(size):
    preset = Vocos.presets[size]
    expected = shape_arithmetic(80, preset["dim"], preset["intermediate_dim"], preset["num_layers"], 1024)
    assert COUNTS[size] == expected
    with torch.device("meta"):  # builds without reading values
        model = build_vocoder("vocos", size)
    assert model.num_parameters() == COUNTS[size]


def test_published_mel_model_size():
    assert shape_arithmetic(100, 512, 1536, 8, 1024) == PUBLISHED_MEL_MODEL
    with torch.device("meta"):
        model = build_vocoder("vocos", "M", n_mels=100)
    assert model.num_parameters() == PUBLISHED_MEL_MODEL


def _same_padding_stft(signal, n_fft, hop):
    """STFT frames as the 'same' inverse lays them: frame t starts (n_fft - hop) / 2 samples before t x hop."""
    pad = (n_fft - hop) // 2
    padded = torch.nn.functional.pad(signal, (pad, pad))
    return torch.stft(padded, n_fft, hop, window=torch.hann_window(n_fft, dtype=signal.dtype), center=False,
                      return_complex=True)  # fmt: skip


def test_same_padding_inverse_stft_reconstructs_a_signal():
    n_fft, hop, frames = 64, 16, 12
    signal = torch.randn(2, frames * hop, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spec = _same_padding_stft(signal, n_fft, hop)
    assert spec.shape == (2, n_fft // 2 + 1, frames)
    istft = InverseSTFT(n_fft, hop).double()
    assert torch.allclose(istft(spec), signal, atol=1e-12)
    # Through the head: log-magnitudes and phases as the linear layer's output.
    head = ISTFTHead(n_fft + 2, n_fft, hop).double()
    with torch.no_grad():
        head.out.weight.copy_(torch.eye(n_fft + 2))
        head.out.bias.zero_()
    x = torch.cat([spec.abs().log(), spec.angle()], dim=1).transpose(1, 2)
    assert torch.allclose(head(x), signal, atol=1e-10)
    assert torch.allclose(head.float()(x.float()), signal.float(), atol=1e-5)
    # A wrong convention does not pass: frames taken without the (n_fft - hop) / 2 offset.
    shifted = torch.stft(signal, n_fft, hop, window=torch.hann_window(n_fft, dtype=signal.dtype), center=True,
                         return_complex=True)[..., :frames]  # fmt: skip
    assert not torch.allclose(istft(shifted), signal, atol=1e-3)


def test_inverse_stft_of_hand_made_spectra():
    """Hann window w(n) = 1/2 - 1/4 e^(2 pi i n/N) - 1/4 e^(-2 pi i n/N): its frames' spectra written by hand."""
    n_fft, hop, frames = 32, 8, 5
    pad = (n_fft - hop) // 2  # frame t starts at sample t x hop - pad
    istft = InverseSTFT(n_fft, hop).double()
    spec = torch.zeros(1, n_fft // 2 + 1, frames, dtype=torch.complex128)
    spec[:, 0], spec[:, 1] = n_fft / 2 * 0.25, -n_fft / 4 * 0.25  # every frame w(n) x 0.25: the constant 0.25
    assert torch.allclose(istft(spec), torch.full((1, frames * hop), 0.25, dtype=torch.float64), atol=1e-14)
    k = 4  # k x hop / n_fft whole: frame t of A cos(2 pi k m / N) is w(n) A cos(2 pi k n / N + phi), every t
    phase = torch.tensor(-2j * math.pi * k * pad / n_fft, dtype=torch.complex128).exp()
    spec = torch.zeros_like(spec)
    spec[:, k] = n_fft / 4 * 0.5 * phase
    spec[:, k - 1] = spec[:, k + 1] = -n_fft / 8 * 0.5 * phase
    m = torch.arange(frames * hop, dtype=torch.float64)
    assert torch.allclose(istft(spec)[0], 0.5 * torch.cos(2 * math.pi * k * m / n_fft), atol=1e-14)
    # Unwindowed constant frames: sum(w) / sum(w^2) = 2 / 1.5 where four frames overlap, [pad, F hop - pad).
    spec = torch.zeros_like(spec)
    spec[:, 0] = n_fft * 0.25
    interior = istft(spec)[0, pad : frames * hop - pad]
    assert torch.allclose(interior, torch.full_like(interior, 0.25 * 4 / 3), atol=1e-14)


def test_head_clips_the_magnitude_at_100():
    head = ISTFTHead(4, 32, 8).double()
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.zero_()
        head.out.bias[0] = 10.0  # DC log-magnitude: e^10 clipped to 100
    spec = head.spectrum(torch.zeros(1, 3, 4, dtype=torch.float64))
    assert spec[0, 0, 0] == 100 and spec[0, 1, 0] == 1


def test_convnext_block_is_residual_with_layer_scale():
    torch.manual_seed(0)
    block = ConvNeXtBlock(8, 24, 0.125)
    assert torch.equal(block.gamma, torch.full((8,), 0.125))
    x = torch.randn(2, 8, 10)
    with torch.no_grad():
        h = block.norm(block.dwconv(x).transpose(1, 2))
        h = block.pwconv2(torch.nn.functional.gelu(block.pwconv1(h)))
        assert torch.allclose(block(x), x + 0.125 * h.transpose(1, 2), atol=1e-6)
        block.gamma.zero_()
        assert torch.equal(block(x), x)
    backbone = build_vocoder("vocos", "S", **TINY).generator.backbone
    assert all(torch.equal(b.gamma, torch.full((16,), 0.5)) for b in backbone.convnext)  # 1 / num_layers


@pytest.mark.parametrize("padding", ["same", "center"])
def test_output_length_is_frames_times_hop(padding):
    model = build_vocoder("vocos", "S", padding=padding, **TINY)
    for frames in (1, 7):
        audio = model.generate(torch.rand(2, 80, frames))
        assert audio.shape == (2, frames * 256) and torch.isfinite(audio).all()
    head = model.generator.head  # the head alone: (F - 1) x hop with centre padding
    assert head(torch.randn(1, 7, 16)).shape == (1, (7 - (padding == "center")) * 256)
    with pytest.raises(ValueError, match="padding 'valid'"):
        build_vocoder("vocos", "S", padding="valid")


def test_clip_audio_is_an_inference_option():
    assert Vocos.inference_options == ("clip_audio",)
    loud = build_vocoder("vocos", "S", **TINY)
    with torch.no_grad():
        loud.generator.head.out.bias[:513] += 6.0  # magnitudes e^6 (clipped to 100): well past 1 after the inverse STFT
    mel = torch.rand(1, 80, 6)
    assert loud.generate(mel).abs().max() > 1
    loud.clip_audio = True
    assert loud.generate(mel).abs().max() == 1


def test_meets_the_contract():
    check_vocoder(Vocos, "S", frames=5, **TINY)  # 1280 samples: > 1024, the 2048-point STFT's reflect padding


def _tiny_training_model(**overrides):
    torch.manual_seed(0)
    model = build_vocoder("vocos", "S", **TINY, **overrides)
    model.setup_training()
    return model


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(2, 8 * 256, generator=g), torch.rand(2, 80, 8, generator=g)


def test_training_step_updates_both_sides_on_a_cosine():
    model = _tiny_training_model(lr_total_steps=3)
    gen = {k: v.clone() for k, v in model.generator.state_dict().items()}
    disc = {k: v.clone() for k, v in model.discriminators.state_dict().items()}
    audio, mel = _batch()
    losses = model.training_step(audio, mel)
    assert set(losses) == {
        "loss_d", "loss_d_mpd", "loss_d_mrd", "loss_g", "loss_mel",
        "loss_adv_mpd", "loss_adv_mrd", "loss_fm_mpd", "loss_fm_mrd",
    }  # fmt: skip
    assert all(isinstance(v, float) and math.isfinite(v) for v in losses.values())
    recombined = (
        losses["loss_adv_mpd"] + losses["loss_fm_mpd"] + 0.1 * (losses["loss_adv_mrd"] + losses["loss_fm_mrd"])
    ) + 45 * losses["loss_mel"]
    assert losses["loss_g"] == pytest.approx(recombined, rel=1e-5)
    assert losses["loss_d"] == pytest.approx(losses["loss_d_mpd"] + 0.1 * losses["loss_d_mrd"], rel=1e-6)
    assert any(not torch.equal(gen[k], v) for k, v in model.generator.state_dict().items())
    changed = {k.split(".")[0] for k, v in model.discriminators.state_dict().items() if not torch.equal(disc[k], v)}
    assert changed == {"mpd", "mrd"}
    assert all(p.requires_grad for p in model.discriminators.parameters())

    # The cosine over 3 steps: factors 1, 0.75, 0.25, 0.
    assert [[g["lr"] for g in o.param_groups] for o in model.optimizers] == [[5e-4], [5e-4]]
    model.training_step(audio, mel)
    for optimizer in model.optimizers:
        assert optimizer.param_groups[0]["lr"] == pytest.approx(5e-4 * 0.75, abs=1e-12)
        assert optimizer.param_groups[0]["lr_step"] == 2
    assert [model.lr_factor(k) for k in (2, 3)] == pytest.approx([0.25, 0.0], abs=1e-12)
    assert build_vocoder("vocos", "S", lr_total_steps=None, **TINY).lr_factor(10**6) == 1.0
    assert build_vocoder("vocos", "S", **TINY).lr_factor(500_000) == pytest.approx(0.5)  # 1M steps by default


def test_optimizer_state_resumes_the_learning_rate_step():
    model = _tiny_training_model(lr_total_steps=10)
    audio, mel = _batch()
    for _ in range(2):
        model.training_step(audio, mel)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizers": [o.state_dict() for o in model.optimizers]}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    resumed = _tiny_training_model(lr_total_steps=10)
    resumed.load_state_dict(state["model"])
    for optimizer, saved in zip(resumed.optimizers, state["optimizers"], strict=True):
        optimizer.load_state_dict(saved)
    assert [o.param_groups[0]["lr_step"] for o in resumed.optimizers] == [2, 2]
    resumed.training_step(audio, mel)
    model.training_step(audio, mel)
    want = 5e-4 * 0.5 * (1 + math.cos(math.pi * 2 / 10))
    for a, b in zip(model.optimizers, resumed.optimizers):
        assert a.param_groups[0]["lr"] == b.param_groups[0]["lr"] == pytest.approx(want)
    for name, value in model.generator.state_dict().items():  # the resumed run took the same step
        assert torch.equal(resumed.generator.state_dict()[name], value), name


def test_training_step_runs_under_bf16_autocast():
    model = _tiny_training_model()
    audio, mel = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = model.training_step(audio, mel)
    assert all(math.isfinite(v) for v in losses.values())


def test_discriminator_feature_maps_as_vocos():
    model = _tiny_training_model()
    out = model.discriminators(torch.randn(2, 4096))
    scores, maps = out["mpd"]
    assert len(scores) == 5 and [len(m) for m in maps] == [5] * 5  # first convolution's output left out
    assert maps[0][0].shape[1] == 128
    scores, maps = out["mrd"]
    assert len(scores) == 3 and [len(m) for m in maps] == [21] * 3  # 5 bands x 4 + the score map
    assert scores[0].shape[:2] == (2, 1) and maps[0][-1] is scores[0]
    assert model.discriminators.mrd[0].bands == [(0, 102), (102, 256), (256, 512), (512, 768), (768, 1025)]
    with pytest.raises(ValueError, match="1024 samples are too short for the 2048-point STFT"):
        model.discriminators(torch.randn(2, 1024))


def test_loss_mel_filterbank_is_torchaudio_htk():
    """torchaudio's melscale_fbanks (HTK scale, norm None), written out, against ours (librosa's)."""
    sample_rate, n_fft, n_mels = 16000, 1024, 100
    freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1, dtype=torch.float64)

    def hz_to_mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    mels = torch.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2, dtype=torch.float64)
    points = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    slopes = points[None, :] - freqs[:, None]
    widths = points[1:] - points[:-1]
    down, up = -slopes[:, :-2] / widths[:-1], slopes[:, 2:] / widths[1:]
    want = torch.clamp(torch.minimum(down, up), min=0).T
    got = htk_mel_basis(sample_rate, n_fft, n_mels, "cpu", torch.float64)
    assert got.shape == (n_mels, n_fft // 2 + 1)
    assert torch.allclose(got, want, atol=1e-12)
    model = build_vocoder("vocos", "S", **TINY)
    audio = 0.3 * torch.randn(2, 4096, generator=torch.Generator().manual_seed(1))
    # 100 bands as the authors' loss, whatever the model's n_mels (80); every centred frame kept
    assert model.n_mels == 80 and model.loss_mel(audio).shape == (2, 100, 4096 // 256 + 1)


def test_weights_load_by_the_original_key_names():
    """A state dict keyed as charactr/vocos-mel-24khz's (fact sheet 7.3), less feature_extractor.*, at a small
    width, loads strictly and in the same order."""
    dim, inter, n_mels, n_fft = 16, 48, 100, 1024
    keys = [("backbone.embed.weight", (dim, n_mels, 7)), ("backbone.embed.bias", (dim,))]
    keys += [("backbone.norm.weight", (dim,)), ("backbone.norm.bias", (dim,))]
    for b in range(8):
        p = f"backbone.convnext.{b}."
        keys += [(p + "gamma", (dim,)), (p + "dwconv.weight", (dim, 1, 7)), (p + "dwconv.bias", (dim,))]
        keys += [(p + "norm.weight", (dim,)), (p + "norm.bias", (dim,))]
        keys += [(p + "pwconv1.weight", (inter, dim)), (p + "pwconv1.bias", (inter,))]
        keys += [(p + "pwconv2.weight", (dim, inter)), (p + "pwconv2.bias", (dim,))]
    keys += [("backbone.final_layer_norm.weight", (dim,)), ("backbone.final_layer_norm.bias", (dim,))]
    keys += [("head.out.weight", (n_fft + 2, dim)), ("head.out.bias", (n_fft + 2,)), ("head.istft.window", (n_fft,))]
    assert len(keys) == 83 - 2
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(shape, generator=g) for k, shape in keys}
    state["head.istft.window"] = torch.hann_window(n_fft)
    model = build_vocoder("vocos", "M", n_mels=n_mels, dim=dim, intermediate_dim=inter, padding="center")
    assert [(k, tuple(v.shape)) for k, v in model.generator.state_dict().items()] == keys
    model.generator.load_state_dict(state, strict=True)
    assert torch.equal(model.generator.backbone.convnext[3].pwconv1.weight, state["backbone.convnext.3.pwconv1.weight"])
