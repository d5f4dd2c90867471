"""corpus.py: resumable, verified download from a local HTTP server; archive extraction that never
leaves a half corpus; the deterministic synthetic corpus."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from vocoder_energy.data import corpus
from vocoder_energy.data.corpus import (
    CorpusError,
    check_layout,
    download,
    extract_corpus,
    make_synthetic_corpus,
    read_metadata_lines,
)

SR = 22050
IDS = ["LJ001-0001", "LJ001-0002", "LJ002-0001"]


# --------------------------------------------------------------------------- archive helpers
def _clip(seed: int, seconds: float = 0.4) -> np.ndarray:
    # Noise compresses badly, so the archive is tens of kilobytes: enough to cut mid-transfer.
    return (np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * SR))).astype(np.float32)


def _write_ljspeech(root: Path, ids: list[str], wav_ids: list[str] | None = None) -> dict[str, np.ndarray]:
    """An LJSpeech-layout folder; ``wav_ids`` (default: ``ids``) are the wavs actually written."""
    (root / "wavs").mkdir(parents=True)
    (root / "metadata.csv").write_text("".join(f"{i}|Text {i}.|Text {i}.\n" for i in ids), encoding="utf-8")
    written = {}
    for n, clip_id in enumerate(ids if wav_ids is None else wav_ids):
        written[clip_id] = _clip(n)
        sf.write(root / "wavs" / f"{clip_id}.wav", written[clip_id], SR, subtype="PCM_16")
    return written


def _archive(tmp: Path, mode: str = "w:bz2", **kwargs) -> tuple[bytes, dict[str, np.ndarray]]:
    src = tmp / "src"
    written = _write_ljspeech(src / "LJSpeech-1.1", IDS, **kwargs)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        tar.add(src / "LJSpeech-1.1", arcname="LJSpeech-1.1")
    return buffer.getvalue(), written


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[bytes, dict[str, np.ndarray]]:
    return _archive(tmp_path_factory.mktemp("archive"))


# --------------------------------------------------------------------------- HTTP server
@dataclass
class ServerState:
    data: bytes = b""
    ignore_range: bool = False
    cut_after: int | None = None  # bytes of body sent on the first request before hanging up
    send_length: bool = True  # False: no Content-Length, so a cut transfer just looks finished
    ranges: list[str | None] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: closing ends the transfer

    def do_GET(self):  # noqa: N802 (http.server's naming)
        state: ServerState = self.server.state
        requested = self.headers.get("Range")
        first = not state.ranges
        state.ranges.append(requested)
        data, start = state.data, 0
        if requested and not state.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-", requested)
            assert match, requested
            start = int(match.group(1))
            if start >= len(data):
                state.statuses.append(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            state.statuses.append(206)
        else:
            self.send_response(200)
            state.statuses.append(200)
        body = data[start:]
        self.send_header("Content-Type", "application/x-bzip2")
        if state.send_length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if first and state.cut_after is not None:
            self.wfile.write(body[: state.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(archive):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState(data=archive[0])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.state, f"http://127.0.0.1:{httpd.server_address[1]}/LJSpeech-1.1.tar.bz2"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def small_chunks(monkeypatch):
    # 1 MiB chunks would swallow the whole small archive in one read; small ones make a cut
    # transfer leave a partial file behind, as a cut 2.7 GB download would.
    monkeypatch.setattr(corpus, "CHUNK_BYTES", 1024)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- download
def test_download_happy_path_verifies_size_and_checksum(server, tmp_path, capsys):
    state, url = server
    dest = tmp_path / "nested" / "LJSpeech-1.1.tar.bz2"
    out = download(url, dest, size_bytes=len(state.data), sha256=_sha(state.data).upper())
    assert out == dest
    assert dest.read_bytes() == state.data
    assert not dest.with_name(dest.name + ".part").exists()
    assert state.ranges == [None] and state.statuses == [200]
    assert dest.name in capsys.readouterr().err  # the progress bar ran and named the file


def test_download_without_expectations_still_lands(server, tmp_path):
    state, url = server
    dest = tmp_path / "a.tar.bz2"
    download(url, dest)
    assert dest.read_bytes() == state.data


def test_download_interrupted_then_resumed_with_range(server, tmp_path, small_chunks):
    state, url = server
    state.cut_after = len(state.data) // 3
    dest = tmp_path / "LJSpeech-1.1.tar.bz2"
    part = dest.with_name(dest.name + ".part")
    size, digest = len(state.data), _sha(state.data)

    with pytest.raises((requests.RequestException, CorpusError)) as err:
        download(url, dest, size_bytes=size, sha256=digest)
    if isinstance(err.value, CorpusError):
        assert "bytes" in str(err.value)
    assert not dest.exists()
    assert part.exists()
    have = part.stat().st_size
    assert 0 < have <= state.cut_after
    assert part.read_bytes() == state.data[:have]  # a true prefix, safe to resume from

    assert download(url, dest, size_bytes=size, sha256=digest) == dest
    assert state.ranges == [None, f"bytes={have}-"]
    assert state.statuses == [200, 206]
    assert dest.read_bytes() == state.data
    assert not part.exists()


def test_download_cut_without_content_length_ends_short_then_resumes(server, tmp_path, small_chunks):
    state, url = server
    state.cut_after, state.send_length = 20_000, False
    dest = tmp_path / "LJSpeech-1.1.tar.bz2"
    part = dest.with_name(dest.name + ".part")
    size, digest = len(state.data), _sha(state.data)
    with pytest.raises(CorpusError, match=rf"downloaded 20000 bytes, expected {size}; rerun to resume"):
        download(url, dest, size_bytes=size, sha256=digest)
    assert not dest.exists()
    assert part.read_bytes() == state.data[:20_000]
    download(url, dest, size_bytes=size, sha256=digest)
    assert state.ranges == [None, "bytes=20000-"]
    assert dest.read_bytes() == state.data
    assert not part.exists()


def test_download_wrong_checksum_removes_partial_file(server, tmp_path):
    state, url = server
    dest = tmp_path / "LJSpeech-1.1.tar.bz2"
    with pytest.raises(CorpusError, match="SHA-256"):
        download(url, dest, size_bytes=len(state.data), sha256="0" * 64)
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()


def test_download_wrong_size_keeps_partial_for_resume(server, tmp_path):
    state, url = server
    dest = tmp_path / "LJSpeech-1.1.tar.bz2"
    with pytest.raises(CorpusError, match=rf"downloaded {len(state.data)} bytes, expected {len(state.data) + 10}"):
        download(url, dest, size_bytes=len(state.data) + 10, sha256=_sha(state.data))
    assert not dest.exists()
    assert dest.with_name(dest.name + ".part").read_bytes() == state.data


def test_download_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    state, url = server
    state.ignore_range = True
    dest = tmp_path / "LJSpeech-1.1.tar.bz2"
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(b"X" * 1000)  # appending the full body to this would break the checksum
    download(url, dest, size_bytes=len(state.data), sha256=_sha(state.data))
    assert state.ranges == ["bytes=1000-"] and state.statuses == [200]
    assert dest.read_bytes() == state.data
    assert not part.exists()


def test_download_complete_partial_file_is_verified_without_a_request(server, tmp_path):
    state, url = server
    dest = tmp_path / "LJSpeech-1.1.tar.bz2"
    dest.with_name(dest.name + ".part").write_bytes(state.data)
    download(url, dest, size_bytes=len(state.data), sha256=_sha(state.data))
    assert state.ranges == []
    assert dest.read_bytes() == state.data


def test_download_oversized_partial_file_is_discarded(server, tmp_path):
    state, url = server
    dest = tmp_path / "LJSpeech-1.1.tar.bz2"
    dest.with_name(dest.name + ".part").write_bytes(b"Y" * (len(state.data) + 5))
    download(url, dest, size_bytes=len(state.data), sha256=_sha(state.data))
    assert state.ranges == [None]
    assert dest.read_bytes() == state.data


# --------------------------------------------------------------------------- extract
def _no_leftovers(dest: Path) -> None:
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".extracting").exists()


def test_extract_corpus_unpacks_the_top_folder(archive, tmp_path):
    data, written = archive
    path = tmp_path / "LJSpeech-1.1.tar.bz2"
    path.write_bytes(data)
    dest = tmp_path / "corpus" / "ljspeech"
    assert extract_corpus(path, dest, expected_clips=len(IDS)) == dest
    assert (dest / "metadata.csv").is_file()
    assert check_layout(dest) == IDS
    assert sorted(p.name for p in (dest / "wavs").iterdir()) == sorted(f"{i}.wav" for i in IDS)
    for clip_id, audio in written.items():
        got, rate = sf.read(dest / "wavs" / f"{clip_id}.wav", dtype="float32")
        assert rate == SR
        np.testing.assert_allclose(got, audio, atol=1 / 32767)
    assert not dest.with_name(dest.name + ".extracting").exists()


def test_extract_corpus_replaces_an_old_destination(archive, tmp_path):
    path = tmp_path / "a.tar.bz2"
    path.write_bytes(archive[0])
    dest = tmp_path / "corpus"
    (dest / "stale").mkdir(parents=True)
    extract_corpus(path, dest)
    assert not (dest / "stale").exists()
    assert check_layout(dest) == IDS


@pytest.mark.parametrize("mode", ["w:bz2", "w"])
def test_extract_corpus_truncated_archive_leaves_nothing(tmp_path, mode):
    data, _ = _archive(tmp_path, mode=mode)
    path = tmp_path / "broken.tar"
    path.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "corpus"
    with pytest.raises(CorpusError, match="broken.tar"):
        extract_corpus(path, dest)
    _no_leftovers(dest)


def test_extract_corpus_garbage_archive_leaves_nothing(tmp_path):
    path = tmp_path / "garbage.tar.bz2"
    path.write_bytes(b"BZh9 definitely not bzip2" * 100)
    dest = tmp_path / "corpus"
    with pytest.raises(CorpusError, match="garbage.tar.bz2"):
        extract_corpus(path, dest)
    _no_leftovers(dest)


def test_extract_corpus_missing_listed_wav_is_named(tmp_path):
    data, _ = _archive(tmp_path, wav_ids=IDS[:-1])
    path = tmp_path / "incomplete.tar.bz2"
    path.write_bytes(data)
    dest = tmp_path / "corpus"
    with pytest.raises(CorpusError, match=IDS[-1]):
        extract_corpus(path, dest)
    _no_leftovers(dest)


def test_extract_corpus_expected_clips_mismatch_raises(archive, tmp_path):
    path = tmp_path / "a.tar.bz2"
    path.write_bytes(archive[0])
    dest = tmp_path / "corpus"
    with pytest.raises(CorpusError, match=rf"{len(IDS)} clips, expected 13100"):
        extract_corpus(path, dest, expected_clips=13100)
    _no_leftovers(dest)


def test_check_layout_and_read_metadata_errors(tmp_path):
    with pytest.raises(CorpusError, match="metadata.csv"):
        read_metadata_lines(tmp_path)
    (tmp_path / "metadata.csv").write_text("\n\n")
    with pytest.raises(CorpusError, match="no clips"):
        read_metadata_lines(tmp_path)


# --------------------------------------------------------------------------- synthetic corpus
SYN = {"clips": 4, "min_seconds": 0.5, "max_seconds": 1.2}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    base = tmp_path_factory.mktemp("synthetic")
    return {
        "a": make_synthetic_corpus(base / "a", seed=0, **SYN),
        "b": make_synthetic_corpus(base / "b", seed=0, **SYN),
        "c": make_synthetic_corpus(base / "c", seed=1, **SYN),
    }


def _wav_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "wavs").iterdir())}


def test_synthetic_corpus_is_deterministic_per_seed(synthetic):
    a, b, c = _wav_bytes(synthetic["a"]), _wav_bytes(synthetic["b"]), _wav_bytes(synthetic["c"])
    assert list(a) == list(b) == list(c)
    assert a == b
    assert (synthetic["a"] / "metadata.csv").read_bytes() == (synthetic["b"] / "metadata.csv").read_bytes()
    assert all(a[name] != c[name] for name in a)


def test_synthetic_corpus_layout_and_clip_properties(synthetic):
    root = synthetic["a"]
    ids = check_layout(root, expected_clips=SYN["clips"])
    assert len(ids) == SYN["clips"] == len(set(ids))
    assert not root.with_name(root.name + ".writing").exists()
    for clip_id in ids:
        audio, rate = sf.read(root / "wavs" / f"{clip_id}.wav", dtype="float32")
        assert rate == 22050
        assert audio.ndim == 1
        assert SYN["min_seconds"] * rate <= len(audio) <= SYN["max_seconds"] * rate
        assert np.all(np.isfinite(audio))
        assert np.max(np.abs(audio)) <= 1.0
        assert np.sqrt(np.mean(audio**2)) > 1e-3  # not silent


def test_synthetic_clips_are_speech_like(synthetic):
    root = synthetic["a"]
    for clip_id in check_layout(root):
        audio, rate = sf.read(root / "wavs" / f"{clip_id}.wav", dtype="float64")
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / rate)
        assert power[freqs < 4000].sum() > 0.9 * power.sum()  # energy mostly in the speech band
        assert power[(freqs > 80) & (freqs < 1000)].sum() > 0.2 * power.sum()  # with low formants/pitch
        frame = rate // 50  # 20 ms
        rms = np.sqrt(np.mean(audio[: len(audio) // frame * frame].reshape(-1, frame) ** 2, axis=1))
        assert rms.std() > 0.5 * rms.mean()  # syllabic envelope, not a steady tone or noise
        assert rms[0] < 0.05 * rms.max() and rms[-1] < 0.05 * rms.max()  # quiet at the edges


def test_short_synthetic_clips_are_not_silent(tmp_path):
    # Edge silence of 50-150 ms each side used to swallow clips under ~0.3 s entirely.
    root = make_synthetic_corpus(tmp_path / "short", clips=8, seed=3, min_seconds=0.08, max_seconds=0.3)
    for clip_id in check_layout(root, expected_clips=8):
        audio, rate = sf.read(root / "wavs" / f"{clip_id}.wav", dtype="float32")
        assert 0.08 * rate <= len(audio) <= 0.3 * rate
        assert np.max(np.abs(audio)) > 0.1, clip_id
