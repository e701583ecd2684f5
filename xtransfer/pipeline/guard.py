"""The Hydra callback that guards runs and sweeps (conf/hydra/default.yaml lists it first):

- before Hydra writes anything: the job or sweep folder and the stage cache must be folders
  that can be written (a file in the way, a read-only disk: one message, exit 2);
- a sweep folder belongs to one sweep: it is claimed (`.xtransfer-sweep.json`, the sweep's
  command-line overrides), and a sweep with other overrides is refused instead of overwriting
  its cells (the same sweep may run again into it: its cells are the same);
- when a sweep ends: the cells that failed on a user-fixable error (their `error.json`, see
  run.py) are listed with their messages and the sweep exits 2. Its end hook runs after the grid
  report's (Hydra calls end hooks in reverse order).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from xtransfer.errors import environment_error

log = logging.getLogger("xtransfer")

CLAIM = ".xtransfer-sweep.json"


def _fail(message: str) -> None:
    log.error("%s", message)
    raise SystemExit(2)


def writable_folder(folder: Path, setting: str) -> str | None:
    """Why `folder` cannot hold our files (it is created if missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        error = environment_error(e, f"{setting}: cannot write into {folder}")
        return str(error) if error else f"{setting}: cannot write into {folder}: {e}"
    return None


def _check_paths(config: DictConfig, job_dir: str) -> None:
    for folder, setting in ((job_dir, "the job folder (paths.outputs_root)"),
                            (config.paths.cache_dir, "paths.cache_dir")):
        problem = writable_folder(Path(folder), setting)
        if problem:
            _fail(problem)


def _overrides(config: DictConfig) -> list[str]:
    return sorted(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))


def _earlier_sweep(sweep: Path) -> list[str] | None:
    """The overrides of the sweep that already used this folder, or None if none did."""
    claim = sweep / CLAIM
    if claim.is_file():
        return json.loads(claim.read_text())["overrides"]
    if (sweep / "multirun.yaml").is_file():  # a sweep from before claims existed
        return sorted(OmegaConf.load(sweep / "multirun.yaml").hydra.overrides.task)
    if any((job / ".hydra").is_dir() for job in sweep.iterdir() if job.is_dir()):
        return ["(unknown)"]
    return None


def claim_sweep(sweep: Path, overrides: list[str]) -> None:
    """Make `sweep` this sweep's folder, or refuse (exit 2) when another sweep's cells are in it."""
    earlier = _earlier_sweep(sweep)
    if earlier is None:
        try:
            fd = os.open(sweep / CLAIM, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:  # another sweep claimed it a moment ago
            earlier = _earlier_sweep(sweep)
        else:
            with os.fdopen(fd, "w") as f:
                json.dump({"overrides": overrides}, f)
            return
    if earlier != overrides:
        _fail(f"sweep folder {sweep} already holds the cells of another sweep (overrides {earlier}); this "
              f"one ({overrides}) would overwrite them. Give it its own folder with hydra.sweep.dir=<folder> "
              f"(two sweeps started in the same second share the default one), or move the old folder away.")
    log.info("sweep folder %s: running the same sweep again, its cells are replaced", sweep)


def failed_cells(sweep: Path) -> list[tuple[str, str]]:
    """(job folder name, message) of every cell of the sweep that wrote error.json."""
    failed = []
    for error in sorted(sweep.glob("*/error.json")):
        try:
            message = json.loads(error.read_text())["message"]
        except (OSError, ValueError, KeyError) as e:
            message = f"(unreadable error.json: {e})"
        failed.append((error.parent.name, message))
    return failed


class RunGuard(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_paths(config, config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_paths(config, config.hydra.sweep.dir)
        claim_sweep(Path(config.hydra.sweep.dir), _overrides(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        failed = failed_cells(sweep)
        if failed:
            lines = "\n".join(f"  {job}: {message.splitlines()[0]}" for job, message in failed)
            report = sweep / "report.md"
            _fail(f"{len(failed)} cell(s) of the sweep failed (each has its error.json in its folder"
                  + (f"; the grid report: {report}" if report.is_file() else "") + f"):\n{lines}")
