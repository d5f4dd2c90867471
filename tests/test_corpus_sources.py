"""Your own corpus: a folder in the LJSpeech layout read in place at any sample rate, and LJSpeech from a
local archive instead of a download, through the real rules; bad folders and archives named before any job.
"""

import csv
import json
import tarfile

import pytest
import soundfile
import yaml
from test_workflow import TINY, clone, job_counts, only_models, snakemake, write_config

from vocoder_energy.core.config_checks import ConfigError, check_corpus
from vocoder_energy.data.corpus import file_sha256, make_synthetic_corpus

FEATURES = "data/features/hop256/manifest.json"


def folder_config(tmp_path, path) -> dict:
    """tests/data/tiny.yaml reading ``path``, with one small model (enough to cross every stage)."""
    tiny = yaml.safe_load(TINY.read_text())
    corpus = {"source": "directory", "path": str(path)}
    return only_models(tiny, {"melgan": tiny["models"]["melgan"]}) | {"corpus": corpus}


@pytest.mark.slow
def test_a_corpus_folder_goes_through_the_whole_chain_read_in_place(tmp_path):
    # At 16 kHz, read without resampling; the 22.05 kHz resampling path is every synthetic-corpus run's.
    sample_rate = 16000
    corpus = make_synthetic_corpus(tmp_path / "my corpus", clips=5, seed=2, sample_rate=sample_rate, max_seconds=1.2)
    assert soundfile.info(next((corpus / "wavs").glob("*.wav"))).samplerate == sample_rate
    repo = clone(tmp_path / "repo")
    configfile = write_config(tmp_path / "mine.yaml", folder_config(tmp_path, corpus))
    snakemake(repo, "--cores", "2", "--resources", "gpu=1", configfile=configfile)
    manifest = json.loads((repo / FEATURES).read_text())
    assert manifest["corpus"] == str(corpus) and manifest["clips"] == {"train": 4, "test": 1, "skipped": 0}
    assert not (repo / "data" / "corpus").exists()  # read in place: nothing copied
    rows = list(csv.DictReader(open(repo / "results" / "summary.csv")))
    assert [(r["model"], r["size"]) for r in rows] == [("melgan", "S")] and float(rows[0]["d_stft"]) > 0
    assert "Nothing to be done" in snakemake(repo, "-n", configfile=configfile).stdout
    # Editing the corpus's metadata reruns the chain from the features.
    (corpus / "metadata.csv").write_text("\n".join((corpus / "metadata.csv").read_text().splitlines()[:-1]) + "\n")
    assert job_counts(snakemake(repo, "-n", configfile=configfile).stdout)["features"] == 1


@pytest.mark.parametrize(
    ("corpus", "message"),
    [
        ({"source": "directory"}, r"corpus\.path: source directory reads your corpus from a folder"),
        ({"source": "directory", "path": "no/such/folder"}, r"corpus\.path: no/such/folder is not a folder"),
        ({"source": "directory", "path": "EMPTY"}, r"corpus\.path: .* has no metadata\.csv"),
        ({"source": "ljspeech", "ljspeech": {"archive": "no.tar.bz2"}}, r"corpus\.ljspeech\.archive: no\.tar\.bz2"),
    ],
)
def test_a_corpus_that_is_not_there_is_named_before_any_job(tmp_path, corpus, message):
    (tmp_path / "empty").mkdir()
    if corpus.get("path") == "EMPTY":
        corpus = corpus | {"path": str(tmp_path / "empty")}
    with pytest.raises(ConfigError, match=message):
        check_corpus(corpus)


def test_snakemake_names_a_missing_corpus_folder_on_a_dry_run(tmp_path):
    repo = clone(tmp_path / "repo")
    configfile = write_config(tmp_path / "mine.yaml", folder_config(tmp_path, tmp_path / "nowhere"))
    result = snakemake(repo, "-n", configfile=configfile, check=False)
    assert result.returncode != 0 and "corpus.path:" in result.stdout + result.stderr


@pytest.fixture
def local_ljspeech(tmp_path) -> dict:
    """A tiny LJSpeech-layout archive on disk, with its size and SHA-256 as the config takes them."""
    make_synthetic_corpus(tmp_path / "LJSpeech-1.1", clips=5, seed=1, min_seconds=0.5, max_seconds=1.0)
    archive = tmp_path / "LJSpeech-1.1.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(tmp_path / "LJSpeech-1.1", arcname="LJSpeech-1.1")
    return {"archive": str(archive), "size_bytes": archive.stat().st_size, "sha256": file_sha256(archive), "clips": 5}


@pytest.mark.slow
def test_a_local_ljspeech_archive_is_checked_and_extracted_without_a_download(tmp_path, local_ljspeech):
    repo = clone(tmp_path / "repo")
    config = yaml.safe_load(TINY.read_text()) | {"corpus": {"source": "ljspeech", "ljspeech": local_ljspeech}}
    configfile = write_config(tmp_path / "lj.yaml", config)
    counts = job_counts(snakemake(repo, "-n", FEATURES, configfile=configfile).stdout)
    assert counts["extract_ljspeech"] == 1 and "download_ljspeech" not in counts
    snakemake(repo, "--cores", "1", FEATURES, configfile=configfile)
    assert json.loads((repo / FEATURES).read_text())["clips"] == {"train": 4, "test": 1, "skipped": 0}
    assert not (repo / "data" / "downloads").exists()

    bad = config | {"corpus": {"source": "ljspeech", "ljspeech": local_ljspeech | {"sha256": "0" * 64}}}
    result = snakemake(repo, "--cores", "1", FEATURES, "-F", configfile=write_config(tmp_path / "bad.yaml", bad),
                       check=False)  # fmt: skip
    assert result.returncode != 0 and "does not match corpus.ljspeech.sha256" in result.stdout + result.stderr
