"""Isolation of energy windows, checked on Snakemake's own schedule: in a real run with ``--cores 2``, no
other job of the workflow starts or runs while a cost job measures (energy counters are device-wide)."""

from __future__ import annotations

import csv
import json
import re

import pytest
import yaml
from test_workflow import TINY, clone, job_counts, snakemake, write_config

TARGETS = ["results/cost/diffwave_S.json", "results/quality/diffwave_S.json", "results/cost/melgan_S.json"]


def schedule(log_text: str) -> list[tuple[str, int, str]]:
    """("start" | "finish", jobid, rule) in the order Snakemake's log records them."""
    events, pending_rule = [], None
    for line in log_text.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            pending_rule = match[1]
        elif pending_rule and (match := re.match(r"^\s+jobid: (\d+)$", line)):
            events.append(("start", int(match[1]), pending_rule))
            pending_rule = None
        elif match := re.match(r"^Finished jobid: (\d+) \(Rule: (\w+)\)", line):
            events.append(("finish", int(match[1]), match[2]))
    return events


def overlaps_with_cost(events: list[tuple[str, int, str]]) -> list[str]:
    """Every job that was running at some moment when a cost job was running too."""
    running: dict[int, str] = {}
    overlaps = []
    for kind, jobid, rule in events:
        if kind == "start":
            if running and (rule == "cost" or "cost" in running.values()):
                overlaps.append(f"{rule} (job {jobid}) started while {sorted(running.values())} ran")
            running[jobid] = rule
        else:
            running.pop(jobid, None)
    return overlaps


def test_schedule_parser_sees_an_overlap():
    log = "\n".join(
        ["localrule cost:", "    jobid: 1", "localrule quality:", "    jobid: 2", "Finished jobid: 1 (Rule: cost)"]
    )
    assert schedule(log) == [("start", 1, "cost"), ("start", 2, "quality"), ("finish", 1, "cost")]
    assert overlaps_with_cost(schedule(log)) == ["quality (job 2) started while ['cost'] ran"]
    log = "\n".join(
        ["rule quality:", "    jobid: 2", "Finished jobid: 2 (Rule: quality)", "rule cost:", "    jobid: 1"]
    )
    assert overlaps_with_cost(schedule(log)) == []


def test_a_cost_job_reserves_every_core_it_is_given(tmp_path):
    repo = clone(tmp_path / "repo")
    for cores in ("2", "5"):
        result = snakemake(repo, "--cores", cores, "-n", "results/cost/melgan_S.json")
        block = result.stdout.split("rule cost:", 1)[1].split("\n\n", 1)[0]
        assert re.search(rf"^\s+threads: {cores}$", block, re.M), block
    assert job_counts(snakemake(repo, "-n", "results/cost/melgan_S.json").stdout)["cost"] == 1


def test_features_feed_the_probe_only_when_it_generates_from_the_test_split(tmp_path):
    repo = clone(tmp_path / "repo")
    random = snakemake(repo, "-n", "results/cost/melgan_S.json").stdout
    assert "test.npz" not in random.split("rule cost:", 1)[1].split("\n\n", 1)[0]
    config = yaml.safe_load(TINY.read_text())
    config["measurement"]["input"] = "test"
    test = snakemake(repo, "-n", "results/cost/melgan_S.json", configfile=write_config(tmp_path / "t.yaml", config))
    assert "data/features/hop256/test.npz" in test.stdout.split("rule cost:", 1)[1].split("\n\n", 1)[0]


@pytest.mark.slow
def test_no_other_job_runs_during_a_cost_job(tmp_path):
    repo = clone(tmp_path / "repo")
    config = yaml.safe_load(TINY.read_text())
    config["measurement"] |= {"input": "test", "cooldown_seconds": 0.01}  # and the test split feeds the probe
    snakemake(repo, "--cores", "2", *TARGETS, configfile=write_config(tmp_path / "tiny.yaml", config))
    # Net or gross, and the carbon intensity, act in the summary: the measurement stays up to date.
    config["measurement"] |= {"energy": "gross", "carbon_intensity_kg_per_kwh": 0.2}
    after = snakemake(repo, "-n", *TARGETS, configfile=write_config(tmp_path / "gross.yaml", config))
    assert "Nothing to be done" in after.stdout + after.stderr, after.stdout
    (log,) = (repo / ".snakemake" / "log").glob("*.snakemake.log")
    events = schedule(log.read_text())
    rules = [rule for kind, _, rule in events if kind == "finish"]
    assert rules.count("cost") == 2 and "quality" in rules and "generate" in rules
    assert overlaps_with_cost(events) == []
    for model in ("diffwave_S", "melgan_S"):  # Snakemake's own benchmark of each cost job
        with open(repo / "logs" / "cost" / f"{model}.benchmark.tsv", newline="") as handle:
            (row,) = csv.DictReader(handle, delimiter="\t")
        assert float(row["s"]) > 0
        cost = json.loads((repo / "results" / "cost" / f"{model}.json").read_text())
        assert cost["workload"]["input"].startswith("the test split's mels")
        assert cost["energy"]["windows"]["cooldown_seconds"] == 0.01
