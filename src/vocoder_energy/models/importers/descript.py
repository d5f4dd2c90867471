"""MelGAN generators of descriptinc/melgan-neurips (``models/linda_johnson.pt``, ``models/multi_speaker.pt``,
or a trained ``best_netG.pt``) -> our ``melgan``.

A bare state dict of an ``nn.Sequential`` (``model.{i}.*``). Mapping: ``model.1`` -> ``conv_pre``; per stage s
(``2 + r`` modules, r = residual blocks per stage) the transposed conv ``model.{3+(2+r)s}`` -> ``ups.{s}``
and ResnetBlock b ``model.{4+(2+r)s+b}``: ``block.2`` (dilated k3) -> ``stacks.{s}.{b}.conv_dilated``,
``block.4`` (k1) -> ``conv_pointwise``, ``shortcut`` -> ``shortcut``; the last conv -> ``conv_post``.
Inferred from the shapes: n_mels, ngf, r, ratios (kernel = 2 x ratio). From the published setup: 22050 Hz.
"""

from __future__ import annotations

import math
import re
from typing import Any

from vocoder_energy.models.importers.common import Entry, Importer, UnrepresentableError, shape_of, wn, wn_transposed


class MelGANImporter(Importer):
    format = "descript"
    family = "melgan"
    project = "descriptinc/melgan-neurips"
    container = "a bare state dict of the generator (model.{i}.* keys)"
    container_key = ""
    anchor = "model.1."

    def unwrap(self, obj, name):
        if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and k.startswith("model.") for k in obj):
            if isinstance(obj, dict) and any(str(k).startswith("model.") for k in obj):
                return obj, {}  # a state dict with foreign keys: the key check names them
            raise self.error(name, self.wrong_container(obj))
        return obj, {}

    def infer(self, sd, name) -> dict[str, Any]:
        direct = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"model\.(\d+)\.(weight_v|weight)", k))})
        blocks = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"model\.(\d+)\.block\.2\.\w+", k))})
        if len(direct) < 3 or direct[0] != 1:
            raise self.error(name, "no model.1 / transposed-conv / last-conv layers")
        ups = direct[1:-1]
        per_stage = [sum(1 for b in blocks if u < b < nxt) for u, nxt in zip(ups, ups[1:] + [direct[-1]])]
        residual = per_stage[0] if per_stage else 0
        kernels = [shape_of(sd, f"model.{u}")[2] for u in ups]
        return dict(
            n_mels=shape_of(sd, "model.1")[1],
            ngf=shape_of(sd, f"model.{direct[-1]}")[1],
            residual_layers=residual,
            kernels=kernels,
            ratios=[k // 2 for k in kernels],
        )

    def table(self, c) -> list[Entry]:
        stages, r, ngf = len(c["ratios"]), c["residual_layers"], c["ngf"]
        ch = [ngf * 2 ** (stages - i) for i in range(stages + 1)]
        rows = wn("model.1", "conv_pre", (ch[0], c["n_mels"], 7))
        for s, k in enumerate(c["kernels"]):
            base = 2 + (2 + r) * s
            rows += wn_transposed(f"model.{base + 1}", f"ups.{s}", (ch[s], ch[s + 1], k))
            for b in range(r):
                w = ch[s + 1]
                rows += wn(f"model.{base + 2 + b}.block.2", f"stacks.{s}.{b}.conv_dilated", (w, w, 3))
                rows += wn(f"model.{base + 2 + b}.block.4", f"stacks.{s}.{b}.conv_pointwise", (w, w, 1))
                rows += wn(f"model.{base + 2 + b}.shortcut", f"stacks.{s}.{b}.shortcut", (w, w, 1))
        return rows + wn(f"model.{2 + (2 + r) * stages + 2}", "conv_post", (1, ngf, 7))

    def representable(self, c, name):
        if any(k != 2 * r for k, r in zip(c["kernels"], c["ratios"])):
            raise UnrepresentableError(f"{name}: transposed-conv kernels {c['kernels']} are not twice a ratio")

    def hyperparameters(self, c):
        return dict(
            ngf=c["ngf"],
            n_residual_layers=c["residual_layers"],
            disc_ndf=16,
            ratios=c["ratios"],
            n_mels=c["n_mels"],
            hop_length=math.prod(c["ratios"]),
            sample_rate=22050,
        )

    def notes(self, c):
        return [
            "published configuration: ngf 32, 3 residual blocks, ratios [8, 8, 2, 2], 22050 Hz; "
            "the sample rate is not in the file",
            "disc_ndf 16 is a training-only setting (no discriminator is released)",
            "mel front end of the original: log10(max(mel, 1e-5)), Slaney 80 bands 0-11025 Hz, n_fft 1024, hop 256",
        ]
