"""The grid report in W&B: one summary run per sweep (job_type `report`) with its tables and figures."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xtransfer.pipeline.tracking import wandb_mode
from xtransfer.config.schema import LoggerSpec, spec_from_conf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WandbSettings:
    project: str
    entity: str | None
    group: str | None
    save_dir: Path          # W&B writes under save_dir/wandb, as the cell runs do
    mode: str


def sweep_group(sweep: Path) -> str:
    """The group the cell runs of a sweep use (xtransfer.config's `xt.sweep_group`)."""
    return f"{sweep.parent.name}_{sweep.name}"


def settings_from_logger(logger: DictConfig, sweep: Path, fallback_dir: Path) -> WandbSettings:
    """From a composed `logger` node (wandb kind); its group resolves only inside a Hydra job."""
    def value(key: str, default: Any = None) -> Any:
        try:
            return OmegaConf.select(logger, key, default=default, throw_on_resolution_failure=True)
        except Exception:  # an interpolation that needs a running Hydra job
            return default

    save_dir = value("save_dir") or fallback_dir
    defaults = wandb_defaults()
    return WandbSettings(project=value("project", defaults.project), entity=value("entity"),
                         group=value("group") or sweep_group(sweep), save_dir=Path(save_dir),
                         mode=wandb_mode(value("mode", defaults.mode)))


def settings_for_dirs(dirs: list[Path], out_dir: Path) -> WandbSettings:
    """For the CLI: the first sweep's logger settings when it logged to W&B, else defaults under out_dir."""
    import xtransfer.config  # noqa: F401  registers the resolvers multirun.yaml's paths use

    sweeps = [d for d in dirs if (d / "multirun.yaml").is_file()]
    group = "+".join(sweep_group(Path(d).resolve()) for d in dirs)[:128]
    if sweeps:
        cfg = OmegaConf.load(sweeps[0] / "multirun.yaml")
        if OmegaConf.select(cfg, "logger.kind") == "wandb":
            settings = settings_from_logger(cfg.logger, sweeps[0], out_dir)
            return WandbSettings(settings.project, settings.entity, settings.group if len(dirs) == 1 else group,
                                 settings.save_dir, settings.mode)
    defaults = wandb_defaults()
    return WandbSettings(defaults.project, defaults.entity, group, out_dir, wandb_mode(defaults.mode))


def wandb_defaults() -> LoggerSpec:
    """conf/logger/wandb.yaml's project, entity and mode (where and how the cells log by default)."""
    return spec_from_conf(LoggerSpec, "logger/wandb.yaml", save_dir=None, group=None)


def log_report(report, settings: WandbSettings) -> str:
    """Logs the report's tables as wandb.Table and figures as wandb.Image; returns the run's dir."""
    import wandb

    settings.save_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=settings.project, entity=settings.entity, group=settings.group,
                     job_type="report", name=f"report-{settings.group}" if settings.group else "report",
                     dir=str(settings.save_dir), mode=settings.mode, reinit="create_new",
                     config={"report": {"out_dir": str(report.out_dir), "cells": report.n_cells,
                                        "failed_or_missing": report.n_problems}})
    try:
        run.log({name: wandb.Table(dataframe=frame.reset_index(drop=True))
                 for name, frame in report.tables.items() if not frame.empty})
        run.log({name: wandb.Image(str(path)) for name, path in report.figures.items()})
        run.summary.update({f"{key}/{model}": value for model, headline in report.headlines.items()
                            for key, value in headline.items() if not math.isnan(value)})
        log.info("W&B report run '%s' (%s mode) in %s", run.name, settings.mode, run.dir)
        return run.dir
    finally:
        run.finish()
