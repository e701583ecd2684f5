"""The SLURM launcher against a real SLURM (the one-node cluster `.ci/start-slurm` starts).

Skips with a reason where no SLURM answers (`sinfo` missing or no idle node)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
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
    # upstream first: the shared stages were built by jobs of their own, each once, before the cells started,
    # so every cell reused them and no job waited on another's lock
    upstream = {stage["kind"]: stage for path in (tmp_path / "slurm").glob("multiruns/*/*/upstream/*/upstream.json")
                for stage in json.loads(path.read_text())["stages"] if not stage["reused"]}
    assert sorted(upstream) == ["intermediate", "pretrained"] and upstream["intermediate"]["name"] == "mnli"
    for cell, results in slurm.items():
        assert [s["kind"] for s in results["stages"] if s["reused"]] == (
            ["pretrained", "intermediate"] if cell[0] == "mnli" else ["pretrained"]), cell
        assert results["waited_s"] == 0 and all(s["waited_s"] == 0 for s in results["stages"]), cell
    mnli = [s for r in slurm.values() for s in r["stages"] if s["kind"] == "intermediate"]
    assert {s["key"] for s in mnli} == {upstream["intermediate"]["key"]}
    assert list((tmp_path / "slurm").glob("multiruns/*/*/.submitit/*")), "submitit wrote no job folders"



# ---- preemption: a job requeued mid-stage ---------------------------------------------------------------
CELL = ["intermediate=none", "target=xnli", "experiment=demo", "logger=none", "trainer.enable_progress_bar=false",
        "target.optim.max_train_examples=1000", "target.optim.max_val_examples=100", "target.optim.epochs=10",
        "target.languages=[en,de]"]


def job_state(job: str) -> str:
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=20).stdout
    return next((w.split("=", 1)[1] for w in shown.split() if w.startswith("JobState=")), "")


def wait_until(found, what: str, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while not found():
        assert time.time() < deadline, f"no {what} in {seconds:.0f} s"
        time.sleep(0.1)


def step_stopped_at(log: str, how: str) -> int:
    """The step of the checkpoint the stopped run took on the signal."""
    lines = log.splitlines()
    if how == "requeue":  # SLURM requeued the job and sent SIGTERM: the stage stopped (engine/resume.py)
        (line,) = [line for line in lines if "stopped by SIGTERM from SLURM" in line]
        return int(line.split(" at step ")[1].split()[0])
    # USR2 (at a time limit): the stage checkpointed, then submitit's handler requeued the job
    handed = next(i for i, line in enumerate(lines) if "Caught signal SIGUSR2" in line)
    assert any("Requeued job" in line for line in lines[handed:]), "submitit did not requeue the job"
    saved = [line for line in lines[:handed] if "stage checkpoint at step" in line]
    return int(saved[-1].split(" at step ")[1].split(":")[0])


@pytest.mark.slow
@pytest.mark.parametrize("how", ["requeue", "usr2"])  # preemption (scontrol requeue); time limit (USR2 first)
def test_a_job_requeued_mid_stage_resumes_to_the_metrics_of_an_uninterrupted_run(tmp_path, how):
    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
    local = tmp_path / "local"
    done = subprocess.run([sys.executable, "-m", "xtransfer.run", "-m", *CELL, f"paths.outputs_root={local}"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (reference,) = cells(local).values()

    outputs, log = tmp_path / "slurm", open(tmp_path / "sweep.log", "w")
    sweep = subprocess.Popen([sys.executable, "-m", "xtransfer.run", "-m", *CELL, "hydra/launcher=slurm",
                              "trainer.checkpoint_every_n_steps=5", f"paths.outputs_root={outputs}"],
                             cwd=REPO, stdout=log, stderr=log)
    job = None
    try:
        wait_until(lambda: list(outputs.glob("cache/stages/target/*.partial/.resume/last.ckpt")), "checkpoint")
        (job,) = [p.name for p in outputs.glob("multiruns/*/*/.submitit/*") if p.is_dir()]
        stop = ["scontrol", "requeue", job] if how == "requeue" else ["scancel", "--signal=USR2", job]
        subprocess.run(stop, check=True, timeout=60)
        # A requeued job may start again only after SLURM's credential lifetime (AuthInfo cred_expire, 120 s).
        wait_until(lambda: job_state(job) == "PENDING", "requeued job pending", 120)
        # slurmd refuses a restart within the second of the requeue ("Job credential revoked"; its times are
        # whole seconds): the job would end at once, never to run again
        time.sleep(2)
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, timeout=60)
        assert sweep.wait(timeout=600) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        if sweep.poll() is None:
            sweep.kill()
            if job:
                subprocess.run(["scancel", job], timeout=60)

    (results,) = cells(outputs).values()
    (cell,) = [p.parent for p in outputs.glob("multiruns/*/*/*/results.json")]
    step = step_stopped_at((cell / "run.log").read_text(), how)
    target = next(s for s in results["stages"] if s["kind"] == "target")
    assert step > 0 and target["resumed_from_step"] == step and not target["reused"]
    assert results["metrics"] == reference["metrics"]
    whole = json.loads((Path(next(s["path"] for s in reference["stages"] if s["kind"] == "target")) /
                        "metrics.json").read_text())
    resumed = json.loads((Path(target["path"]) / "metrics.json").read_text())
    assert resumed.pop("resumed_from_step") == step and whole.pop("resumed_from_step") is None
    assert resumed == whole  # the same losses, validations and best step, to the last digit
    assert not (cell / "error.json").exists()  # the first run's, removed by the run that finished
