"""Logging for workflow jobs: everything a job prints goes to its log file and to the console."""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path

from vocoder_energy.core.errors import InputError


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
    """Tee stdout and stderr into ``path`` for the duration of a job.

    Bad input (``InputError``) ends the job with its one-line message, in the log and on the
    console, and exit status 1: the message already says what to do, a traceback would bury it.
    Any other exception is a bug: its traceback goes into the log and, once, to the console.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(old_out, log), _Tee(old_err, log)
        try:
            yield
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(1) from None
        except SystemExit:
            raise
        except BaseException:
            traceback.print_exc(file=log)  # the interpreter prints it to the console when it ends
            raise
        finally:
            sys.stdout, sys.stderr = old_out, old_err
