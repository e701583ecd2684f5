"""User-facing errors: one clear message, no traceback, non-zero exit (see run.py)."""
from __future__ import annotations

import errno


class XTransferError(Exception):
    """Something the user can fix: bad data, a missing file, an unreachable hub, a bad option."""


class DataError(XTransferError):
    """A data file or hub dataset that cannot be read as the task config says."""


class ConfigError(XTransferError):
    """A config value that cannot work."""


class EnvironmentProblem(XTransferError):
    """The machine refused: a full disk, a read-only folder, a file where a folder should be."""


_MOVE = ("or write elsewhere: paths.outputs_root=<folder> moves everything, paths.cache_dir=<folder> "
         "only the stage cache")
_ADVICE = {
    errno.ENOSPC: f"the disk is full. Free space on it, {_MOVE}",
    errno.EDQUOT: f"your disk quota is used up. Free space, {_MOVE}",
    errno.EROFS: f"that file system is read-only. Mount it writable, {_MOVE}",
    errno.EACCES: f"permission denied. Give yourself access to it (ls -ld, chmod), {_MOVE}",
    errno.EPERM: f"operation not permitted. Give yourself access to it (ls -ld, chmod), {_MOVE}",
    errno.ENOTDIR: "a part of that path is a file, not a folder. Move the file away or point the "
                   "setting at a folder",
    errno.EEXIST: "a file stands where a folder is needed. Move the file away or point the setting at a folder",
    errno.EISDIR: "that is a folder, where a file is needed",
    errno.EIO: "the disk reported an input/output error (failing hardware or a lost network mount); "
               "check the disk, or write elsewhere",
}


def environment_error(e: OSError, doing: str) -> EnvironmentProblem | None:
    """A user error for an OSError the machine caused (full disk, permissions, a file in the way),
    naming what failed and where; None for any other OSError (a bug: let it show)."""
    advice = _ADVICE.get(e.errno)
    if advice is None:
        return None
    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    return EnvironmentProblem(f"{doing}: {e.strerror or type(e).__name__}" + (f": {where}" if where else "")
                              + f".\n  {advice[0].upper()}{advice[1:]}. Finished stages and results are "
                              f"kept; rerun to continue from where this stopped.")


class CtrlC(Exception):
    """Ctrl-C (SIGINT) stopped a cell of a sweep. Not a user error: the job returns it to Hydra, and the
    sweep's end-of-job hook (report/callback.py) writes the report of the finished cells, says how to
    resume, and stops the sweep (exit 130)."""


class Interrupted(XTransferError):
    """The job was told to stop (SIGTERM, SIGUSR1/2: a scheduler's time limit or preemption, `kill`):
    a training stage checkpointed first (engine/resume.py), so running the cell again resumes it."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


def raise_interrupted(signum: int, frame=None) -> None:
    """The process's handler outside a training stage (run.py installs it where the signal would kill
    the job): stop with a message, so the job exits non-zero and writes error.json."""
    import signal
    raise Interrupted(f"stopped by {signal.Signals(signum).name} (the job was told to stop: a time limit, "
                      f"preemption or kill). Finished stages are kept; run the same command again to go on", signum)
