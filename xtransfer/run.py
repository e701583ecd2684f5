"""`python -m xtransfer.run [-m] key=value ...`: one cell per job, Hydra sweeps the grid.

A user-fixable problem (XTransferError, or an OSError the machine caused: a full disk, a
read-only folder) is one logged message and `error.json` in the job dir: a single run exits 2;
in a sweep the other cells run and the sweep exits 2 at the end (pipeline/guard.py). A job told to
stop (SIGTERM, SIGUSR1/2) writes error.json too and exits 128 + the signal's number, a sweep with it.
"""
from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from xtransfer.config import CONF_DIR
from xtransfer.config.build import build_cell
from xtransfer.errors import CtrlC, Interrupted, XTransferError, environment_error, raise_interrupted
from xtransfer.pipeline import interrupt
from xtransfer.pipeline.quiet import quiet_libraries

log = logging.getLogger("xtransfer")
logging.raiseExceptions = False  # a log line that cannot be written (full disk) must not print a traceback


def _stop_on_signals() -> dict[int, object]:
    """SIGTERM/SIGUSR1/SIGUSR2 would kill the job silently (or Lightning would make it exit 0): raise
    Interrupted instead, so the job exits non-zero with error.json. A handler already there (submitit's
    requeue under SLURM) is left alone; training stages checkpoint first (engine/resume.py)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                previous[signum] = signal.signal(signum, raise_interrupted)
    return previous


def _interrupted_sweep(out: Path, error: Interrupted) -> str:
    """What a sweep stopped by a signal ran and did not run (Hydra's launcher runs cells in order)."""
    sweep, job = out.parent, HydraConfig.get().job.num
    finished = sorted(p.parent.name for p in sweep.glob("*/results.json"))
    return (f"the sweep was stopped by {signal.Signals(error.signum).name} in cell {out.name} (job {job}): it "
            f"and the cells after it did not run; {len(finished)} cell(s) have results in {sweep}"
            + (f" ({', '.join(finished)})" if finished else "") + ". Run the same command again: finished "
            f"stages are reused and a stopped training stage resumes from its checkpoint (a SLURM job that was "
            f"requeued or preempted restarts by itself)")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    out = Path(cfg.paths.output_dir)
    quiet_libraries(bool(cfg.get("verbose", False)))   # before torch, Lightning, W&B and HF are imported
    interrupt.install()
    handlers = _stop_on_signals()
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
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    log.error("%s", error)
    try:  # recorded next to where results.json would be (the grid report lists it)
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.json").write_text(json.dumps({"error": type(error).__name__, "message": str(error)}, indent=1))
    except OSError as e:
        log.error("(could not write %s: %s)", out / "error.json", e.strerror)
    if isinstance(error, Interrupted):  # the job was told to stop: the sweep too, not its next cell
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            log.error("%s", _interrupted_sweep(out, error))
        raise SystemExit(128 + error.signum) from None  # as a shell reports a job ended by that signal
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return None  # the other cells run; the sweep exits 2 when it ends (pipeline/guard.py)
    raise SystemExit(2) from None


def _interrupted(out: Path) -> None:
    """Ctrl-C: a sweep hands CtrlC to its end-of-job hook (the report, the resume command); a single
    run says how to continue."""
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise CtrlC(f"interrupted (Ctrl-C) in {out}")
    log.error("interrupted (Ctrl-C): no results in %s. Finished stages are cached: run the same command again "
              "to continue from them.", out)
    raise SystemExit(130)


if __name__ == "__main__":
    main()
