"""The energy dataset: one row per measurement (a model under one setting, on one machine), with the
machine in its columns, so that datasets from several machines merge into one table and one Pareto
analysis. ``energy_dataset.schema.json`` beside this module describes a row (types, units); every read
of a dataset is checked against it.

    python -m vocoder_energy.deployment.dataset merge RESULTS_A RESULTS_B --out DIR
    python -m vocoder_energy.deployment.dataset validate results/energy_dataset.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from jsonschema import Draft202012Validator

from vocoder_energy.analysis.pareto import nondominated
from vocoder_energy.analysis.summary import summary_row
from vocoder_energy.core.files import write_csv, write_text
from vocoder_energy.deployment.settings import PAPER
from vocoder_energy.evaluation.metrics import QUALITY_COLUMNS

DATASET_NAME = "energy_dataset.csv"
SCHEMA_PATH = Path(__file__).with_name("energy_dataset.schema.json")
ALL_CLIPS, JOB_THREADS = "all", "job"  # what clips_per_call and threads say for the setting's None
COST_JOB, SWEEP = "cost job", "sweep"  # measurement

METRIC_COLUMNS = [f"{column.name}_mean" for column in QUALITY_COLUMNS]
COLUMNS = [
    # identity: what was run, and whether it was
    "model",
    "size",
    "setting",
    "setting_label",
    "precision",
    "clips_per_call",
    "compile",
    "threads",
    "power_limit_setting_watts",
    "measurement",
    "status",
    "skip_reason",
    # weights
    "weights",
    "weights_origin",
    "sample_rate_hz",
    "parameters",
    # quality
    "d_stft",
    "d_stft_method",
    "quality_source",
    "quality_sample_rate_hz",
    *METRIC_COLUMNS,
    # cost
    "gflops_per_audio_second",
    "real_time_factor",
    "energy_joules_per_audio_second",
    "energy_basis",
    "energy_method",
    "energy_gross_joules_per_audio_second",
    "energy_gross_joules_per_audio_second_ci95",
    "energy_net_joules_per_audio_second",
    "energy_net_joules_per_audio_second_ci95",
    "average_watts",
    "idle_watts",
    "energy_backend",
    "energy_flags",
    "peak_memory_bytes",
    # stability
    "stable",
    "unstable_reasons",
    "energy_spread",
    "thermal_drift_celsius",
    "trace_hz",
    "trace_power_source",
    "sampler_cpu_share",
    # hardware
    "hardware",
    "device",
    "cpu",
    "cpu_count",
    "gpu",
    "gpu_driver",
    "torch",
    "cuda",
    "python",
    "measured_at",
    # pareto
    "pareto_d_stft_vs_energy",
]
# Taken from summary_row as it computes them (one definition of each number).
SUMMARY_COLUMNS = [
    "weights",
    "weights_origin",
    "sample_rate_hz",
    "parameters",
    "d_stft",
    "d_stft_method",
    "quality_sample_rate_hz",
    *METRIC_COLUMNS,
    "gflops_per_audio_second",
    "real_time_factor",
    "energy_joules_per_audio_second",
    "energy_basis",
    "energy_method",
    "energy_gross_joules_per_audio_second",
    "energy_gross_joules_per_audio_second_ci95",
    "energy_net_joules_per_audio_second",
    "energy_net_joules_per_audio_second_ci95",
    "average_watts",
    "idle_watts",
    "energy_backend",
    "energy_flags",
    "peak_memory_bytes",
]
# A model's properties, known for a skipped point too (from its cost job: the same weights).
MODEL_COLUMNS = ["weights", "weights_origin", "sample_rate_hz", "parameters"]


def _blank_to_none(value):
    """One spelling of "no value" in rows: None (summary_row writes NaN for numbers, "" for metrics)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return value


def setting_columns(setting: dict) -> dict:
    """The identity columns of a ``Setting.as_dict()``."""
    return {
        "setting": setting["name"],
        "setting_label": setting["label"],
        "precision": setting["precision"],
        "clips_per_call": setting["clips_per_call"] or ALL_CLIPS,
        "compile": setting["compile"],
        "threads": setting["threads"] or JOB_THREADS,
        "power_limit_setting_watts": setting["power_limit_watts"],
    }


HARDWARE_KEYS = ("hardware", "device", "cpu", "cpu_count", "gpu", "gpu_driver", "torch", "cuda", "python")


def hardware_columns(context: dict | None) -> dict:
    """The machine from a cost document's ``context`` (None: nothing known), blanks where it is unknown."""
    if context is None:
        return dict.fromkeys(HARDWARE_KEYS)
    gpu = context.get("gpu") or {}
    on_gpu = str(context["device"]).startswith("cuda")
    gpu_name = (gpu.get("name") or gpu.get("cuda_name")) if on_gpu else None  # NVML's name, else CUDA's
    return {
        "hardware": gpu_name or context.get("cpu"),
        "device": context["device"],
        "cpu": context.get("cpu"),
        "cpu_count": context.get("cpu_count"),
        "gpu": gpu_name,
        "gpu_driver": gpu.get("driver"),
        "torch": context.get("torch"),
        "cuda": context.get("cuda"),
        "python": context.get("python"),
    }


def trace_columns(cost: dict) -> dict:
    """The stability verdict's numbers and the power trace's rate, source and cost (blank where absent)."""
    stability = cost["energy"].get("stability") or {}  # absent in cost documents from before the verdict
    trace = cost.get("trace") or {}
    return {
        "energy_spread": stability.get("spread"),
        "thermal_drift_celsius": stability.get("drift_celsius"),
        "trace_hz": trace.get("hz"),
        "trace_power_source": trace.get("power_source"),
        "sampler_cpu_share": trace.get("sampler_cpu_share"),
    }


def quality_source(precision: str) -> str:
    if precision == "fp32":
        # Batching and compiling only reorder float sums: the fp32 clips stand for every fp32 setting.
        return "the model's fp32 test clips"
    return f"this setting's own {precision} test clips"


def measured_row(
    model: str,
    size: str,
    origin: dict,
    quality: dict,
    cost: dict,
    measurement: str,
    energy_basis: str,
    carbon_intensity: float | None,
) -> dict:
    setting = cost.get("setting") or PAPER.as_dict()  # cost documents from before settings ran the paper's
    summary = summary_row(model, size, origin, quality, cost, energy_basis, carbon_intensity)
    row = {
        "model": model,
        "size": size,
        **setting_columns(setting),
        "measurement": measurement,
        "status": "measured",
        "skip_reason": None,
        **{column: summary[column] for column in SUMMARY_COLUMNS},
        "quality_source": quality_source(setting["precision"]),
        "stable": summary["energy_stable"],
        "unstable_reasons": summary["energy_unstable_reasons"],
        **trace_columns(cost),
        **hardware_columns(cost["context"]),
        "measured_at": cost["measured_at"],
        "pareto_d_stft_vs_energy": None,
    }
    return {column: _blank_to_none(row[column]) for column in COLUMNS}


def skipped_row(model: str, size: str, point: dict, model_row: dict, context: dict | None) -> dict:
    row = dict.fromkeys(COLUMNS)
    row |= {
        "model": model,
        "size": size,
        **setting_columns(point["setting"]),
        "measurement": SWEEP,
        "status": "skipped",
        "skip_reason": point["reason"],
        **{column: model_row[column] for column in MODEL_COLUMNS},
        **hardware_columns(context),
    }
    return row


def sweep_context(sweep: dict) -> dict | None:
    """The machine a sweep ran on (one process: its measured points all name it); None if none was measured."""
    return next((p["cost"]["context"] for p in sweep["points"] if p["status"] == "measured"), None)


def dataset_rows(entries: list[dict], energy_basis: str, carbon_intensity: float | None = None) -> list[dict]:
    """One row per measurement: each entry's cost job, then each point of its sweep (in sweep order).

    An entry is ``{"model", "size", "origin", "quality", "precision_quality", "cost", "sweep"}``:
    ``quality`` is the model's (its fp32 test clips), ``precision_quality`` maps bf16/fp16 to the quality of
    that precision's own clips, ``sweep`` is a sweep document or None. Pareto flags are over all rows."""
    rows = []
    for entry in entries:
        model, size, origin = entry["model"], entry["size"], entry["origin"]
        job_row = measured_row(
            model, size, origin, entry["quality"], entry["cost"], COST_JOB, energy_basis, carbon_intensity
        )
        rows.append(job_row)
        sweep = entry.get("sweep")
        if sweep is None:
            continue
        context = sweep_context(sweep)
        for point in sweep["points"]:
            if point["status"] == "skipped":
                rows.append(skipped_row(model, size, point, job_row, context))
                continue
            precision = point["setting"]["precision"]
            if precision == "fp32":
                quality = entry["quality"]
            else:
                try:
                    quality = entry.get("precision_quality", {})[precision]
                except KeyError:
                    raise KeyError(
                        f"{model}_{size}: no quality document for {precision} (the sweep measured a {precision} "
                        "setting; its clips must be scored too)"
                    ) from None
            rows.append(
                measured_row(model, size, origin, quality, point["cost"], SWEEP, energy_basis, carbon_intensity)
            )
    return with_pareto(rows)


def with_pareto(rows: list[dict]) -> list[dict]:
    """``pareto_d_stft_vs_energy`` over ``rows``: (D_STFT, J per second of audio), both minimised, among
    measured rows with both numbers; fronts per energy method and basis, so measured and estimated
    energies (or gross and net ones) never share a front."""
    points = np.array(
        [[np.nan if r[c] is None else float(r[c]) for c in ("d_stft", "energy_joules_per_audio_second")] for r in rows]
    ).reshape(len(rows), 2)
    groups = [
        (r["energy_method"], r["energy_basis"]) if r["status"] == "measured" and r["energy_method"] else None
        for r in rows
    ]
    front = nondominated(points, [False, False], groups)
    return [row | {"pareto_d_stft_vs_energy": bool(on)} for row, on in zip(rows, front, strict=True)]


def _csv_value(value):
    return "" if value is None else value


def write_dataset(rows: list[dict], out_csv: str | Path, schema_out: str | Path | None = None) -> None:
    """The CSV (blanks for missing values), and the schema beside it when ``schema_out`` is given."""
    write_csv([{c: _csv_value(row[c]) for c in COLUMNS} for row in rows], COLUMNS, out_csv)
    if schema_out is not None:
        write_text(SCHEMA_PATH.read_text(), schema_out)


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def _types(prop: dict) -> set[str]:
    types = prop.get("type", [])
    return {types} if isinstance(types, str) else set(types)


def _parse(text: str, types: set[str]):
    """A CSV cell as the schema's types say; text that fits none is kept as text for the schema to report."""
    if text == "":
        return None
    if "boolean" in types and text in ("True", "False", "true", "false"):
        return text in ("True", "true")
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if types & {"number", "integer"}:
        try:
            value = float(text)
        except ValueError:
            return text
        # An integer column may hold 16000.0 (a float that a document gave): the schema accepts it as one.
        return int(value) if "integer" in types and value.is_integer() else value
    return text


def load_dataset(csv_path: str | Path) -> list[dict]:
    """The rows of a dataset CSV, typed (numbers, booleans, None for blanks) and checked against the
    schema: a wrong header, or a value of the wrong type, raises ``ValueError`` naming the file, the row
    and the column."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such energy dataset")
    row_schema = schema()
    properties, validator = row_schema["properties"], Draft202012Validator(row_schema)
    with open(csv_path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        if header != COLUMNS:
            missing = [c for c in COLUMNS if c not in header]
            unexpected = [c for c in header if c not in COLUMNS]
            problem = "; ".join(
                part
                for part in (
                    f"missing columns: {', '.join(missing)}" if missing else "",
                    f"unexpected columns: {', '.join(unexpected)}" if unexpected else "",
                    "columns out of order" if not missing and not unexpected else "",
                )
                if part
            )
            raise ValueError(f"{csv_path}: not an energy dataset header ({problem or 'empty file'})")
        rows = []
        for number, cells in enumerate(reader, start=1):
            if len(cells) != len(COLUMNS):
                raise ValueError(
                    f"{csv_path}: row {number} (line {reader.line_num}) has {len(cells)} cells, not {len(COLUMNS)}"
                )
            row = {c: _parse(text, _types(properties[c])) for c, text in zip(COLUMNS, cells, strict=True)}
            errors = sorted(validator.iter_errors(row), key=lambda e: COLUMNS.index(e.path[0]) if e.path else -1)
            if errors:
                column = ".".join(map(str, errors[0].path)) or "(the row as a whole)"
                raise ValueError(
                    f"{csv_path}: row {number} (line {reader.line_num}), column {column}: {errors[0].message}"
                )
            rows.append(row)
    return rows


def validate(csv_path: str | Path) -> list[dict]:
    """Check every row of ``csv_path`` against the schema (``load_dataset``); returns the typed rows."""
    return load_dataset(csv_path)


def dataset_csv(source: str | Path) -> Path:
    """A results folder's dataset, or the CSV itself."""
    source = Path(source)
    if source.is_dir():
        path = source / DATASET_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{source}: a results folder without {DATASET_NAME}")
        return path
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such results folder or CSV")
    return source


def merge(sources: list[Path], out_dir: Path) -> list[dict]:
    """Concatenate the datasets of ``sources`` (results folders or CSVs, each validated), recompute the
    Pareto flags over the union (one analysis across machines: ``hardware`` is a column), and write
    ``out_dir``/energy_dataset.csv, its schema and ``pareto.png``/``.svg`` coloured by hardware."""
    paths = [dataset_csv(source) for source in sources]
    repeated = [str(path) for path, count in Counter(p.resolve() for p in paths).items() if count > 1]
    if repeated:
        raise ValueError(f"{', '.join(repeated)}: given more than once (its rows would count twice)")
    rows = with_pareto([row for path in paths for row in load_dataset(path)])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dataset(rows, out_dir / DATASET_NAME, out_dir / SCHEMA_PATH.name)
    from vocoder_energy.deployment.figures import setting_pareto_figure  # matplotlib only where drawn

    setting_pareto_figure(rows, out_dir / "pareto", colour_by="hardware")
    return rows


def _per_hardware(rows: list[dict]) -> str:
    counts = Counter(row["hardware"] or "unknown hardware" for row in rows)
    return "\n".join(f"  {hardware}: {count} rows" for hardware, count in counts.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vocoder_energy.deployment.dataset", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    merging = commands.add_parser("merge", help="merge the energy datasets of several results folders (or CSVs)")
    merging.add_argument("sources", nargs="+", type=Path, help="results folders holding energy_dataset.csv, or CSVs")
    merging.add_argument("--out", required=True, type=Path, help="folder to write the merged dataset and figure to")
    checking = commands.add_parser("validate", help="check a dataset CSV against its schema")
    checking.add_argument("csv", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "merge":
            rows = merge(args.sources, args.out)
            written = [args.out / DATASET_NAME, args.out / SCHEMA_PATH.name, args.out / "pareto.png"]
            print(f"wrote {', '.join(map(str, written))} and pareto.svg: {len(rows)} rows")
        else:
            rows = validate(args.csv)
            print(f"{args.csv}: {len(rows)} rows, all valid")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(_per_hardware(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
