"""Build-once directories: a file lock against concurrent jobs, atomic completion by rename,
a manifest of the files checked on every reuse (cache/manifest.py)."""
from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from xtransfer.cache.manifest import MANIFEST, move_aside, problem, write_manifest
from xtransfer.errors import XTransferError, environment_error

log = logging.getLogger(__name__)

MARKER = "COMPLETE"
# A training stage's resume checkpoint inside its scratch dir (engine/resume.py): it outlives a build
# that stops, so the next job that builds the stage goes on from it; everything else in the scratch is cleared.
RESUME = ".resume"
T = TypeVar("T")

# cache.verify=true (pipeline/cell.py sets it for a run): check the contents of every reused dir, not
# only the sizes of its files.
VERIFY_CONTENT = False


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


# Seconds this process spent waiting for other jobs' locks, per dir: results.json reports them (a job
# that waits holds its GPU idle; a phased sweep, plan/upstream_first.py, is there to avoid it).
_waited: dict[Path, float] = {}


def waited(path: Path | None = None) -> float:
    """Seconds this process has waited for another job's lock on `path` (on any dir: None)."""
    return _waited.get(path, 0.0) if path is not None else sum(_waited.values(), 0.0)


def _lock_file(path: Path) -> str:
    return str(path) + ".lock"


def _acquire(lock_file: str, wait: bool) -> int | None:
    """An exclusive flock on `lock_file` -> its fd; None when another process holds it and not `wait`.

    The holder that leaves a complete dir unlinks the lock file (release). A process that opened the
    file before that and gets the flock after it holds a file no one else will ever open: it checks
    that the path still names the file it locked, and else tries again with the one that is there now.
    """
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            named = os.stat(lock_file)
        except FileNotFoundError:
            named = None
        held = os.fstat(fd)
        if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # unlinked (or replaced) while we waited: that file guards nothing any more


def _release(fd: int, lock_file: str, remove: bool) -> None:
    """Unlink the lock file while still holding it (no one holds or waits on a file that is gone), then unlock."""
    try:
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_file)
    finally:
        os.close(fd)  # drops the flock (a forked child's copy of the fd keeps it, on a file no one opens now)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `<path>.lock`; say so, and how long, when another job holds it and we wait. The lock file
    goes when `path` is left complete (a dir that is not may be built next: its lock file stays)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = _lock_file(path)
    fd = _acquire(lock_file, wait=False)
    if fd is None:
        log.info("waiting for another job to finish %s", path)
        start = time.perf_counter()
        fd = _acquire(lock_file, wait=True)
        seconds = time.perf_counter() - start
        _waited[path] = _waited.get(path, 0.0) + seconds
        log.info("waited %.0f s for another job to finish %s", seconds, path, extra={"console": True})
    try:
        yield
    finally:
        _release(fd, lock_file, remove=is_complete(path))


def remove_unheld_lock(path: Path) -> bool:
    """Unlink `<path>.lock` left by an older version, if no process holds it; True if it was removed."""
    lock_file = _lock_file(path)
    if not os.path.exists(lock_file):
        return False
    fd = _acquire(lock_file, wait=False)
    if fd is None:
        return False
    _release(fd, lock_file, remove=True)
    return True


_verified: set[Path] = set()  # dirs whose contents this process has checked already (cache.verify)


def _damage(path: Path, verify: bool | None) -> str | None:
    """What is wrong with a complete dir: its sizes, and its contents with verify (default cache.verify)."""
    content = (VERIFY_CONTENT if verify is None else verify) and path not in _verified
    damage = problem(path, content=content)
    if damage is None and content:
        _verified.add(path)
    return damage


def build_once(path: Path, build: Callable[[Path], None], verify: bool | None = None) -> bool:
    """Make `path` with build(tmp_dir) unless it is complete and intact. Returns True if it was reused.

    The build writes into a private temporary directory; the manifest and then the marker are
    written last and the directory renamed into place, so a crash never leaves a half-built
    `path`. A complete dir whose files no longer match its manifest (sizes; contents too with
    verify, default cache.verify) is moved aside and built again. A full disk or a folder that
    cannot be written is one message naming it (EnvironmentProblem); nothing finished is touched.
    """
    try:
        if is_complete(path) and _damage(path, verify) is None:
            return True  # the fast path, without the lock
        with locked(path):
            if is_complete(path):
                damage = _damage(path, verify)
                if damage is None:
                    return True  # another job has just rebuilt it
                move_aside(path, damage)
            _build_and_publish(path, build)
    except OSError as e:
        error = environment_error(e, f"building {path} failed")
        if error is None:
            raise
        raise error from None
    return False


def scratch_dir(path: Path) -> Path:
    """Where `path` is built: named by the dir (a stage's key), not by the job, so the next job that
    holds the lock finds what a stopped one left (its resume checkpoint) instead of piling up another."""
    return path.with_name(f"{path.name}.partial")


def _clear_scratch(path: Path, tmp: Path) -> None:
    """Under the lock: all but a resume checkpoint goes, and the per-pid dirs of older versions
    (`<name>.tmp-<pid>`: their jobs are gone, the lock is ours)."""
    for old in path.parent.glob(f"{glob.escape(path.name)}.tmp-*"):
        shutil.rmtree(old, ignore_errors=True)
    if not tmp.is_dir():
        return
    for child in tmp.iterdir():
        if child.name != RESUME:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    if not (tmp / RESUME).exists():
        tmp.rmdir()


def _build_and_publish(path: Path, build: Callable[[Path], None]) -> None:
    tmp = scratch_dir(path)
    _clear_scratch(path, tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        build(tmp)
        shutil.rmtree(tmp / RESUME, ignore_errors=True)  # the stage is whole: its checkpoint is no longer needed
        write_manifest(tmp, skip=(MARKER,))
        (tmp / MARKER).write_text("ok\n")
        if path.exists():  # an incomplete leftover from a crash in an older version
            shutil.rmtree(path)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            _clear_scratch(path, tmp)  # a resume checkpoint stays for the next job
        raise


def build_or_load(path: Path, build: Callable[[Path], None], load: Callable[[Path], T],
                  verify: bool | None = None) -> tuple[T, bool]:
    """build_once, then load(path) -> (loaded, reused). A reused dir that fails to load is moved
    aside (the message says which file its content check finds changed) and built again."""
    reused = build_once(path, build, verify)
    try:
        return load(path), reused
    except XTransferError:
        raise
    except Exception as e:
        if not reused:
            raise
        damage = problem(path, content=True) or f"it fails to load ({type(e).__name__}: {e})"
        with locked(path):
            if is_complete(path):
                move_aside(path, damage)
        build_once(path, build, verify)
        return load(path), False
