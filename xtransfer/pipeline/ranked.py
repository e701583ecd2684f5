"""Multi-rank cells: every rank runs the cell; rank 0 alone builds, publishes and writes results.

Ranks come from srun (`hydra.launcher.tasks_per_node=N`), from torchrun, or, for `trainer.devices=N`
without either, from here: the cell's job starts N - 1 more processes (spawned, so they do not re-run
the command line; Lightning's own launchers do not fit: its subprocess launcher re-runs sys.argv, which
inside a Hydra multirun starts the sweep again, and ddp_spawn ends its processes after each fit, so the
stage store and its lock would live in one process and the callbacks' state would not come back).

Between stages the other ranks wait in a collective (engine/ranks.py broadcast) for rank 0's word:
"build" (a training stage: they join its DDP fit in rank 0's scratch, writing nothing), "stage" (it is
published or reused: here it is), or "failed". Only rank 0 takes a stage's file lock.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import socket
from pathlib import Path
from typing import Any, Callable

import torch

from xtransfer.cache.stages import Stage, StageDamaged, StageStore
from xtransfer.config.schema import CellSpec
from xtransfer.engine import ranks, sharding
from xtransfer.errors import ConfigError, XTransferError

log = logging.getLogger(__name__)


class RankFailed(XTransferError):
    """Rank 0 failed; the other ranks stop with its message."""


class RankedStageStore(StageStore):
    def run(self, kind: str, name: str, payload: dict[str, Any], build: Callable[[Path], dict],
            collective: bool = False) -> Stage:
        world = ranks.current()
        if world is None:
            return super().run(kind, name, payload, build, collective)
        if not world.leader:
            return self._follow(build)
        building = False

        def lead_build(tmp: Path) -> dict:
            nonlocal building
            if collective:
                ranks.broadcast(("build", str(tmp)))
                building = True
            metrics = build(tmp)
            building = False
            return metrics

        try:
            stage = super().run(kind, name, payload, lead_build, collective)
        except BaseException as e:
            if building:  # inside a DDP fit the others are in its collectives, not waiting for a word
                with contextlib.suppress(Exception):
                    e.told_ranks = True
            tell_failure(e)
            raise
        stage.ranks = world.size   # every rank held its device while rank 0 built or reused it (the report's cost)
        ranks.broadcast(("stage", stage))
        return stage

    def _follow(self, build: Callable[[Path], dict]) -> Stage:
        while True:
            word, value = ranks.broadcast()
            if word == "build":
                build(Path(value))
            elif word == "stage":
                self.seen[value.key] = value
                return value
            elif word == "damaged":
                raise StageDamaged(Path(value[0]), value[1])
            else:
                raise RankFailed(f"rank 0 failed: {value}")


def tell_failure(error: BaseException) -> None:
    """Rank 0's failure, to the ranks waiting for its word (once). A damaged stage is retried by every
    rank together (pipeline/cell.py runs the chain once more), so they hear which one it was."""
    if getattr(error, "told_ranks", False):
        return
    with contextlib.suppress(Exception):
        error.told_ranks = True
        if isinstance(error, StageDamaged):
            ranks.broadcast(("damaged", (str(error.path), error.damage)))
        else:
            ranks.broadcast(("failed", f"{type(error).__name__}: {error}"))


def leader_says(value: Any) -> Any:
    """Rank 0 passes value to every rank (a one-rank cell just returns it); a rank told of a failure raises."""
    world = ranks.current()
    if world is None:
        return value
    word, got = ranks.broadcast(("ok", value) if world.leader else None)
    if word == "failed":
        raise RankFailed(f"rank 0 failed: {got}")
    return got


def _on_gpu(cell: CellSpec) -> bool:
    return torch.cuda.is_available() and cell.runtime.accelerator != "cpu"


def run_ranks(cell: CellSpec, lead: Callable[[CellSpec], dict], follow: Callable[[CellSpec], dict]) -> dict:
    """Run the cell on its ranks: lead on rank 0, follow on the others (the result is rank 0's)."""
    world = ranks.external_world()
    sharding.check(cell, ranked=world is not None or cell.runtime.devices > 1)
    if world is None and cell.runtime.devices == 1:
        return lead(cell)
    if world is None:
        return _launch_local(cell, lead, follow)
    if cell.runtime.devices not in (1, world.size):
        raise ConfigError(f"trainer.devices={cell.runtime.devices}, but this job has {world.size} ranks "
                          f"({world.source}): leave trainer.devices=1 (the ranks decide) or set it to {world.size}")
    return _as_rank(world, cell.on_devices(world.size), lead, follow)


def _as_rank(world: ranks.World, cell: CellSpec, lead, follow) -> dict:
    ranks.join(world, _on_gpu(cell))
    try:
        if world.leader:
            try:
                return lead(cell)
            except BaseException as e:
                tell_failure(e)
                raise
        return follow(cell)
    finally:
        ranks.leave()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _local_rank(cell: CellSpec, rank: int, follow) -> None:
    logging.basicConfig(level=logging.INFO, format=f"[rank {rank}] %(asctime)s %(name)s %(levelname)s %(message)s")
    size = cell.runtime.devices
    _as_rank(ranks.World(rank, size, rank, size, "local"), cell, lambda c: {}, follow)


def _launch_local(cell: CellSpec, lead, follow) -> dict:
    """trainer.devices=N here: this process is rank 0, N - 1 spawned ones the others (one per GPU)."""
    size = cell.runtime.devices
    if _on_gpu(cell) and torch.cuda.device_count() < size:
        raise ConfigError(f"trainer.devices={size}, but this machine has {torch.cuda.device_count()} GPU(s): "
                          f"set trainer.devices to at most that, or trainer.accelerator=cpu")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    context = multiprocessing.get_context("spawn")
    others = [context.Process(target=_local_rank, args=(cell, rank, follow), daemon=False)
              for rank in range(1, size)]
    for process in others:
        process.start()
    log.info("cell on %d ranks (this process and %s)", size, ", ".join(str(p.pid) for p in others), extra={"console": True})
    try:
        result = _as_rank(ranks.World(0, size, 0, size, "local"), cell, lead, follow)
    except BaseException:
        for process in others:  # a rank left inside a collective would wait for ever
            process.terminate()
        raise
    finally:
        for process in others:
            process.join()
    failed = [f"rank {rank} (exit {p.exitcode})" for rank, p in enumerate(others, 1) if p.exitcode != 0]
    if failed:
        raise RankFailed(f"the cell's other ranks failed: {', '.join(failed)}; their log is the job's stderr")
    return result
