"""The energy dataset: one row per measurement from real cost and sweep documents, a schema every written
dataset passes and a broken one fails (naming file, row and column), and datasets from two machines
merged into one table with one Pareto analysis."""

import copy
import csv
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from jsonschema import Draft202012Validator
from stage_documents import train_json

from vocoder_energy.analysis.summary import summary_row
from vocoder_energy.cost.probe import ProbeSettings, measure_cost
from vocoder_energy.deployment import dataset
from vocoder_energy.deployment.dataset import (
    COLUMNS,
    dataset_rows,
    load_dataset,
    merge,
    validate,
    write_dataset,
)
from vocoder_energy.deployment.settings import PAPER, Setting
from vocoder_energy.deployment.sweep import measure_sweep
from vocoder_energy.models import build_vocoder

ROOT = Path(__file__).resolve().parents[1]
SWEPT = [PAPER, Setting(clips_per_call=1), Setting("bf16"), Setting(compile="cuda_graphs")]
CPU_CONTEXT_NAME = "AMD EPYC (machine A)"


@functools.cache
def _measured() -> tuple[dict, dict]:
    """A real cost job and sweep of a tiny HiFi-GAN on this CPU (estimated energy: no counter needed)."""
    model = build_vocoder("hifigan", "S", upsample_initial_channel=16)
    probe = ProbeSettings(
        clips=2, seconds=0.1, flops_frames=8, windows=2, min_window_seconds=0.01, meter="estimated", assumed_watts=50
    )
    cost = measure_cost(model, probe, torch.device("cpu"))
    sweep = measure_sweep(model, SWEPT, probe, torch.device("cpu"))
    return cost, sweep | {"model": "hifigan", "size": "S"}


def real_documents() -> tuple[dict, dict]:
    """Copies of the measured documents, for a test to pin numbers in."""
    return copy.deepcopy(_measured())


def pinned(cost: dict, joules: float, stable: bool = True, method: str = "estimated") -> dict:
    """``cost`` with its energy and stability verdict set (a tiny measurement's own are noisy)."""
    energy = cost["energy"]
    energy["joules_per_audio_second"], energy["joules_per_audio_second_ci95"] = joules, 0.01 * joules
    energy["method"] = method
    energy["stability"] |= {"stable": stable, "reasons": [] if stable else ["energy per workload spreads 30.0%"]}
    return cost


def on_machine(cost: dict, cpu: str, gpu: str | None = None) -> dict:
    """``cost`` as if measured on another machine (a GPU one when ``gpu`` is named)."""
    cost["context"]["cpu"] = cpu
    if gpu is not None:
        cost["context"] |= {
            "device": "cuda",
            "cuda": "12.4",
            "gpu": {"cuda_name": gpu, "name": gpu, "driver": "550.54"},
        }
    return cost


def quality(d_stft: float, stoi: float | None = None) -> dict:
    document = {"d_stft": {"value": d_stft, "method": "measured"}, "sample_rate": 16000}
    if stoi is not None:
        document["metrics"] = {"stoi": {"mean": stoi, "ci_low": stoi - 0.01, "ci_high": stoi + 0.01}}
    return document


def entry(cost: dict, sweep: dict | None, model: str = "hifigan", size: str = "S", d_stft: float = 0.5) -> dict:
    return {
        "model": model,
        "size": size,
        "origin": train_json(steps=10, seconds=2.0),
        "quality": quality(d_stft, stoi=0.9),
        "precision_quality": {"bf16": quality(d_stft + 0.02, stoi=0.89)},
        "cost": cost,
        "sweep": sweep,
    }


def pinned_sweep(sweep: dict, joules: dict[str, float], stable: dict[str, bool] | None = None) -> dict:
    """The sweep with each measured point's energy (and verdict) pinned, by setting name."""
    for point in sweep["points"]:
        if point["status"] == "measured":
            name = point["setting"]["name"]
            pinned(point["cost"], joules[name], (stable or {}).get(name, True), point["cost"]["energy"]["method"])
    return sweep


def test_one_row_per_setting_after_the_cost_job_with_summary_numbers():
    cost, sweep = real_documents()
    rows = dataset_rows([entry(cost, sweep)], energy_basis="gross")
    assert [list(row) for row in rows] == [COLUMNS] * 5
    assert [(r["measurement"], r["setting"], r["status"]) for r in rows] == [
        ("cost job", "fp32", "measured"),
        ("sweep", "fp32", "measured"),
        ("sweep", "fp32-b1", "measured"),
        ("sweep", "bf16", "measured"),
        ("sweep", "fp32-cuda_graphs", "skipped"),
    ]
    assert [(r["clips_per_call"], r["threads"], r["compile"]) for r in rows[:3]] == [
        ("all", "job", "eager"),
        ("all", "job", "eager"),
        (1, "job", "eager"),
    ]
    # The numbers are summary_row's, of each point's own cost document.
    for row, document in zip(rows[1:4], [p["cost"] for p in sweep["points"][:3]]):
        reference = summary_row("hifigan", "S", entry(cost, None)["origin"], quality(0.5), document, "gross")
        for column in ("energy_joules_per_audio_second", "real_time_factor", "gflops_per_audio_second", "parameters"):
            assert row[column] == reference[column]
    assert rows[0]["energy_method"] == "estimated" and rows[0]["hardware"] == cost["context"]["cpu"]
    assert rows[1]["trace_hz"] == 10.0 and rows[1]["stable"] in (True, False)
    assert rows[1]["measured_at"] == sweep["points"][0]["cost"]["measured_at"]


def test_a_skipped_point_keeps_its_reason_and_machine_and_has_no_numbers():
    cost, sweep = real_documents()
    skipped = dataset_rows([entry(cost, sweep)], energy_basis="gross")[-1]
    assert skipped["status"] == "skipped"
    assert skipped["skip_reason"] == "CUDA graphs need a GPU; this job runs on cpu"
    assert skipped["setting_label"] == "fp32, all clips per call, cuda graphs"
    for column in ("d_stft", "energy_joules_per_audio_second", "real_time_factor", "stable", "measured_at"):
        assert skipped[column] is None, column
    # The machine of the sweep that skipped it, and the model's own properties, are known.
    assert skipped["hardware"] == sweep["points"][0]["cost"]["context"]["cpu"] and skipped["device"] == "cpu"
    assert skipped["parameters"] == cost["parameters"]["value"] and skipped["weights"] == "trained"
    assert skipped["pareto_d_stft_vs_energy"] is False


def test_fp32_points_take_the_model_s_quality_and_bf16_its_own():
    cost, sweep = real_documents()
    rows = {(r["measurement"], r["setting"]): r for r in dataset_rows([entry(cost, sweep)], energy_basis="gross")}
    for key in [("cost job", "fp32"), ("sweep", "fp32"), ("sweep", "fp32-b1")]:
        assert (rows[key]["d_stft"], rows[key]["stoi_mean"]) == (0.5, 0.9)
        assert rows[key]["quality_source"] == "the model's fp32 test clips"
    bf16 = rows[("sweep", "bf16")]
    assert (bf16["d_stft"], bf16["stoi_mean"]) == (0.52, 0.89)
    assert bf16["quality_source"] == "this setting's own bf16 test clips"
    assert bf16["pesq_wb_mean"] is None  # not computed: blank, not zero
    without = entry(cost, sweep) | {"precision_quality": {}}
    with pytest.raises(KeyError, match="hifigan_S: no quality document for bf16"):
        dataset_rows([without], energy_basis="gross")


def test_the_energy_basis_is_chosen_and_fronts_never_mix_methods():
    cost, sweep = real_documents()
    rows = dataset_rows([entry(cost, sweep)], energy_basis="net")
    # Estimated energy has no idle power to subtract: no net number, so no front.
    assert {r["energy_basis"] for r in rows if r["status"] == "measured"} == {"net"}
    assert all(r["energy_joules_per_audio_second"] is None and not r["pareto_d_stft_vs_energy"] for r in rows)
    measured_cost = pinned(copy.deepcopy(cost), 9.0, method="measured")
    rows = dataset_rows(
        [entry(pinned(cost, 1.0), None), entry(measured_cost, None, model="melgan", d_stft=0.9)], energy_basis="gross"
    )
    # The measured point is worse on both axes, yet on its own front: estimated energy is another one.
    assert [r["pareto_d_stft_vs_energy"] for r in rows] == [True, True]


def test_a_cost_document_from_before_settings_and_traces_is_the_paper_s_setting_unjudged(tmp_path):
    cost, _ = real_documents()
    for key in ("setting", "trace"):
        del cost[key]
    del cost["energy"]["stability"]
    (row,) = dataset_rows([entry(cost, None)], energy_basis="gross")
    assert (row["setting"], row["clips_per_call"], row["threads"]) == ("fp32", "all", "job")
    for column in ("stable", "unstable_reasons", "energy_spread", "trace_hz", "trace_power_source"):
        assert row[column] is None, column
    write_dataset([row], tmp_path / "old.csv")
    assert validate(tmp_path / "old.csv") == [row]


def test_a_written_dataset_passes_its_schema_and_reads_back_as_written(tmp_path):
    cost, sweep = real_documents()
    rows = dataset_rows([entry(cost, sweep)], energy_basis="gross")
    write_dataset(rows, tmp_path / "energy_dataset.csv", tmp_path / "energy_dataset.schema.json")
    assert validate(tmp_path / "energy_dataset.csv") == rows
    assert load_dataset(tmp_path / "energy_dataset.csv") == rows
    schema = json.loads((tmp_path / "energy_dataset.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert list(schema["properties"]) == COLUMNS and schema["required"] == COLUMNS
    assert all(schema["properties"][c]["description"] for c in COLUMNS)
    for row in rows:
        Draft202012Validator(schema).validate(row)


def rewrite(path: Path, row_index: int, column: str, value: str) -> None:
    with open(path, newline="") as handle:
        table = list(csv.DictReader(handle))
    table[row_index][column] = value
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(table)


@pytest.fixture
def written(tmp_path) -> Path:
    cost, sweep = real_documents()
    path = tmp_path / "energy_dataset.csv"
    write_dataset(dataset_rows([entry(cost, sweep)], energy_basis="gross"), path)
    return path


@pytest.mark.parametrize(
    "row_index, column, value, complaint",
    [
        (1, "energy_joules_per_audio_second", "a lot", "'a lot' is not of type 'number', 'null'"),
        (2, "precision", "fp8", "'fp8' is not one of ['fp32', 'bf16', 'fp16']"),
        (0, "stable", "perhaps", "'perhaps' is not of type 'boolean', 'null'"),
        (0, "clips_per_call", "some", "'some' does not match '^all$'"),
        (4, "skip_reason", "", "None is not of type 'string'"),  # a skipped point must say why
        (0, "real_time_factor", "", "None is not of type 'number'"),  # a measured one must have its numbers
    ],
)
def test_validate_names_the_file_row_and_column_of_a_bad_value(written, row_index, column, value, complaint):
    rewrite(written, row_index, column, value)
    with pytest.raises(ValueError) as error:
        validate(written)
    message = str(error.value)
    assert message.startswith(f"{written}: row {row_index + 1} (line {row_index + 2}), column {column}: ")
    assert complaint in message


def test_validate_names_the_file_and_columns_of_a_bad_header(written):
    lines = written.read_text().splitlines()
    written.write_text("\n".join([lines[0].replace("energy_spread", "spread")] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match=r"energy_dataset\.csv: not an energy dataset header \(missing columns: "
                       r"energy_spread; unexpected columns: spread\)"):  # fmt: skip
        validate(written)
    written.write_text("")
    with pytest.raises(ValueError, match="not an energy dataset header"):
        load_dataset(written)


def test_a_sweep_that_measured_nothing_leaves_its_machine_blank():
    cost, sweep = real_documents()
    sweep["points"] = [p for p in sweep["points"] if p["status"] == "skipped"]
    skipped = dataset_rows([entry(cost, sweep)], energy_basis="gross")[-1]
    assert skipped["status"] == "skipped" and skipped["hardware"] is None and skipped["device"] is None


def test_whole_floats_in_integer_columns_read_as_integers_and_a_short_row_is_named(written):
    rewrite(written, 0, "sample_rate_hz", "16000.0")
    assert load_dataset(written)[0]["sample_rate_hz"] == 16000
    rewrite(written, 0, "sample_rate_hz", "16000.5")
    with pytest.raises(ValueError, match="row 1 \\(line 2\\), column sample_rate_hz: 16000.5 is not of type"):
        validate(written)
    rewrite(written, 0, "sample_rate_hz", "16000")
    with open(written, "a") as handle:
        handle.write("hifigan,S\n")
    with pytest.raises(ValueError, match=f"{written}: row 6 \\(line 7\\) has 2 cells, not {len(COLUMNS)}"):
        validate(written)


def machine_results(folder: Path, gpu: str | None, paper_joules: float, melgan_joules: float) -> Path:
    """A results folder as a run on one machine leaves it: hifigan's cost job and sweep, melgan's cost job."""
    cost, sweep = real_documents()
    cpu = "Intel Xeon (machine B)" if gpu else CPU_CONTEXT_NAME
    on_machine(pinned(cost, paper_joules), cpu, gpu)
    for point in sweep["points"]:
        if point["cost"]:
            on_machine(point["cost"], cpu, gpu)
    pinned_sweep(sweep, {"fp32": paper_joules, "fp32-b1": 2 * paper_joules, "bf16": 0.5 * paper_joules})
    melgan = on_machine(pinned(copy.deepcopy(cost), melgan_joules), cpu, gpu)
    rows = dataset_rows([entry(cost, sweep), entry(melgan, None, model="melgan", d_stft=0.8)], energy_basis="gross")
    folder.mkdir()
    write_dataset(rows, folder / "energy_dataset.csv")
    return folder


def test_two_machines_merge_into_one_dataset_and_one_pareto_analysis(tmp_path, monkeypatch):
    # Machine A: melgan is the cheapest there; machine B (a GPU) runs melgan cheaper still.
    a = machine_results(tmp_path / "a", None, paper_joules=4.0, melgan_joules=1.0)
    b = machine_results(tmp_path / "b", "NVIDIA H100 80GB HBM3", paper_joules=3.0, melgan_joules=0.5)
    on_front_alone = {(r["model"], r["setting"], r["measurement"]) for r in load_dataset(a / "energy_dataset.csv")
                      if r["pareto_d_stft_vs_energy"]}  # fmt: skip
    assert ("melgan", "fp32", "cost job") in on_front_alone
    drawn = {}
    monkeypatch.setattr(
        "vocoder_energy.deployment.figures.setting_pareto_figure",
        lambda rows, out_stem, colour_by="model": drawn.update(rows=rows, out_stem=out_stem, colour_by=colour_by),
    )
    rows = merge([a, b / "energy_dataset.csv"], tmp_path / "merged")
    assert load_dataset(tmp_path / "merged" / "energy_dataset.csv") == rows
    assert (tmp_path / "merged" / "energy_dataset.schema.json").read_text() == dataset.SCHEMA_PATH.read_text()
    assert {r["hardware"] for r in rows} == {CPU_CONTEXT_NAME, "NVIDIA H100 80GB HBM3"}
    assert len(rows) == 2 * 6
    gpu_rows = [r for r in rows if r["gpu"]]
    assert {(r["device"], r["gpu_driver"], r["cuda"]) for r in gpu_rows if r["status"] == "measured"} == {
        ("cuda", "550.54", "12.4")
    }
    front = {(r["hardware"], r["model"], r["setting"], r["measurement"]) for r in rows if r["pareto_d_stft_vs_energy"]}
    # A's melgan is dominated only by B's (same D_STFT, less energy): off the merged front.
    assert (CPU_CONTEXT_NAME, "melgan", "fp32", "cost job") not in front
    assert ("NVIDIA H100 80GB HBM3", "melgan", "fp32", "cost job") in front
    assert drawn == {"rows": rows, "out_stem": tmp_path / "merged" / "pareto", "colour_by": "hardware"}


def test_merge_refuses_a_missing_folder_and_a_source_given_twice(tmp_path, written):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nowhere'}: no such results folder or CSV"):
        merge([tmp_path / "nowhere"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: a results folder without energy_dataset.csv"):
        merge([tmp_path / "empty"], tmp_path / "out")
    with pytest.raises(ValueError, match="given more than once"):
        merge([written.parent, written], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vocoder_energy.deployment.dataset", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_the_command_line_merges_validates_and_names_a_bad_file(tmp_path):
    a = machine_results(tmp_path / "a", None, paper_joules=4.0, melgan_joules=1.0)
    b = machine_results(tmp_path / "b", "NVIDIA H100 80GB HBM3", paper_joules=3.0, melgan_joules=0.5)
    done = run_cli("merge", a, b, "--out", tmp_path / "merged")
    assert done.returncode == 0, done.stderr
    assert f"{tmp_path / 'merged' / 'energy_dataset.csv'}" in done.stdout and "12 rows" in done.stdout
    assert f"{CPU_CONTEXT_NAME}: 6 rows" in done.stdout and "NVIDIA H100 80GB HBM3: 6 rows" in done.stdout
    for suffix in ("png", "svg"):
        assert (tmp_path / "merged" / f"pareto.{suffix}").stat().st_size > 0
    done = run_cli("validate", tmp_path / "merged" / "energy_dataset.csv")
    assert done.returncode == 0 and "12 rows, all valid" in done.stdout

    rewrite(a / "energy_dataset.csv", 3, "precision", "fp8")
    for args in (["merge", a, b, "--out", tmp_path / "again"], ["validate", a / "energy_dataset.csv"]):
        done = run_cli(*args)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
        assert done.stderr.startswith(f"error: {a / 'energy_dataset.csv'}: row 4 (line 5), column precision: ")
    done = run_cli("merge", tmp_path / "nowhere", b, "--out", tmp_path / "again")
    assert done.returncode == 1 and done.stderr == f"error: {tmp_path / 'nowhere'}: no such results folder or CSV\n"
    assert not (tmp_path / "again").exists()
