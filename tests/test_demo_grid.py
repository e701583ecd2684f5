"""The README's demo grid, end to end (slow: run with `pytest -m slow`)."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.test_cli import xtransfer


@pytest.mark.slow
def test_readme_demo_grid(tmp_path):
    # the README's command as a newcomer types it: default logger (W&B, offline without a key), nothing silenced
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "HF_", "TRANSFORMERS_", "DATASETS_"))}
    proc = subprocess.run([sys.executable, "-m", "xtransfer.run", "-m", "intermediate=none,mnli,qqp", "target=xnli,pawsx",
                           "experiment=demo", f"paths.outputs_root={tmp_path}"], cwd=REPO, capture_output=True,
                          text=True, timeout=1800, env={**env, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) <= 40, "\n".join(lines)   # quiet: one line per stage and per cell, then the table
    assert lines[-8] == "tiny: task scores" and lines[-7] == "| intermediate | xnli | pawsx | avg |", lines[-8:]
    assert lines[-4].startswith("| mnli | ") and lines[-1].startswith("6 cells, 0 failed or missing, ")
    assert not any(word in line for line in lines for word in ("wandb:", "Warning", "GPU available", "Traceback"))
    results = [json.loads(p.read_text()) for p in tmp_path.glob("multiruns/*/*/*/results.json")]
    assert len(results) == 6
    trained = [(s["kind"], s["name"]) for r in results for s in r["stages"] if not s["reused"]]
    assert sorted(n for k, n in trained if k == "intermediate") == ["mnli", "qqp"]
    for r in results:
        chance = 100 / 3 if r["target"] == "xnli" else 50
        assert r["metrics"]["test"]["en"]["acc"] > chance + 25, (r["intermediate"], r["target"])
