"""The README's demo grid, end to end (slow: run with `pytest -m slow`)."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


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
    assert lines[-7:-4] == ["tiny: task scores", "| intermediate | pawsx | xnli | avg |", "|---|---|---|---|"], lines
    assert [line.split(" | ")[0] for line in lines[-4:-1]] == ["| none", "| mnli", "| qqp"], lines
    assert lines[-1].startswith("6 cells, 0 failed or missing, ") and "report: " in lines[-1]
    assert not any(word in line for line in lines for word in ("wandb:", "Warning", "GPU available", "Traceback"))
    results = [json.loads(p.read_text()) for p in tmp_path.glob("multiruns/*/*/*/results.json")]
    assert len(results) == 6
    trained = [(s["kind"], s["name"]) for r in results for s in r["stages"] if not s["reused"]]
    assert sorted(n for k, n in trained if k == "intermediate") == ["mnli", "qqp"]
    for r in results:
        # learnt, far above chance: xnli ends at 77-94 en accuracy, pawsx at 66-86 (since every epoch draws
        # its own batch order; before, every epoch replayed epoch 0's and pawsx ended above 75)
        chance, margin = (100 / 3, 25) if r["target"] == "xnli" else (50, 12)
        assert r["metrics"]["test"]["en"]["acc"] > chance + margin, (r["intermediate"], r["target"])
