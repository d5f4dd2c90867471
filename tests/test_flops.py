"""FLOP counting over the whole inference path, against analytic counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vocoder_energy.cost.flops import count_generate_flops
from vocoder_energy.models import build_vocoder
from vocoder_energy.models.base import Vocoder

pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN:UserWarning")


class LoopVocoder(Vocoder):
    """A conv applied ``steps`` times in a Python loop inside ``infer``, then a bare matmul outside any module."""

    family = "loop-test"
    presets = {}

    def __init__(self, n_mels: int = 8, hop_length: int = 4, channels: int = 6, kernel: int = 5, steps: int = 3):
        super().__init__(n_mels=n_mels, hop_length=hop_length)
        self.steps = steps
        self.generator = nn.ModuleDict(
            {
                "conv_in": nn.Conv1d(n_mels, channels, 1),
                "conv": nn.Conv1d(channels, channels, kernel, padding=kernel // 2),
            }
        )
        self.projection = nn.Parameter(torch.randn(hop_length, channels))

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.generator["conv_in"](mel)
        for _ in range(self.steps):  # a sampling loop: every iteration must be counted
            x = torch.tanh(self.generator["conv"](x))
        # (hop, C) @ (B, C, T) -> (B, hop, T): an op in no module's forward.
        frames = torch.matmul(self.projection, x)
        return frames.transpose(1, 2).reshape(mel.shape[0], -1)


@pytest.mark.parametrize("steps", [1, 4])
def test_loop_and_ops_outside_modules_are_counted(steps):
    torch.manual_seed(0)
    n_mels, channels, kernel, hop, batch, frames = 8, 6, 5, 4, 2, 10
    model = LoopVocoder(n_mels, hop, channels, kernel, steps)
    mel = torch.rand(batch, n_mels, frames)

    result = count_generate_flops(model, mel)

    conv_in_macs = batch * frames * channels * n_mels * 1
    conv_macs = batch * frames * channels * channels * kernel  # "same" padding: L_out = frames
    matmul_macs = batch * hop * channels * frames
    expected_macs = conv_in_macs + steps * conv_macs + matmul_macs
    assert result["flops"] == 2 * expected_macs
    assert result["macs"] == expected_macs
    assert result["by_operator"]["aten.convolution"] == 2 * (conv_in_macs + steps * conv_macs)
    assert sum(result["by_operator"].values()) == result["flops"]
    # The model really produced its audio under the counter.
    assert model.generate(mel).shape == (batch, frames * hop)


class RecurrentVocoder(Vocoder):
    """An LSTM over the mel frames, then a linear layer to hop samples per frame."""

    family = "lstm-test"
    presets = {}

    def __init__(self, n_mels: int = 8, hop_length: int = 4, hidden: int = 6):
        super().__init__(n_mels=n_mels, hop_length=hop_length)
        self.generator = nn.ModuleDict({"lstm": nn.LSTM(n_mels, hidden, batch_first=True)})
        self.hidden = hidden

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        out, _ = self.generator["lstm"](mel.transpose(1, 2))
        return out[..., : self.hop_length].reshape(mel.shape[0], -1)


def test_recurrent_layers_are_counted():
    # mkldnn runs CPU LSTMs as one op the counter cannot see: it is switched off for such models only.
    n_mels, hidden, frames = 8, 6, 10
    result = count_generate_flops(RecurrentVocoder(n_mels, hop_length=4, hidden=hidden), torch.rand(1, n_mels, frames))
    gate_macs = frames * 4 * hidden * (n_mels + hidden)  # input and recurrent projections of the 4 gates
    assert result["macs"] == gate_macs


def test_count_is_proportional_to_steps():
    mel = torch.rand(1, 8, 12)
    counts = [count_generate_flops(LoopVocoder(steps=s), mel)["flops"] for s in (1, 2, 5)]
    per_step = counts[1] - counts[0]
    assert per_step > 0
    assert counts[2] - counts[0] == 4 * per_step


def _conv_flops_by_hooks(generator: nn.Module, mel: torch.Tensor) -> tuple[int, torch.Tensor]:
    """2 x MACs of every Conv1d / ConvTranspose1d from the shapes seen in a plain forward run."""
    total = 0
    layers = 0

    def hook(module, inputs, output):
        nonlocal total, layers
        layers += 1
        batch = output.shape[0]
        c_in, c_out, (k,) = module.in_channels, module.out_channels, module.kernel_size
        if isinstance(module, nn.ConvTranspose1d):
            # Each input sample is scattered through K taps to every output channel of its group:
            # the multiply count follows the input length (L_out ~ stride x L_in would overcount by stride).
            length = inputs[0].shape[-1]
        else:
            length = output.shape[-1]
        total += 2 * batch * c_in * c_out * k * length // module.groups

    handles = [
        m.register_forward_hook(hook) for m in generator.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))
    ]
    try:
        with torch.inference_mode():
            audio = generator(mel)
    finally:
        for handle in handles:
            handle.remove()
    assert layers > 0
    return total, audio


def test_hifigan_s_matches_an_analytic_per_layer_count():
    torch.manual_seed(0)
    model = build_vocoder("hifigan", "S")
    mel = torch.rand(1, 80, 64)  # Table 2's 16,384-sample clip

    counted = count_generate_flops(model, mel)["flops"]
    analytic, audio = _conv_flops_by_hooks(model.generator, mel)

    assert audio.shape[-1] == 64 * 256
    assert counted == pytest.approx(analytic, rel=1e-3)
    # Sanity on the scale: V2 is a ~2.5 GFLOP-per-clip model, far from V1's hundreds.
    assert 1e9 < counted < 5e9


def test_conv_transpose_counted_by_input_length():
    """Pins the convention used above on one layer: ConvTranspose1d costs C_in x C_out x K x L_in MACs."""

    class UpVocoder(Vocoder):
        family = "up-test"
        presets = {}

        def __init__(self):
            super().__init__(n_mels=4, hop_length=8)
            self.generator = nn.ConvTranspose1d(4, 1, 16, 8, padding=4)

        def infer(self, mel):
            return self.generator(mel).squeeze(1)

    model = UpVocoder()
    mel = torch.rand(2, 4, 7)
    result = count_generate_flops(model, mel)
    assert model.generate(mel).shape == (2, 7 * 8)
    assert result["flops"] == 2 * 2 * 4 * 1 * 16 * 7


class ValueReadingVocoder(LoopVocoder):
    """Inference that reads a value (``.item()``): it cannot run on shapes alone."""

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        steps = int(mel.mean().item() >= 0) * self.steps
        x = self.generator["conv_in"](mel)
        for _ in range(steps):
            x = torch.tanh(self.generator["conv"](x))
        return torch.matmul(self.projection, x).transpose(1, 2).reshape(mel.shape[0], -1)


def test_counting_on_shapes_alone_equals_counting_on_values():
    from vocoder_energy.cost.flops import _count

    mel = torch.rand(2, 8, 10)
    model = LoopVocoder(steps=3)
    shapes_only = count_generate_flops(model, mel)
    assert shapes_only["device"] == "meta"
    assert {k: v for k, v in shapes_only.items() if k != "device"} == _count(model, mel)
    reading = count_generate_flops(ValueReadingVocoder(steps=3), mel)
    assert reading["device"] == "cpu" and reading["flops"] == shapes_only["flops"]


class ISTFTVocoder(Vocoder):
    """A linear layer to a spectrum per frame, then torch.istft: matmul FLOPs plus one inverse FFT per frame."""

    family = "istft-test"
    presets = {}

    def __init__(self, n_mels: int = 8, hop_length: int = 16, n_fft: int = 64):
        super().__init__(n_mels=n_mels, hop_length=hop_length)
        self.n_fft = n_fft
        self.generator = nn.Linear(n_mels, n_fft + 2)

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.generator(mel.transpose(1, 2)).transpose(1, 2)
        spectrum = torch.complex(*x.chunk(2, dim=1))
        window = torch.hann_window(self.n_fft, device=mel.device)
        audio = torch.istft(spectrum, self.n_fft, self.hop_length, window=window, center=True)
        return nn.functional.pad(audio, (0, self.hop_length))


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_an_inverse_fft_counts_5_n_log2_n_per_frame(device):
    """FFTs, which PyTorch leaves uncounted, count 5 N log2 N per transform: 64 points, log2 = 6."""
    batch, frames, n_mels, n_fft = 2, 7, 8, 64
    model = ISTFTVocoder(n_mels=n_mels, n_fft=n_fft)
    mel = torch.rand(batch, n_mels, frames)
    if device == "cpu":  # a model that reads values is counted where it runs; the count must not change
        model.infer = lambda mel, infer=model.infer: infer(mel) + 0 * mel.sum().item()
    result = count_generate_flops(model, mel)
    fft = batch * frames * 5 * n_fft * 6
    linear = 2 * batch * frames * n_mels * (n_fft + 2)
    assert result["by_operator"]["aten._fft_c2r"] == fft
    assert result["flops"] == fft + linear
    assert result["device"] == device
