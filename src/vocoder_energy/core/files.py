"""Durable files: outputs that a job killed at any moment leaves either whole or absent.

Every result file the package writes goes through ``write_durably`` (tmp file, fsync, rename, fsync the
directory). Torch files are loaded with ``weights_only=True`` so a file carrying pickled code is refused
(``UnsafeFileError``, naming the file) before anything executes.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch


class UnsafeFileError(RuntimeError):
    """A file holds more than weights and plain values (pickled code): refused without running it."""


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (the new name survives a power cut)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(data: bytes, path: str | Path) -> None:
    """Write ``data`` to ``path`` atomically: tmp file, fsync, rename, fsync the directory.

    A job killed at any moment leaves either the old file or the complete new one, never a partial one.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def safe_torch_load(source: str | Path | io.BytesIO, name: str | Path) -> Any:
    """``torch.load(weights_only=True)``; a file with pickled code raises ``UnsafeFileError`` naming ``name``."""
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise UnsafeFileError(
                f"{name}: refused to load - it contains pickled Python objects, not only weights and plain values "
                "(it may run code). Only load files you trust; this project writes state dicts only."
            ) from error
        raise


def write_text(text: str, path: str | Path) -> None:
    write_durably(text.encode(), path)


def write_json(obj: Any, path: str | Path) -> None:
    """A JSON output (indented, as every job writes them), written durably."""
    write_text(json.dumps(obj, indent=2) + "\n", path)


def save_file(obj: Any, path: str | Path) -> None:
    """A plain torch file (generators), written durably; ``obj`` must hold only tensors and plain values."""
    write_durably(torch_bytes(obj), path)


def load_file(path: str | Path) -> Any:
    return safe_torch_load(path, path)
