"""Find the cells of one or more sweeps: their results, the failed ones, and the ones a sweep expected but never ran."""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from omegaconf import OmegaConf

from xtransfer.errors import DataError

BASELINE = "none"
ORACLE = "(oracle threshold)"
SPLITS = {"dev": "validation", "test": "test"}   # report.split / --split -> results.json split
ZERO_SHOT = "zero-shot"
REQUIRED_KEYS = ("model", "intermediate", "target", "seed", "score", "score_split", "main_metric", "metrics")
AXES = {"model": "model.name", "intermediate": "intermediate.name", "target": "target.name", "seed": "seed"}
# An upstream-first sweep's jobs that build the stages its cells share: <sweep dir>/upstream/<name>/upstream.json,
# {"stages": [Stage.record(), ...], "waited_s": ...}.
UPSTREAM_DIR, UPSTREAM_FILE = "upstream", "upstream.json"   # (pipeline/cell.py writes the file; core can't import this)
# Never hold cells' job dirs: skipped so a walk over a whole outputs root stays quick (UPSTREAM_DIR holds a
# sweep's upstream-first jobs, plan/upstream_first.py: no cells, their records are read by _read_upstream).
PRUNED_DIRS = {"predictions", "wandb", "cache", "demo_data", UPSTREAM_DIR}


def row_label(intermediate: str, setting: str) -> str:
    return intermediate if setting == ZERO_SHOT else f"{intermediate} [{setting}]"


@dataclass(frozen=True)
class CellId:
    """Who a job is: (model, intermediate, target, seed)."""
    model: str
    intermediate: str
    target: str
    seed: int

    def __str__(self) -> str:
        return f"{self.model} / {self.intermediate} / {self.target} / seed {self.seed}"


@dataclass
class CellResult:
    cell: CellId
    setting: str
    num_parameters: int | None
    results: dict[str, Any]
    path: Path                  # the results.json
    mtime: float

    @property
    def label(self) -> str:
        return row_label(self.cell.intermediate, self.setting)

    @property
    def target_label(self) -> str:
        """The target's column: BUCC mined at a threshold tuned on its test data is not BUCC F1."""
        return f"{self.cell.target} {ORACLE}" if self.results.get("oracle_threshold") else self.cell.target


@dataclass
class Problem:
    """A cell without a result: failed, unreadable, or never ran."""
    cell: CellId | None         # None when not even the cell could be read
    where: Path
    reason: str


@dataclass
class Collection:
    sources: list[Path]
    results: list[CellResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # duplicates replaced, grids that could not be expanded
    upstream_stages: list[dict[str, Any]] = field(default_factory=list)   # stage records of the sweeps' upstream jobs
    split: str = "test"                              # dev | test: the scores the tables use


def use_split(collection: Collection, split: str) -> Collection:
    """Score every cell on `split` (dev | test): its results.json `scores` (averages for older files).
    A cell without a score on that split moves to the problems (XQuAD, for one, is scored on test only)."""
    if split not in SPLITS:
        raise DataError(f"report split must be one of {sorted(SPLITS)}, got {split!r}")
    name, kept = SPLITS[split], []
    for r in collection.results:
        scores = r.results.get("scores") or {s: v[r.results["main_metric"]] for s, v in r.results.get("averages", {}).items()
                                             if r.results["main_metric"] in v}
        if name == r.results["score_split"]:
            kept.append(r)
        elif name in scores:
            r.results = {**r.results, "score": scores[name], "score_split": name}
            kept.append(r)
        else:
            collection.problems.append(Problem(r.cell, r.path, f"no {split} score (scored on {sorted(scores)})"))
    collection.results, collection.split = kept, split
    return collection


def collect(dirs: list[Path]) -> Collection:
    """Every cell under `dirs` (sweep dirs, job dirs, or any dir above them); newest result wins per cell."""
    collection = Collection(sources=dirs)
    jobs, sweeps = {}, {}    # by resolved path: a dir given twice, or inside another, is read once
    for d in dirs:
        if not d.is_dir():
            raise DataError(f"{d}: not a directory; give sweep dirs or job dirs (outputs/multiruns/<date>/<time>)")
        jobs.update((job.resolve(), job) for job in _job_dirs(d))
        sweeps.update((sweep.resolve(), sweep) for sweep in _sweep_dirs(d))
    for job in jobs.values():
        _read_job(job, collection)
    for sweep in sweeps.values():
        _add_never_ran(sweep, collection)
        _read_upstream(sweep, collection)
    if not collection.results:
        raise DataError(f"no results.json under {', '.join(map(str, dirs))}: nothing to report "
                        "(give a sweep dir such as outputs/multiruns/<date>/<time>)")
    _keep_newest(collection)
    _drop_never_ran_found_elsewhere(collection)
    return collection


def _job_dirs(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        if "results.json" in filenames or "error.json" in filenames or ".hydra" in dirnames:
            yield Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in PRUNED_DIRS)


def _sweep_dirs(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("multirun.yaml")):
        if not PRUNED_DIRS.intersection(path.relative_to(root).parts):
            yield path.parent


def _read_job(job: Path, collection: Collection) -> None:
    """Adds the job's result, or its problem."""
    results_file = job / "results.json"
    if results_file.is_file():
        try:
            results = json.loads(results_file.read_text())
            missing = [k for k in REQUIRED_KEYS if k not in results]
            if missing:
                raise ValueError(f"missing keys {missing}")
            cell = CellId(str(results["model"]), str(results["intermediate"]), str(results["target"]),
                          int(results["seed"]))
            float(results["score"])
            if not isinstance(results["metrics"], dict):
                raise ValueError("metrics is not a {split: {language: {metric: value}}} mapping")
        except (ValueError, TypeError) as e:
            cell = _cell_from_hydra(job)
            collection.problems.append(Problem(cell, results_file, f"unreadable results.json: {e}"))
            return
        collection.results.append(CellResult(
            cell, str(results.get("setting") or ZERO_SHOT), results.get("num_parameters"), results,
            results_file, results_file.stat().st_mtime))
        return
    collection.problems.append(Problem(_cell_from_hydra(job), job, _error_message(job)))


def _read_upstream(sweep: Path, collection: Collection) -> None:
    """Adds the stage records of the sweep's upstream jobs (what they built counts in the cost), or a problem."""
    for upstream_file in sorted(sweep.glob(f"{UPSTREAM_DIR}/*/{UPSTREAM_FILE}")):
        try:
            stages = json.loads(upstream_file.read_text()).get("stages")
            if not isinstance(stages, list) or not all(isinstance(s, dict) and "key" in s for s in stages):
                raise ValueError("its stages are not a list of stage records")
        except (OSError, ValueError, AttributeError) as e:
            collection.problems.append(Problem(None, upstream_file, f"unreadable {UPSTREAM_FILE}: {e}"))
            continue
        collection.upstream_stages += stages


def _error_message(job: Path) -> str:
    error_file = job / "error.json"
    if not error_file.is_file():
        return "no results.json"
    try:
        error = json.loads(error_file.read_text())
        return f"{error.get('error', 'error')}: {error['message']}"
    except (ValueError, KeyError, TypeError) as e:
        return f"failed; unreadable error.json ({e})"


def _cell_from_hydra(job: Path) -> CellId | None:
    """Who a job without a readable results.json was: from the config Hydra saved in its dir."""
    config_file = job / ".hydra" / "config.yaml"
    if not config_file.is_file():
        return None
    try:
        cfg = OmegaConf.load(config_file)
        values = {axis: OmegaConf.select(cfg, path, throw_on_resolution_failure=True) for axis, path in AXES.items()}
        return CellId(str(values["model"]), str(values["intermediate"]), str(values["target"]), int(values["seed"]))
    except Exception:  # any unreadable config: the job is still listed, by its dir
        return None


def expected_cells(sweep: Path) -> list[CellId]:
    """The grid a Hydra multirun asked for, expanded from its multirun.yaml as the BasicSweeper does.

    Cells are named by the override values (config group options, e.g. `intermediate=mnli`)."""
    cfg = OmegaConf.load(sweep / "multirun.yaml")
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(OmegaConf.select(cfg, "hydra.overrides.task") or [])
    axes = _axis_values(cfg, arguments)
    return [CellId(m, i, t, int(s)) for m, i, t, s in itertools.product(*(axes[a] for a in AXES))]


def ran_cells(sweep: Path) -> set[CellId]:
    """The cells whose jobs started, named as expected_cells names them (from each job's overrides.yaml)."""
    cfg = OmegaConf.load(sweep / "multirun.yaml")
    ran = set()
    for overrides in sweep.rglob("overrides.yaml"):
        if overrides.parent.name == ".hydra" and not PRUNED_DIRS.intersection(overrides.relative_to(sweep).parts):
            axes = _axis_values(cfg, list(OmegaConf.load(overrides)))
            ran.add(CellId(axes["model"][0], axes["intermediate"][0], axes["target"][0], int(axes["seed"][0])))
    return ran


def _axis_values(cfg: Any, arguments: list[str]) -> dict[str, list[str]]:
    """Each axis's values: the last override of it (expanded when a sweep), else the config's value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    values = {axis: [str(OmegaConf.select(cfg, path))] for axis, path in AXES.items()}
    for override in OverridesParser.create().parse_overrides(arguments):
        axis = override.key_or_group
        if axis not in AXES or override.package or override.is_delete():
            continue
        values[axis] = (list(override.sweep_string_iterator()) if override.is_sweep_override()
                        else [override.get_value_element_as_str()])
    return values


def _add_never_ran(sweep: Path, collection: Collection) -> None:
    try:
        expected, ran = expected_cells(sweep), ran_cells(sweep)
    except Exception as e:  # e.g. glob() or interval() sweeps: say so rather than guess
        collection.notes.append(f"{sweep}: could not expand the grid of multirun.yaml ({e}); "
                                "cells that never ran are not listed for this sweep")
        return
    for cell in expected:
        if cell not in ran:
            collection.problems.append(Problem(cell, sweep, "never ran (expected from multirun.yaml)"))


def _keep_newest(collection: Collection) -> None:
    """One result per (model, row, target, seed): the newest results.json, saying which was replaced."""
    newest: dict[tuple, CellResult] = {}
    for result in sorted(collection.results, key=lambda r: r.mtime):
        key = (result.cell, result.setting, result.target_label)
        if key in newest:
            collection.notes.append(f"{result.cell} [{result.setting}] appears twice: kept {result.path} "
                                    f"(newer), not {newest[key].path}")
        newest[key] = result
    collection.results = list(newest.values())


def _drop_never_ran_found_elsewhere(collection: Collection) -> None:
    """A cell one sweep never ran but another merged sweep has is not missing."""
    have = {r.cell for r in collection.results}
    collection.problems = [p for p in collection.problems
                           if not (p.reason.startswith("never ran") and p.cell in have)]
