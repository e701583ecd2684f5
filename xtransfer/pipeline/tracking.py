"""Experiment loggers: W&B (default; offline without an API key), CSV, or none."""
from __future__ import annotations

import json
import logging
import netrc
import os
from pathlib import Path
from typing import Any

import yaml
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

from xtransfer.errors import ConfigError
from xtransfer.config.labels import cell_tags
from xtransfer.config.schema import CellSpec

log = logging.getLogger(__name__)


def _wandb_key_configured() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_mode(mode: str) -> str:
    """auto: WANDB_MODE if set, else online when an API key is configured and offline otherwise."""
    if mode == "auto":
        return os.environ.get("WANDB_MODE") or ("online" if _wandb_key_configured() else "offline")
    return mode


def build_logger(cell: CellSpec, config: dict[str, Any], run_name: str) -> Logger | None:
    spec = cell.logger
    if spec.kind == "none":
        return None
    if spec.kind == "csv":
        return CSVLogger(save_dir=spec.save_dir, name="csv", version="")
    if spec.kind == "wandb":
        tags = cell_tags(cell)
        mode = wandb_mode(spec.mode)
        log.info("W&B run '%s' (%s mode)%s", run_name, mode,
                 "; sync later with `wandb sync`" if mode == "offline" else "")
        logger = WandbLogger(project=spec.project, entity=spec.entity, group=spec.group, name=run_name,
                             job_type="upstream" if cell.upstream_stages else "cell", save_dir=spec.save_dir, mode=mode,
                             tags=[f"{k}:{v}" for k, v in tags.items()] + list(cell.tags),
                             config={**config, "cell": tags})
        logger._wandb_init.pop("anonymous", None)   # Lightning always passes it, and W&B warns it has no effect
        return logger
    raise ConfigError(f"logger.kind must be wandb, csv or none, got '{spec.kind}'")


def log_summary(logger: Logger | None, summary: dict[str, float]) -> None:
    if isinstance(logger, WandbLogger):
        logger.experiment.summary.update(summary)
    elif logger is not None:
        logger.log_metrics(summary)
        logger.save()


def finish(logger: Logger | None) -> None:
    if isinstance(logger, WandbLogger) and logger._experiment is not None:
        write_readable_files(logger.experiment)
        logger.experiment.finish()
    elif logger is not None:
        logger.finalize("success")


def write_readable_files(run) -> None:
    """The run's config and summary as plain files in its folder (`files/`), readable before `wandb sync`:
    an offline run keeps them only in its binary .wandb log."""
    files = Path(run.dir)
    try:
        (files / "xtransfer-config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(
            dict(run.config), default=str)), sort_keys=False, allow_unicode=True))
        summary = {key: run.summary[key] for key in run.summary.keys() if not key.startswith("_")}
        (files / "xtransfer-summary.json").write_text(json.dumps(summary, indent=1, default=str, ensure_ascii=False))
    except OSError as e:
        log.warning("could not write the W&B run's config and summary files into %s: %s", files, e)
