"""The grid check (a Hydra callback, conf/hydra/default.yaml): before the first cell of a multirun
trains, every cell's data is checked at once, and a grid with missing data stops with one list of
everything missing and how to fix each, instead of failing cell by cell hours later.

The cells are the sweep's jobs, expanded as Hydra's BasicSweeper does and composed as its launcher
does; each is built (no model, no tokenizer) and checked by `preflight.check_cell`: local files
present, hub datasets in the local Hugging Face cache or reachable. `preflight=false` skips it.
Demo data that a job will generate first is not checked (it will be there).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from xtransfer.config.build import build_cell
from xtransfer.errors import XTransferError
from xtransfer.pipeline.demo_data import demo_data_current
from xtransfer.pipeline.hub_probe import WAYS_FORWARD, HubProbe, model_gap
from xtransfer.pipeline.preflight import Missing, check_cell

log = logging.getLogger("xtransfer")

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def sweep_jobs(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, as the BasicSweeper expands them (None for another sweeper)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    params = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    arguments = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    overrides = OverridesParser.create().parse_overrides(params + list(arguments))
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def job_config(config: DictConfig, overrides: list[str]) -> DictConfig:
    """The job's config as the launcher composes it (its output dir does not exist yet: a placeholder)."""
    from hydra.core.global_hydra import GlobalHydra

    cfg = GlobalHydra.instance().config_loader().load_sweep_config(config, list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(Path(config.hydra.sweep.dir) / "preflight")
    return cfg


def check_single(config: DictConfig) -> str | None:
    """For a single run (no -m): its hub model and datasets, before anything is loaded. Local files, and a
    cell that cannot be built, are left to the run, which reports them the usual way (with error.json)."""
    cfg = config.copy()
    with open_dict(cfg):
        cfg.paths.output_dir = str(config.hydra.run.dir)
    try:
        cell = build_cell(cfg)
        if cell.demo_data_root and not demo_data_current(Path(cell.demo_data_root)):
            return None
        probe = HubProbe()
        _, gaps = check_cell(cell, probe)
        if cell.model.tiny is None and (gap := model_gap(cell.model.name_or_path, cell.model.revision, probe)):
            gaps = [Missing(*gap), *gaps]
    except XTransferError:
        return None
    gaps = [gap for gap in gaps if gap.what.startswith("hub ")]
    if not gaps:
        return None
    needed_by = {gap.what: ({gap.fix: None}, {"this run": None}) for gap in gaps}
    return _message(needed_by, [], 1)


def check_grid(config: DictConfig) -> str | None:
    """None when every cell has its data; else the message listing everything missing."""
    jobs = sweep_jobs(config)
    if jobs is None:
        log.info("preflight: not a BasicSweeper sweep; the grid's data is not checked up front")
        return None
    varying = _varying_keys(jobs)
    probe, needed_by, errors = HubProbe(), {}, []
    for overrides in jobs:
        name = " ".join(o for o in overrides if o.split("=", 1)[0] in varying) or "the only cell"
        try:
            cell = build_cell(job_config(config, overrides))
            if cell.demo_data_root and not demo_data_current(Path(cell.demo_data_root)):
                continue   # its first job generates the demo data
            _, gaps = check_cell(cell, probe)
            if cell.model.tiny is None and (gap := model_gap(cell.model.name_or_path, cell.model.revision, probe)):
                gaps = [Missing(*gap), *gaps]
        except XTransferError as e:
            errors.append(f"  - {name}: {e}")
            continue
        for gap in gaps:
            fixes, cells = needed_by.setdefault(gap.what, ({}, {}))
            fixes.update(dict.fromkeys(line.strip() for line in gap.fix.split("\n")))
            cells[name] = None
    if not needed_by and not errors:
        log.info("preflight: every piece of data the %d cells need is here", len(jobs))
        return None
    return _message(needed_by, errors, len(jobs))


def _message(needed_by: dict[str, tuple[dict, dict]], errors: list[str], n_jobs: int) -> str:
    """What is missing, grouped: the things with the same fixes and the same cells share one entry."""
    blocks: dict[tuple, list[str]] = {}
    for what, (fixes, cells) in needed_by.items():
        blocks.setdefault((tuple(fixes), tuple(cells)), []).append(what)
    bad = len({c for _, cells in needed_by.values() for c in cells}) + len(errors)
    lines = [f"preflight: {bad} of {n_jobs} cells lack data, so nothing was trained. Everything missing, "
             f"and how to fix it (preflight=false skips this check):"]
    for (fixes, cells), whats in blocks.items():
        lines += [f"  - {whats[0]}", *(f"    {what}" for what in whats[1:])]
        lines += [f"    fix: {fix}" for fix in fixes]
        shown = ", ".join(cells[:3]) + (f", and {len(cells) - 3} more" if len(cells) > 3 else "")
        lines.append(f"    needed by {len(cells)} cell{'s' * (len(cells) > 1)}: {shown}")
    if errors:
        lines += ["Cells that cannot be built:", *errors]
    if any(what.startswith("hub ") for what in needed_by):
        lines.append(WAYS_FORWARD)
    return "\n".join(lines)


def _varying_keys(jobs: list[list[str]]) -> set[str]:
    values: dict[str, set[str]] = {}
    for job in jobs:
        for override in job:
            key, _, value = override.partition("=")
            values.setdefault(key, set()).add(value)
    return {key for key, seen in values.items() if len(seen) > 1}


class Preflight(Callback):
    """Runs check_grid when a multirun starts (check_single before a single run); missing data: exit 2."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        message = check_single(config) if config.get("preflight", True) else None
        if message:
            sys.stderr.write(message.replace(" cells lack data", " cell lacks data", 1) + "\n")
            raise SystemExit(2)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.get("preflight", True):
            log.info("preflight=false: the grid's data is not checked up front")
            return
        message = check_grid(config)
        if message:
            sys.stderr.write(message + "\n")
            raise SystemExit(2)
