"""Logging for workflow jobs: everything a job prints goes to its log file and to the console."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def job_log(path: str | Path):
    """Tee stdout and stderr into ``path`` for the duration of a job; tracebacks land there too."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(old_out, log), _Tee(old_err, log)
        try:
            yield
        except BaseException:
            import traceback

            traceback.print_exc()
            raise
        finally:
            sys.stdout, sys.stderr = old_out, old_err
