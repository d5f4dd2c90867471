"""Families from other packages: discovery (entry points, a config's ``families:``), the errors that
name the key, and the contract kit, which passes the real families and names each rule a broken one
breaks."""

from __future__ import annotations

import csv

import pytest
import torch
import yaml
from snakemake.utils import validate
from test_workflow import ROOT, TINY, clone, job_counts, only_models, snakemake, write_config
from torch import nn

from vocoder_energy.core.config_checks import ConfigError, check_config
from vocoder_energy.data.corpus import make_synthetic_corpus
from vocoder_energy.models import REGISTRY, Vocoder, add_families, families, vocoder_class
from vocoder_energy.models import _declared as declared_families
from vocoder_energy.models.base import weight_norm
from vocoder_energy.testing import RULES, ContractError, check_vocoder


def tiny_config(**sections) -> dict:
    """tests/data/tiny.yaml with ``sections`` replaced, after the schema filled in its defaults."""
    config = yaml.safe_load(TINY.read_text()) | sections
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return config


PLUGIN_REASON = "the example plugin is not installed (make test installs examples/istft-vocoder)"


@pytest.fixture(autouse=True)
def no_declared_families():
    """Each test starts and ends with no family declared by a config in this process."""
    declared_families.clear()
    yield
    declared_families.clear()


# ------------------------------------------------------------------------------------- the kit


@pytest.mark.parametrize("family", list(REGISTRY))
def test_every_built_in_family_meets_the_contract(family):
    overrides = yaml.safe_load(TINY.read_text())["models"][family]["S"]
    # Vocos' resolution discriminator and BigVGAN's mel loss take 2048-point STFTs: more than 1,024 samples.
    frames = 8 if family in ("vocos", "bigvgan") else 4
    check_vocoder(vocoder_class(family), "S", frames=frames, **overrides)


def test_the_example_plugin_meets_the_contract_in_every_size():
    plugin = pytest.importorskip("istft_vocoder", reason=PLUGIN_REASON)
    for size in plugin.ISTFTVocoder.presets:
        check_vocoder(plugin.ISTFTVocoder, size)


class Frames(Vocoder):
    """A small real family for breaking rules: one weight-normed 1x1 convolution makes each mel frame's
    ``hop_length`` samples, trained by an L1 loss on the waveform."""

    family = "frames"
    presets = {"S": {}}

    def __init__(self, n_mels: int = 80, hop_length: int = 256, sample_rate: int = 16000):
        super().__init__(n_mels, hop_length, sample_rate)
        self.generator = nn.Sequential(weight_norm(nn.Conv1d(n_mels, hop_length, 1)))

    def infer(self, mel):
        return self.generator(mel).transpose(1, 2).reshape(mel.shape[0], -1)

    def setup_training(self):
        self.optimizers = [torch.optim.Adam(self.generator.parameters(), lr=1e-2)]

    def generator_losses(self, audio, mel):
        return {"l1": (self.infer(mel) - audio).abs().mean()}

    def training_step(self, audio, mel):
        losses = self.generator_losses(audio, mel)
        self.optimise(losses["l1"], self.optimizers[0])
        return {name: float(value.detach()) for name, value in losses.items()}


class NotAVocoder(nn.Module):
    family, presets = "plain", {"S": {}}


class BadName(Frames):
    family = "Frames_2"


class UnresolvedAnnotations(Frames):
    def __init__(self, n_mels: NotImportedHere = 80, hop_length: int = 256, sample_rate: int = 16000):  # noqa: F821
        super().__init__(n_mels, hop_length, sample_rate)


class ReadsValues(Frames):
    def __init__(self, n_mels: int = 80, hop_length: int = 256, sample_rate: int = 16000):
        super().__init__(n_mels, hop_length, sample_rate)
        self.scale = float(torch.ones(1).sum())  # .item() of a tensor: impossible on the meta device


class ShortOutput(Frames):
    def infer(self, mel):
        return super().infer(mel)[:, :-1]


class Unseeded(Frames):
    calls = 0

    def infer(self, mel):
        Unseeded.calls += 1
        return super().infer(mel) + 1e-3 * Unseeded.calls


class KeepsWeightNorm(Frames):
    def prepare_inference(self):
        self.eval()


class CountsTheDiscriminator(Frames):
    def setup_training(self):
        self.generator.add_module("discriminator", nn.Linear(4, 4))
        super().setup_training()


class NeverSteps(Frames):
    def training_step(self, audio, mel):
        return {name: float(value.detach()) for name, value in self.generator_losses(audio, mel).items()}


class GrowsStateWhileTraining(Frames):
    def training_step(self, audio, mel):
        self.register_buffer("steps", torch.ones(()))  # a fresh model has no such key to load into
        return super().training_step(audio, mel)


class LossesAsFloats(Frames):
    def generator_losses(self, audio, mel):
        return {"l1": float((self.infer(mel) - audio).abs().mean().detach())}

    def training_step(self, audio, mel):
        loss = (self.infer(mel) - audio).abs().mean()
        self.optimise(loss, self.optimizers[0])
        return {"l1": float(loss.detach())}


class NoConvolution(Frames):
    """Audio from an elementwise product only: nothing the FLOP counter counts."""

    def __init__(self, n_mels: int = 80, hop_length: int = 256, sample_rate: int = 16000):
        super().__init__(n_mels, hop_length, sample_rate)
        self.generator = nn.ParameterList([nn.Parameter(torch.ones(1))])

    def infer(self, mel):
        return (mel[:, :1].repeat_interleave(self.hop_length, -1) * self.generator[0]).squeeze(1)


BROKEN = {
    "class": [NotAVocoder, BadName, UnresolvedAnnotations],
    "meta": [ReadsValues],
    "output_length": [ShortOutput],
    "seeded": [Unseeded],
    "weight_norm": [KeepsWeightNorm],
    "parameters": [CountsTheDiscriminator],
    "training_step": [NeverSteps],
    "checkpoint": [GrowsStateWhileTraining],
    "generator_losses": [LossesAsFloats],
    "flops": [NoConvolution],
}


def test_a_sound_family_passes_and_every_rule_has_a_family_breaking_it():
    check_vocoder(Frames, frames=4)
    assert set(BROKEN) == set(RULES)


@pytest.mark.parametrize(("rule", "family"), [(rule, f) for rule, fs in BROKEN.items() for f in fs])
def test_the_kit_names_the_rule_a_family_breaks(rule, family):
    with pytest.raises(ContractError) as raised:
        check_vocoder(family, frames=4)
    assert raised.value.rule == rule, str(raised.value)
    assert str(raised.value).startswith(f"{rule}: ")


# ------------------------------------------------------------------------------ discovery, errors


def test_an_installed_package_s_family_is_found_by_its_entry_point():
    pytest.importorskip("istft_vocoder", reason=PLUGIN_REASON)
    assert families()["istft"] == "istft_vocoder:ISTFTVocoder"
    assert vocoder_class("istft").family == "istft"


def test_a_config_declares_a_family_from_an_importable_module():
    add_families({"frames": "test_plugins:Frames"})
    assert vocoder_class("frames") is Frames
    config = tiny_config(families={"frames": "test_plugins:Frames"}, **only_models({}, {"frames": {"S": {}}}))
    check_config(config)  # built on the meta device, hyperparameters checked, like a built-in one


@pytest.mark.parametrize(
    ("families_section", "models", "message"),
    [
        ({"hifigan": "test_plugins:Frames"}, {}, r"families\.hifigan: 'hifigan' is a built-in family"),
        ({"frames": "no_such_module:Frames"}, {"frames": {"S": {}}}, r"families\.frames: cannot import"),
        ({"frames": "test_plugins:Missing"}, {"frames": {"S": {}}}, r"families\.frames: .* has no class Missing"),
        ({"plain": "test_plugins:NotAVocoder"}, {"plain": {"S": {}}}, r"families\.plain: .* not a subclass"),
        ({"other": "test_plugins:Frames"}, {"other": {"S": {}}}, r"families\.other: .* sets family = 'frames'"),
        ({"frames": "test_plugins:Frames"}, {"frames": {"M": {}}}, r"models\.frames: unknown size 'M'"),
        ({"frames": "test_plugins:Frames"}, {"frames": {"S": {"width": 3}}}, r"unknown hyperparameter\(s\) width"),
        ({}, {"myvoc": {"S": {}}}, r"unknown vocoder family 'myvoc'.*declare it under families"),
    ],
)
def test_a_bad_family_is_a_config_error_naming_the_key(families_section, models, message):
    config = tiny_config(families=families_section, models=yaml.safe_load(TINY.read_text())["models"] | models)
    with pytest.raises(ConfigError, match=message):
        check_config(config, build_models=False)


def test_a_family_an_installed_package_provides_cannot_be_declared_as_another_class():
    pytest.importorskip("istft_vocoder", reason=PLUGIN_REASON)
    with pytest.raises(ValueError, match=r"families\.istft: the entry point 'istft' of the installed package"):
        add_families({"istft": "test_plugins:Frames"})


def test_the_schema_takes_the_families_section():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert "families" in schema["properties"] and "families" in (ROOT / "config" / "README.md").read_text()


def test_families_from_other_packages_get_their_own_markers_in_the_figures():
    from vocoder_energy.analysis.plots import FAMILY_MARKERS, family_markers

    markers = family_markers({"hifigan", "istft", "zeta"})
    assert list(markers) == ["hifigan", "istft", "zeta"] and markers["hifigan"] == FAMILY_MARKERS["hifigan"]
    assert len(set(markers.values())) == 3


@pytest.mark.slow
def test_the_example_plugin_goes_through_the_whole_workflow(tmp_path):
    pytest.importorskip("istft_vocoder", reason=PLUGIN_REASON)
    workdir = clone(tmp_path / "repo")
    tiny = yaml.safe_load(TINY.read_text())
    models = {"melgan": tiny["models"]["melgan"], "istft": {"S": {"channels": 16}}}
    listening = tiny["listening"] | {"ratings_per_rater": 3}  # 1 utterance x (2 models + ground truth)
    config = write_config(tmp_path / "plugin.yaml", only_models(tiny, models) | {"listening": listening})
    snakemake(workdir, "--resources", "gpu=1", "--cores", "2", "all", "listening_test", configfile=config)
    rows = {row["model"]: row for row in csv.DictReader(open(workdir / "results" / "summary.csv"))}
    istft = rows["istft"]
    assert istft["size"] == "S" and float(istft["d_stft"]) > 0 and float(istft["gflops_per_audio_second"]) > 0
    assert int(istft["parameters"]) > 0 and istft["pareto_d_stft_vs_gflops"] in ("True", "False")
    assert "istft" in (workdir / "results" / "analysis" / "table2.md").read_text()
    assert "<th>istft S</th>" in (workdir / "results" / "report" / "audio_examples.html").read_text()
    key = list(csv.DictReader(open(workdir / "results" / "listening" / "key.csv")))
    assert "istft_S" in {row["system"] for row in key}
    assert "Nothing to be done" in snakemake(workdir, "-n", configfile=config).stdout


def test_a_broken_installed_package_is_ignored_with_a_warning_not_every_config_broken(monkeypatch):
    from importlib import metadata

    import vocoder_energy.models as models

    broken = [
        metadata.EntryPoint("hifigan", "elsewhere:HiFiGAN", models.ENTRY_POINT_GROUP),  # a built-in name
        metadata.EntryPoint("Bad_Name", "pkg:Voc", models.ENTRY_POINT_GROUP),
        metadata.EntryPoint("nocolon", "pkg.Voc", models.ENTRY_POINT_GROUP),
        metadata.EntryPoint("fine", "test_plugins:Frames", models.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(metadata, "entry_points", lambda group: broken)
    models.installed_families.cache_clear()
    try:
        with pytest.warns(UserWarning, match="ignored") as warned:
            found = families()
        assert len(warned) == 3 and found["hifigan"] == REGISTRY["hifigan"] and found["fine"] == "test_plugins:Frames"
        assert "nocolon" not in found and "Bad_Name" not in found
    finally:
        models.installed_families.cache_clear()


def test_a_generator_trained_as_another_class_is_refused(tmp_path):
    from vocoder_energy.core.errors import InputError
    from vocoder_energy.models.generator_files import load_generator, save_generator

    add_families({"frames": "test_plugins:Frames"})
    save_generator(Frames(), "S", {}, tmp_path / "frames_S.pt")
    assert load_generator(tmp_path / "frames_S.pt").family == "frames"
    declared_families["frames"] = ("test_plugins:KeepsWeightNorm", "families.frames")  # the config changed
    with pytest.raises(InputError, match="trained as test_plugins:Frames"):
        load_generator(tmp_path / "frames_S.pt")


@pytest.mark.slow
def test_a_config_declared_family_and_a_relative_corpus_path_go_through_the_workflow(tmp_path, monkeypatch):
    import inspect

    workdir = clone(tmp_path / "repo")
    header = "import torch\nfrom torch import nn\n\nfrom vocoder_energy.models import Vocoder\n"
    header += "from vocoder_energy.models.base import weight_norm\n\n\n"
    other = "\n\nclass Frames2(Frames):  # the same family, another class\n    pass\n"
    (workdir / "frames_family.py").write_text(header + inspect.getsource(Frames) + other)
    monkeypatch.setenv("PYTHONPATH", str(workdir))  # docs/extending.md: a local module on PYTHONPATH
    make_synthetic_corpus(workdir / "corpora" / "mine", clips=5, seed=4, max_seconds=1.2)
    tiny = yaml.safe_load(TINY.read_text())
    config = only_models(tiny, {"frames": {"S": {}}}) | {
        "families": {"frames": "frames_family:Frames"},
        "corpus": {"source": "directory", "path": "corpora/mine"},  # relative to the working directory
    }
    configfile = write_config(tmp_path / "local.yaml", config)
    snakemake(workdir, "--resources", "gpu=1", "--cores", "2", "all", configfile=configfile)
    rows = list(csv.DictReader(open(workdir / "results" / "summary.csv")))
    assert [(r["model"], r["size"]) for r in rows] == [("frames", "S")] and float(rows[0]["d_stft"]) > 0
    assert "Nothing to be done" in snakemake(workdir, "-n", configfile=configfile).stdout
    # Another class of the same module under the same name retrains (no file changed: the params did).
    config["families"]["frames"] = "frames_family:Frames2"
    result = snakemake(workdir, "-n", configfile=write_config(tmp_path / "other.yaml", config))
    assert job_counts(result.stdout)["train"] == 1
