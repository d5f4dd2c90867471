"""Per-stage JSON documents as the workflow's rules write them, for tests of the summary and analysis."""

import json


def train_json(steps: int, seconds: float) -> dict:
    """A training job's summary, as ``run_training_job`` writes it (the fields the summary reads)."""
    joules = 250.0 * seconds  # estimated at 250 W
    return {
        "steps": steps,
        "train_seconds": seconds,
        "batch_size": 16,
        "device_name": "cpu",
        "energy": {"joules": joules, "kwh": joules / 3.6e6, "kg_co2eq": 0.7 * joules / 3.6e6, "method": "estimated"},
    }


def write_stage_documents(tmp_path, train: dict, d_stft: float, cost: dict) -> list:
    """One job's train, quality and cost JSON files, as the workflow's rules write them."""
    documents = {"train": train, "quality": {"d_stft": {"value": d_stft, "method": "measured"}}, "cost": cost}
    paths = []
    for stage, content in documents.items():
        paths.append(tmp_path / f"{stage}.json")
        paths[-1].write_text(json.dumps(content))
    return paths
