"""profiles/slurm against a real Slurm cluster (tests/slurm_cluster.py): the tiny workflow end to end as
Slurm jobs, GPUs where the profile asks for them, and a training job that outlives its walltime."""

import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import TEMP_PREFIX, SlurmCluster, run_guarded, unavailable_reason
from test_workflow import ROOT, TINY, clone, job_counts, write_config

PROFILE = ROOT / "profiles" / "slurm" / "profile.yaml"
GPU_RULES = {"train", "generate", "cost"}
SLURM_TARGET = "results/summary.csv"  # the run's target: corpus, features, train, generate, quality, cost, summary
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def profile_partitions(profile: dict) -> list[str]:
    """The partitions the profile names, the default-resources one first."""
    names = [profile["default-resources"]["slurm_partition"]]
    return names + [r["slurm_partition"] for r in profile["set-resources"].values() if "slurm_partition" in r]


def test_profile_reaches_the_jobs_alongside_the_workflow_profile(tmp_path):
    """A dry run through the profile: Slurm resources per rule survive the auto-loaded profiles/default."""
    repo = clone(tmp_path / "repo")
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "-n", "--configfile", str(TINY)]
    result = run_guarded(command, 300, cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    resources = {}
    for block in re.split(r"\n(?=rule \w+:)", result.stdout):
        rule = re.match(r"rule (\w+):", block)
        found = re.search(r"resources: (.*)", block)
        if rule and found:
            resources[rule[1]] = found[1]
    assert "slurm_partition=gpu" in resources["train"] and "gpu=1" in resources["train"]
    assert "runtime=1440" in resources["train"] and "slurm_extra=--signal=TERM@600" in resources["train"]
    assert "slurm_extra=--exclusive" in resources["cost"]
    assert "slurm_partition=cpu" in resources["quality"]


# ---------------------------------------------------------------------------------------- the cluster
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    profile = yaml.safe_load(PROFILE.read_text())
    # Not under pytest's tmp dir: munged wants every directory above its socket searchable by all.
    root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    started = time.monotonic()
    try:
        with SlurmCluster(root, profile_partitions(profile)) as running:
            print(f"Slurm test cluster up in {time.monotonic() - started:.1f} s")
            yield running
    finally:
        shutil.rmtree(root, ignore_errors=True)


def profile_for_tests(path: Path, train_minutes: int = 10, signal_seconds: int = 60, **overrides) -> Path:
    """profiles/slurm with the test's timings and sizes: seconds instead of hours, the one node's CPUs and
    memory. Partitions, GPU requests, --exclusive and everything else stay the profile's own."""
    profile = yaml.safe_load(PROFILE.read_text())
    profile |= {
        "slurm-init-seconds-before-status-checks": 5,
        "slurm-keep-successful-logs": True,  # the test reads them
        "latency-wait": 5,
        "set-threads": {rule: 1 for rule in profile["set-threads"]},
    } | overrides
    profile["default-resources"] |= {"mem_mb": 1500, "runtime": 10}
    for resources in profile["set-resources"].values():
        resources |= {"mem_mb": 1500, "runtime": 10}
        if "cpus_per_gpu" in resources:
            resources["cpus_per_gpu"] = 1
    profile["set-resources"]["train"] |= {
        "runtime": train_minutes,
        "slurm_extra": f"'--signal=TERM@{signal_seconds}'",
    }
    path.mkdir(parents=True)
    (path / "profile.yaml").write_text(yaml.safe_dump(profile))
    return path


def run_on_cluster(cluster, workdir, profile, *args, configfile=TINY, timeout=900):
    """Snakemake through the profile, killed (process group, SIGKILL) if it outlives ``timeout``."""
    command = [sys.executable, "-m", "snakemake", "--profile", str(profile), *args, "--configfile", str(configfile)]
    started = time.monotonic()
    result = run_guarded(command, timeout, cwd=workdir, env=cluster.env)
    print(f"snakemake {' '.join(args)}: {time.monotonic() - started:.0f} s")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    return output


def submitted_jobs(output: str) -> list[tuple[str, int]]:
    """(rule, Slurm job id) of each submission Snakemake reported, from the log paths (rule_<name>/...)."""
    return [(re.search(r"rule_(\w+?)/", log)[1], int(job)) for _, job, log in SUBMITTED.findall(output)]


def keep_families(config: dict, *families: str) -> None:
    """Restrict a config to ``families``: their models, inference options and swept models (options or a
    sweep for a family that is not configured are a config error)."""
    config["models"] = {family: config["models"][family] for family in families}
    config["inference"] = {family: v for family, v in config.get("inference", {}).items() if family in families}
    deployment = config.get("deployment", {})
    deployment["models"] = [m for m in deployment.get("models", []) if m.rsplit("_", 1)[0] in families]


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """The tiny config through the profile, to its summary, with one of its families to keep the test to
    minutes (every Slurm job starts Snakemake twice): MelGAN. Every rule up to the summary, GPU and CPU
    partitions, goes through Slurm; the figures' rules after it are CPU jobs like those."""
    base = tmp_path_factory.mktemp("slurm-run")
    workdir = clone(base / "repo")
    config = yaml.safe_load(TINY.read_text())
    keep_families(config, "melgan")
    configfile = write_config(base / "tiny-slurm.yaml", config)
    profile = profile_for_tests(base / "profile")
    output = run_on_cluster(cluster, workdir, profile, SLURM_TARGET, configfile=configfile)
    return workdir, profile, configfile, output


@pytest.mark.slow
def test_tiny_workflow_runs_as_slurm_jobs(cluster, slurm_run):
    workdir, _, configfile, output = slurm_run
    jobs = submitted_jobs(output)
    counts = {}
    for rule, _ in jobs:
        counts[rule] = counts.get(rule, 0) + 1
    fresh = clone(workdir.parent / "fresh")
    dry_run = [sys.executable, "-m", "snakemake", "-n", SLURM_TARGET, "--configfile", str(configfile)]
    expected = job_counts(run_guarded(dry_run, 300, cwd=fresh).stdout)
    assert counts == expected
    records, allocations = cluster.finished_jobs(), cluster.allocations_by_job()
    for rule, job in jobs:
        assert records[job]["JobState"] == "COMPLETED", (rule, records[job])
        gpus = [index for index in allocations[job]["GPUs"].split(",") if index]
        if rule == "cost":  # --exclusive: the whole node (all its CPUs and GPUs) for the energy probe
            assert records[job]["Partition"] == "gpu" and len(gpus) == cluster.gpus, (rule, allocations[job])
            assert int(records[job]["ProcCnt"]) == cluster.cpus, records[job]
        elif rule in GPU_RULES:  # one GPU and one CPU (cpus_per_gpu) each
            assert records[job]["Partition"] == "gpu" and len(gpus) == 1, (rule, allocations[job])
            assert int(records[job]["ProcCnt"]) == 1, records[job]
        else:
            assert records[job]["Partition"] == "cpu" and not gpus, (rule, allocations[job])
    assert (workdir / "results" / "summary.csv").exists()


@pytest.mark.slow
def test_slurm_run_keeps_the_workflow_profiles_rerun_triggers(cluster, slurm_run):
    """profiles/default drops the mtime "code" trigger; --profile profiles/slurm must not bring it back."""
    workdir, profile, configfile, _ = slurm_run
    for path in [*workdir.glob("workflow/**/*"), *workdir.glob("src/**/*.py")]:
        if path.is_file():
            path.touch()
    output = run_on_cluster(cluster, workdir, profile, "-n", SLURM_TARGET, configfile=configfile, timeout=300)
    assert "Nothing to be done" in output, output


@pytest.mark.slow
def test_training_past_its_walltime_is_signalled_checkpoints_and_resumes(cluster, slurm_run, tmp_path):
    base = tmp_path
    # A copy of the finished run: its corpus and features are reused, only the training reruns.
    workdir = base / "repo"
    shutil.copytree(slurm_run[0], workdir, ignore=shutil.ignore_patterns("slurm_logs"))
    config = yaml.safe_load(TINY.read_text())
    keep_families(config, "melgan")
    budget = 120
    config["training"] = {"batch_size": 1, "max_seconds": budget, "checkpoint_every_seconds": 600}
    configfile = write_config(base / "walltime.yaml", config)
    # Slurm time limits are whole minutes; slurmctld checks them every 30 s and sends the --signal up to
    # 30 s early, so a 3-minute limit with the signal 60 s before it signals the job 90-120 s after it
    # starts: well past the job's start-up (a signal before training's handler is in place would be lost;
    # a loaded 2-core machine takes 25-40 s to start a job), before the 120 s budget is spent, and long
    # before the limit's SIGKILL. The retry finishes the budget.
    profile = profile_for_tests(base / "profile", train_minutes=3, signal_seconds=60, retries=6)
    output = run_on_cluster(cluster, workdir, profile, "results/train/melgan_S.json", configfile=configfile)

    attempts = [job for rule, job in submitted_jobs(output) if rule == "train"]
    records = cluster.finished_jobs()
    states = [records[job]["JobState"] for job in attempts]
    for job in attempts:
        print({key: records[job][key] for key in ("JobId", "JobState", "StartTime", "EndTime", "TimeLimit")})
    assert len(attempts) >= 2 and states[-1] == "COMPLETED" and set(states[:-1]) == {"FAILED"}, states
    logs = workdir / ".snakemake" / "slurm_logs" / "rule_train"
    failed_logs = [next(logs.rglob(f"{job}.log")).read_text() for job in attempts[:-1]]
    assert any(re.search(r"Interrupted: signal 15 at step \d+; checkpoint saved", log) for log in failed_logs)

    summary = json.loads((workdir / "results" / "train" / "melgan_S.json").read_text())
    assert summary["resumed_from_step"] > 0 and summary["train_seconds"] <= budget
    assert summary["stopped_by"].startswith("max_seconds")  # the budget, spent across the attempts
    steps = [json.loads(line) for line in (workdir / "results" / "train" / "melgan_S_losses.jsonl").open()]
    assert [s["step"] for s in steps] == list(range(1, summary["steps"] + 1))  # one run: no gap, no repeat
    seconds = [s["seconds"] for s in steps]
    assert seconds == sorted(seconds)
