"""The loss log of a training run (``losses.jsonl``): one JSON object a line, in the order things happened.

Two kinds of record, told apart one way (``is_validation``):

- a step record: ``step``, ``seconds`` (training seconds so far) and the losses the family logs for that
  step (``loss``, ``loss_g``, ``grad_norm``, ``loss_scale`` under fp16, ...); a non-finite loss is ``null``;
- a validation record: ``step``, ``seconds``, ``val_d_stft`` (D_STFT of held-out clips) and
  ``val_<loss>`` for each of the generator's losses on the same clips.

Every reader and writer of the log goes through this module: the training loop writes and truncates it,
the training summary and the loss figures read it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

VALIDATION_PREFIX = "val_"
D_STFT = "val_d_stft"  # in every validation record, and only there
POSITION = ("step", "seconds")  # where in the run a record was written; not a loss


# ------------------------------------------------------------------ records
def step_record(step: int, seconds: float, losses: dict[str, float]) -> dict[str, Any]:
    """The record of a training step; non-finite losses become ``null`` (JSON has no NaN or infinity)."""
    logged = {name: value if math.isfinite(value) else None for name, value in losses.items()}
    return {"step": step, "seconds": round(seconds, 3), **logged}


def validation_record(step: int, seconds: float, d_stft: float, losses: dict[str, float]) -> dict[str, Any]:
    """The record of a validation: D_STFT and the generator's ``losses`` on the held-out clips."""
    held_out = {VALIDATION_PREFIX + name: value for name, value in losses.items()}
    return {"step": step, "seconds": round(seconds, 3), D_STFT: d_stft, **held_out}


def is_validation(record: dict[str, Any]) -> bool:
    return D_STFT in record


def losses(record: dict[str, Any]) -> dict[str, Any]:
    """A step record's losses, by name."""
    return {name: value for name, value in record.items() if name not in POSITION}


def held_out_losses(record: dict[str, Any]) -> dict[str, Any]:
    """A validation record's generator losses, by the name they have in step records (``val_`` dropped)."""
    return {
        name.removeprefix(VALIDATION_PREFIX): value
        for name, value in record.items()
        if name not in POSITION and name != D_STFT
    }


# ------------------------------------------------------------------ files
class LossLogWriter:
    """Appends records to a loss log. ``flush()`` before a checkpoint: the log then holds every saved step."""

    def __init__(self, path: str | Path):
        self._file: IO[str] = open(path, "a")  # closed by close() or the with block

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> LossLogWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read(path: str | Path) -> list[dict[str, Any]]:
    """Every record of the log at ``path`` (none when it does not exist)."""
    return [_parse(path, number, line) for number, line in _lines(path)]


def truncate_after(path: str | Path, step: int) -> None:
    """Keep the records up to ``step``: a hard kill can leave records newer than the last checkpoint, and a
    last line cut short in its write."""
    lines = _lines(path)
    if not lines:
        return
    if not _is_json(lines[-1][1]):
        lines = lines[:-1]  # the write the kill cut short: after the checkpoint, so it is redone
    kept = [line for number, line in lines if _parse(path, number, line)["step"] <= step]
    Path(path).write_text("".join(line + "\n" for line in kept))


def _lines(path: str | Path) -> list[tuple[int, str]]:
    """The non-blank lines of ``path`` with their line numbers (none when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [(number, line) for number, line in enumerate(path.read_text().splitlines(), start=1) if line.strip()]


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _parse(path: str | Path, number: int, line: str) -> dict[str, Any]:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}, line {number}: not a loss-log record ({error})") from error


def last_losses(path: str | Path) -> dict[str, Any]:
    """The losses of the last logged step (``{}`` when none was logged)."""
    steps = [record for record in read(path) if not is_validation(record)]
    return losses(steps[-1]) if steps else {}


def last_validation_d_stft(path: str | Path) -> float | None:
    """D_STFT of the last validation (None when the run never validated)."""
    checks = [record for record in read(path) if is_validation(record)]
    return checks[-1][D_STFT] if checks else None
