"""The workflow through Snakemake itself: dry-runs, config validation, an end-to-end run, and caching."""

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def clone(dest: Path) -> Path:
    """The repository's working tree without its outputs and environments, as a user's fresh clone."""
    anywhere = shutil.ignore_patterns(".git", ".venv", ".snakemake", "__pycache__", "*.egg-info")

    def ignore(directory, names):
        # Outputs only at the top: src/vocoder_energy/data and tests/data are code and test data.
        top = {"results", "data", "logs"} & set(names) if Path(directory) == ROOT else set()
        return anywhere(directory, names) | top

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def snakemake(workdir, *args, configfile=TINY, check=True):
    """Snakemake run from ``workdir`` as a user would, in a clone (profiles/default applies)."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", str(configfile), *args],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run, as {rule: count}."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def write_config(path, config):
    path.write_text(yaml.safe_dump(config))
    return path


def only_models(config: dict, models: dict) -> dict:
    """``config`` with ``models`` as its models, without the sections that name models of their own
    (inference options, the deployment sweep): one naming a model left out is a config error."""
    return config | {"models": models, "inference": {}, "deployment": {}}


def test_paper_config_trains_all_18_configurations(repo):
    result = snakemake(repo, "-n", configfile=ROOT / "config" / "paper.yaml")
    counts = job_counts(result.stdout)
    assert counts["train"] == 18
    assert counts["cost"] == counts["quality"] == counts["generate"] == 18
    assert counts["download_ljspeech"] == 1 and counts["extract_ljspeech"] == 1


def test_paper_plus_adds_vocos_and_bigvgan_in_three_sizes_to_the_papers_18(repo):
    # The second file goes on the same --configfile, after paper.yaml, and is merged into it.
    plus = str(ROOT / "config" / "paper_plus.yaml")
    result = snakemake(repo, plus, "-n", configfile=ROOT / "config" / "paper.yaml")
    counts = job_counts(result.stdout)
    assert counts["train"] == counts["cost"] == counts["quality"] == 24
    for family in ("vocos", "bigvgan"):
        assert all(f"results/models/{family}_{size}.pt" in result.stdout for size in "SML")
    assert "results/models/hifigan_L.pt" in result.stdout  # the paper's own stay


def test_default_config_dry_runs(repo):
    counts = job_counts(snakemake(repo, "-n", configfile=ROOT / "config.yaml").stdout)
    assert counts["synthesize_corpus"] == 1 and counts["train"] >= 3


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"models": {"wavenet": {"S": {}}}}, "wavenet"),
        ({"models": {"hifigan": {"XL": {}}}}, "XL"),
        ({"models": {"hifigan": {"S": {"channels": 4}}}}, r"models\.hifigan\.S: unknown hyperparameter\(s\) channels"),
        (
            {"inference": {"hifigan": {"upsample_rates": [8, 8, 4]}}},
            r"inference\.hifigan: upsample_rates cannot change",
        ),
    ],
)
def test_bad_models_are_rejected_with_the_key_named(repo, tmp_path, changes, message):
    config = yaml.safe_load(TINY.read_text()) | changes
    result = snakemake(repo, "-n", configfile=write_config(tmp_path / "bad.yaml", config), check=False)
    assert result.returncode != 0
    assert re.search(message, result.stdout + result.stderr)


def test_a_missing_budget_is_rejected(repo, tmp_path):
    config = yaml.safe_load(TINY.read_text()) | {"training": {"batch_size": 2}}
    result = snakemake(repo, "-n", configfile=write_config(tmp_path / "bad.yaml", config), check=False)
    assert result.returncode != 0 and "max_steps" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return clone(tmp_path_factory.mktemp("dry") / "repo")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = clone(tmp_path_factory.mktemp("run") / "repo")
    snakemake(workdir, "--cores", "2", "--resources", "gpu=1")
    return workdir


@pytest.mark.slow
def test_end_to_end_run_produces_summary_and_figures(finished_run):
    rows = list(csv.DictReader(open(finished_run / "results" / "summary.csv")))
    config = yaml.safe_load(TINY.read_text())
    expected = [(family, size) for family, sizes in config["models"].items() for size in sizes]
    assert [(r["model"], r["size"]) for r in rows] == expected
    for row in rows:
        assert float(row["d_stft"]) >= 0 and float(row["gflops_per_audio_second"]) > 0
        assert row["energy_method"] == "estimated" and row["assumed_watts"] == "10"  # tiny.yaml: meter estimated
        assert int(row["train_steps"]) == 1
    assert any(r["pareto_d_stft_vs_gflops"] == "True" for r in rows)
    png = (finished_run / "results" / "figures" / "pareto.png").read_bytes()
    assert png.startswith(b"\x89PNG") and (finished_run / "results" / "figures" / "pareto.svg").stat().st_size > 0
    assert (finished_run / "logs" / "train" / "hifigan_S.log").read_text()
    for row in rows:  # training cost and the batch size used, from the training jobs
        assert int(row["train_batch_size"]) == 2 and float(row["train_energy_kwh"]) > 0
        assert float(row["train_kg_co2eq"]) == pytest.approx(0.7 * float(row["train_energy_kwh"]))
    figures = finished_run / "results" / "figures"
    assert (figures / "losses.png").read_bytes().startswith(b"\x89PNG") and (figures / "losses.svg").stat().st_size
    for model, size in expected:
        assert (figures / "losses" / f"{model}_{size}.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_end_to_end_run_scores_every_clip_and_writes_the_tables(finished_run):
    rows = list(csv.DictReader(open(finished_run / "results" / "summary.csv")))
    for row in rows:
        assert float(row["stoi_mean"]) > 0 and float(row["mcd_db_mean"]) > 0 and float(row["pesq_wb_mean"]) >= 1
    utterances = list(csv.DictReader(open(finished_run / "results" / "quality" / "hifigan_S_utterances.csv")))
    assert len(utterances) == 1 and {"utterance", "d_stft", "pesq_wb", "stoi", "mcd_db", "f0_rmse_cents"} <= set(
        utterances[0]
    )
    analysis = finished_run / "results" / "analysis"
    # No ratings: the predicted MOS; Table 1 starts with the ground truth's, the ceiling.
    assert json.loads((analysis / "hypervolume.json").read_text())["quality"] == "dnsmos_p808"
    table1 = list(csv.DictReader(open(analysis / "table1.csv")))
    assert table1[0]["model"] == "ground_truth" and 1 <= float(table1[0]["dnsmos_p808"]) <= 5
    table2 = (analysis / "table2.md").read_text()
    header = "| model | size | in_paper | weights | sample_rate_hz | parameters_millions | paper_parameters_millions |"
    assert header in table2
    assert "| vocos | S | no | trained |" in table2 and "| bigvgan | S | no |" in table2  # not in the paper
    assert "| hifigan | S | yes | trained | 16000 |" in table2 and "| 0.928 |" in table2  # the paper's beside ours
    paper = list(csv.DictReader(open(finished_run / "results" / "paper_reference" / "pareto.csv")))
    assert len(paper) == 18


def embedded(report_html: str, filename: str) -> bytes:
    """The bytes of ``filename`` as the self-contained report embeds it (a base64 data URI)."""
    import base64

    match = re.search(rf"filename={re.escape(filename)};base64,([A-Za-z0-9+/=]+)", report_html)
    assert match, f"{filename} is not embedded in the report"
    return base64.b64decode(match.group(1))


@pytest.mark.slow
def test_report_embeds_figures_tables_and_playable_audio(finished_run):
    import base64
    import io

    import soundfile as sf

    snakemake(finished_run, "--report", "report.html")
    report = (finished_run / "report.html").read_text()
    for name in ("pareto.svg", "figure2.svg", "table1.html", "table2.html"):
        assert embedded(report, name)
    page = embedded(report, "audio_examples.html").decode()
    players = re.findall(r'<audio controls preload="none" src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"', page)
    config = yaml.safe_load(TINY.read_text())
    jobs = sum(len(sizes) for sizes in config["models"].values())
    assert len(players) == 1 + jobs  # one test clip (tiny config): the ground truth and each model
    audio, rate = sf.read(io.BytesIO(base64.b64decode(players[0])))
    assert rate == 16000 and len(audio) == 16384 and np.abs(audio).max() > 0
    assert "Pareto-efficient" in embedded(report, "pareto.svg").decode()


@pytest.mark.slow
def test_adding_ratings_reruns_the_analysis_with_mos_as_quality(finished_run, tmp_path):
    rated = tmp_path / "rated"
    shutil.copytree(finished_run, rated)
    with np.load(rated / "results" / "generated" / "hifigan_S.npz") as data:
        (utterance,) = [str(i) for i in data["ids"]]
    ratings = rated / "data" / "listening" / "ratings.csv"
    ratings.parent.mkdir(parents=True)
    lines = ["listener,stimulus,system,utterance,score,timestamp"]
    for listener, offset in (("ann", 0), ("bob", 1), ("cy", -1)):
        for system, score in (("ground_truth", 4), ("hifigan_S", 3), ("melgan_S", 2)):
            lines.append(f"{listener},{system}-{utterance},{system},{utterance},{score + offset},2026-11-24")
    # dan rates the anchor (the low gold question) 5 and everything else 1: left out of the MOS.
    for system, score in (("ground_truth", 1), ("hifigan_S", 1), ("melgan_S", 1), ("anchor", 5)):
        lines.append(f"dan,{system}-{utterance},{system},{utterance},{score},2026-11-24")
    ratings.write_text("\n".join(lines) + "\n")
    counts = job_counts(snakemake(rated, "-n").stdout)
    assert counts == {"mos": 1, "agreement": 1, "analysis": 1, "pareto_figure": 1, "all": 1}
    snakemake(rated, "--cores", "1")
    assert json.loads((rated / "results" / "analysis" / "hypervolume.json").read_text())["quality"] == "mos"
    table1 = list(csv.DictReader(open(rated / "results" / "analysis" / "table1.csv")))
    truth = table1[0]
    assert truth["model"] == "ground_truth" and float(truth["mos"]) == 4.0 and float(truth["paper_mos"]) == 4.34
    hifigan = next(r for r in table1 if (r["model"], r["size"]) == ("hifigan", "S"))
    assert float(hifigan["mos"]) == 3.0 and float(hifigan["paper_mos"]) == 3.90
    assert "anchor" not in (rated / "results" / "analysis" / "mos.csv").read_text()
    # Predicted against human MOS: two rated systems are too few for a correlation (NaN, never made up).
    correlations = list(csv.DictReader(open(rated / "results" / "analysis" / "agreement_correlations.csv")))
    assert correlations[0]["metric"] == "dnsmos_p808" and correlations[0]["systems"] == "2"
    assert correlations[0]["pearson"] == "" or np.isnan(float(correlations[0]["pearson"]))
    assert (rated / "results" / "figures" / "agreement.png").read_bytes().startswith(b"\x89PNG")
    snakemake(rated, "--report", "report.html")
    report = (rated / "report.html").read_text()
    assert "no correlation: it needs 3 rated systems" in embedded(report, "agreement.svg").decode()
    assert embedded(report, "agreement_correlations.csv")
    log = (rated / "logs" / "analysis" / "mos.log").read_text()
    assert "1 of 4 rater(s) excluded from MOS" in log and "anchor (low gold, not a system): MOS 5.00" in log

    ratings.write_text("\n".join([*lines, lines[1].replace("ann,", "eve,").replace(",4,", ",9,")]) + "\n")
    result = snakemake(rated, "--cores", "1", check=False)
    assert result.returncode != 0
    assert re.search(
        r"ratings\.csv: score must be an integer from 1 to 5 \(line\(s\) 15", result.stdout + result.stderr
    )


def test_a_missing_local_predictor_is_said_at_the_start_and_its_file_becomes_an_input(tmp_path):
    repo = clone(tmp_path / "repo")
    config = yaml.safe_load(TINY.read_text())
    config["evaluation"] = {"metrics": ["stoi", "local_mos"], "local_mos": {"path": "models/utmos.onnx"}}
    configfile = tmp_path / "local.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(repo, "-n", configfile=configfile)
    assert "WARNING: evaluation.local_mos.path models/utmos.onnx does not exist" in result.stderr
    assert "models/utmos.onnx" not in result.stdout  # not an input while missing: the run goes on
    (repo / "models").mkdir()
    (repo / "models" / "utmos.onnx").write_bytes(b"placeholder")
    result = snakemake(repo, "-n", configfile=configfile)
    assert "local_mos.path" not in result.stderr
    assert "models/utmos.onnx" in result.stdout  # now an input of each quality job


def test_paper_reference_needs_no_training(tmp_path):
    repo = clone(tmp_path / "repo")
    result = snakemake(repo, "--cores", "1", "paper_reference", configfile=ROOT / "config" / "paper.yaml")
    assert job_counts(result.stdout + result.stderr) == {"paper_reference": 1}  # the paper's config, no training
    assert not (repo / "results" / "models").exists() and not (repo / "data").exists()
    rows = list(csv.DictReader(open(repo / "results" / "paper_reference" / "pareto.csv")))
    assert list(rows[0])[:7] == ["model", "size", "mos", "gflops", "energy", "on_front_gflops", "on_front_energy"]
    for cost in ("gflops", "energy"):
        front = {(r["model"], r["size"]) for r in rows if r[f"on_front_{cost}"] == "True"}
        assert front == {("melgan", "S"), ("hifigan", "S"), ("hifigan", "L")}
    assert (repo / "results" / "paper_reference" / "figure2.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_complete_run_has_nothing_to_do_even_after_touching_every_source(finished_run):
    sources = [finished_run / "Snakefile", TINY, *finished_run.glob("workflow/**/*"), *finished_run.glob("src/**/*.py")]
    for path in sources:
        if path.is_file():
            path.touch()
    result = snakemake(finished_run, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout


# After a model's cost changes: its power traces, the energy dataset, the cards and the settings' figure.
ENERGY_DOWNSTREAM = {"power_traces": 1, "energy_dataset": 1, "energy_cards": 1, "deployment_figure": 1}


@pytest.mark.slow
def test_the_deployment_sweep_gives_one_measurement_per_setting_with_traces_cards_and_a_figure(finished_run):
    from vocoder_energy.deployment.dataset import validate

    results = finished_run / "results"
    rows = validate(results / "energy_dataset.csv")  # and the schema beside it is the package's
    assert json.loads((results / "energy_dataset.schema.json").read_text())["$schema"].endswith("2020-12/schema")
    config = yaml.safe_load(TINY.read_text())
    jobs = [(family, size) for family, sizes in config["models"].items() for size in sizes]
    assert [(r["model"], r["size"]) for r in rows if r["measurement"] == "cost job"] == jobs
    sweep = [r for r in rows if r["measurement"] == "sweep"]
    assert [(r["model"], r["size"], r["setting"]) for r in sweep] == [
        ("hifigan", "S", name) for name in ("fp32", "fp32-t1", "bf16", "bf16-t1")
    ]  # tiny.yaml: precision [fp32, bf16] x threads [all, 1], the paper's setting first
    assert all(r["status"] == "measured" and r["real_time_factor"] > 0 for r in sweep)
    assert all(r["hardware"] and r["torch"] and r["measured_at"] for r in rows)
    # bf16 changes the audio: its quality is its own clips'; fp32 settings keep the model's.
    bf16 = json.loads((results / "deployment" / "quality" / "hifigan_S_bf16.json").read_text())
    assert {r["d_stft"] for r in sweep if r["precision"] == "bf16"} == {bf16["d_stft"]["value"]}
    assert {r["quality_source"] for r in sweep if r["precision"] == "bf16"} == {"this setting's own bf16 test clips"}
    cost = json.loads((results / "cost" / "hifigan_S.json").read_text())
    assert cost["trace"]["windows"] and cost["trace"]["sampler_cpu_share"] is not None
    assert "stable" in cost["energy"]["stability"]
    for model, size in jobs:
        card = (results / "cards" / f"{model}_{size}.md").read_text()
        assert card.startswith(f"# Energy card: {model} {size}") and "torch 2." in card
        assert (results / "cards" / f"{model}_{size}.html").read_text().startswith("<!DOCTYPE html>")
        assert (results / "figures" / "traces" / f"{model}_{size}.png").read_bytes().startswith(b"\x89PNG")
    assert "bf16, all clips per call, 1 thread" in (results / "cards" / "hifigan_S.md").read_text()
    assert (results / "figures" / "deployment.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_changing_the_deployment_sweep_reruns_the_sweep_not_the_cost_jobs_or_training(finished_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["deployment"]["threads"] = [1]
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config, sort_keys=False))  # the models' order kept: no new summary
    result = snakemake(finished_run, "-n", configfile=changed)
    counts = job_counts(result.stdout)
    assert counts == {"deployment_sweep": 1, "all": 1} | ENERGY_DOWNSTREAM
    assert set(re.findall(r"wildcards: model=(\w+), size=(\w)", result.stdout)) == {("hifigan", "S")}


@pytest.mark.slow
def test_changing_one_model_size_reruns_only_its_chain_and_the_summary(finished_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["models"]["hifigan"]["M"] = {"upsample_initial_channel": 8}
    result = snakemake(finished_run, "-n", configfile=write_config(tmp_path / "changed.yaml", config))
    counts = job_counts(result.stdout)
    downstream = {"summary": 1, "analysis": 1, "pareto_figure": 1, "audio_examples": 1, "loss_figures": 1, "all": 1}
    assert counts == {"train": 1, "generate": 1, "quality": 1, "cost": 1} | downstream | ENERGY_DOWNSTREAM
    assert "results/models/hifigan_M.pt" in result.stdout
    assert re.search(r"Params have changed", result.stdout, re.I)


@pytest.mark.slow
def test_changing_an_inference_option_reruns_generation_and_cost_not_training(finished_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["inference"] = {"waveflow": {"reverse": "cached"}}
    result = snakemake(finished_run, "-n", configfile=write_config(tmp_path / "changed.yaml", config))
    counts = job_counts(result.stdout)
    downstream = {"summary": 1, "analysis": 1, "pareto_figure": 1, "audio_examples": 1, "all": 1}
    assert counts == {"generate": 1, "quality": 1, "cost": 1} | downstream | ENERGY_DOWNSTREAM
    assert set(re.findall(r"wildcards: model=(\w+), size=(\w)", result.stdout)) == {("waveflow", "S")}


@pytest.mark.slow
def test_wavegrad_at_the_authors_hop_uses_its_own_features(finished_run):
    with np.load(finished_run / "data" / "features" / "hop512" / "train.npz") as data:
        assert data["mel"].shape[-1] == 16384 // 512 and data["audio"].shape[-1] == 16384
    with np.load(finished_run / "results" / "generated" / "wavegrad_S.npz") as data:
        assert data["generated"].shape == data["reference"].shape == (1, 16384)


# One module per stage: a comment there must rerun nothing, a line of code must rerun its stage's jobs.
STAGE_MODULES = {
    "core/intervals.py": {"quality", "ground_truth_quality", "cost"},  # training no longer imports it
    "data/audio.py": {"features", "train", "quality"},
    "models/diffwave.py": {"train", "generate", "cost"},
    "training/loop.py": {"train"},
    "evaluation/metrics.py": {"quality", "ground_truth_quality", "summary", "analysis"},  # and never train
    "evaluation/spectral_distance.py": {"quality", "train"},  # training validates with D_STFT
    "cost/protocol.py": {"cost"},
    "analysis/plots.py": {"pareto_figure", "audio_examples", "analysis"},
    "listening/stimuli.py": set(),  # not part of `all`
}


def edited_clone(finished_run, tmp_path, edit):
    moved = tmp_path / "moved"
    shutil.copytree(finished_run, moved, symlinks=True)
    for module in STAGE_MODULES:
        path = moved / "src" / "vocoder_energy" / module
        path.write_text(edit(path.read_text()))
    return moved


@pytest.mark.slow
def test_comments_and_docstrings_in_every_stage_rerun_nothing(finished_run, tmp_path):
    def reword(text):
        return text.replace('"""', '"""Reworded. ', 1) + "\n# a comment that changes nothing\n"

    result = snakemake(edited_clone(finished_run, tmp_path, reword), "-n")
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout


@pytest.mark.slow
def test_a_line_of_code_reruns_the_jobs_that_run_it_and_names_the_module(finished_run, tmp_path):
    moved = edited_clone(finished_run, tmp_path, lambda text: text)
    for module, rules in STAGE_MODULES.items():
        path = moved / "src" / "vocoder_energy" / module
        original = path.read_text()
        path.write_text(original + "\n_EDITED = True\n")
        result = snakemake(moved, "-n")
        path.write_text(original)
        if not rules:
            assert "Nothing to be done" in result.stdout + result.stderr, (module, result.stdout)
            continue
        counts = job_counts(result.stdout)
        assert rules <= set(counts), (module, counts)
        assert f"src/vocoder_energy/{module}.fingerprint" in result.stdout, (module, result.stdout)
        if module == "models/diffwave.py":  # one family's module reruns that family only
            assert set(re.findall(r"wildcards: model=(\w+), size=(\w)", result.stdout)) == {("diffwave", "S")}
        if "train" not in rules:
            assert "train" not in counts, (module, counts)


@pytest.mark.slow
def test_a_finished_training_is_kept_after_a_change_the_user_knows_is_harmless(finished_run, tmp_path):
    moved = edited_clone(finished_run, tmp_path, lambda text: text)
    loop = moved / "src" / "vocoder_energy" / "training" / "loop.py"
    loop.write_text(loop.read_text() + "\n_EDITED = True\n")
    trained = sum(len(sizes) for sizes in yaml.safe_load(TINY.read_text())["models"].values())
    assert job_counts(snakemake(moved, "-n").stdout)["train"] == trained
    outputs = [f"results/{kind}/{m}_{s}{ext}" for m, s in [("diffwave", "S")] for kind, ext in TRAIN_OUTPUTS]
    snakemake(moved, "--touch", *outputs)  # the README's recipe for one model
    assert job_counts(snakemake(moved, "-n").stdout)["train"] == trained - 1


TRAIN_OUTPUTS = [("models", ".pt"), ("train", ".json"), ("train", "_losses.jsonl")]


@pytest.mark.slow
def test_listening_test_target_builds_stimuli_from_every_model_and_the_ground_truth(finished_run):
    # The target after an option: --configfile (first in the helper) takes every word up to the next option.
    result = snakemake(finished_run, "--cores", "1", "listening_test")
    assert "listening_test" in result.stdout + result.stderr
    key = list(csv.DictReader(open(finished_run / "results" / "listening" / "key.csv")))
    config = yaml.safe_load(TINY.read_text())
    systems = {f"{m}_{s}" for m, sizes in config["models"].items() for s in sizes} | {"ground_truth"}
    firsts = [row for row in key if not row["repeat_of"] and not row["gold"]]
    assert {row["system"] for row in firsts} == systems and len(firsts) == len(systems)  # 1 utterance each
    gold = sorted((row["gold"], row["system"], row["expected"]) for row in key if row["gold"])
    assert gold == [("high", "ground_truth", "4-5"), ("low", "anchor", "1-2")]  # listening.gold's default
    test_dir = finished_run / "results" / "listening" / "test"
    served = json.loads((test_dir / "test.json").read_text())
    assert {s["id"] for s in served["stimuli"]} == {row["stimulus"] for row in firsts}
    assert sorted(p.stem for p in (test_dir / "audio").glob("*.wav")) == sorted(row["stimulus"] for row in key)
    assert not any(name in (test_dir / "test.json").read_text() for name in systems)
    # The listening test is not part of `all`: a complete run stays complete.
    after = snakemake(finished_run, "-n")
    assert "Nothing to be done" in after.stdout + after.stderr


@pytest.fixture
def served_ljspeech(tmp_path):
    """A tiny LJSpeech-layout archive served over HTTP on 127.0.0.1, with its size and SHA-256."""
    import functools
    import http.server
    import tarfile
    import threading

    from vocoder_energy.data.corpus import file_sha256, make_synthetic_corpus

    make_synthetic_corpus(tmp_path / "LJSpeech-1.1", clips=5, seed=1, min_seconds=0.5, max_seconds=1.0)
    archive = tmp_path / "site" / "LJSpeech-1.1.tar.bz2"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(tmp_path / "LJSpeech-1.1", arcname="LJSpeech-1.1")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "url": f"http://127.0.0.1:{server.server_address[1]}/{archive.name}",
        "size_bytes": archive.stat().st_size,
        "sha256": file_sha256(archive),
        "clips": 5,
    }
    server.shutdown()


@pytest.mark.slow
def test_ljspeech_source_downloads_verifies_and_extracts_through_the_rules(tmp_path, served_ljspeech):
    repo = clone(tmp_path / "repo")
    config = yaml.safe_load(TINY.read_text()) | {"corpus": {"source": "ljspeech", "ljspeech": served_ljspeech}}
    configfile = write_config(tmp_path / "lj.yaml", config)
    snakemake(repo, "--cores", "1", "data/features/hop256/manifest.json", configfile=configfile)
    manifest = json.loads((repo / "data" / "features" / "hop256" / "manifest.json").read_text())
    assert manifest["clips"] == {"train": 4, "test": 1, "skipped": 0}
    assert len(list((repo / "data" / "corpus" / "ljspeech" / "wavs").glob("*.wav"))) == 5
    assert (
        "Nothing to be done"
        in snakemake(repo, "-n", "data/features/hop256/manifest.json", configfile=configfile).stdout
    )

    bad = config | {"corpus": {"source": "ljspeech", "ljspeech": served_ljspeech | {"sha256": "0" * 64}}}
    shutil.rmtree(repo / "data")
    result = snakemake(repo, "--cores", "1", "data/features/hop256/manifest.json", check=False,
                       configfile=write_config(tmp_path / "bad.yaml", bad))  # fmt: skip
    assert result.returncode != 0 and "does not match the expected" in result.stdout + result.stderr
    assert not (repo / "data" / "downloads" / "LJSpeech-1.1.tar.bz2").exists()
    assert not (repo / "data" / "corpus" / "ljspeech").exists()


# ------------------------------------------------------------------ released checkpoints (no training)
RELEASED_TINY = ROOT / "tests" / "data" / "released_tiny.yaml"


@pytest.fixture(scope="module")
def released_run(tmp_path_factory):
    """tests/data/released_tiny.yaml run to the end: three published checkpoints, written as untrained stand-ins
    in their originals' formats by the project's own command, as a user without the downloads would."""
    workdir = clone(tmp_path_factory.mktemp("released") / "repo")
    writer = [sys.executable, "-m", "vocoder_energy.models.importers.synthetic", str(RELEASED_TINY)]
    subprocess.run(writer, cwd=workdir, check=True, capture_output=True)
    snakemake(workdir, "--cores", "2", configfile=RELEASED_TINY)
    return workdir


@pytest.mark.slow
def test_released_checkpoints_go_through_every_stage_without_training(released_run):
    rows = {(r["model"], r["size"]): r for r in csv.DictReader(open(released_run / "results" / "summary.csv"))}
    assert list(rows) == [("hifigan", "LJ_V2"), ("wavegrad", "LJ"), ("vocos", "mel_24k")]
    published = {"LJ_V2": (928_514, 22050, "hifigan_22k"), "LJ": (15_810_401, 22050, "wavegrad_22k"),
                 "mel_24k": (13_531_650, 24000, "vocos_24k")}  # fmt: skip
    for (model, label), row in rows.items():
        parameters, rate, recipe = published[label]
        assert (
            row["weights"] == "released" and row["features"] == recipe and row["train_energy_method"] == "unavailable"
        )
        assert int(row["parameters"]) == parameters and int(row["sample_rate_hz"]) == rate
        assert row["quality_sample_rate_hz"] == "16000"
        assert float(row["d_stft"]) > 0 and float(row["d_stft_at_model_rate"]) > 0
        assert float(row["gflops_per_audio_second"]) > 0 and float(row["energy_joules_per_audio_second"]) > 0
        provenance = json.loads((released_run / "results" / "imported" / f"{model}_{label}.json").read_text())
        assert provenance["features"] == recipe and len(provenance["checkpoint_sha256"]) == 64
        generated = np.load(released_run / "results" / "generated" / f"{model}_{label}.npz")
        manifest = json.loads((released_run / "data" / "features" / "released" / recipe / "manifest.json").read_text())
        assert int(generated["sample_rate"]) == rate and generated["generated"].shape[1] == manifest["samples"]
    hop300 = json.loads((released_run / "data/features/released/wavegrad_22k/manifest.json").read_text())
    assert hop300["hop_length"] == 300 and hop300["samples"] % 300 == 0
    assert not (released_run / "results" / "train").exists()  # nothing was trained
    table2 = (released_run / "results" / "analysis" / "table2.md").read_text()
    assert "| hifigan | LJ_V2 | no | released | 22050 |" in table2 and "own rate" in table2
    assert (released_run / "results" / "figures" / "pareto.png").read_bytes().startswith(b"\x89PNG")
    assert "(released)" in (released_run / "results" / "figures" / "pareto.svg").read_text()
    after = snakemake(released_run, "-n", configfile=RELEASED_TINY)
    assert "Nothing to be done" in after.stdout + after.stderr


@pytest.mark.slow
def test_released_stimuli_play_at_the_tests_rate(released_run):
    import soundfile

    snakemake(released_run, "--cores", "1", "listening_test", configfile=RELEASED_TINY)
    key = list(csv.DictReader(open(released_run / "results" / "listening" / "key.csv")))
    assert {"vocos_mel_24k", "wavegrad_LJ", "hifigan_LJ_V2", "ground_truth"} <= {row["system"] for row in key}
    rates = {soundfile.info(p).samplerate for p in (released_run / "results/listening/test/audio").glob("*.wav")}
    assert rates == {16000}


@pytest.mark.slow
def test_a_replaced_checkpoint_is_imported_again_with_its_chain_only(released_run):
    (released_run / "checkpoints" / "vocos" / "mel_24k" / "pytorch_model.bin").touch()
    result = snakemake(released_run, "-n", configfile=RELEASED_TINY)
    counts = job_counts(result.stdout)
    assert counts["import_checkpoint"] == counts["generate"] == counts["quality"] == counts["cost"] == 1
    assert "recipe_features" not in counts and "wildcards: model=vocos, size=mel_24k" in result.stdout


def test_a_recipe_that_does_not_fit_the_checkpoint_fails_its_import_naming_both(tmp_path):
    workdir = clone(tmp_path / "repo")
    config = yaml.safe_load(RELEASED_TINY.read_text())
    config = only_models(
        config, {"hifigan": {"LJ_V2": config["models"]["hifigan"]["LJ_V2"] | {"features": "vocos_24k"}}}
    )
    configfile = write_config(tmp_path / "wrong.yaml", config)
    writer = [sys.executable, "-m", "vocoder_energy.models.importers.synthetic", str(configfile)]
    subprocess.run(writer, cwd=workdir, check=True, capture_output=True)
    result = snakemake(workdir, "--cores", "1", "results/models/hifigan_LJ_V2.pt", configfile=configfile, check=False)
    assert result.returncode != 0
    log = (workdir / "logs" / "import" / "hifigan_LJ_V2.log").read_text()
    assert "checkpoints/hifigan/LJ_V2/generator_v2: does not take the features of recipe vocos_24k" in log
    assert "n_mels 80 (recipe: 100)" in log and "recipes that fit its shapes: bigvgan_22k_80" in log


def test_released_yaml_leaves_out_the_checkpoints_not_downloaded_and_says_so(repo):
    # The second file goes on the same --configfile, after config.yaml, and is merged into it.
    result = snakemake(repo, str(ROOT / "config" / "released.yaml"), "-n", configfile=ROOT / "config.yaml")
    warnings = re.findall(r"WARNING: models\.(\w+)\.(\w+)\.checkpoint: (\S+) does not exist", result.stderr)
    released = yaml.safe_load((ROOT / "config" / "released.yaml").read_text())["models"]
    assert {(f, label) for f, label, _ in warnings} == {(f, label) for f, sizes in released.items() for label in sizes}
    assert (
        "is left out of this run" in result.stderr
        and "python -m vocoder_energy.models.importers.synthetic" in result.stderr
    )
    counts = job_counts(result.stdout)  # the demo's models run; the released ones join once downloaded
    assert counts["train"] == counts["generate"] == 10 and "import_checkpoint" not in counts


def test_a_config_whose_every_checkpoint_is_missing_stops_with_one_line(repo):
    result = snakemake(repo, "-n", configfile=RELEASED_TINY, check=False)
    assert result.returncode == 1
    assert "Config error: models: every configured model is a released checkpoint whose file is not there yet" in (
        result.stderr
    )
