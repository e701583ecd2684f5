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


@pytest.mark.slow
def test_a_job_requeued_mid_stage_resumes_and_finishes_with_the_same_metrics(tmp_path):
    """`scontrol requeue` kills the job mid-stage; SLURM runs it again (after its requeue delay, about two
    minutes) and its stage resumes from its checkpoint (the scratch is keyed by the stage, not by the job)."""
    import os
    import time

    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
    cell = ["experiment=demo", "logger=none", "intermediate=none", "target=xnli", "target.languages=[en,de]",
            "target.optim.max_train_examples=3000", "target.optim.max_val_examples=100", "target.optim.epochs=6",
            "trainer.enable_progress_bar=false"]  # 564 steps: more than the 30 s a requeued job may still run
    local = subprocess.run([sys.executable, "-m", "xtransfer.run", *cell, f"paths.outputs_root={tmp_path / 'local'}",
                            f"hydra.run.dir={tmp_path / 'local' / 'job'}"], cwd=REPO, capture_output=True, text=True,
                           timeout=900)
    assert local.returncode == 0, local.stderr[-3000:]
    expected = json.loads((tmp_path / "local" / "job" / "results.json").read_text())

    outputs = tmp_path / "slurm"
    sweep = subprocess.Popen([sys.executable, "-m", "xtransfer.run", "-m", "hydra/launcher=slurm", *cell,
                              "trainer.checkpoint_every_n_steps=5", f"paths.outputs_root={outputs}"], cwd=REPO,
                             stdout=open(tmp_path / "sweep.log", "w"), stderr=subprocess.STDOUT,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.time() + 900
    while not list(outputs.glob("cache/stages/target/*.partial/.resume/last.ckpt")):
        assert sweep.poll() is None and time.time() < deadline, (tmp_path / "sweep.log").read_text()[-3000:]
        time.sleep(0.05)
    job = next(p.name for p in outputs.glob("multiruns/*/*/.submitit/*") if p.is_dir())  # the job's id
    # SIGTERM: the stage checkpoints at its next step; SLURM would let it run 30 s more (KillWait), time enough to
    # finish this small stage, so it is killed at once (as a node failure or the end of the grace time would)
    subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
    subprocess.run(["scancel", "--signal=KILL", "--full", job], check=True, timeout=30)
    assert sweep.wait(timeout=1500) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    results = json.loads(next(outputs.glob("multiruns/*/*/*/results.json")).read_text())
    target = next(s for s in results["stages"] if s["kind"] == "target")
    assert target["resumed_from_step"] and target["resumed_from_step"] >= 5
    assert results["metrics"] == expected["metrics"]
