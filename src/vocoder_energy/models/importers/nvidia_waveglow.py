"""WaveGlow of NVIDIA/waveglow (``waveglow_256channels_universal_v5.pt`` and train.py's ``waveglow_*``) -> our
``waveglow``.

The published container is ``{'model': <pickled glow.WaveGlow nn.Module>, 'iteration', 'optimizer',
'learning_rate'}``: it is read with ``safe_pickle`` (nothing of it runs; module objects become records and
the state dict is rebuilt from their ``_parameters``), or with ``weights_only=True`` when ``'model'`` was
re-saved as a state dict. Keys map one to one (``WN.{k}.*``, ``upsample``) but for weight norm; the
invertible 1x1 convolutions ``convinv.{k}.conv.weight`` [C, C, 1] become our ``convinv.{k}.weight`` [C, C].
Inferred: n_mels and the upsampler kernel, flows, layers, WaveNet width, kernel, n_group and the early
outputs (from the 1x1 sizes). From the published config: hop 256 (the upsampler's stride), 22050 Hz.
"""

from __future__ import annotations

from typing import Any

from vocoder_energy.core.files import UnsafeFileError
from vocoder_energy.models.importers import safe_pickle
from vocoder_energy.models.importers.common import Entry, Importer, UnrepresentableError, count, shape_of, wn

# The classes a pickled WaveGlow holds (fact sheet 3.2); each becomes a record, none is imported.
MODULE_CLASSES = (
    "glow.WaveGlow",
    "glow.WN",
    "glow.Invertible1x1Conv",
    "torch.nn.modules.conv.Conv1d",
    "torch.nn.modules.conv.ConvTranspose1d",
    "torch.nn.modules.container.ModuleList",
    "torch.nn.utils.weight_norm.WeightNorm",
)


class WaveGlowImporter(Importer):
    format = "nvidia_waveglow"
    family = "waveglow"
    project = "NVIDIA/waveglow"
    container = "{'model': glow.WaveGlow module (or its state dict), 'iteration', 'optimizer', 'learning_rate'}"
    container_key = "model"
    anchor = "WN.0.start."

    def load(self, path):
        try:
            return super().load(path)
        except UnsafeFileError:
            return safe_pickle.load(path, MODULE_CLASSES)

    def unwrap(self, obj, name):
        droppable = {
            "iteration": "training step counter",
            "optimizer": "Adam state (training only)",
            "learning_rate": "training setting",
        }
        model, dropped = self.dict_container(obj, name, droppable)
        if isinstance(model, safe_pickle.Record):
            if model.qualified_name != "glow.WaveGlow":
                raise self.error(name, f"'model' is a pickled {model.qualified_name}, not glow.WaveGlow")
            model = safe_pickle.module_state_dict(model)
        return model, dropped

    def infer(self, sd, name) -> dict[str, Any]:
        if any(".res_layers." in k or ".cond_layers." in k for k in sd):
            raise self.error(
                name,
                "the old WaveGlow layout (res_layers / skip_layers / cond_layers); "
                "upgrade it with NVIDIA's convert_model.py first",
            )
        up = tuple(sd["upsample.weight"].shape) if "upsample.weight" in sd else None
        flows = count(sd, "WN.{}.")
        if up is None or flows == 0 or f"convinv.{flows - 1}.conv.weight" not in sd:
            raise self.error(name, "no upsample / WN.{k} / convinv.{k}.conv layers")
        sizes = [
            sd[f"convinv.{k}.conv.weight"].shape[0] if f"convinv.{k}.conv.weight" in sd else 0 for k in range(flows)
        ]
        drops = [k for k in range(1, flows) if sizes[k] != sizes[k - 1]]
        every = drops[0] if drops else flows
        start = shape_of(sd, "WN.0.start")
        in0 = shape_of(sd, "WN.0.in_layers.0")
        return dict(
            n_mels=up[0],
            upsample_kernel_size=up[2],
            n_flows=flows,
            n_group=sizes[0],
            n_early_every=every,
            n_early_size=sizes[0] - sizes[every] if drops else 2,
            n_layers=count(sd, "WN.0.in_layers.{}."),
            n_channels=start[0],
            kernel_size=in0[2] if in0 else 3,
        )

    def table(self, c) -> list[Entry]:
        n, m = c["n_channels"], c["n_mels"]
        rows = [Entry("upsample.weight", (m, m, c["upsample_kernel_size"]), "upsample.weight"),
                Entry("upsample.bias", (m,), "upsample.bias")]  # fmt: skip
        remaining, sizes = c["n_group"], []
        for k in range(c["n_flows"]):
            if k > 0 and k % c["n_early_every"] == 0:
                remaining -= c["n_early_size"]
            sizes.append(remaining)
        for k, size in enumerate(sizes):
            p = f"WN.{k}"
            for i in range(c["n_layers"]):
                rows += wn(f"{p}.in_layers.{i}", f"{p}.in_layers.{i}", (2 * n, n, c["kernel_size"]))
            for i in range(c["n_layers"]):
                out = 2 * n if i < c["n_layers"] - 1 else n
                rows += wn(f"{p}.res_skip_layers.{i}", f"{p}.res_skip_layers.{i}", (out, n, 1))
            rows += wn(f"{p}.start", f"{p}.start", (n, size // 2, 1))
            rows += [
                Entry(f"{p}.end.weight", (size, n, 1), f"{p}.end.weight"),
                Entry(f"{p}.end.bias", (size,), f"{p}.end.bias"),
            ]
            rows += wn(f"{p}.cond_layer", f"{p}.cond_layer", (2 * n * c["n_layers"], m * c["n_group"], 1))
        for k, size in enumerate(sizes):
            rows.append(
                Entry(f"convinv.{k}.conv.weight", (size, size, 1), f"convinv.{k}.weight", transform=lambda w: w[..., 0])
            )
        return rows

    def representable(self, c, name):
        if c["n_group"] % 2 or c["n_early_size"] % 2 or 256 % c["n_group"] or c["upsample_kernel_size"] < 256:
            raise UnrepresentableError(
                f"{name}: n_group {c['n_group']} / early size {c['n_early_size']} do not fit hop 256"
            )

    def hyperparameters(self, c):
        keys = ("n_channels", "n_flows", "n_group", "n_early_every", "n_early_size", "n_layers", "kernel_size")
        return {k: c[k] for k in keys} | dict(
            upsample_kernel_size=c["upsample_kernel_size"], n_mels=c["n_mels"], hop_length=256, sample_rate=22050
        )

    def notes(self, c):
        return [
            "from the published config, not the file: hop 256 (upsampler stride), 22050 Hz",
            "published inference uses sigma 0.6 (README) or 0.666 (Tacotron2 notebook); our default sigma is 1.0",
            "mel front end of the original: ln(max(mel, 1e-5)), Slaney 80 bands 0-8000 Hz, n_fft 1024, hop 256, "
            "centred",
        ]
