"""Quiet by default: the console shows one line per stage, each cell's score, the grid's table, and
problems; everything else (Lightning's device lines and tips, W&B's per-run summary, library progress
bars and warnings) goes to the job's log file only. `verbose=true` shows it all.

An xtransfer line the quiet console shows is logged with `extra={"console": True}`.
The console filter and formatter are plugged into Hydra's job logging (conf/hydra/default.yaml);
`quiet_libraries` sets the libraries' own switches before they are imported (run.py).
"""
from __future__ import annotations

import logging
import os

_QUIET_ENV = {
    "WANDB_SILENT": "true",                    # no per-run banner and summary; the run's files are written as ever
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",       # transformers' and the Hub's bars (loading weights, writing shards)
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # datasets' map/save bars (tokenizing)
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
}


def quiet_libraries(verbose: bool) -> None:
    """Before torch/Lightning/W&B/HF are imported: their console chatter off, unless verbose. Python
    warnings go to logging, so they land in the job's log file (and on the console when verbose)."""
    logging.captureWarnings(True)
    if not verbose:
        for variable, value in _QUIET_ENV.items():
            os.environ.setdefault(variable, value)


class ConsoleFilter(logging.Filter):
    """What the console shows when not verbose: xtransfer's marked lines, the top-level `xtransfer`
    logger (sweep messages), Hydra's job lines, and any warning or error of xtransfer; errors of anyone."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = bool(verbose)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose or record.levelno >= logging.ERROR:
            return True
        name = record.name
        if name == "xtransfer" or name.startswith("hydra") or getattr(record, "console", False):
            return True
        return name.startswith("xtransfer.") and record.levelno >= logging.WARNING


class ConsoleFormatter(logging.Formatter):
    """`[HH:MM:SS] message` (with the level for warnings and errors); verbose keeps Hydra's full format."""

    def __init__(self, verbose: bool = False, **hydra_defaults: str) -> None:   # Hydra's `format` merged in: unused
        if verbose:
            super().__init__("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
        else:
            super().__init__("[%(asctime)s] %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING and not self._fmt.startswith("[%(asctime)s]["):
            stamp = len(self.formatTime(record, self.datefmt)) + 3
            text = f"{text[:stamp]}{record.levelname}: {text[stamp:]}"
        return text
