"""Upstream first (a Hydra callback, conf/hydra/default.yaml): no cell's job waits on another's lock.

With a launcher that runs cells side by side (SLURM, local_parallel), the cells of an I x T grid that
share an intermediate would all start at once, one would train it and the others would hold their GPUs
waiting on its lock. So before the cells start, the stages that two or more cells share and the cache
does not hold yet (the tiny model, an MLM stage, each intermediate, a target stage two targets train
alike) are built by jobs of their own, each stage by one job, in phases: a stage's upstream is built in
an earlier phase, so no phase job waits either. Then the sweep launches its cells, which find those
stages finished. Hydra's own launcher runs one cell at a time (nobody waits): it is left alone.
`upstream_first=false` turns this off.

A phase job is its stage's first cell with `upstream_stages=N` (pipeline/cell.py: build the chain's
first N stages, then stop) in `<sweep>/upstream/<kind>_<name>_<key>/`, with its log and upstream.json
(its stage records; the cost report reads them). A failed one is logged; the cells that need its stage
build it themselves (a stopped training resumes from its checkpoint).
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from xtransfer.cache.stages import duration
from xtransfer.errors import XTransferError
from xtransfer.report.collect import UPSTREAM_DIR, UPSTREAM_FILE   # the layout the grid report reads

log = logging.getLogger("xtransfer")

BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


@dataclass
class Build:
    """One phase job: the stage, the first cell that uses it, its place in that cell's chain."""
    stage: Any           # plan.stages.PlannedStage
    cell: Any            # plan.stages.PlannedCell
    depth: int           # 0: the chain's first stage
    cells: int           # how many of the grid's cells use it

    @property
    def folder(self) -> str:   # a path segment and a plain override value, whatever a task is named
        return re.sub(r"[^\w.-]", "_", f"{self.stage.kind}_{self.stage.name}_{self.stage.key}")

    @property
    def overrides(self) -> list[str]:
        return [*self.cell.overrides, f"upstream_stages={self.depth + 1}", f"hydra.sweep.subdir={UPSTREAM_DIR}/{self.folder}"]

    def __str__(self) -> str:
        return f"{self.stage.kind}/{self.stage.name}-{self.stage.key} ({self.cells} cells)"


def phases(cells: list) -> list[list[Build]]:
    """The shared stages not in the cache yet, phase by phase: a stage's place in its chain is its phase,
    and everything upstream of a shared stage is shared too (the same cells use it), so phase k needs
    only what earlier phases built or the cache holds."""
    from xtransfer.plan.stages import unique_stages

    uses = unique_stages(cells)
    builds: dict[tuple[str, str, str], Build] = {}
    for cell in cells:
        for depth, stage in enumerate(cell.stages):
            shared = uses[stage.id][1] > 1 and stage.kind != "eval"
            if shared and stage.id not in builds and not stage.cached:
                builds[stage.id] = Build(stage, cell, depth, uses[stage.id][1])
    by_depth: dict[int, list[Build]] = {}
    for build in builds.values():
        by_depth.setdefault(build.depth, []).append(build)
    return [by_depth[depth] for depth in sorted(by_depth)]


def plan_cells(config: DictConfig) -> list | None:
    """Every cell of the sweep with its stages and their keys (plan/stages.py), as the jobs will build them;
    None for a sweeper other than Hydra's basic one. A cell that cannot be built has no stages (it fails
    in its own job, with its own message)."""
    from xtransfer.config.build import build_cell
    from xtransfer.pipeline.demo_data import ensure_demo_data
    from xtransfer.pipeline.grid_check import job_config, sweep_jobs
    from xtransfer.plan.grid import precision_for, with_ranks
    from xtransfer.plan.sweep import srun_ranks
    from xtransfer.plan.stages import PlannedCell, plan_cell

    jobs = sweep_jobs(config)
    if jobs is None:
        return None
    # trainer.precision=auto is in every key and resolves where the job runs: on a GPU when it gets one
    on = "gpu" if (config.hydra.launcher.get("gpus_per_node") or 0) > 0 else "here"
    cells, demo_roots, ranks = [], set(), srun_ranks(config)
    for overrides in jobs:
        planned = PlannedCell(list(overrides))
        try:
            cell = with_ranks(build_cell(job_config(config, overrides)), ranks)
        except XTransferError:
            cells.append(planned)
            continue
        if cell.demo_data_root and cell.demo_data_root not in demo_roots:
            ensure_demo_data(Path(cell.demo_data_root))   # the tiny model's key hashes the demo corpus
            demo_roots.add(cell.demo_data_root)
        cells.append(plan_cell(cell, precision_for(cell.runtime, on), planned))
    return cells


def _launcher(config: DictConfig):
    """The sweep's own launcher (SLURM, joblib), for the phase jobs; they run no callbacks."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext

    from xtransfer.run import main   # Hydra's main passes a config it is called with on to the task

    context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks())
    return Plugins.instance().instantiate_launcher(hydra_context=context, task_function=main, config=config)


def _outcome(sweep: Path, build: Build, job_return) -> str | None:
    """None when the job built (or found) its stage, else why not."""
    folder = sweep / UPSTREAM_DIR / build.folder
    if (folder / UPSTREAM_FILE).is_file():
        return None
    error = folder / "error.json"
    if error.is_file():
        try:
            return json.loads(error.read_text())["message"].splitlines()[0]
        except (OSError, ValueError, KeyError):
            pass
    value = getattr(job_return, "_return_value", None)
    return f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else f"see its log in {folder}"


def run_phases(config: DictConfig, todo: list[list[Build]]) -> None:
    sweep, launcher = Path(config.hydra.sweep.dir), _launcher(config)
    first_job = 10_000   # hydra.job.num of the phase jobs: apart from the cells' 0..n-1
    failed: set[tuple[str, str, str]] = set()
    for number, phase in enumerate(todo, 1):
        phase = [b for b in phase if not any(s.id in failed for s in b.cell.stages[:b.depth])]
        if not phase:
            continue
        log.info("upstream first, phase %d of %d: %d shared stage(s), one job each: %s", number, len(todo),
                 len(phase), "; ".join(map(str, phase)), extra={"console": True})
        start = time.perf_counter()
        try:
            returns = launcher.launch([b.overrides for b in phase], initial_job_idx=first_job)
        except Exception as e:   # e.g. sbatch refused the array: the cells build what they need themselves
            log.error("upstream first: phase %d could not run (%s: %s); the cells build their shared stages "
                      "themselves", number, type(e).__name__, e)
            return
        first_job += len(phase)
        problems = [(b, _outcome(sweep, b, r)) for b, r in zip(phase, returns)]
        for build, problem in problems:
            if problem is not None:
                failed.add(build.stage.id)
                log.warning("upstream first: %s was not built (%s); the cells that need it build it "
                            "themselves", build, problem, extra={"console": True})
        log.info("upstream first, phase %d done in %s (%d of %d built; jobs' folders in %s)", number,
                 duration(time.perf_counter() - start), sum(p is None for _, p in problems), len(phase),
                 sweep / UPSTREAM_DIR, extra={"console": True})


class UpstreamFirst(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.get("upstream_first", True) or config.hydra.launcher.get("_target_") == BASIC_LAUNCHER:
            return
        try:
            cells = plan_cells(config)
            todo = phases(cells) if cells is not None else []
        except Exception as e:   # it only saves GPU time: without it the sweep runs as before
            log.warning("upstream first: could not plan the grid (%s: %s); the cells build the stages they share "
                        "themselves (some jobs may wait on another's lock)", type(e).__name__, e)
            return
        if cells is None:
            log.info("upstream first: not a BasicSweeper sweep; shared stages are built by the cells")
            return
        if not todo:
            log.info("upstream first: no stage that several cells share is left to build")
            return
        try:
            run_phases(config, todo)
        except KeyboardInterrupt:
            log.error("interrupted (Ctrl-C) while the upstream phases ran; finished stages are cached: run the "
                      "same command again to go on from them (on SLURM, `squeue --me` shows jobs still running)")
            raise SystemExit(130) from None
