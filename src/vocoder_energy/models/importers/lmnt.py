"""DiffWave of lmnt-com/diffwave (``diffwave-ljspeech-22kHz-1000578.pt``, train's ``weights-*.pt``) -> our
``diffwave``.

Container ``{'step', 'model', 'optimizer', 'params', 'scaler'}``; no weight norm. Mapping: the keys are ours
but ``spectrogram_upsampler.conv1`` / ``conv2`` -> ``upsampler.convs.0`` / ``.1`` and ``residual_layers.{i}``
-> ``layers.{i}``. Inferred from the shapes: residual channels and layers, n_mels, embedding sizes, upsampler
strides (kernel / 2). From ``params`` when the file has it (else the published values): the dilation cycle
(10), the training noise schedule (linspace(1e-4, 0.05, 50)), 22050 Hz, hop 256; ``params`` that disagree
with the shapes are an error. Sampling as published: the 6-step fast schedule (our default).
"""

from __future__ import annotations

import math
from typing import Any

from vocoder_energy.models.blocks import linear_betas
from vocoder_energy.models.importers.common import (
    Entry,
    Importer,
    UnrepresentableError,
    count,
    is_linspace,
    plain,
)

PUBLISHED = dict(
    sample_rate=22050, hop_samples=256, dilation_cycle_length=10, noise_schedule=linear_betas(1e-4, 0.05, 50)
)


class DiffWaveImporter(Importer):
    format = "lmnt"
    family = "diffwave"
    project = "lmnt-com/diffwave"
    container = "{'step', 'model': state_dict, 'optimizer', 'params', 'scaler'}"
    container_key = "model"
    anchor = "residual_layers.0.dilated_conv."

    def unwrap(self, obj, name):
        droppable = {
            "step": "training step counter",
            "optimizer": "Adam state (training only)",
            "params": "read for the configuration (dilation cycle, noise schedule, sample rate, hop)",
            "scaler": "fp16 gradient scaler (training only)",
        }
        sd, dropped = self.dict_container(obj, name, droppable)
        params = obj.get("params")
        if params is not None and not isinstance(params, dict):
            raise self.error(name, f"'params' is a {type(params).__name__}, not a dict")
        self._params = dict(params or {})
        return sd, dropped

    def infer(self, sd, name) -> dict[str, Any]:
        params = {**PUBLISHED, **getattr(self, "_params", {})}
        need = (
            "input_projection.weight",
            "diffusion_embedding.projection1.weight",
            "spectrogram_upsampler.conv1.weight",
        )
        missing = [k for k in need if k not in sd]
        if missing:
            raise self.error(name, f"missing keys {', '.join(missing)}")
        channels = sd["input_projection.weight"].shape[0]
        layers = count(sd, "residual_layers.{}.")
        emb = tuple(sd["diffusion_embedding.projection1.weight"].shape)
        cond = sd.get("residual_layers.0.conditioner_projection.weight")
        kernels = [
            sd[f"spectrogram_upsampler.conv{i}.weight"].shape[-1]
            for i in range(1, 10)
            if f"spectrogram_upsampler.conv{i}.weight" in sd
        ]
        schedule = [float(b) for b in params["noise_schedule"]]
        config = dict(
            n_mels=cond.shape[1] if cond is not None else None,
            residual_channels=channels,
            residual_layers=layers,
            dilation_cycle_length=int(params["dilation_cycle_length"]),
            embedding_dim=emb[1],
            embedding_hidden=emb[0],
            upsample_kernels=kernels,
            strides=[k // 2 for k in kernels],
            training_steps=len(schedule),
            beta_start=schedule[0],
            beta_end=schedule[-1],
            sample_rate=int(params["sample_rate"]),
            hop_length=int(params["hop_samples"]),
            _schedule=schedule,
        )
        for key in ("residual_channels", "residual_layers", "n_mels"):
            if key in params and config[key] is not None and int(params[key]) != config[key]:
                raise self.error(name, f"params[{key!r}] = {params[key]} but the weights have {config[key]}")
        return config

    def table(self, c) -> list[Entry]:
        ch, hid, m = c["residual_channels"], c["embedding_hidden"], c["n_mels"]
        rows = plain("input_projection", "input_projection", (ch, 1, 1), (ch,))
        rows += plain(
            "diffusion_embedding.projection1", "diffusion_embedding.projection1", (hid, c["embedding_dim"]), (hid,)
        )
        rows += plain("diffusion_embedding.projection2", "diffusion_embedding.projection2", (hid, hid), (hid,))
        for i, k in enumerate(c["upsample_kernels"]):
            rows += plain(f"spectrogram_upsampler.conv{i + 1}", f"upsampler.convs.{i}", (1, 1, 3, k), (1,))
        for i in range(c["residual_layers"]):
            p, q = f"residual_layers.{i}", f"layers.{i}"
            rows += plain(f"{p}.dilated_conv", f"{q}.dilated_conv", (2 * ch, ch, 3), (2 * ch,))
            rows += plain(f"{p}.diffusion_projection", f"{q}.diffusion_projection", (ch, hid), (ch,))
            if m is not None:
                rows += plain(f"{p}.conditioner_projection", f"{q}.conditioner_projection", (2 * ch, m, 1), (2 * ch,))
            rows += plain(f"{p}.output_projection", f"{q}.output_projection", (2 * ch, ch, 1), (2 * ch,))
        rows += plain("skip_projection", "skip_projection", (ch, ch, 1), (ch,))
        return rows + plain("output_projection", "output_projection", (1, ch, 1), (1,))

    def representable(self, c, name):
        if c["n_mels"] is None:
            raise UnrepresentableError(
                f"{name}: an unconditional DiffWave (no conditioner_projection); our family is mel-conditioned"
            )
        if not is_linspace(c["_schedule"]):
            raise UnrepresentableError(
                f"{name}: the training noise schedule is not a linspace; our diffwave takes only "
                "beta_start/beta_end/training_steps"
            )
        if any(k % 2 for k in c["upsample_kernels"]) or math.prod(c["strides"]) != c["hop_length"]:
            raise UnrepresentableError(
                f"{name}: upsampler kernels {c['upsample_kernels']} (strides kernel / 2) "
                f"do not give hop {c['hop_length']}"
            )

    def hyperparameters(self, c):
        keys = ("residual_channels", "residual_layers", "dilation_cycle_length", "n_mels", "hop_length", "sample_rate",
                "embedding_dim", "embedding_hidden", "training_steps", "beta_start", "beta_end")  # fmt: skip
        return {k: c[k] for k in keys} | dict(upsample_strides=c["strides"], fast_sampling=True)

    def notes(self, c):
        return [
            "sampling: the published fast schedule [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5] (fast_sampling=True); "
            "fast_sampling=False runs the 50 training steps",
            "mel front end of the original: clamp((20 log10(max(mel, 1e-5)) - 20 + 100) / 100, 0, 1), "
            "HTK 80 bands 20-11025 Hz, normalized STFT, n_fft 1024, hop 256, centred",
        ]
