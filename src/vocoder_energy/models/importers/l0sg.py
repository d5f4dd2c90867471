"""WaveFlow of L0SG/WaveFlow (no checkpoint is published; files written by its train.py) -> our ``waveflow``.

Container ``{'model', 'iteration', 'optimizer', 'scheduler', 'learning_rate'}``; a ``module.`` prefix
(DataParallel) is stripped. Mapping per flow f: ``flows.{f}.coupling.net.front_conv.0.conv`` -> ``flows.{f}.front``;
residual block n: ``filter_gate_conv.conv`` -> ``layers.{n}.conv``, ``filter_gate_conv_c`` -> ``layers.{n}.cond``,
``res_skip_conv`` -> ``layers.{n}.res_skip``; ``proj_log_s_t.conv`` -> ``proj``; ``upsample_conv.0`` / ``.2`` ->
``upsampler.convs.0`` / ``.1``. Inferred: residual channels, flows, layers, n_mels, kernel, upsampler strides.
From the published configs (not in the file): height 16, 22050 Hz, hop 256. The ``-bipartize`` configs have
the same keys but another permutation in the second half of the flows, which our family does not implement:
the file cannot tell them apart, so such a file imports but generates wrongly (see ``notes``).
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


class WaveFlowImporter(Importer):
    format = "l0sg"
    family = "waveflow"
    project = "L0SG/WaveFlow"
    container = "{'model': state_dict, 'iteration', 'optimizer', 'scheduler', 'learning_rate'}"
    container_key = "model"
    anchor = "flows.0.coupling."

    def unwrap(self, obj, name):
        droppable = {
            "iteration": "training step counter",
            "optimizer": "Adam state (training only)",
            "scheduler": "StepLR state (training only)",
            "learning_rate": "training setting",
        }
        sd, dropped = self.dict_container(obj, name, droppable)
        if isinstance(sd, dict) and sd and all(str(k).startswith("module.") for k in sd):
            sd = {k[len("module.") :]: v for k, v in sd.items()}
        return sd, dropped

    def infer(self, sd, name) -> dict[str, Any]:
        if any("fused_filter_gate_conv_c" in k for k in sd):
            raise UnrepresentableError(
                f"{name}: saved after fuse_conditioning_layers() (synthesis form, weight norm removed); import the "
                "training checkpoint instead"
            )
        front = shape_of(sd, "flows.0.coupling.net.front_conv.0.conv")
        gate = shape_of(sd, "flows.0.coupling.net.res_blocks.0.filter_gate_conv.conv")
        cond = shape_of(sd, "flows.0.coupling.net.res_blocks.0.filter_gate_conv_c")
        ups = [shape_of(sd, f"upsample_conv.{u}") for u in (0, 2)]
        if front is None or gate is None or cond is None or None in ups:
            raise self.error(name, "no front_conv / res_blocks.0 / upsample_conv layers")
        return dict(
            residual_channels=front[0],
            n_flows=count(sd, "flows.{}."),
            n_layers=count(sd, "flows.0.coupling.net.res_blocks.{}."),
            n_mels=cond[1],
            kernel_size=gate[2],
            upsample_kernels=[u[3] for u in ups],
            upsample_scales=[u[3] // 2 for u in ups],
            height=16,
        )

    def table(self, c) -> list[Entry]:
        r, k = c["residual_channels"], c["kernel_size"]
        rows = []
        for f in range(c["n_flows"]):
            p, q = f"flows.{f}.coupling", f"flows.{f}"
            rows += wn(f"{p}.net.front_conv.0.conv", f"{q}.front", (r, 1, 1, 1))
            for n in range(c["n_layers"]):
                b, o = f"{p}.net.res_blocks.{n}", f"{q}.layers.{n}"
                rows += wn(f"{b}.filter_gate_conv.conv", f"{o}.conv", (2 * r, r, k, k))
                rows += wn(f"{b}.filter_gate_conv_c", f"{o}.cond", (2 * r, c["n_mels"], 1, 1))
                rows += wn(f"{b}.res_skip_conv", f"{o}.res_skip", (2 * r, r, 1, 1))
            rows += [Entry(f"{p}.proj_log_s_t.conv.weight", (2, r, 1, 1), f"{q}.proj.weight"),
                     Entry(f"{p}.proj_log_s_t.conv.bias", (2,), f"{q}.proj.bias")]  # fmt: skip
        for i, (u, kernel) in enumerate(zip((0, 2), c["upsample_kernels"])):
            rows += wn_transposed(f"upsample_conv.{u}", f"upsampler.convs.{i}", (1, 1, 3, kernel))
        return rows

    def representable(self, c, name):
        if math.prod(c["upsample_scales"]) != 256 or any(k % 2 for k in c["upsample_kernels"]):
            raise UnrepresentableError(f"{name}: upsampler kernels {c['upsample_kernels']} do not give the hop 256")

    def hyperparameters(self, c):
        keys = ("residual_channels", "n_flows", "n_layers", "kernel_size", "n_mels", "upsample_scales", "height")
        return {k: c[k] for k in keys} | dict(height_dilation_cycle=1, hop_length=256, sample_rate=22050)

    def notes(self, c):
        return [
            "no WaveFlow checkpoint is published; this reads files written by L0SG's train.py",
            "from the published configs, not the file: height 16, 22050 Hz, hop 256",
            "a file trained with a -bipartize config has the same keys; our family implements only the reverse-order "
            "permutation, so such a file would import but generate wrongly",
        ]
