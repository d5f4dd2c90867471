"""The catalogue of released checkpoints (models/importers/catalogue.py), its synthetic stand-ins at the
published size (models/importers/synthetic.py) and config/released.yaml: every entry's stand-in imports as
its family with the front end of its recipe and the published parameter count; the command writes, skips
and overwrites as it says; the config lists exactly the catalogue."""

import hashlib
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vocoder_energy.data.recipes import RECIPES
from vocoder_energy.models import build_vocoder
from vocoder_energy.models.importers import FORMATS, import_checkpoint, load_imported
from vocoder_energy.models.importers import synthetic as synthetic_module
from vocoder_energy.models.importers.catalogue import LABEL, RELEASED_CHECKPOINTS, released_checkpoint
from vocoder_energy.models.importers.synthetic import (
    FILTER,
    glow_module,
    main,
    parameter_count,
    published_rows,
    write_synthetic,
)

ROOT = Path(__file__).resolve().parents[1]
PER_FAMILY = {"hifigan": 10, "melgan": 2, "waveglow": 1, "diffwave": 1, "wavegrad": 1, "vocos": 1, "bigvgan": 9}
# One small model per format is also run (a few frames); the others are imported only (100M-parameter files).
GENERATE = {"hifigan/LJ_V2", "melgan/LJ", "waveglow/256ch", "diffwave/LJ", "wavegrad/LJ", "vocos/mel_24k",
            "bigvgan/base_22k_80"}  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- the catalogue
def test_the_catalogue_covers_every_importable_release_under_valid_labels():
    counts = {}
    for key, entry in RELEASED_CHECKPOINTS.items():
        counts[entry.family] = counts.get(entry.family, 0) + 1
        assert key == f"{entry.family}/{entry.label}" and released_checkpoint(entry.family, entry.label) is entry
        assert LABEL.match(entry.label) and entry.label not in ("S", "M", "L"), key
        assert FORMATS[entry.format].family == entry.family, key
        assert entry.recipe in RECIPES, key
        assert (
            entry.file and entry.source.startswith("https://") and entry.description and "\n" not in entry.description
        )
        assert entry.parameters > 0
    assert counts == PER_FAMILY  # WaveFlow published none; Vocos-EnCodec cannot be represented
    assert {e.label for e in RELEASED_CHECKPOINTS.values() if e.family == "hifigan"} == {
        *(f"{d}_V{v}" for d in ("LJ", "VCTK", "LJ_FT_T2") for v in (1, 2, 3)),
        "UNIVERSAL_V1",
    }
    assert RELEASED_CHECKPOINTS["hifigan/LJ_V1"].file == "LJ_V1/generator_v1"
    assert RELEASED_CHECKPOINTS["waveglow/256ch"].file == "waveglow_256channels.pt"
    assert RELEASED_CHECKPOINTS["bigvgan/v2_24k_100_256x"].file == "bigvgan_v2_24khz_100band_256x/bigvgan_generator.pt"
    assert released_checkpoint("waveflow", "r64") is None


def test_a_bad_label_or_recipe_is_refused():
    entry = RELEASED_CHECKPOINTS["hifigan/LJ_V1"]
    fields = {k: getattr(entry, k) for k in entry.__dataclass_fields__}
    for label in ("S", "M", "L", "_x", "a-b", ""):
        with pytest.raises(ValueError, match="not a size label"):
            type(entry)(**{**fields, "label": label})
    with pytest.raises(ValueError, match="unknown mel recipe 'hifigan'"):
        type(entry)(**{**fields, "recipe": "hifigan"})


# --------------------------------------------------------------------------- stand-ins at the published size
@pytest.mark.parametrize("key", list(RELEASED_CHECKPOINTS))
def test_each_stand_in_imports_as_its_release_with_its_recipe_and_published_size(tmp_path, key):
    entry = RELEASED_CHECKPOINTS[key]
    path = tmp_path / entry.family / entry.label / entry.file_name
    try:
        written = write_synthetic(key, path)
        assert written.parameters == entry.parameters  # the fact sheet's count, weight-norm form
        assert written.bytes == path.stat().st_size > 4 * entry.parameters
        imported = import_checkpoint(path, entry.format)
    finally:
        path.unlink(missing_ok=True)  # GBs in all: not kept in pytest's tmp folders
    assert imported.family == entry.family and imported.source["format"] == entry.format
    recipe = RECIPES[entry.recipe]
    h = imported.hyperparameters
    assert (h["n_mels"], h["hop_length"], h["sample_rate"]) == (recipe.n_mels, recipe.hop_length, recipe.sample_rate)
    if entry.format == "nvidia_waveglow":  # the pickled module's container, read without running it
        assert set(imported.dropped) == {"['iteration']", "['optimizer']", "['learning_rate']"}
    if "published" in imported.config:  # HiFi-GAN and BigVGAN name the published configuration they recognise
        assert entry.config in imported.config["published"]
    with torch.device("meta"):
        ours = build_vocoder(imported.family, imported.size, **h)
    assert sum(p.numel() for p in ours.generator.parameters()) == entry.parameters
    if key in GENERATE:
        model = load_imported(imported)
        clip = 4 * model.hop_length  # the frames its own front end makes for a clip of 4 hops
        frames = recipe.frames(clip)
        mel = torch.randn(1, model.n_mels, frames, generator=torch.Generator().manual_seed(1)) * 0.5
        audio = model.generate(mel, seed=0)
        # At least the clip (generation cuts a centred front end's extra hop off); Vocos gives exactly it.
        assert clip <= audio.shape[1] <= frames * model.hop_length and torch.isfinite(audio).all()
        if imported.family == "vocos":
            assert audio.shape[1] == clip


def test_stand_ins_are_seeded_and_have_the_originals_buffers(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_synthetic("bigvgan/base_22k_80", a)
    write_synthetic("bigvgan/base_22k_80", b)
    write_synthetic("bigvgan/base_22k_80", c, seed=1)
    assert sha256(a) == sha256(b) != sha256(c)
    sd = torch.load(a, weights_only=True)["generator"]
    assert list(sd) == [key for key, _ in published_rows(RELEASED_CHECKPOINTS["bigvgan/base_22k_80"])]
    assert torch.equal(sd["resblocks.4.activations.2.upsample.filter"], torch.tensor(FILTER).view(1, 1, 12))
    assert all((t > 0).all() for k, t in sd.items() if k.endswith("weight_g"))
    assert max(t.abs().max() for k, t in sd.items() if k.endswith("weight_v")) < 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no tmp file left behind
    for path in (a, b, c):
        path.unlink()


def test_the_diffwave_stand_in_has_its_container(tmp_path):
    lmnt = torch.load(write_synthetic("diffwave/LJ", tmp_path / "d.pt").path, weights_only=True)
    assert list(lmnt) == ["step", "model", "optimizer", "params", "scaler"]
    assert lmnt["params"]["residual_channels"] == 64 and lmnt["params"]["residual_layers"] == 30
    assert len(lmnt["optimizer"]["param_groups"][0]["params"]) == len(lmnt["model"])
    assert parameter_count(published_rows(RELEASED_CHECKPOINTS["diffwave/LJ"])) == 2_619_971


def test_an_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def broken(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(synthetic_module.torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic("hifigan/LJ_V2", tmp_path / "x" / "generator_v2")
    assert list((tmp_path / "x").iterdir()) == []
    with pytest.raises(KeyError, match="'hifigan/V9' is not a released checkpoint of the catalogue; known: hifigan/LJ"):
        write_synthetic("hifigan/V9", tmp_path / "y")


@pytest.mark.parametrize("present", [False, True])
def test_glow_module_leaves_sys_modules_as_it_found_it(monkeypatch, present):
    before = object()
    if present:
        monkeypatch.setitem(sys.modules, "glow", before)
    else:
        monkeypatch.delitem(sys.modules, "glow", raising=False)
    with glow_module() as module:
        assert sys.modules["glow"] is module and module.WaveGlow.__module__ == "glow"
    assert (sys.modules.get("glow") is before) if present else ("glow" not in sys.modules)


# --------------------------------------------------------------------------- the command
def test_the_command_writes_skips_and_overwrites(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "base.yaml"
    base.write_text(
        "models:\n  hifigan:\n    S: {}\n    LJ_V2: {checkpoint: ckpt/hifigan/LJ_V2/generator_v2, format: jik876,"
        " features: hifigan_22k}\n"
    )
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "models": {
                    "hifigan": {"mine": {"checkpoint": "ckpt/mine.pt", "format": "jik876", "features": "hifigan_22k"}},
                    "diffwave": {
                        "LJ": {"checkpoint": "ckpt/diffwave.pt", "format": "lmnt", "features": "diffwave_22k"}
                    },
                }
            }
        )
    )
    assert main([str(base), str(extra)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[1/3] wrote ckpt/hifigan/LJ_V2/generator_v2  hifigan/LJ_V2  928,514 parameters  3.")
    assert out[1].startswith("[2/3] skip ckpt/mine.pt: models.hifigan.mine is not in the catalogue")
    assert "known hifigan labels: LJ_V1, LJ_V2" in out[1]
    assert out[2].startswith("[3/3] wrote ckpt/diffwave.pt  diffwave/LJ  2,619,971 parameters  10.")
    assert out[3].startswith("2 stand-in(s) written") and "1 skipped" in out[3]
    hifigan, diffwave = tmp_path / "ckpt/hifigan/LJ_V2/generator_v2", tmp_path / "ckpt/diffwave.pt"
    assert import_checkpoint(hifigan, "jik876").hyperparameters["upsample_initial_channel"] == 128
    assert not (tmp_path / "ckpt/mine.pt").exists()
    first = {p: sha256(p) for p in (hifigan, diffwave)}

    assert main([str(base), str(extra)]) == 0  # a second run keeps what exists
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[1/3] skip ckpt/hifigan/LJ_V2/generator_v2: exists (hifigan/LJ_V2; --force overwrites it)"
    assert out[2] == "[3/3] skip ckpt/diffwave.pt: exists (diffwave/LJ; --force overwrites it)"
    assert out[3].startswith("0 stand-in(s) written") and "3 skipped" in out[3]
    assert {p: sha256(p) for p in first} == first

    assert main([str(base), str(extra), "--force", "--seed", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[1/3] wrote") and out[2].startswith("[3/3] wrote")
    assert all(sha256(p) != digest for p, digest in first.items())
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["diffwave.pt", "hifigan"]  # no tmp files


def test_the_command_reports_configs_it_cannot_use(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("models:\n  hifigan: {S: {}}\n")
    assert main([str(empty)]) == 0
    assert capsys.readouterr().out.startswith("no models: entry with a checkpoint: in")
    assert main([str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("models:\n  hifigan:\n    LJ_V1: {checkpoint: g, format: lmnt, features: hifigan_22k}\n")
    assert main([str(wrong)]) == 0
    assert "skip g: models.hifigan.LJ_V1 has format 'lmnt'; hifigan/LJ_V1 is 'jik876'" in capsys.readouterr().out
    assert not (tmp_path / "g").exists()


# --------------------------------------------------------------------------- config/released.yaml
def test_config_released_lists_exactly_the_catalogue():
    config = yaml.safe_load((ROOT / "config" / "released.yaml").read_text())
    assert set(config) == {"models"}
    listed = {
        (family, str(label), entry["format"], entry["features"]): entry["checkpoint"]
        for family, labels in config["models"].items()
        for label, entry in labels.items()
    }
    expected = {(e.family, e.label, e.format, e.recipe): e for e in RELEASED_CHECKPOINTS.values()}
    assert set(listed) == set(expected)
    for key, entry in expected.items():
        assert listed[key] == f"checkpoints/{entry.family}/{entry.label}/{entry.file_name}"
    text = (ROOT / "config" / "released.yaml").read_text()
    assert "python -m vocoder_energy.models.importers.synthetic config/released.yaml" in text
    for entry in RELEASED_CHECKPOINTS.values():  # where to download each family (BigVGAN: one repo per name)
        assert (entry.source if entry.family != "bigvgan" else entry.config) in text
    assert "/checkpoints/" in (ROOT / ".gitignore").read_text().splitlines()
