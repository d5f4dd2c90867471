"""ivanvovk/WaveGrad's released checkpoint as our ``wavegrad`` family: their FiLM form (``film_width="input"``),
their sampler, the published inference schedules (import option ``inference_steps``), and our default form
unchanged. The file is written here with the fact sheet's key table (released-checkpoints.md 5.3, full size,
seeded values); the FiLM and the sampler are checked against their definitions written out by hand (5.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vocoder_energy.core.config_checks import ConfigError, check_types
from vocoder_energy.models import build_vocoder, check_hyperparameters
from vocoder_energy.models.importers import (
    CheckpointImportError,
    UnrepresentableError,
    import_checkpoint,
    load_imported,
)
from vocoder_energy.models.importers.synthetic import wavegrad_rows
from vocoder_energy.models.wavegrad import FiLM, WaveGrad

# --------------------------------------------------------------------------- the published key table (5.3)

UI, UO = [768, 512, 512, 256, 128], [512, 512, 256, 128, 128]
DI, DO = [32, 128, 128, 256], [128, 128, 256, 512]
FI, FO = [32, 128, 128, 256, 512], [128, 128, 256, 512, 512]
BUFFERS = (
    "betas alphas alphas_cumprod alphas_cumprod_prev sqrt_alphas_cumprod sqrt_recip_alphas_cumprod "
    "sqrt_alphas_cumprod_m1 posterior_log_variance_clipped posterior_mean_coef1 posterior_mean_coef2"
).split()
PARAMETERS = 15_810_401  # README.md:24

# The published schedules as the fact sheet writes them (5.6): float32 but the 25-step one.
STEPS_6 = [1e-06, 1.892873e-05, 0.00011943212, 0.0010047548, 0.0110942535, 0.06]
STEPS_7 = [1e-06, 5e-06, 1.8929e-05, 1e-04, 0.001, 0.0111, 0.06]
STEPS_12 = [1e-06, 6.9303915e-06, 5.3367025e-06, 3.6985395e-05, 0.00017088217, 0.0003947601, 0.0013679202,
            0.0028089532, 0.003244524, 0.014990547, 0.008657524, 0.060000017]  # fmt: skip


def conv(prefix, out, inp, k):
    return [(f"{prefix}.conv1d.weight", (out, inp, k)), (f"{prefix}.conv1d.bias", (out,))]


def tensors(rows, seed=0):
    """Seeded values: weights ~ N(0, 1 / fan_in) (activations stay of order one), biases ~ N(0, 0.05^2)."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in rows:
        std = 1 / math.sqrt(shape[1] * shape[2]) if len(shape) == 3 else 0.05
        sd[key] = torch.randn(shape, generator=gen) * std
    return sd


def write(tmp_path, sd, name="pretrained_ljspeech.pt"):
    path = tmp_path / name
    torch.save({"model": sd}, path)
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    sd = tensors(wavegrad_rows())
    return sd, write(tmp_path_factory.mktemp("ivanvovk"), sd)


def pe(channels, level):
    """Their noise-level encoding (5.5): e_k = 5000 nu 10^(-4k/h), k < h = C/2; [sin e, cos e]."""
    half = channels // 2
    e = [5000 * level * 10 ** (-4 * k / half) for k in range(half)]
    return torch.tensor([math.sin(v) for v in e] + [math.cos(v) for v in e], dtype=torch.float64)


def their_film(sd, f, x, level):
    """FiLM f from the file's tensors by their definition: conv k3 C_in -> C_in, LeakyReLU 0.2, + encoding at
    C_in, then scale_conv / shift_conv C_in -> C_out (all in float64)."""

    def c(name, h):
        w, b = (sd[f"nn.films.{f}.{name}.conv1d.{t}"].double() for t in ("weight", "bias"))
        return F.conv1d(h, w, b, padding=1)

    h = F.leaky_relu(c("signal_conv.0", x), 0.2) + pe(x.shape[1], level)[None, :, None]
    return c("scale_conv", h), c("shift_conv", h)


# --------------------------------------------------------------------------- the published file


def test_published_file_imports_loads_strictly_and_generates(published):
    sd, path = published
    imported = import_checkpoint(path, "ivanvovk")
    hp = imported.hyperparameters
    assert (imported.family, hp["film_width"], hp["sampler"], hp["noise_encoding"]) == (
        "wavegrad", "input", "ivanvovk", "wavegrad_paper"
    )  # fmt: skip
    assert hp["up_channels"] == [80, 768, *UO, 1] and hp["down_channels"] == [1, 32, *DO]
    assert (hp["hop_length"], hp["sample_rate"], hp["leaky_relu_slope"]) == (300, 22050, 0.2)
    assert hp["inference_noise_schedule"] == np.float32(STEPS_6).tolist()  # the default: 6 steps
    assert set(imported.dropped) == set(BUFFERS)
    # Every tensor of the file (but the dropped buffers) lands in ours unchanged, FiLM included.
    assert torch.equal(imported.state_dict["films.0.input_conv.weight"], sd["nn.films.0.signal_conv.0.conv1d.weight"])
    assert torch.equal(imported.state_dict["films.3.shift_conv.bias"], sd["nn.films.3.shift_conv.conv1d.bias"])
    assert sum(t.numel() for t in imported.state_dict.values()) == PARAMETERS

    model = load_imported(imported)  # strict
    assert model.num_parameters() == PARAMETERS
    assert model.inference_steps == 6
    frames = 2
    mel = torch.randn(1, 80, frames, generator=torch.Generator().manual_seed(1)) - 4
    audio = model.generate(mel, seed=0)
    assert audio.shape == (1, frames * 300)
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1.0
    assert audio.std() > 0


@pytest.mark.parametrize("f", [0, 3])  # 32 -> 128 and 256 -> 512: both widths differ
def test_imported_film_is_theirs_by_definition(published, f):
    sd, path = published
    model = load_imported(import_checkpoint(path, "ivanvovk")).double()
    x = torch.randn(2, FI[f], 9, generator=torch.Generator().manual_seed(f), dtype=torch.float64)
    level = 0.83
    scale, shift = model.generator.films[f](x, torch.tensor([level, level], dtype=torch.float64))
    want_scale, want_shift = their_film(sd, f, x, level)
    assert scale.shape == (2, FO[f], 9)
    torch.testing.assert_close(scale, want_scale, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(shift, want_shift, rtol=1e-12, atol=1e-12)


def test_schedule_buffers_are_optional(tmp_path):
    imported = import_checkpoint(write(tmp_path, tensors(wavegrad_rows(schedule_steps=0))), "ivanvovk")
    assert not set(BUFFERS) & set(imported.dropped)


# --------------------------------------------------------------------------- the FiLM "input" form by hand


def test_film_input_form_by_hand_on_two_channels():
    """C_in = 2, C_out = 3: conv k3 2 -> 2, LeakyReLU 0.2, + [sin(5000 nu), cos(5000 nu)], then k3 2 -> 3."""
    torch.manual_seed(0)
    film = FiLM(2, 3, slope=0.2, noise_scale=5000.0, noise_encoding="wavegrad_paper", width="input").double()
    assert film.input_conv.weight.shape == (2, 2, 3)
    assert film.scale_conv.weight.shape == film.shift_conv.weight.shape == (3, 2, 3)
    x = torch.tensor([[[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 1.0]]], dtype=torch.float64)
    level = 0.6

    def conv3(w, b, seq):  # 'same' k3 convolution, zero padded, written out
        c_out, c_in, length = len(w), len(seq), len(seq[0])
        padded = [[0.0, *row, 0.0] for row in seq]
        return [
            [b[o] + sum(w[o][i][k] * padded[i][t + k] for i in range(c_in) for k in range(3)) for t in range(length)]
            for o in range(c_out)
        ]

    def lrelu(v):
        return v if v >= 0 else 0.2 * v

    w = {n: getattr(film, n).weight.tolist() for n in ("input_conv", "scale_conv", "shift_conv")}
    b = {n: getattr(film, n).bias.tolist() for n in ("input_conv", "scale_conv", "shift_conv")}
    h = conv3(w["input_conv"], b["input_conv"], x[0].tolist())
    encoding = [math.sin(5000 * level), math.cos(5000 * level)]  # h = 1: the one frequency is 1
    h = [[lrelu(v) + encoding[c] for v in row] for c, row in enumerate(h)]
    want_scale = conv3(w["scale_conv"], b["scale_conv"], h)
    want_shift = conv3(w["shift_conv"], b["shift_conv"], h)

    scale, shift = film(x, torch.tensor([level], dtype=torch.float64))
    torch.testing.assert_close(scale[0], torch.tensor(want_scale, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(shift[0], torch.tensor(want_shift, dtype=torch.float64), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- their sampler


def test_ivanvovk_sampler_follows_the_fact_sheet_step_by_step():
    """Two steps with a stand-in network eps = 0.3 y against 5.5: y0 = clamp(sqrt(1/ab) y - sqrt(1/ab - 1) eps),
    mean = beta sqrt(ab_prev) / (1 - ab) y0 + (1 - ab_prev) sqrt(alpha) / (1 - ab) y, + sqrt(variance) z."""

    class Stand(torch.nn.Module):
        def forward(self, y, mel, level):
            return 0.3 * y

    betas = [0.1, 0.3]
    tiny = dict(up_channels=[80, 8, 8, 8, 8, 8, 8, 1], down_channels=[1, 4, 4, 4, 4, 8])
    model = build_vocoder("wavegrad", "S", inference_noise_schedule=betas, sampler="ivanvovk", **tiny)
    model.generator = Stand()
    mel = torch.rand(1, 80, 2, generator=torch.Generator().manual_seed(0))
    out = model.generate(mel, seed=5)
    torch.manual_seed(5)
    y2, z = torch.randn(1, 512), torch.randn(1, 512)
    ab1, ab2 = 1 - betas[0], (1 - betas[0]) * (1 - betas[1])

    def clean(y, ab):
        return (math.sqrt(1 / ab) * y - math.sqrt(1 / ab - 1) * 0.3 * y).clamp(-1, 1)

    y1 = betas[1] * math.sqrt(ab1) / (1 - ab2) * clean(y2, ab2) + (1 - ab1) * math.sqrt(1 - betas[1]) / (1 - ab2) * y2
    y1 = y1 + math.exp(0.5 * math.log(betas[1] * (1 - ab1) / (1 - ab2))) * z
    expected = betas[0] * 1.0 / (1 - ab1) * clean(y1, ab1)  # the last step: coefficients 1 and 0
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    model.sampler = "authors"
    assert not torch.allclose(model.generate(mel, seed=5), out, atol=1e-3)


# --------------------------------------------------------------------------- the schedule option


def test_inference_steps_option_selects_a_published_schedule(published):
    _, path = published
    imported = import_checkpoint(path, "ivanvovk", {"inference_steps": 12})
    betas = imported.hyperparameters["inference_noise_schedule"]
    assert len(betas) == 12
    assert betas == [float(np.float32(b)) for b in STEPS_12]
    assert "import options: inference_steps=12" in imported.notes
    assert load_imported(imported).inference_betas == betas
    got = {n: import_checkpoint(path, "ivanvovk", {"inference_steps": n}) for n in (7, 25, 50, 100)}
    assert got[7].hyperparameters["inference_noise_schedule"] == np.float32(STEPS_7).tolist()
    fibonacci = [1e-6, 2e-6]
    while len(fibonacci) < 25:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    assert got[25].hyperparameters["inference_noise_schedule"] == fibonacci  # float64, as in the file
    for n in (50, 100):
        betas = got[n].hyperparameters["inference_noise_schedule"]
        assert len(betas) == n and betas == np.float32(betas).tolist()  # float32 values
    assert got[50].hyperparameters["inference_noise_schedule"][-1] == float(np.float32(0.049999997))
    assert got[100].hyperparameters["inference_noise_schedule"][-1] == float(np.float32(0.01))


@pytest.mark.parametrize("value", [1000, 8, "12", 12.0, True, None])
def test_unpublished_inference_steps_are_refused_naming_the_file(published, value):
    _, path = published
    with pytest.raises(
        CheckpointImportError,
        match=rf"pretrained_ljspeech.pt: import option inference_steps={value!r} is not accepted for format "
        r"'ivanvovk'; accepted: inference_steps: one of 6, 7, 12, 25, 50, 100",
    ):
        import_checkpoint(path, "ivanvovk", {"inference_steps": value})


def test_unknown_options_are_refused_for_any_format(tmp_path, published):
    _, path = published
    with pytest.raises(CheckpointImportError, match=r"pretrained_ljspeech.pt: unknown import option\(s\) steps"):
        import_checkpoint(path, "ivanvovk", {"steps": 6})
    # Checked before the file is read: the message names the file even for a format without options.
    with pytest.raises(CheckpointImportError, match=r"other.pt: unknown import option\(s\) x .*'lmnt'; accepted: none"):
        import_checkpoint(tmp_path / "other.pt", "lmnt", {"x": 1})
    with pytest.raises(CheckpointImportError, match=r"other.pt: import options must be a dict"):
        import_checkpoint(tmp_path / "other.pt", "jik876", [("inference_steps", 6)])
    assert import_checkpoint(path, "ivanvovk", {}).hyperparameters["inference_noise_schedule"] == (
        np.float32(STEPS_6).tolist()
    )


# --------------------------------------------------------------------------- still refused


def test_four_ublocks_are_refused(tmp_path):
    sd = tensors(wavegrad_rows(ublocks=4))
    with pytest.raises(UnrepresentableError, match=r"4 UBlocks, 3 DBlocks and 4 FiLMs; the published ratios"):
        import_checkpoint(write(tmp_path, sd), "ivanvovk")


def test_film_widths_other_than_the_paths_are_refused(tmp_path):
    sd = tensors(wavegrad_rows())
    # FiLM 0 reading 64 channels (self-consistent in the file, but the audio path gives 32).
    sd.update(tensors(conv("nn.films.0.signal_conv.0", 64, 64, 3) + conv("nn.films.0.scale_conv", 128, 64, 3)
                      + conv("nn.films.0.shift_conv", 128, 64, 3)))  # fmt: skip
    with pytest.raises(UnrepresentableError, match=r"FiLM widths in \[64, 128, 128, 256, 512\]"):
        import_checkpoint(write(tmp_path, sd), "ivanvovk")


def test_a_damaged_file_fails_on_its_keys(tmp_path):
    sd = tensors(wavegrad_rows())
    del sd["nn.films.4.scale_conv.conv1d.bias"]
    with pytest.raises(CheckpointImportError, match="missing keys nn.films.4.scale_conv.conv1d.bias"):
        import_checkpoint(write(tmp_path, sd), "ivanvovk")


# --------------------------------------------------------------------------- our default form unchanged


def test_default_film_form_is_the_output_form_bit_for_bit():
    torch.manual_seed(0)
    default = build_vocoder("wavegrad", "S")
    torch.manual_seed(0)
    explicit = build_vocoder("wavegrad", "S", film_width="output")
    a, b = default.generator.state_dict(), explicit.generator.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert default.num_parameters() == 4_176_513  # Table 2, as before
    film = default.generator.films[0]  # reads d0 = 32, modulates the last UBlock (64)
    assert film.input_conv.weight.shape == (64, 32, 3) and film.scale_conv.weight.shape == (64, 64, 3)
    assert film.encoding.channels == 64
    torch.manual_seed(0)
    other = build_vocoder("wavegrad", "S", film_width="input")
    film = other.generator.films[0]
    assert film.input_conv.weight.shape == (32, 32, 3) and film.scale_conv.weight.shape == (64, 32, 3)
    assert film.encoding.channels == 32
    assert other.num_parameters() != default.num_parameters()


def test_film_width_is_a_checked_hyperparameter():
    check_hyperparameters("wavegrad", "S", {"film_width": "input"})
    check_types("models.wavegrad.S", WaveGrad, {"film_width": "input"})
    with pytest.raises(ConfigError, match="film_width: expected"):
        check_types("models.wavegrad.S", WaveGrad, {"film_width": 1})
    with pytest.raises(ValueError, match="film_width 'inputs' is not one of"):
        build_vocoder("wavegrad", "S", film_width="inputs")
