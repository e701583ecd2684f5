"""The SLURM launcher against a real SLURM (the one-node cluster `.ci/start-slurm` starts).

Skips with a reason where no SLURM answers (`sinfo` missing or no idle node)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GRID = ["intermediate=none,mnli", "target=xnli,pawsx", "experiment=demo", "logger=none"]


def slurm_ready() -> str | None:
    """None when a SLURM controller answers with a usable node, else why not."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM client here (start one with .ci/start-slurm)"
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo timed out"
    if states.returncode != 0 or not any(s in states.stdout for s in ("idle", "mixed", "allocated")):
        return f"no usable SLURM node (sinfo: {states.stdout.strip() or states.stderr.strip()})"
    return None


def run_grid(outputs: Path, *extra: str) -> None:
    done = subprocess.run([sys.executable, "-m", "xtransfer.run", "-m", *GRID, *extra,
                           f"paths.outputs_root={outputs}"], cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def cells(outputs: Path) -> dict[tuple[str, str], dict]:
    found = {}
    for path in outputs.glob("multiruns/*/*/*/results.json"):
        results = json.loads(path.read_text())
        found[(results["intermediate"], results["target"])] = results
    return found


@pytest.mark.slow
def test_slurm_grid_equals_the_local_grid_and_trains_mnli_once(tmp_path):
    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
    run_grid(tmp_path / "local")
    run_grid(tmp_path / "slurm", "hydra/launcher=slurm")
    local, slurm = cells(tmp_path / "local"), cells(tmp_path / "slurm")
    assert sorted(slurm) == sorted(local) == [("mnli", "pawsx"), ("mnli", "xnli"), ("none", "pawsx"), ("none", "xnli")]
    for cell, results in slurm.items():
        assert results["metrics"] == local[cell]["metrics"], cell
    mnli_builds = [s for r in slurm.values() for s in r["stages"] if s["kind"] == "intermediate" and not s["reused"]]
    assert len(mnli_builds) == 1   # two cells need it at once: one trains, the other reuses
    assert list((tmp_path / "slurm").glob("multiruns/*/*/.submitit/*")), "submitit wrote no job folders"

