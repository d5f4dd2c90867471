"""Validation while training: D_STFT of a few held-out clips every ``every_seconds`` of training, and the
generator's training losses on the same clips (a validation record of the loss log: see ``loss_log``).

The clips are the first few of the test split: they only monitor the run (nothing is selected on
them), and they are clips the model never trains on. Generation runs the family's inference path on
the training-form model with its own seeded random stream, so validating never changes the run:
a resumed run that validates at other moments ends with the same weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from vocoder_energy.evaluation.spectral_distance import d_stft
from vocoder_energy.training import loss_log

SNIPPETS = 2  # audio files kept per validation


class Validation:
    def __init__(
        self,
        audio: np.ndarray,
        mel: np.ndarray,
        every_seconds: float,
        out_dir: str | Path,
        sample_rate: int,
        clips: int = 4,
        seed: int = 0,
    ):
        self.audio, self.mel = torch.from_numpy(audio[:clips]), torch.from_numpy(mel[:clips])
        self.every_seconds, self.out_dir, self.sample_rate, self.seed = every_seconds, Path(out_dir), sample_rate, seed
        self.last_seconds = 0.0
        self.last_d_stft: float | None = None

    def due(self, elapsed: float) -> bool:
        return elapsed - self.last_seconds >= self.every_seconds

    def run(self, model, step: int, elapsed: float, device: torch.device) -> dict:
        """Validate now; returns the record for the loss log and keeps a few snippets."""
        was_training = model.training
        model.eval()
        try:
            devices = [device] if device.type == "cuda" else []
            audio, mel = self.audio.to(device), self.mel.to(device)
            with torch.inference_mode(), torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed)
                generated = model.infer(mel).float().cpu()
                torch.manual_seed(self.seed)  # diffusion losses draw steps and noise: the same ones every time
                losses = {name: float(value) for name, value in model.generator_losses(audio, mel).items()}
        finally:
            model.train(was_training)
        samples = min(generated.shape[-1], self.audio.shape[-1])
        self.last_seconds, self.last_d_stft = elapsed, d_stft(self.audio[:, :samples], generated[:, :samples])
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for i, clip in enumerate(generated[:SNIPPETS]):
            soundfile.write(self.out_dir / f"step{step:09d}_clip{i}.wav", clip.clamp(-1, 1).numpy(), self.sample_rate)
        return loss_log.validation_record(step, elapsed, self.last_d_stft, losses)


class TensorBoard:
    """TensorBoard event files when ``tensorboard`` is installed (optional); otherwise does nothing."""

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.writer = None
        else:
            self.writer = SummaryWriter(str(log_dir))

    def record(self, record: dict) -> None:
        if self.writer:
            for key, value in record.items():
                if key not in ("step", "seconds"):
                    self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.writer:
            self.writer.close()

    def __enter__(self) -> TensorBoard:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
