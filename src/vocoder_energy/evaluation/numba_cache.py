"""One process at a time fills numba's on-disk cache for a package.

librosa's pYIN calls functions that numba compiles with ``cache=True``. When two processes compile them at
the same time (two quality jobs starting together on a fresh install), the cache can end up with files from
both that do not match, and every later call in every process segfaults (numba issue #10128). So the
first call in each process holds an exclusive lock beside the cache: the first job compiles and writes
the cache, the others wait for it and then load it (and do not compile a second time).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "vocoder-energy-numba.lock"
_warm: set[str] = set()  # packages whose first call this process has made


def lock_path(package_dir: Path) -> Path:
    """Where numba caches ``package_dir``'s functions (NUMBA_CACHE_DIR, else the package's __pycache__
    where writable), else the temporary directory: the lock lies beside the files it protects."""
    for directory in (os.environ.get("NUMBA_CACHE_DIR"), package_dir / "__pycache__", package_dir):
        if directory and os.access(directory, os.W_OK):
            return Path(directory) / LOCK_NAME
    return Path(tempfile.gettempdir()) / LOCK_NAME


@contextlib.contextmanager
def first_call_lock(package_dir: str | Path) -> Iterator[None]:
    """Hold the package's cache lock around this process's first call into it; later calls run freely."""
    package_dir = Path(package_dir)
    if str(package_dir) in _warm:
        yield
        return
    with open(lock_path(package_dir), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
            _warm.add(str(package_dir))
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
