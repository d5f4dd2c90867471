"""Table 2 without training: `snakemake cost_table` measures freshly initialised models (no training job
in its plan), labels every value untrained, and its table and figure read the cost documents right."""

import csv
import json
import math

import pytest
import yaml
from test_workflow import TINY, clone, job_counts, snakemake, write_config

from vocoder_energy.analysis.cost_table import cost_figure, cost_frame, write_cost_table
from vocoder_energy.models import build_vocoder


def cost_document(parameters: int, gflops_per_second: float, gross: float, net: float | None, method: str) -> dict:
    return {
        "weights": "untrained",
        "parameters": {"value": parameters},
        "flops": {"per_audio_second": gflops_per_second * 1e9, "sample_rate": 16000},
        "energy": {"joules_per_audio_second": gross, "method": method, "net": {"joules_per_audio_second": net}},
        "time": {"real_time_factor": 0.5},
    }


@pytest.fixture
def documents(tmp_path):
    paths = []
    for name, document in {
        "hifigan_S": cost_document(928_514, 1.0, 2.0, 1.5, "measured"),
        "wavegrad_S": cost_document(4_180_000, 800.0, 400.0, None, "estimated"),
    }.items():
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(document))
    return [("hifigan", "S"), ("wavegrad", "S")], paths


def test_the_frame_is_in_table_2_s_units_with_the_energy_basis_asked(documents):
    jobs, paths = documents
    gross = cost_frame(jobs, paths, "gross")
    assert list(gross["weights"]) == ["untrained", "untrained"]
    assert gross["parameters_millions"].tolist() == pytest.approx([0.928514, 4.18])
    assert gross["gflops"].tolist() == pytest.approx([1.024, 819.2])  # per 16,384 samples at 16 kHz
    assert gross["energy"].tolist() == pytest.approx([200.0, 40_000.0])  # J per 100 s of audio
    net = cost_frame(jobs, paths, "net")
    assert net["energy"][0] == pytest.approx(150.0) and math.isnan(net["energy"][1])  # no net value: unavailable


def test_table_and_figure_are_written_also_when_no_energy_is_available(documents, tmp_path):
    jobs, paths = documents
    frame = cost_frame(jobs, paths, "net")
    out = tmp_path / "out"
    out.mkdir()
    write_cost_table(frame, out / "t.csv", out / "t.md", out / "t.html")
    rows = list(csv.DictReader(open(out / "t.csv")))
    assert [r["weights"] for r in rows] == ["untrained", "untrained"] and rows[0]["paper_gflops"]
    assert "weights: untrained" in (out / "t.md").read_text()
    for only_missing in (False, True):
        shown = frame.assign(energy=math.nan) if only_missing else frame
        cost_figure(shown, [out / "f.png"])
        assert (out / "f.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_cost_table_measures_untrained_models_without_a_training(tmp_path):
    repo = clone(tmp_path / "repo")
    tiny = yaml.safe_load(TINY.read_text())  # two families are enough for the rule; every one costs seconds
    config = tiny | {"models": {f: tiny["models"][f] for f in ("melgan", "hifigan")}, "inference": {}}
    configfile = write_config(tmp_path / "two-families.yaml", config)
    models = 3  # melgan S, hifigan S and M
    counts = job_counts(snakemake(repo, "-n", "cost_table", configfile=configfile).stdout)
    assert counts["untrained_generator"] == counts["cost_untrained"] == models and "train" not in counts
    snakemake(repo, "--resources", "gpu=1", "--cores", "2", "cost_table", configfile=configfile)
    assert not (repo / "results" / "models").exists() and not (repo / "results" / "train").exists()
    rows = list(csv.DictReader(open(repo / "results" / "untrained" / "table2.csv")))
    assert {r["weights"] for r in rows} == {"untrained"} and len(rows) == models
    document = json.loads((repo / "results" / "untrained" / "cost" / "hifigan_M.json").read_text())
    assert document["weights"] == "untrained"
    overrides = {"upsample_initial_channel": 16}  # tests/data/tiny.yaml's hifigan M
    assert document["parameters"]["value"] == build_vocoder("hifigan", "M", **overrides).num_parameters()
    assert (repo / "results" / "untrained" / "cost.png").read_bytes().startswith(b"\x89PNG")
    assert "Nothing to be done" in snakemake(repo, "-n", "cost_table", configfile=configfile).stdout


def test_untrained_cost_jobs_get_the_cost_jobs_node_on_slurm():
    import yaml
    from test_workflow import ROOT

    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "profile.yaml").read_text())
    assert profile["set-resources"]["cost_untrained"] == profile["set-resources"]["cost"]
    assert profile["set-threads"]["cost_untrained"] == profile["set-threads"]["cost"]
