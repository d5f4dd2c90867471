"""Vocos (Siuzdak, 2024): a ConvNeXt backbone at frame rate and an inverse-STFT head, no upsampling layers.

The generator predicts, per mel frame, the log-magnitude and phase of one STFT frame (``n_fft / 2 + 1``
bins each) and the inverse STFT turns them into ``hop_length`` samples. Module and parameter names follow
the authors' ``VocosBackbone`` and ``ISTFTHead`` (``backbone.*``, ``head.*``), so that their state dict,
less its ``feature_extractor.*`` entries, loads into ``generator`` as it is.

Training as the authors' ``configs/vocos.yaml`` and ``VocosExp``: HiFi-GAN's multi-period discriminator
(periods 2, 3, 5, 7, 11) and Vocos' multi-resolution discriminator (complex STFTs of 2048, 1024 and 512
points, each split into five frequency bands with their own convolutions); hinge losses and feature
matching, each averaged over the sub-discriminators of its group, the resolution group weighted 0.1;
45 x L1 between log mel spectrograms (torchaudio's HTK filterbank, magnitude, n_fft 1024, hop 256, log
clamped at 1e-7). AdamW (0.8, 0.9), lr 5e-4 for both, on a cosine per optimizer step without warm-up over
1M steps each (the recipe's ``max_steps`` 2M counts both optimizers' steps).

The output is not clipped (the authors' mel model has no clipping either); ``clip_audio`` clips it to
[-1, 1] at generation only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vocoder_energy.data.audio import spectrogram
from vocoder_energy.models.base import Vocoder, weight_norm
from vocoder_energy.models.hifigan import PeriodDiscriminator
from vocoder_energy.training import step_lr

LRELU_SLOPE = 0.1
PADDINGS = ("same", "center")


# ----------------------------------------------------------------------------- generator
class InverseSTFT(nn.Module):
    """Inverse STFT with a periodic Hann window of ``n_fft`` points (the ``window`` buffer).

    ``padding="same"``: each frame's inverse real FFT is windowed and overlap-added, ``(n_fft - hop) / 2``
    samples are trimmed at each end and the rest is divided by the overlap-added squared window, so that
    F frames give exactly F x hop samples (torch.istft cannot trim like this: its NOLA check fails at the
    untrimmed edges). ``padding="center"``: ``torch.istft(center=True)``, (F - 1) x hop samples.
    """

    def __init__(self, n_fft: int, hop_length: int, padding: str = "same"):
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"vocos: padding {padding!r} is not one of {', '.join(PADDINGS)}")
        if padding == "same" and (n_fft <= hop_length or (n_fft - hop_length) % 2):
            raise ValueError(
                f"vocos: 'same' padding needs n_fft > hop_length with an even difference "
                f"(n_fft {n_fft}, hop_length {hop_length})"
            )
        self.n_fft, self.hop_length, self.padding = n_fft, hop_length, padding
        self.register_buffer("window", torch.hann_window(n_fft))

    def overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, n_fft, F) frames -> (B, (F - 1) x hop + n_fft) samples, each frame added at its offset."""
        length = (frames.shape[-1] - 1) * self.hop_length + self.n_fft
        summed = F.fold(frames, output_size=(1, length), kernel_size=(1, self.n_fft), stride=(1, self.hop_length))
        return summed[:, 0, 0, :]

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """Complex (B, n_fft / 2 + 1, F) spectrum -> (B, samples) signal."""
        if self.padding == "center":
            return torch.istft(spec, self.n_fft, self.hop_length, self.n_fft, self.window, center=True)
        trim = (self.n_fft - self.hop_length) // 2
        frames = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * self.window[None, :, None]
        audio = self.overlap_add(frames)[:, trim:-trim]
        squared = self.window.square()[None, :, None].expand(1, self.n_fft, spec.shape[-1])
        envelope = self.overlap_add(squared)[0, trim:-trim]  # > 0 everywhere once trimmed
        return audio / envelope


class ISTFTHead(nn.Module):
    """Linear to n_fft + 2 values per frame: log-magnitudes (first half) and phases; inverse STFT."""

    def __init__(self, dim: int, n_fft: int, hop_length: int, padding: str = "same"):
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = InverseSTFT(n_fft, hop_length, padding)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, dim) -> complex (B, n_fft / 2 + 1, F): mag = min(exp(log-mag), 100), mag x e^(i phase)."""
        # At least float32 (autocast gives bf16/fp16 here, which have no complex FFT on every device).
        x = self.out(x).transpose(1, 2)
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        log_magnitude, phase = x.chunk(2, dim=1)
        magnitude = torch.exp(log_magnitude).clip(max=1e2)  # the authors' guard against huge magnitudes
        return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.istft(self.spectrum(x))


class ConvNeXtBlock(nn.Module):
    """x + gamma * Linear(GELU(Linear(LayerNorm(depthwise conv k7(x))))), channels last inside."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)  # the pointwise convolutions, as linear layers
        self.pwconv2 = nn.Linear(intermediate_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.dwconv(x).transpose(1, 2))
        h = self.gamma * self.pwconv2(F.gelu(self.pwconv1(h)))
        return x + h.transpose(1, 2)


class VocosBackbone(nn.Module):
    """Conv1d k7 embedding, LayerNorm, ``num_layers`` ConvNeXt blocks, LayerNorm: (B, n_mels, F) -> (B, F, dim)."""

    def __init__(self, n_mels: int, dim: int, intermediate_dim: int, num_layers: int):
        super().__init__()
        self.embed = nn.Conv1d(n_mels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim, 1 / num_layers) for _ in range(num_layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        for module in self.modules():  # the authors' initialisation; the norms keep PyTorch's
            if isinstance(module, (nn.Conv1d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class Generator(nn.Module):
    """Backbone and head: mel (B, n_mels, F) -> audio (B, F x hop).

    With ``padding="center"`` the inverse STFT gives (F - 1) x hop samples for F frames; the generator
    then repeats the last mel frame once (``repeat_last_frame``), so that F frames still give F x hop samples
    (the authors' feature extractor computes one frame more per clip than ours, which drops the centred
    STFT's last). Fed the authors' own front end (a released model), it repeats nothing, as the original.
    """

    def __init__(
        self,
        n_mels: int,
        dim: int,
        intermediate_dim: int,
        num_layers: int,
        n_fft: int,
        hop_length: int,
        padding: str,
        repeat_last_frame: bool = True,
    ):
        super().__init__()
        self.backbone = VocosBackbone(n_mels, dim, intermediate_dim, num_layers)
        self.head = ISTFTHead(dim, n_fft, hop_length, padding)
        self.repeat_last_frame = repeat_last_frame

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if self.head.istft.padding == "center" and self.repeat_last_frame:
            mel = F.pad(mel, (0, 1), mode="replicate")
        return self.head(self.backbone(mel))


# ------------------------------------------------------------------------ discriminators
class ComplexSTFTDiscriminator(nn.Module):
    """One resolution of Vocos' multi-resolution discriminator (after DAC's): the complex STFT of the
    DC-free, peak-normalised (0.8) clip, real and imaginary parts as 2 channels (time x frequency), split
    into five frequency bands, each through its own five 2-D convolutions; the bands are concatenated
    along frequency for the last convolution. Feature maps: every band's outputs after its first
    convolution, then the score map."""

    BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))

    def __init__(self, window_length: int, channels: int = 32, hop_factor: float = 0.25):
        super().__init__()
        self.window_length = window_length
        self.hop_length = int(window_length * hop_factor)
        bins = window_length // 2 + 1
        self.bands = [(int(low * bins), int(high * bins)) for low, high in self.BANDS]
        self.band_convs = nn.ModuleList(self._band_stack(channels) for _ in self.bands)
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    @staticmethod
    def _band_stack(channels: int) -> nn.ModuleList:
        specs = [  # (in, out, kernel, stride along frequency, padding)
            (2, channels, (3, 9), 1, (1, 4)),
            (channels, channels, (3, 9), 2, (1, 4)),
            (channels, channels, (3, 9), 2, (1, 4)),
            (channels, channels, (3, 9), 2, (1, 4)),
            (channels, channels, (3, 3), 1, (1, 1)),
        ]
        return nn.ModuleList(weight_norm(nn.Conv2d(i, o, k, (1, s), padding=p)) for i, o, k, s, p in specs)

    def band_spectrograms(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """(B, samples) -> per band, (B, 2, frames, bins of the band)."""
        x = audio - audio.mean(dim=-1, keepdim=True)
        x = 0.8 * x / (x.abs().max(dim=-1, keepdim=True).values + 1e-9)
        spec = torch.stft(
            x,
            n_fft=self.window_length,
            hop_length=self.hop_length,
            win_length=self.window_length,
            window=torch.hann_window(self.window_length, device=x.device, dtype=x.dtype),
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        spec = torch.view_as_real(spec).permute(0, 3, 2, 1)  # (B, bins, frames, 2) -> (B, 2, frames, bins)
        return [spec[..., low:high] for low, high in self.bands]

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features, outputs = [], []
        for band, convs in zip(self.band_spectrograms(audio), self.band_convs):
            for i, conv in enumerate(convs):
                band = F.leaky_relu(conv(band), LRELU_SLOPE)
                if i > 0:
                    features.append(band)
            outputs.append(band)
        score = self.conv_post(torch.cat(outputs, dim=-1))
        features.append(score)
        return score, features


class Discriminators(nn.Module):
    """MPD (HiFi-GAN's period discriminators) and MRD (STFTs of 2048, 1024 and 512 points).

    Vocos' period discriminator is HiFi-GAN's, except that its feature maps leave out the first
    convolution's output; ``forward`` drops it."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), fft_sizes: tuple[int, ...] = (2048, 1024, 512)):
        super().__init__()
        self.mpd = nn.ModuleList(PeriodDiscriminator(p) for p in periods)
        self.mrd = nn.ModuleList(ComplexSTFTDiscriminator(n) for n in fft_sizes)

    def forward(self, audio: torch.Tensor) -> dict[str, tuple[list[torch.Tensor], list[list[torch.Tensor]]]]:
        """(B, samples) -> {"mpd": (scores, feature maps), "mrd": (scores, feature maps)}, one per discriminator."""
        longest = max(disc.window_length for disc in self.mrd)
        if audio.shape[-1] <= longest // 2:  # torch.stft's reflect padding needs more samples than it pads
            raise ValueError(
                f"vocos: training clips of {audio.shape[-1]} samples are too short for the {longest}-point STFT "
                f"of the multi-resolution discriminator; they need more than {longest // 2}"
            )
        mpd = [disc(audio.unsqueeze(1)) for disc in self.mpd]
        mrd = [disc(audio) for disc in self.mrd]
        return {
            "mpd": ([s for s, _ in mpd], [f[1:] for _, f in mpd]),
            "mrd": ([s for s, _ in mrd], [f for _, f in mrd]),
        }


def discriminator_hinge(real_scores: list[torch.Tensor], fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Mean over discriminators of mean(relu(1 - real)) + mean(relu(1 + fake))."""
    total = sum(torch.mean(F.relu(1 - r)) + torch.mean(F.relu(1 + f)) for r, f in zip(real_scores, fake_scores))
    return total / len(real_scores)


def generator_hinge(fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Mean over discriminators of mean(relu(1 - fake))."""
    return sum(torch.mean(F.relu(1 - f)) for f in fake_scores) / len(fake_scores)


def feature_matching(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Mean over discriminators of the sum over their feature maps of mean |real - fake|."""
    total = sum(
        torch.mean(torch.abs(r.detach() - f))
        for real_maps, fake_maps in zip(real, fake)
        for r, f in zip(real_maps, fake_maps)
    )
    return total / len(real)


@lru_cache(maxsize=16)
def htk_mel_basis(sample_rate: int, n_fft: int, n_mels: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    """(n_mels, n_fft / 2 + 1) triangular filters on the HTK mel scale, 0 Hz to Nyquist, not normalised:
    torchaudio's ``MelSpectrogram`` defaults (which Vocos' mel loss uses), computed by librosa."""
    import librosa

    basis = librosa.filters.mel(
        sr=sample_rate,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=0.0,
        fmax=sample_rate / 2,
        htk=True,
        norm=None,
        dtype=np.float64,
    )
    return torch.from_numpy(basis).to(device=device, dtype=dtype)


# -------------------------------------------------------------------------------- family
class Vocos(Vocoder):
    family = "vocos"
    # 8 ConvNeXt layers and n_fft = 4 x hop as both published models; sizes vary the width only, the
    # ConvNeXt expansion staying 3 x dim as in both. M: the published mel model (configs/vocos.yaml, dim
    # 512, intermediate 1536; 13,531,650 parameters at 100 mels). S and L: this study's channel variation
    # of M, x0.5 (256, 768) and x1.5 (768, 2304); the published EnCodec model (384, 1152) lies between S and M.
    presets = {
        "S": dict(dim=256, intermediate_dim=768, num_layers=8),
        "M": dict(dim=512, intermediate_dim=1536, num_layers=8),
        "L": dict(dim=768, intermediate_dim=2304, num_layers=8),
    }
    inference_options = ("clip_audio",)

    def __init__(
        self,
        dim: int,
        intermediate_dim: int,
        num_layers: int,
        n_mels: int = 80,
        hop_length: int = 256,
        sample_rate: int = 16000,
        n_fft: int | None = None,
        padding: str = "same",
        repeat_last_frame: bool = True,
        clip_audio: bool = False,
        learning_rate: float = 5e-4,
        adam_betas: tuple[float, float] = (0.8, 0.9),
        lr_total_steps: int | None = 1_000_000,
        lr_warmup_steps: int = 0,
        mel_loss_weight: float = 45.0,
        mrd_loss_weight: float = 0.1,
        loss_n_fft: int = 1024,
        loss_hop_length: int = 256,
        loss_n_mels: int | None = 100,
    ):
        """``n_fft``: of the inverse STFT, None for 4 x ``hop_length``. ``padding``: ``"same"`` (F frames ->
        F x hop samples, as the authors' EnCodec model) or ``"center"`` (torch.istft, as their mel model; the
        last mel frame is repeated so that the length stays F x hop, unless ``repeat_last_frame`` is False: a
        released model fed its own front end, whose extra frame gives (F - 1) x hop = the clip).
        ``lr_total_steps``: length of the cosine (optimizer steps of each optimizer), None for a constant rate.
        ``loss_n_mels``: mel bands of the mel loss: 100 as the authors' (whatever the model's ``n_mels``),
        None for ``n_mels``."""
        super().__init__(n_mels=n_mels, hop_length=hop_length, sample_rate=sample_rate)
        self.n_fft = 4 * hop_length if n_fft is None else n_fft
        self.generator = Generator(
            n_mels, dim, intermediate_dim, num_layers, self.n_fft, hop_length, padding, repeat_last_frame
        )
        self.clip_audio = clip_audio
        self.learning_rate = learning_rate
        self.adam_betas = tuple(adam_betas)
        self.lr_total_steps = lr_total_steps
        self.lr_warmup_steps = lr_warmup_steps
        self.mel_loss_weight = mel_loss_weight
        self.mrd_loss_weight = mrd_loss_weight
        self.loss_n_fft = loss_n_fft
        self.loss_hop_length = loss_hop_length
        self.loss_n_mels = n_mels if loss_n_mels is None else loss_n_mels

    @staticmethod
    def min_training_samples(**hyperparameters) -> int:
        """More samples than the reflect padding of the resolution discriminator's 2048-point STFT."""
        return 2048 // 2 + 1

    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        audio = self.generator(mel)
        return audio.clamp(-1.0, 1.0) if self.clip_audio else audio

    # ------------------------------------------------------------------ training
    def lr_factor(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (from 0) over the initial one."""
        if self.lr_total_steps is None:
            return 1.0
        return step_lr.cosine(self.lr_total_steps, self.lr_warmup_steps)(step)

    def setup_training(self) -> None:
        self.discriminators = Discriminators()
        self.discriminators.to(next(self.generator.parameters()).device)
        kwargs = dict(lr=self.learning_rate, betas=self.adam_betas)  # AdamW's default weight decay 0.01
        self.optimizers = [
            torch.optim.AdamW(self.generator.parameters(), **kwargs),
            torch.optim.AdamW(self.discriminators.parameters(), **kwargs),
        ]

    def loss_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """log(max(mel, 1e-7)) of (B, samples) audio: magnitude, centred STFT with every frame, HTK filters;
        in float32 (at least) under autocast."""
        with torch.autocast(audio.device.type, enabled=False):
            audio = audio.to(torch.promote_types(audio.dtype, torch.float32))
            magnitude = spectrogram(audio, self.loss_n_fft, self.loss_hop_length, power=1.0)
            basis = htk_mel_basis(self.sample_rate, self.loss_n_fft, self.loss_n_mels, str(audio.device), audio.dtype)
            return torch.log(torch.clamp(torch.matmul(basis, magnitude), min=1e-7))

    def discriminator_losses(self, audio: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        real, generated = self.discriminators(audio), self.discriminators(fake)
        loss_mpd = discriminator_hinge(real["mpd"][0], generated["mpd"][0])
        loss_mrd = discriminator_hinge(real["mrd"][0], generated["mrd"][0])
        loss_d = loss_mpd + self.mrd_loss_weight * loss_mrd
        return {"loss_d": loss_d, "loss_d_mpd": loss_mpd, "loss_d_mrd": loss_mrd}

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        """The discriminators' step on the generator's current output, then the generator's step against
        the updated discriminators (the same output: the generator has not changed in between), each at
        its own step's cosine rate."""
        opt_g, opt_d = self.optimizers
        fake = self.generator(mel)

        d_losses = self.discriminator_losses(audio, fake.detach())
        step_lr.advance(opt_d, self.lr_factor)
        self.optimise(d_losses["loss_d"], opt_d)

        # As Lightning's optimizer toggling: no gradients into the discriminators on the generator's step.
        self.discriminators.requires_grad_(False)
        try:
            losses = self._generator_losses(audio, fake)
            step_lr.advance(opt_g, self.lr_factor)
            self.optimise(losses["loss_g"], opt_g)
        finally:
            self.discriminators.requires_grad_(True)
        every = {**d_losses, **losses}
        return {name: value.item() for name, value in every.items()}

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._generator_losses(audio, self.generator(mel))

    def _generator_losses(self, audio: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Hinge, feature-matching and mel losses of ``fake`` (B, samples) against ``audio``, combined as
        ``VocosExp``: adv_mpd + fm_mpd + 0.1 (adv_mrd + fm_mrd) + 45 mel."""
        real, generated = self.discriminators(audio), self.discriminators(fake)
        loss_adv_mpd = generator_hinge(generated["mpd"][0])
        loss_adv_mrd = generator_hinge(generated["mrd"][0])
        loss_fm_mpd = feature_matching(real["mpd"][1], generated["mpd"][1])
        loss_fm_mrd = feature_matching(real["mrd"][1], generated["mrd"][1])
        loss_mel = F.l1_loss(self.loss_mel(fake), self.loss_mel(audio))
        loss_g = (
            loss_adv_mpd
            + self.mrd_loss_weight * loss_adv_mrd
            + loss_fm_mpd
            + self.mrd_loss_weight * loss_fm_mrd
            + self.mel_loss_weight * loss_mel
        )
        return {
            "loss_g": loss_g,
            "loss_mel": loss_mel,
            "loss_adv_mpd": loss_adv_mpd,
            "loss_adv_mrd": loss_adv_mrd,
            "loss_fm_mpd": loss_fm_mpd,
            "loss_fm_mrd": loss_fm_mrd,
        }
