"""Files that survive a killed job, a lost node or a flipped bit, and never run code when loaded.

Loading uses ``torch.load(weights_only=True)``: state dicts, tensors and plain Python values only, so a
file carrying pickled code is refused (``UnsafeFileError``, naming the file) before anything executes.

A checkpoint is written to a temporary file, fsynced, read back and checked against the SHA-256 it was
written with, and only then renamed over the latest one, whose old version is kept as ``previous``. The
file starts with that SHA-256 of its torch payload: torch's zip reader does not check CRCs, so without it
a flipped bit would load silently. The check after writing hashes the bytes and does not unpickle them:
a big model's checkpoint is verified at the speed of reading it.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from vocoder_energy.core.files import UnsafeFileError, fsync_dir, safe_torch_load, torch_bytes

MAGIC = b"VECKPT1\n"  # format marker: a checkpoint of this module, not a bare torch file
DIGEST_BYTES = 32


class CorruptCheckpointError(RuntimeError):
    """A checkpoint that cannot be read back intact (truncated, empty, altered)."""


# ------------------------------------------------------------------ checkpoints
def previous_path(path: Path) -> Path:
    return path.with_name(path.stem + ".previous" + path.suffix)


def header(payload: bytes) -> bytes:
    """What precedes the payload: the format marker and the payload's SHA-256."""
    return MAGIC + hashlib.sha256(payload).digest()


def encode(state: dict) -> bytes:
    payload = torch_bytes(state)
    return header(payload) + payload


def decode(data: bytes, name: str | Path) -> dict:
    start = len(MAGIC) + DIGEST_BYTES
    if len(data) < start or not data.startswith(MAGIC):
        raise CorruptCheckpointError(f"{name}: {len(data)} bytes, no checkpoint header (truncated or not a checkpoint)")
    digest, payload = data[len(MAGIC) : start], data[start:]
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptCheckpointError(f"{name}: checksum mismatch (truncated or altered)")
    return safe_torch_load(io.BytesIO(payload), name)


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` as the latest checkpoint; the one it replaces becomes ``previous``.

    torch writes straight into the file, hashed on the way (no copy of GBs in memory first); the header's
    SHA-256 is filled in after. The new file is verified (read back after the fsync and hashed: the file
    holds the bytes meant) before anything is renamed, so at every moment the latest or the previous
    checkpoint is complete.
    """
    import torch

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(MAGIC + bytes(DIGEST_BYTES))
        payload = _HashingWriter(handle)
        torch.save(state, payload)
        written = MAGIC + payload.sha256.digest()
        handle.seek(0)
        handle.write(written)
        handle.flush()
        os.fsync(handle.fileno())
    verify(tmp, written)
    if path.exists():
        keep_as_previous(path)
    os.replace(tmp, path)
    fsync_dir(path.parent)


class _HashingWriter(io.RawIOBase):
    """A write-only stream into ``handle`` that hashes what passes through it."""

    def __init__(self, handle):
        super().__init__()
        self.handle = handle
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        return self.handle.write(data)


def verify(path: Path, written: bytes) -> None:
    """Check that the file at ``path`` starts with the header ``written`` and that the rest hashes to the
    SHA-256 in it: the file holds exactly the payload that was meant, whole. Nothing is unpickled."""
    with open(path, "rb") as handle:
        found = handle.read(len(written))
        digest = hashlib.file_digest(handle, "sha256").digest()
    if found != written:
        raise CorruptCheckpointError(f"{path}: the header read back differs from the one written")
    if digest != written[len(MAGIC) :]:
        raise CorruptCheckpointError(f"{path}: the payload read back differs from the one written")


def keep_as_previous(path: Path) -> None:
    """Make ``previous`` a copy of the latest checkpoint while the latest stays in place.

    A hard link then a rename: the latest name never disappears, so a job killed between the two steps of
    ``save_checkpoint`` still leaves ``checkpoint.pt`` behind. Where the file system has no hard links, a
    rename (the latest is briefly absent; ``load_checkpoint`` then reads ``previous``).
    """
    previous = previous_path(path)
    link = path.with_name(path.name + ".link")
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:
        os.replace(path, previous)
        return
    os.replace(link, previous)
    link.unlink(missing_ok=True)  # left when previous was already this file (rename between links: a no-op)


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    return decode(path.read_bytes(), path)


def load_checkpoint(path: str | Path, log=print) -> dict | None:
    """The newest readable checkpoint: latest, else previous (with a warning), else None (logged).

    A file carrying pickled code is never skipped silently: ``UnsafeFileError`` stops the job.
    """
    path = Path(path)
    candidates = [p for p in (path, previous_path(path)) if p.exists()]
    for candidate in candidates:
        try:
            state = read_checkpoint(candidate)
        except UnsafeFileError:
            raise
        except Exception as error:  # truncated, empty, flipped bits: torch raises many kinds
            log(f"WARNING: checkpoint {candidate} is unreadable ({type(error).__name__}: {error})")
            continue
        if candidate != path:
            log(f"WARNING: resuming from the previous checkpoint {candidate} (the latest one was unreadable)")
        return state
    if candidates:
        log(f"WARNING: no readable checkpoint in {path.parent}: training starts over")
    return None
