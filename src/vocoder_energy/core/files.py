"""Durable files: outputs that a job killed at any moment leaves either whole or absent.

Result files go through ``open_durably`` (tmp file, fsync, rename, fsync the directory):
``write_durably`` for bytes, ``write_text`` for text, ``write_json`` for every JSON output, ``write_csv``
for tables of rows; large files (feature splits, generated clips) stream into its handle. (Training
checkpoints verify what they wrote before the rename and keep the previous one: ``training.checkpoints``.)

Torch files are loaded with ``weights_only=True`` so a file carrying pickled code is refused
(``UnsafeFileError``, naming the file) before anything executes. Torch is imported only there: jobs
that write plain files (the listening export, the summary) do not pay for it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


class UnsafeFileError(RuntimeError):
    """A file holds more than weights and plain values (pickled code): refused without running it."""


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (the new name survives a power cut)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_durably(path: str | Path) -> Iterator[BinaryIO]:
    """A binary handle whose content appears at ``path`` only once the block ends without an error.

    It writes a tmp file beside ``path``, then fsyncs it, renames it over ``path`` and fsyncs the
    directory: a job killed at any moment leaves either the old file or the complete new one, never a
    partial one. A block that raises leaves ``path`` untouched and removes the tmp file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_durably(data: bytes, path: str | Path) -> None:
    """Write ``data`` to ``path`` atomically (``open_durably``)."""
    with open_durably(path) as handle:
        handle.write(data)


def torch_bytes(obj: Any) -> memoryview:
    """``obj`` as torch.save writes it, as a view of the buffer (a checkpoint is GBs: no second copy)."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getbuffer()


def safe_torch_load(source: str | Path | io.BytesIO, name: str | Path) -> Any:
    """``torch.load(weights_only=True)``; a file with pickled code raises ``UnsafeFileError`` naming ``name``."""
    import torch

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
    """Text (UTF-8, line endings as given), written durably."""
    write_durably(text.encode(), path)


def write_json(obj: Any, path: str | Path) -> None:
    """A JSON output (indented, as every job writes them), written durably."""
    write_text(json.dumps(obj, indent=2) + "\n", path)


def write_csv(rows: Iterable[dict], columns: list[str], path: str | Path) -> None:
    """A CSV of ``rows`` (dicts) under the header ``columns`` (the csv module's dialect), written durably."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text(text.getvalue(), path)


def save_file(obj: Any, path: str | Path) -> None:
    """A plain torch file (generators), written durably; ``obj`` must hold only tensors and plain values."""
    write_durably(torch_bytes(obj), path)


def load_file(path: str | Path) -> Any:
    return safe_torch_load(path, path)
