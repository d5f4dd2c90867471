"""The released checkpoints that our importers read: one entry each, keyed ``"<family>/<label>"``.

An entry says which original file it is (``file``, the path as the original distributes it, and ``source``,
where it is downloaded from), how to read it (``format``, a key of ``importers.FORMATS``), which mel front end
it was trained on (``recipe``, a key of ``data.recipes.RECIPES``), the original's configuration it was trained
with (``config``) and its published parameter count (weight-norm form, as the file holds it). The facts are
those of the shared reference ``released-checkpoints.md`` (sections 1.1-8.1). ``label`` is the entry's size
label in a config's ``models:`` (config/released.yaml lists them all); ``synthetic.write_synthetic`` writes an
untrained stand-in of any entry.

Not in the catalogue: WaveFlow (L0SG/WaveFlow published no checkpoint, fact sheet 6.1) and
``charactr/vocos-encodec-24khz`` (EnCodec features and AdaLayerNorm: our vocos family cannot represent it; its
importer refuses it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from vocoder_energy.core.model_entries import TRAINED_SIZES
from vocoder_energy.data.recipes import recipe_for

LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")  # a size label of the config's models: section (the schema's)


@dataclass(frozen=True)
class ReleasedCheckpoint:
    family: str  # our family
    label: str  # its size label in models.<family>
    format: str  # the importer (importers.FORMATS)
    recipe: str  # the mel front end it takes (data.recipes.RECIPES)
    config: str  # the original's configuration of this file (HiFi-GAN V1, a BigVGAN config name, ...)
    file: str  # the published file, as the original distributes it
    source: str  # where it is downloaded from
    description: str  # one line
    parameters: int  # published generator parameters, weight-norm form (what the file holds)

    def __post_init__(self):
        if not LABEL.match(self.label) or self.label in TRAINED_SIZES:
            raise ValueError(f"{self.family}/{self.label}: not a size label of a released checkpoint")
        recipe_for(self.recipe)  # an unknown recipe fails here, naming the known ones

    @property
    def key(self) -> str:
        return f"{self.family}/{self.label}"

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.file).name


HIFIGAN_DRIVE = "https://drive.google.com/drive/folders/1-eEYTB5Av9jNql0WGBlRoi-WH2J7bp5Y"  # README.md:46
HIFIGAN_PARAMETERS = {"V1": 13_936_130, "V2": 928_514, "V3": 1_464_322}
HIFIGAN_DATA = {
    "LJ": ("hifigan_22k", "LJSpeech"),
    "VCTK": ("hifigan_22k", "VCTK"),
    # Fine-tuned on Tacotron2's teacher-forced mels: Tacotron2's front end, i.e. WaveGlow's (fact sheet 1.4).
    "LJ_FT_T2": ("waveglow_22k", "LJSpeech, fine-tuned on Tacotron2 teacher-forced mels"),
}
MELGAN_CONFIG = "Generator(80, ngf=32, n_residual_layers=3)"  # interface.py:40
MELGAN_SOURCE = "https://github.com/descriptinc/melgan-neurips"  # models/*.pt are in git (torch.hub load_melgan)
BIGVGAN = {  # HF name: (label, recipe, parameters, dataset); fact sheet 8.1
    "bigvgan_v2_44khz_128band_512x": (
        "v2_44k_128_512x",
        "bigvgan_v2_44k_128_512x",
        122_184_529,
        "large-scale compilation",
    ),
    "bigvgan_v2_44khz_128band_256x": ("v2_44k_128_256x", "bigvgan_v2_44k_128", 112_747_345, "large-scale compilation"),
    "bigvgan_v2_24khz_100band_256x": ("v2_24k_100_256x", "bigvgan_v2_24k_100", 112_446_289, "large-scale compilation"),
    "bigvgan_v2_22khz_80band_256x": ("v2_22k_80_256x", "bigvgan_v2_22k_80", 112_231_249, "large-scale compilation"),
    "bigvgan_v2_22khz_80band_fmax8k_256x": (
        "v2_22k_80_fmax8k_256x",
        "bigvgan_22k_80",
        112_231_249,
        "large-scale compilation",
    ),
    "bigvgan_24khz_100band": ("v1_24k_100", "bigvgan_24k_100", 112_446_290, "LibriTTS"),
    "bigvgan_base_24khz_100band": ("base_24k_100", "bigvgan_24k_100", 14_025_154, "LibriTTS"),
    "bigvgan_22khz_80band": ("v1_22k_80", "bigvgan_22k_80", 112_231_250, "LibriTTS + VCTK + LJSpeech"),
    "bigvgan_base_22khz_80band": ("base_22k_80", "bigvgan_22k_80", 13_953_474, "LibriTTS + VCTK + LJSpeech"),
}


def _hifigan() -> list[ReleasedCheckpoint]:
    # File names inside the Drive folders are third-party usage (generator_v<N>, g_02500000), unverified (1.1).
    entries = [
        ReleasedCheckpoint(
            family="hifigan",
            label=f"{data}_{v}",
            format="jik876",
            recipe=recipe,
            config=v,
            file=f"{data}_{v}/generator_{v.lower()}",
            source=HIFIGAN_DRIVE,
            description=f"HiFi-GAN {v} (jik876), {what}",
            parameters=HIFIGAN_PARAMETERS[v],
        )
        for data, (recipe, what) in HIFIGAN_DATA.items()
        for v in ("V1", "V2", "V3")
    ]
    universal = ReleasedCheckpoint(
        family="hifigan",
        label="UNIVERSAL_V1",
        format="jik876",
        recipe="hifigan_22k",
        config="V1",
        file="UNIVERSAL_V1/g_02500000",
        source=HIFIGAN_DRIVE,
        description="HiFi-GAN V1 (jik876), universal: LibriTTS + VCTK + LJSpeech",
        parameters=HIFIGAN_PARAMETERS["V1"],
    )
    return entries + [universal]


def _bigvgan() -> list[ReleasedCheckpoint]:
    return [
        ReleasedCheckpoint(
            family="bigvgan",
            label=label,
            format="bigvgan",
            recipe=recipe,
            config=name,
            file=f"{name}/bigvgan_generator.pt",
            source=f"https://huggingface.co/nvidia/{name}",
            description=f"BigVGAN {name} (NVIDIA), {data}",
            parameters=parameters,
        )
        for name, (label, recipe, parameters, data) in BIGVGAN.items()
    ]


def _melgan(label: str, name: str, what: str) -> ReleasedCheckpoint:
    return ReleasedCheckpoint(
        family="melgan",
        label=label,
        format="descript",
        recipe="melgan_22k",
        config=MELGAN_CONFIG,
        file=f"models/{name}.pt",
        source=MELGAN_SOURCE,
        description=f"MelGAN (descript) {name}: {what}",
        parameters=4_266_050,
    )


# Not here: WaveFlow (none published, fact sheet 6.1); charactr/vocos-encodec-24khz (not representable: EnCodec
# features and AdaLayerNorm; the vocos importer refuses it).
_ALL = [
    *_hifigan(),
    _melgan("LJ", "linda_johnson", "LJSpeech"),
    _melgan("multi_speaker", "multi_speaker", "training data not stated"),
    # README.md:37-41, 88 (NVIDIA/waveglow@8afb643); the linked Drive file is waveglow_256channels_universal_v5.pt
    # (issue #204), ~1.5M iterations on a ~20 h single-speaker female studio dataset (issue #226).
    ReleasedCheckpoint(
        family="waveglow",
        label="256ch",
        format="nvidia_waveglow",
        recipe="waveglow_22k",
        config="config.json",
        file="waveglow_256channels.pt",
        source="https://drive.google.com/open?id=1rpK8CzAAirq9sWZhe9nlfvxMF1dRgFbF",
        description="WaveGlow 12 flows x 8 layers x 256 channels (NVIDIA), universal v5",
        parameters=87_879_272,
    ),
    ReleasedCheckpoint(
        family="diffwave",
        label="LJ",
        format="lmnt",
        recipe="diffwave_22k",
        config="params.py@3d82a82",
        file="diffwave-ljspeech-22kHz-1000578.pt",
        source="https://lmnt.com/assets/diffwave/diffwave-ljspeech-22kHz-1000578.pt",
        description="DiffWave (LMNT), LJSpeech, 1,000,578 steps",
        parameters=2_619_971,
    ),
    # The repository expects it at logs/pretrained_ljspeech.pt; its noise schedules are in git (schedules/pretrained).
    ReleasedCheckpoint(
        family="wavegrad",
        label="LJ",
        format="ivanvovk",
        recipe="wavegrad_22k",
        config="configs/default.json",
        file="pretrained_ljspeech.pt",
        source="https://drive.google.com/file/d/1X_AquK11C0j7U1lLxMDBdK5guabHaoXB",
        description="WaveGrad (ivanvovk), LJSpeech, hop 300",
        parameters=15_810_401,
    ),
    ReleasedCheckpoint(
        family="vocos",
        label="mel_24k",
        format="vocos",
        recipe="vocos_24k",
        config="configs/vocos.yaml",
        file="pytorch_model.bin",
        source="https://huggingface.co/charactr/vocos-mel-24khz",
        description="Vocos mel (charactr/vocos-mel-24khz), LibriTTS, 24 kHz",
        parameters=13_531_650,
    ),
    *_bigvgan(),
]

RELEASED_CHECKPOINTS: dict[str, ReleasedCheckpoint] = {entry.key: entry for entry in _ALL}
if len(RELEASED_CHECKPOINTS) != len(_ALL):
    raise ValueError("released checkpoints: a family/label appears twice")


def released_checkpoint(family: str, label: str) -> ReleasedCheckpoint | None:
    """The catalogue entry of ``models.<family>.<label>``, or None."""
    return RELEASED_CHECKPOINTS.get(f"{family}/{label}")
