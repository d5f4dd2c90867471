"""A local copy of the LJSpeech archive (``corpus.ljspeech.archive``), checked before it is extracted.

Its own module, so that the download job's code (``data.corpus``) stays what it was: a finished run
keeps its 2.7 GB download.
"""

from __future__ import annotations

from pathlib import Path

from vocoder_energy.data.corpus import CorpusError, file_sha256


def check_archive(path: str | Path, size_bytes: int | None = None, sha256: str | None = None) -> None:
    """A local copy of an archive has the expected size and SHA-256 (None: not checked)."""
    size = Path(path).stat().st_size
    if size_bytes is not None and size != size_bytes:
        raise CorpusError(
            f"{path}: {size} bytes, expected {size_bytes} (corpus.ljspeech.size_bytes); a partial or other file?"
        )
    if sha256 is not None:
        digest = file_sha256(path)
        if digest != sha256.lower():
            raise CorpusError(f"{path}: SHA-256 {digest} does not match corpus.ljspeech.sha256 {sha256}")
