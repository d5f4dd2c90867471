"""HiFi-GAN generators of jik876/hifi-gan (LJ_V1/2/3, LJ_FT_T2_V*, VCTK_V*, UNIVERSAL_V1) -> our ``hifigan``.

Container ``{'generator': state_dict}`` (g_* / generator_v* files); the keys are ours but for weight norm
(``weight_g`` / ``weight_v`` -> parametrization). Inferred from the shapes: channels (``conv_pre``),
stages and transposed-conv kernels (``ups.*``), ResBlock1 vs ResBlock2 (``convs1`` vs ``convs``) and the
resblock kernels. Not in the file, from the published configs: strides = kernel / 2 (true of V1, V2, V3),
the dilations of the resblock type (V1/V2: [1, 3, 5] x 3; V3: [1, 2], [2, 6], [3, 12]), 22050 Hz, hop 256.
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

PUBLISHED = {
    "V1": dict(channels=512, resblock="1", kernels=[16, 16, 4, 4], resblock_kernels=[3, 7, 11]),
    "V2": dict(channels=128, resblock="1", kernels=[16, 16, 4, 4], resblock_kernels=[3, 7, 11]),
    "V3": dict(channels=256, resblock="2", kernels=[16, 16, 8], resblock_kernels=[3, 5, 7]),
}
DILATIONS = {"1": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "2": [[1, 2], [2, 6], [3, 12]]}


class HiFiGANImporter(Importer):
    format = "jik876"
    family = "hifigan"
    project = "jik876/hifi-gan"
    container = "{'generator': state_dict} (a g_* / generator_v* file)"
    container_key = "generator"
    anchor = "conv_pre."

    def unwrap(self, obj, name):
        if isinstance(obj, dict) and {"mpd", "msd"} & set(obj):
            raise self.error(
                name, "a discriminator/optimizer file (do_*: 'mpd', 'msd', 'optim_g', ...), not a generator"
            )
        return self.dict_container(obj, name, {})

    def infer(self, sd, name) -> dict[str, Any]:
        pre = shape_of(sd, "conv_pre")
        if pre is None or len(pre) != 3:
            raise self.error(name, "no 1-D conv_pre weight")
        stages = count(sd, "ups.{}.")
        if stages == 0 or any(k.startswith("ups.0.0.") for k in sd):
            raise self.error(name, "no ups.{i}.weight layers (ups.{i}.0.* is BigVGAN's layout: format 'bigvgan')")
        kernels = [shape_of(sd, f"ups.{i}")[2] for i in range(stages)]
        resblock = "1" if any(k.startswith("resblocks.0.convs1.") for k in sd) else "2"
        conv = "convs1.0" if resblock == "1" else "convs.0"
        n_blocks = count(sd, "resblocks.{}.")
        n_kernels = n_blocks // stages if n_blocks % stages == 0 else 3
        resblock_kernels = [(shape_of(sd, f"resblocks.{j}.{conv}") or (0, 0, 0))[2] for j in range(n_kernels)]
        config = dict(
            n_mels=pre[1],
            channels=pre[0],
            resblock=resblock,
            kernels=kernels,
            strides=[k // 2 for k in kernels],
            resblock_kernels=resblock_kernels,
            dilations=DILATIONS[resblock][:n_kernels] if n_kernels <= 3 else DILATIONS[resblock],
        )
        config["published"] = next(
            (v for v, p in PUBLISHED.items() if all(config[k] == p[k] for k in p) and config["n_mels"] == 80), "none"
        )
        return config

    def table(self, c) -> list[Entry]:
        ch = [c["channels"] // 2**i for i in range(len(c["kernels"]) + 1)]
        rows = wn("conv_pre", "conv_pre", (ch[0], c["n_mels"], 7))
        for i, k in enumerate(c["kernels"]):
            rows += wn_transposed(f"ups.{i}", f"ups.{i}", (ch[i], ch[i + 1], k))
        n_kernels = len(c["resblock_kernels"])
        for j in range(len(c["kernels"]) * n_kernels):
            width, kr = ch[j // n_kernels + 1], c["resblock_kernels"][j % n_kernels]
            groups = ("convs1", "convs2") if c["resblock"] == "1" else ("convs",)
            for group in groups:
                for n in range(len(c["dilations"][j % n_kernels])):
                    rows += wn(f"resblocks.{j}.{group}.{n}", f"resblocks.{j}.{group}.{n}", (width, width, kr))
        return rows + wn("conv_post", "conv_post", (1, ch[-1], 7))

    def representable(self, c, name):
        if math.prod(c["strides"]) != 256 or any(k % 2 for k in c["kernels"]):
            raise UnrepresentableError(
                f"{name}: transposed-conv kernels {c['kernels']} do not give strides (kernel / 2) multiplying to the "
                "published hop 256; the stride is not stored in the file"
            )

    def hyperparameters(self, c):
        return dict(
            upsample_initial_channel=c["channels"],
            resblock=c["resblock"],
            upsample_rates=c["strides"],
            upsample_kernel_sizes=c["kernels"],
            resblock_kernel_sizes=c["resblock_kernels"],
            resblock_dilation_sizes=c["dilations"],
            n_mels=c["n_mels"],
            hop_length=256,
            sample_rate=22050,
        )

    def notes(self, c):
        return [
            f"published config: {c['published']}",
            "from the published configs, not the file: strides = kernel / 2, dilations of the resblock type, "
            "22050 Hz, hop 256",
            "mel front end of the original: ln(max(mel, 1e-5)), Slaney 80 bands 0-8000 Hz, n_fft 1024, hop 256",
        ]
