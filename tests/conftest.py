"""Shared fixtures: the real config composed with Hydra, and one demo workspace per session."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from xtransfer.config import CONF_DIR

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Small budgets that still learn: the demo's synthetic tasks on the tiny model.
FAST = [
    "experiment=demo", "logger=none", "trainer.enable_progress_bar=false",
    "target.optim.max_train_examples=3000", "target.optim.max_val_examples=200",
    "intermediate.optim.max_train_examples=1000", "intermediate.optim.epochs=1",
    "intermediate.optim.max_val_examples=100",
]


def compose_cfg(overrides: list[str], outputs: Path, job: str = "job"):
    """The composed config as `python -m xtransfer.run` would build it, writing under `outputs`."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"paths.outputs_root={outputs}",
                                            f"paths.output_dir={outputs / job}", *overrides])


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """An outputs root shared by the session: demo data, tiny model and features are built once."""
    return tmp_path_factory.mktemp("outputs")


def cli(module: str, *args: str, cwd: Path = REPO, timeout: int = 900):
    """`python -m <module> args...` in a subprocess, as a user runs it (no W&B key, Hydra's short errors)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", "PYTHONPATH": str(REPO)}
    env.pop("WANDB_API_KEY", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_main(args: list[str], capfd) -> tuple[int, str]:
    """`python -m xtransfer.run args...` in this process (Hydra's real entry point, a fraction of a
    second): (exit code, what it printed). The logging that Hydra set up for the job is undone."""
    import logging
    import sys

    from xtransfer import run as entry

    root = logging.getLogger()
    handlers, level, argv = root.handlers[:], root.level, sys.argv
    sys.argv = ["xtransfer.run", *args]
    try:
        entry.main()
        code = 0
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    captured = capfd.readouterr()
    return code, captured.out + captured.err
