"""`hydra/launcher=local_parallel`: each cell on its own GPUs of this machine, without SLURM.

Hydra's joblib launcher runs `n_jobs` cells at once in worker processes that it reuses for later cells.
A worker's first cell claims free GPUs (a file lock per GPU, held for the worker's life, so later cells
in it keep them) and sets CUDA_VISIBLE_DEVICES before anything initialises CUDA. Without GPUs nothing is
claimed: the cells run side by side on the CPU.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from filelock import FileLock, Timeout

from xtransfer.config.gpus import visible_gpus
from xtransfer.errors import ConfigError

log = logging.getLogger(__name__)

_held: list[FileLock] = []  # this worker's GPUs: released when it exits


def uses_local_parallel() -> bool:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return False
    launcher = HydraConfig.get().get("launcher") or {}
    return "Joblib" in str(launcher.get("_target_", ""))


def claim(count: int, lock_dir: Path | None = None, poll_s: float = 5.0) -> list[str]:
    """Claim `count` GPUs for this process (once: a reused worker keeps its own) and make them the visible ones."""
    if _held or count < 1:
        return os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if _held else []
    gpus = visible_gpus()
    if not gpus:
        return []
    if count > len(gpus):
        raise ConfigError(f"a cell needs {count} GPU(s) (trainer.devices) but this machine has {len(gpus)}")
    lock_dir = lock_dir or Path(tempfile.gettempdir()) / f"xtransfer-gpus-{os.getuid()}"
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        mine = []
        for gpu in gpus:
            lock = FileLock(str(lock_dir / f"gpu{gpu}.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            mine.append((gpu, lock))
            if len(mine) == count:
                _held.extend(lock for _, lock in mine)
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(g for g, _ in mine)
                log.info("this cell runs on GPU %s", os.environ["CUDA_VISIBLE_DEVICES"])
                return [g for g, _ in mine]
        for _, lock in mine:
            lock.release()
        if not waited:  # more jobs than GPUs (hydra.launcher.n_jobs): wait for a worker to end
            log.info("all %d GPUs are taken by other cells: waiting", len(gpus))
            waited = True
        time.sleep(poll_s)
