"""BigVGAN generators of NVIDIA/BigVGAN (the nine ``nvidia/bigvgan*`` files) -> our ``bigvgan``.

Container ``{'generator': state_dict}`` (``bigvgan_generator.pt`` / g_*); our key names are theirs, weight norm
as a parametrization (``weight_g``/``weight_v`` -> ``original0``/``original1``; a weight-norm-free file is
accepted as their loader accepts it). Inferred from the shapes: mel bands and channels (``conv_pre``),
stages and transposed-conv kernels (``ups.{i}.0``), AMPBlock1 vs AMPBlock2, resblock kernels, Snake vs
SnakeBeta (``act.beta``), v1 vs v2 end (``conv_post.bias``: v1 has it and ends in tanh, v2 clamps). From the
published configs, not the file: strides = kernel / 2, dilations [1, 3, 5] x 3, log-scale Snake
parameters, and the sample rate of the band count (80: 22050, 100: 24000, 128: 44100 Hz).
"""

from __future__ import annotations

import math
from typing import Any

from vocoder_energy.models.importers.common import (
    Entry,
    Importer,
    UnrepresentableError,
    count,
    shape_of,
    wn,
    wn_transposed,
)

SAMPLE_RATES = {80: 22050, 100: 24000, 128: 44100}
PUBLISHED = {  # name: (n_mels, channels, kernels, bias at the end)
    "bigvgan_v2_44khz_128band_512x": (128, 1536, [16, 8, 4, 4, 4, 4], False),
    "bigvgan_v2_44khz_128band_256x": (128, 1536, [8, 8, 4, 4, 4, 4], False),
    "bigvgan_v2_24khz_100band_256x": (100, 1536, [8, 8, 4, 4, 4, 4], False),
    "bigvgan_v2_22khz_80band_256x or bigvgan_v2_22khz_80band_fmax8k_256x": (80, 1536, [8, 8, 4, 4, 4, 4], False),
    "bigvgan_24khz_100band": (100, 1536, [8, 8, 4, 4, 4, 4], True),
    "bigvgan_base_24khz_100band": (100, 512, [16, 16, 4, 4], True),
    "bigvgan_22khz_80band": (80, 1536, [8, 8, 4, 4, 4, 4], True),
    "bigvgan_base_22khz_80band": (80, 512, [16, 16, 4, 4], True),
}
FILTER = (1, 1, 12)


class BigVGANImporter(Importer):
    format = "bigvgan"
    family = "bigvgan"
    project = "NVIDIA/BigVGAN"
    container = "{'generator': state_dict} (bigvgan_generator.pt or a g_* file)"
    container_key = "generator"
    anchor = "activation_post."
    anchor_priority = 1  # before HiFi-GAN's anchor: a BigVGAN state dict has conv_pre too

    def unwrap(self, obj, name):
        if isinstance(obj, dict) and {"mpd", "mrd", "optim_g"} & set(obj):
            raise self.error(
                name, "a discriminator/optimizer file (bigvgan_discriminator_optimizer.pt / do_*), not the generator"
            )
        return self.dict_container(obj, name, {})

    def infer(self, sd, name) -> dict[str, Any]:
        pre = shape_of(sd, "conv_pre")
        stages = count(sd, "ups.{}.0.")
        if pre is None or stages == 0:
            raise self.error(name, "no conv_pre / ups.{i}.0 layers")
        kernels = [shape_of(sd, f"ups.{i}.0")[2] for i in range(stages)]
        resblock = "1" if any(k.startswith("resblocks.0.convs1.") for k in sd) else "2"
        conv = "convs1.0" if resblock == "1" else "convs.0"
        n_blocks = count(sd, "resblocks.{}.")
        n_kernels = n_blocks // stages if n_blocks % stages == 0 else 3
        n_dilations = count(sd, f"resblocks.0.{conv[:-1]}{{}}.")
        config = dict(
            n_mels=pre[1],
            channels=pre[0],
            kernels=kernels,
            strides=[k // 2 for k in kernels],
            resblock=resblock,
            resblock_kernels=[(shape_of(sd, f"resblocks.{j}.{conv}") or (0, 0, 0))[2] for j in range(n_kernels)],
            dilations=[[1, 3, 5][:n_dilations] if n_dilations <= 3 else [1, 3, 5]] * n_kernels,
            activation="snakebeta" if "activation_post.act.beta" in sd else "snake",
            bias_at_final="conv_post.bias" in sd,
        )
        config["published"] = next(
            (
                n
                for n, (m, c, k, b) in PUBLISHED.items()
                if (m, c, k, b) == (pre[1], pre[0], kernels, config["bias_at_final"])
            ),
            "none",
        )
        return config

    def table(self, c) -> list[Entry]:
        ch = [c["channels"] // 2**i for i in range(len(c["kernels"]) + 1)]
        rows = wn("conv_pre", "conv_pre", (ch[0], c["n_mels"], 7))
        for i, k in enumerate(c["kernels"]):
            rows += wn_transposed(f"ups.{i}.0", f"ups.{i}.0", (ch[i], ch[i + 1], k))

        def activation(prefix: str, width: int) -> list[Entry]:
            params = ["alpha", "beta"] if c["activation"] == "snakebeta" else ["alpha"]
            rows = [Entry(f"{prefix}.act.{p}", (width,), f"{prefix}.act.{p}") for p in params]
            return rows + [
                Entry(f"{prefix}.upsample.filter", FILTER, f"{prefix}.upsample.filter"),
                Entry(f"{prefix}.downsample.lowpass.filter", FILTER, f"{prefix}.downsample.lowpass.filter"),
            ]

        n_kernels = len(c["resblock_kernels"])
        for j in range(len(c["kernels"]) * n_kernels):
            width, kr = ch[j // n_kernels + 1], c["resblock_kernels"][j % n_kernels]
            n_dil = len(c["dilations"][j % n_kernels])
            groups = ("convs1", "convs2") if c["resblock"] == "1" else ("convs",)
            for group in groups:
                for n in range(n_dil):
                    rows += wn(f"resblocks.{j}.{group}.{n}", f"resblocks.{j}.{group}.{n}", (width, width, kr))
            for a in range(len(groups) * n_dil):
                rows += activation(f"resblocks.{j}.activations.{a}", width)
        rows += activation("activation_post", ch[-1])
        return rows + wn("conv_post", "conv_post", (1, ch[-1], 7), bias=c["bias_at_final"])

    def representable(self, c, name):
        if any(k % 2 for k in c["kernels"]):
            raise UnrepresentableError(
                f"{name}: odd transposed-conv kernels {c['kernels']}; the stride is not in the file"
            )
        if c["n_mels"] not in SAMPLE_RATES:
            raise UnrepresentableError(
                f"{name}: {c['n_mels']} mel bands match no published BigVGAN (80, 100, 128): the sample rate is unknown"
            )

    def hyperparameters(self, c):
        return dict(
            upsample_initial_channel=c["channels"],
            upsample_rates=c["strides"],
            upsample_kernel_sizes=c["kernels"],
            resblock=c["resblock"],
            resblock_kernel_sizes=c["resblock_kernels"],
            resblock_dilation_sizes=c["dilations"],
            activation=c["activation"],
            snake_logscale=True,
            use_tanh_at_final=c["bias_at_final"],
            use_bias_at_final=c["bias_at_final"],
            n_mels=c["n_mels"],
            hop_length=math.prod(c["strides"]),
            sample_rate=SAMPLE_RATES[c["n_mels"]],
        )

    def notes(self, c):
        return [
            f"published model: {c['published']}",
            "from the published configs, not the file: strides = kernel / 2, dilations [1, 3, 5], snake_logscale, "
            "tanh exactly when conv_post has a bias (v1), the sample rate of the band count",
        ]
