"""Build-once directories: a file lock against concurrent jobs, atomic completion by rename."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

MARKER = "COMPLETE"


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `<path>.lock`; say so when another job holds it and we wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another job to finish %s", path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def build_once(path: Path, build: Callable[[Path], None]) -> bool:
    """Make `path` with build(tmp_dir) unless it is complete. Returns True if it was reused.

    The build writes into a private temporary directory; the marker is written last and
    the directory renamed into place, so a crash never leaves a half-built `path`.
    """
    if is_complete(path):
        return True
    with locked(path):
        if is_complete(path):
            return True
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            (tmp / MARKER).write_text("ok\n")
            if path.exists():  # an incomplete leftover from a crash in an older version
                shutil.rmtree(path)
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return False
