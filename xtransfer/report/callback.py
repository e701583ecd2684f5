"""Hydra callbacks: the grid report written into the sweep dir when a multirun ends."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from xtransfer.errors import CtrlC

log = logging.getLogger("xtransfer")


class SweepSummary(Callback):
    """Writes report.md, results.csv and heatmap.png into the sweep dir and logs the task scores.

    Hydra skips on_multirun_end when a job failed, so after a failure the report is also
    refreshed at the end of every later job: the last one leaves the full report. The refreshes
    before it leave out what takes minutes on a large grid (intervals, tests, claims)."""

    def __init__(self) -> None:
        self.failed = False

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.FAILED and isinstance(job_return._return_value, CtrlC):
            stop_interrupted(config)
        self.failed = self.failed or job_return.status == JobStatus.FAILED
        if self.failed and str(config.hydra.mode).endswith("MULTIRUN"):  # a RunMode enum in real configs
            sweep = Path(config.hydra.sweep.dir)
            if any(sweep.glob("*/results.json")):   # else there is nothing to tabulate yet
                last = _every_job_started(sweep)      # the last job: print the table, as a sweep's end does
                write_sweep_report(config, quiet=not last, uncertainty=last)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        if not any(sweep.glob("*/results.json")):
            write_failure_report(sweep)
            return
        write_sweep_report(config, quiet=False)


def write_failure_report(sweep: Path) -> None:
    """No cell finished: report.md lists each failed cell's one-line reason (the sweep then exits 2)."""
    from xtransfer.pipeline.guard import failed_cells
    failed = failed_cells(sweep)
    rows = "\n".join(f"| {job} | {message.splitlines()[0].replace('|', '/')} |" for job, message in failed)
    text = ("# Grid report\n\nNo cell of the sweep finished, so there are no scores.\n\n"
            + ("| cell | why it failed (its error.json has the whole message) |\n|---|---|\n" + rows if failed
               else "No cell wrote an error.json: see each job's log in its folder.") + "\n")
    try:
        (sweep / "report.md").write_text(text)
    except OSError as e:
        log.error("could not write %s: %s", sweep / "report.md", e)
        return
    log.info("no cell of the sweep finished; report of the failures: %s", sweep / "report.md")


def stop_interrupted(config: DictConfig) -> None:
    """Ctrl-C in a cell (run.py hands back CtrlC): the report of the finished cells, what did not
    finish, the command that resumes; then the sweep stops (exit 130), as an interrupted program does."""
    import signal

    from xtransfer.report.interrupted import summary
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not cut the report short
    except ValueError:   # not the main thread
        pass
    sweep = Path(config.hydra.sweep.dir)
    written = any(sweep.glob("*/results.json")) and write_sweep_report(config, quiet=False, uncertainty=False)
    log.warning("%s", summary(sweep, bool(written)))
    raise SystemExit(130)


def _every_job_started(sweep: Path) -> bool:
    """True once every cell of the sweep's grid has a job dir (this is the last job), or when unknown."""
    from xtransfer.report.collect import expected_cells, ran_cells
    try:
        return set(expected_cells(sweep)) <= ran_cells(sweep)
    except Exception:
        return True


def write_sweep_report(config: DictConfig, quiet: bool, uncertainty: bool = True) -> bool:
    """Never raises (a report that fails must not fail the sweep or hide its results); True once written."""
    sweep = Path(config.hydra.sweep.dir)
    try:
        from xtransfer.report import baseline
        from xtransfer.report.build import Options, write_report
        outputs_root = OmegaConf.select(config, "paths.outputs_root", default=None)
        extra = baseline.borrowed(sweep, Path(outputs_root)) if outputs_root else []
        report = write_report([sweep, *extra], sweep, Options(uncertainty=uncertainty,
                                                              split=OmegaConf.select(config, "report.split", default="test")))
        still = baseline.still_lacking(sweep, extra)
    except Exception as e:
        log.error("grid report failed (%s: %s); results are in %s/*/results.json, retry with "
                  "`python -m xtransfer.report %s`", type(e).__name__, e, sweep, sweep)
        return False
    if quiet:
        log.info("grid report updated: %s", sweep / "report.md")
        return True
    if extra:
        log.info("`none` (zero-shot) results taken from earlier runs with the same settings: %s",
                 ", ".join(str(job) for job in extra))
    if still:
        what, command = baseline.add_baseline_hint(sweep, still)
        log.info("%s:\n  %s", what, command)
        with open(sweep / "report.md", "a") as f:
            f.write(f"\n## No baseline\n\n{what}:\n\n    {command}\n")
    log.info("task scores (mean over languages of each target's main metric on its score split):\n%s\n"
             "%d cells, %d failed or missing, %d stages trained here; report: %s", report.score_tables,
             report.n_cells, report.n_problems, report.n_trained, sweep / "report.md")
    if config.logger.kind == "wandb" and OmegaConf.select(config, "report.wandb_run", default=False):
        _log_to_wandb(report, config, sweep)
    return True


def _log_to_wandb(report, config: DictConfig, sweep: Path) -> None:
    try:
        from xtransfer.report import wandb_run as report_wandb
        report_wandb.log_report(report, report_wandb.settings_from_logger(config.logger, sweep, sweep))
    except Exception as e:
        log.error("W&B report run failed (%s: %s); the report is in %s", type(e).__name__, e, sweep / "report.md")
