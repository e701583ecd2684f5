"""`python -m xtransfer.run [-m] key=value ...`: one cell per job, Hydra sweeps the grid.

A user-fixable problem (XTransferError, or an OSError the machine caused: a full disk, a
read-only folder) is one logged message and `error.json` in the job dir: a single run exits 2;
in a sweep the other cells run and the sweep exits 2 at the end (pipeline/guard.py).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from xtransfer.config import CONF_DIR
from xtransfer.config.build import build_cell
from xtransfer.errors import Interrupted, XTransferError, environment_error
from xtransfer.pipeline import interrupt
from xtransfer.pipeline.quiet import quiet_libraries

log = logging.getLogger("xtransfer")
logging.raiseExceptions = False  # a log line that cannot be written (full disk) must not print a traceback


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    out = Path(cfg.paths.output_dir)
    quiet_libraries(bool(cfg.get("verbose", False)))   # before torch, Lightning, W&B and HF are imported
    interrupt.install()
    try:
        cell = build_cell(cfg)  # settings are checked before the heavy imports: a bad one is refused in a second
        from xtransfer.pipeline.cell import run  # heavy imports after Hydra has parsed the command line

        score = run(cfg, cell)["score"]
    except (KeyboardInterrupt, SystemExit) as e:
        if not interrupt.received() and not isinstance(e, KeyboardInterrupt):
            raise
        return _interrupted(out)
    except XTransferError as e:
        error = e
    except OSError as e:
        error = environment_error(e, "the run failed")
        if error is None:
            raise
    else:
        (out / "error.json").unlink(missing_ok=True)  # from an earlier failed run of this job dir
        return score
    log.error("%s", error)
    try:  # recorded next to where results.json would be (the grid report lists it)
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.json").write_text(json.dumps({"error": type(error).__name__, "message": str(error)}, indent=1))
    except OSError as e:
        log.error("(could not write %s: %s)", out / "error.json", e.strerror)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return None  # the other cells run; the sweep exits 2 when it ends (pipeline/guard.py)
    raise SystemExit(2) from None


def _interrupted(out: Path) -> None:
    """Ctrl-C: a sweep hands Interrupted to its end-of-job hook (the report, the resume command); a single
    run says how to continue."""
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise Interrupted(f"interrupted (Ctrl-C) in {out}")
    log.error("interrupted (Ctrl-C): no results in %s. Finished stages are cached: run the same command again "
              "to continue from them.", out)
    raise SystemExit(130)


if __name__ == "__main__":
    main()
