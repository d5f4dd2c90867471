"""The surface every vocoder family exposes, so that training, costing and quality need no special cases.

A family is one module under ``vocoder_energy.models`` with a ``Vocoder`` subclass and its S/M/L
presets, plus one entry in ``vocoder_energy.models.REGISTRY``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize


class Vocoder(nn.Module):
    """A mel-conditioned waveform generator plus what it needs to train.

    Subclasses set ``family`` and ``presets`` and implement ``infer`` (the whole inference path),
    ``setup_training`` (build discriminators/optimizers), ``training_step`` and ``generator_losses``.

    * ``self.generator`` holds exactly the modules that generate audio; parameters are counted on it.
    * Training-only modules (discriminators) are created by ``setup_training`` so that inference
      never allocates them.
    * Audio is (batch, samples) in [-1, 1]; mels are (batch, n_mels, frames); ``generate`` returns
      ``frames * hop_length`` samples per item.
    """

    family: ClassVar[str]
    presets: ClassVar[dict[str, dict[str, Any]]]
    # Constructor arguments that change only generation (sampling steps, sigma...), so trained
    # weights can be loaded with other values: the config's ``inference:`` section.
    inference_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, n_mels: int = 80, hop_length: int = 256, sample_rate: int = 16000):
        super().__init__()
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.sample_rate = sample_rate
        self.optimizers: list[torch.optim.Optimizer] = []
        # fp16 training enables it (``precision.gradient_scaler``); disabled, it passes losses through.
        self.grad_scaler = torch.amp.GradScaler("cpu", enabled=False)
        self._inference_ready = False
        self._parameter_count: int | None = None  # frozen before weight norm is removed

    # ----------------------------------------------------------------- inference
    def infer(self, mel: torch.Tensor) -> torch.Tensor:
        """The family's inference path: every sampling step, the flow inverse. Called by ``generate``."""
        raise NotImplementedError

    def generate(self, mel: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """Mel (B, n_mels, T) -> audio (B, T * hop_length), in eval and inference mode.

        The first call prepares the model for inference (weight norm removed) in place; a seed makes
        stochastic samplers reproducible without touching the global random state.
        """
        self.prepare_inference()
        with torch.inference_mode():
            if seed is None:
                return self.infer(mel)
            devices = [mel.device] if mel.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                return self.infer(mel)

    def prepare_inference(self) -> None:
        """Eval mode and weight norm folded into the weights (idempotent)."""
        if not self._inference_ready:
            self._parameter_count = self.num_parameters()
            remove_weight_norm(self.generator)
            self._inference_ready = True
        self.eval()

    # ------------------------------------------------------------------ counting
    def num_parameters(self) -> int:
        """Generator parameters by the paper's convention, the same before and after ``prepare_inference``."""
        if self._parameter_count is None:
            return self.count_parameters()
        return self._parameter_count

    def count_parameters(self) -> int:
        """The paper's count on the training-form generator; default: weight-norm g and v included.

        Families counted after weight-norm removal (WaveGlow) override this with
        ``count_without_weight_norm(self.generator)``.
        """
        return sum(p.numel() for p in self.generator.parameters())

    # ------------------------------------------------------------------ training
    def setup_training(self) -> None:
        """Create training-only modules and ``self.optimizers``. Called once before ``training_step``."""
        raise NotImplementedError

    def training_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        """One optimisation step of every optimizer on a batch; returns the named losses as floats.

        Steps go through ``optimise`` so that fp16's gradient scaler applies; the trainer calls
        ``grad_scaler.update()`` once after the whole step.
        """
        raise NotImplementedError

    def generator_losses(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generator's objective on a batch, as ``training_step`` computes it, without stepping.

        Validation logs these on held-out clips; diffusion losses draw their noise from the global
        random stream (validation seeds it).
        """
        raise NotImplementedError

    def optimise(
        self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, clip_norm: float | None = None
    ) -> torch.Tensor | None:
        """Zero the gradients, backpropagate ``loss``, clip (when ``clip_norm``) and step ``optimizer``.

        Through ``grad_scaler``: with fp16 the loss is scaled before backward, the gradients are unscaled
        before clipping, and a step whose gradients overflowed is skipped. Returns the gradient norm
        before clipping when ``clip_norm`` is given.
        """
        optimizer.zero_grad(set_to_none=True)
        self.grad_scaler.scale(loss).backward()
        grad_norm = None
        if clip_norm is not None:
            self.grad_scaler.unscale_(optimizer)
            parameters = [p for group in optimizer.param_groups for p in group["params"]]
            grad_norm = nn.utils.clip_grad_norm_(parameters, clip_norm)
        self.grad_scaler.step(optimizer)
        return grad_norm


def remove_weight_norm(module: nn.Module) -> None:
    """Fold every weight-norm parametrization under ``module`` into a plain weight."""
    for sub in module.modules():
        if parametrize.is_parametrized(sub, "weight"):
            parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)


def weight_norm(layer: nn.Module) -> nn.Module:
    """Weight normalisation as a parametrization (g and v are both counted as parameters)."""
    return nn.utils.parametrizations.weight_norm(layer)


def count_without_weight_norm(module: nn.Module) -> int:
    """Parameters as they are after ``remove_weight_norm`` (g and v folded into one weight), in place.

    No deep copy: a copy shares torch's generated ``Parametrized*`` class, and removing weight norm
    from the copy would delete the original's ``weight`` property.
    """
    total = 0
    for sub in module.modules():
        if isinstance(sub, parametrize.ParametrizationList):
            continue  # the originals (g, v) are replaced by the folded tensor counted with their owner
        total += sum(p.numel() for p in sub.parameters(recurse=False))
        if parametrize.is_parametrized(sub):
            with torch.no_grad():
                total += sum(getattr(sub, name).numel() for name in sub.parametrizations)
    return total
