"""Where the configs live and the resolvers they use (registered on import)."""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from xtransfer.config.gpus import parallel_jobs

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


def _sweep_group() -> str | None:
    """The W&B group of a job: its sweep (all cells of one multirun), else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    sweep = Path(hc.sweep.dir)
    return f"{sweep.parent.name}_{sweep.name}"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("xt.project_root"):
        OmegaConf.register_new_resolver("xt.project_root", lambda: str(PROJECT_ROOT))
        OmegaConf.register_new_resolver("xt.sweep_group", _sweep_group)
        OmegaConf.register_new_resolver("xt.parallel_jobs", parallel_jobs)


register_resolvers()
