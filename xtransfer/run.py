"""`python -m xtransfer.run [-m] key=value ...`: one cell per job, Hydra sweeps the grid."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from xtransfer.config import CONF_DIR
from xtransfer.errors import XTransferError

log = logging.getLogger("xtransfer")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    from xtransfer.pipeline.cell import run  # heavy imports after Hydra has parsed the command line

    try:
        return run(cfg)["score"]
    except XTransferError as e:
        # A user-fixable problem: one clear message, recorded next to where results.json would be.
        log.error("%s", e)
        out = Path(cfg.paths.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.json").write_text(json.dumps({"error": type(e).__name__, "message": str(e)}, indent=1))
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra records the failed cell, runs the others, then exits non-zero
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
