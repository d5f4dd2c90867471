"""Vocos of gemelo-ai/vocos (Hugging Face ``charactr/vocos-mel-24khz``, ``pytorch_model.bin``) -> our ``vocos``.

A flat state dict of the ``Vocos`` module; ``backbone.*`` and ``head.*`` are our generator's keys as they are.
Dropped: ``feature_extractor.*`` (their mel transform's window and filterbank; our mels come from the data
pipeline). Inferred: n_mels, dim, intermediate dim, layers, n_fft. From the published model: hop 256
(= n_fft / 4), 24000 Hz, ``torch.istft(center=True)`` (our ``padding="center"``).
``charactr/vocos-encodec-24khz`` is refused: its AdaLayerNorm (one row per bandwidth) and EnCodec features
have no counterpart in our family.
"""

from __future__ import annotations

from typing import Any

from vocoder_energy.models.importers.common import Entry, Importer, UnrepresentableError, count, plain

FEATURES = "the original's mel front end (our mels come from the data pipeline, not the generator)"


def _shape(sd: dict, key: str) -> tuple[int, ...] | None:
    return tuple(sd[key].shape) if key in sd else None


class VocosImporter(Importer):
    format = "vocos"
    family = "vocos"
    size = "M"
    project = "gemelo-ai/vocos"
    container = "a flat state dict of the Vocos module (pytorch_model.bin)"
    container_key = ""
    anchor = "backbone.embed."

    def unwrap(self, obj, name):
        if not isinstance(obj, dict) or not any(str(k).startswith(("backbone.", "head.")) for k in obj):
            raise self.error(name, self.wrong_container(obj))
        return obj, {}

    def infer(self, sd, name) -> dict[str, Any]:
        if "backbone.norm.scale.weight" in sd or "feature_extractor.codebook_weights" in sd:
            raise UnrepresentableError(
                f"{name}: the EnCodec Vocos (charactr/vocos-encodec-24khz): our vocos family has LayerNorm where it "
                "has AdaLayerNorm (scale/shift rows per bandwidth id) and no EnCodec feature input; only the mel model "
                "(charactr/vocos-mel-24khz) can be imported"
            )
        embed = tuple(sd["backbone.embed.weight"].shape)
        pw = sd.get("backbone.convnext.0.pwconv1.weight")
        out = sd.get("head.out.weight")
        if out is None or pw is None:
            raise self.error(name, "no head.out / backbone.convnext.0.pwconv1 weight")
        return dict(
            n_mels=embed[1],
            dim=embed[0],
            intermediate_dim=pw.shape[0],
            num_layers=count(sd, "backbone.convnext.{}."),
            n_fft=out.shape[0] - 2,
            mel_window=_shape(sd, "feature_extractor.mel_spec.spectrogram.window"),
            mel_fb=_shape(sd, "feature_extractor.mel_spec.mel_scale.fb"),
        )

    def table(self, c) -> list[Entry]:
        d, i = c["dim"], c["intermediate_dim"]
        rows = []
        if c["mel_window"] is not None:
            rows.append(Entry("feature_extractor.mel_spec.spectrogram.window", c["mel_window"], None, FEATURES))
        if c["mel_fb"] is not None:
            rows.append(Entry("feature_extractor.mel_spec.mel_scale.fb", c["mel_fb"], None, FEATURES))
        rows += plain("backbone.embed", "backbone.embed", (d, c["n_mels"], 7), (d,))
        rows += plain("backbone.norm", "backbone.norm", (d,), (d,))
        for b in range(c["num_layers"]):
            p = f"backbone.convnext.{b}"
            rows.append(Entry(f"{p}.gamma", (d,), f"{p}.gamma"))
            rows += plain(f"{p}.dwconv", f"{p}.dwconv", (d, 1, 7), (d,))
            rows += plain(f"{p}.norm", f"{p}.norm", (d,), (d,))
            rows += plain(f"{p}.pwconv1", f"{p}.pwconv1", (i, d), (i,))
            rows += plain(f"{p}.pwconv2", f"{p}.pwconv2", (d, i), (d,))
        rows += plain("backbone.final_layer_norm", "backbone.final_layer_norm", (d,), (d,))
        rows += plain("head.out", "head.out", (c["n_fft"] + 2, d), (c["n_fft"] + 2,))
        return rows + [Entry("head.istft.window", (c["n_fft"],), "head.istft.window")]

    def hyperparameters(self, c):
        return dict(
            dim=c["dim"],
            intermediate_dim=c["intermediate_dim"],
            num_layers=c["num_layers"],
            n_mels=c["n_mels"],
            hop_length=c["n_fft"] // 4,
            n_fft=c["n_fft"],
            sample_rate=24000,
            padding="center",
            repeat_last_frame=False,  # recipe vocos_24k computes the original's extra frame
        )

    def representable(self, c, name):
        if c["n_fft"] % 4:
            raise UnrepresentableError(f"{name}: n_fft {c['n_fft']} is not 4 x a hop (the published hop is n_fft / 4)")

    def notes(self, c):
        return [
            "from the published model, not the file: hop n_fft / 4 (256), 24000 Hz, centred inverse STFT",
            "as the original, F frames of its own front end (recipe vocos_24k: clip / hop + 1) give (F - 1) x hop "
            "samples, the clip (repeat_last_frame=False)",
            "mel front end of the original: ln(max(mel, 1e-7)), HTK 100 bands 0-12000 Hz, no norm, n_fft 1024, "
            "hop 256, centred",
        ]
