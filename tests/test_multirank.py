"""Multi-rank cells (pipeline/ranked.py): one demo cell on 2 ranks over gloo on the CPU, locally
(trainer.devices=2) and under the local SLURM (hydra.launcher.tasks_per_node=2), there also with a
rank killed mid-stage (srun's --kill-on-bad-exit ends the job; the rerun resumes the stage)."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_slurm import slurm_ready

EXAMPLES, BATCH = 200, 32
CELL = ["experiment=demo", "logger=none", "trainer.enable_progress_bar=false", "intermediate=none", "target=xnli",
        f"target.optim.max_train_examples={EXAMPLES}", "target.optim.max_val_examples=50", "target.optim.epochs=1",
        f"target.optim.batch_size={BATCH}", "target.languages=[en,de]", "trainer.accelerator=cpu"]

# The training batch samplers record, per rank, the example indices they yield: a sitecustomize on the
# PYTHONPATH, so every process of the run records (the spawned rank, the jobs that srun starts).
RECORDER = textwrap.dedent("""
    import json, os
    from xtransfer.engine import batching

    def recording(cls):
        draw = cls.__iter__
        def __iter__(self):
            for batch in draw(self):
                with open(os.path.join(os.environ["RECORD_DIR"], f"rank{self.rank}-of-{self.world_size}"), "a") as f:
                    f.write(json.dumps([int(i) for i in batch]) + "\\n")
                yield batch
        cls.__iter__ = __iter__

    recording(batching.LengthGroupedBatches)
    recording(batching.TokenBudgetBatches)
""")


def run_env(tmp: Path, record: Path | None = None) -> dict[str, str]:
    """A run's environment: the batch recorder on the PYTHONPATH, no ranks of the test's own."""
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(RECORDER)
    env = {**os.environ, "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", "PYTHONPATH": f"{site}:{REPO}",
           "RECORD_DIR": str(record or tmp)}
    for name in ("SLURM_NTASKS", "WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(name, None)
    return env


def run(tmp: Path, *args: str, record: Path | None = None, multirun: bool = False) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "xtransfer.run", *(["-m"] if multirun else []), *CELL, *args],
                          cwd=REPO, env=run_env(tmp, record), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def drawn(record: Path) -> dict[str, list[list[int]]]:
    return {p.name: [json.loads(line) for line in p.read_text().splitlines()] for p in sorted(record.iterdir())}


def check_one_cell_on_two_ranks(outputs: Path, record: Path) -> dict:
    batches = drawn(record)
    assert sorted(batches) == ["rank0-of-2", "rank1-of-2"]
    per_rank = math.ceil(EXAMPLES / BATCH) // 2          # 7 batches: 3 each, the 7th dropped (ranks in step)
    assert [len(b) for b in batches.values()] == [per_rank, per_rank] == [3, 3]
    seen = [[i for batch in b for i in batch] for b in batches.values()]
    assert len(set(seen[0])) == len(seen[0]) and len(set(seen[1])) == len(seen[1])
    assert not set(seen[0]) & set(seen[1]), "the two ranks drew the same examples"
    assert set(seen[0]) | set(seen[1]) <= set(range(EXAMPLES))
    assert len(seen[0]) + len(seen[1]) >= EXAMPLES - BATCH   # all but (part of) the dropped last batch

    results = [json.loads(p.read_text()) for p in outputs.rglob("results.json")]
    assert len(results) == 1, "one results.json per cell, written by rank 0"
    target = [s for s in results[0]["stages"] if s["kind"] == "target"]
    assert len(target) == 1 and not target[0]["reused"]
    published = [p for p in (outputs / "cache" / "stages" / "target").iterdir() if p.is_dir()]
    assert [p.name for p in published] == [Path(target[0]["path"]).name], "one published stage, no scratch left"
    metrics = json.loads((published[0] / "metrics.json").read_text())
    assert metrics["steps"] == per_rank and metrics["train_examples"] == {"mnli": EXAMPLES}
    return results[0]


@pytest.mark.slow
def test_a_cell_on_two_local_ranks_draws_disjoint_batches_and_publishes_once(tmp_path):
    record = tmp_path / "record"
    record.mkdir()
    done = run(tmp_path, "trainer.devices=2", f"paths.outputs_root={tmp_path / 'out'}",
               f"hydra.run.dir={tmp_path / 'out' / 'job'}", record=record)
    assert "cell on 2 ranks" in done.stderr + done.stdout
    results = check_one_cell_on_two_ranks(tmp_path / "out", record)
    assert 0 <= results["score"] <= 100


@pytest.mark.slow
def test_a_cell_on_two_srun_tasks_under_slurm(tmp_path):
    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
    record = tmp_path / "record"
    record.mkdir()
    run(tmp_path, "hydra/launcher=slurm", "hydra.launcher.tasks_per_node=2", "hydra.launcher.timeout_min=20",
        f"paths.outputs_root={tmp_path / 'out'}", record=record, multirun=True)
    check_one_cell_on_two_ranks(tmp_path / "out", record)


def sweep_scores(outputs: Path) -> dict[tuple[str, str], dict]:
    found = {}
    for path in outputs.glob("multiruns/*/*/*/results.json"):
        results = json.loads(path.read_text())
        found[(results["intermediate"], results["target"])] = results
    return found


@pytest.mark.slow
def test_local_parallel_runs_a_sweep_side_by_side_with_the_sequential_scores(tmp_path):
    grid = ["-m", *CELL[:3], "intermediate=none,mnli", "target=xnli,pawsx", "target.optim.max_train_examples=200",
            "target.optim.max_val_examples=50", "target.optim.epochs=1", "target.languages=[en,de]",
            "intermediate.optim.max_train_examples=200", "intermediate.optim.max_val_examples=50",
            "intermediate.optim.epochs=1"]
    sequential, parallel = tmp_path / "sequential", tmp_path / "parallel"
    for outputs, extra in ((sequential, []), (parallel, ["hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"])):
        env = {**os.environ, "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-m", "xtransfer.run", *grid, *extra, f"paths.outputs_root={outputs}"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    printed = done.stdout + done.stderr   # the last one: local_parallel
    assert "Joblib.Parallel(n_jobs=2" in printed and "4 cells, 0 failed or missing" in printed
    one, both = sweep_scores(sequential), sweep_scores(parallel)
    assert sorted(both) == sorted(one) == [("mnli", "pawsx"), ("mnli", "xnli"), ("none", "pawsx"), ("none", "xnli")]
    for cell, results in both.items():
        assert results["metrics"] == one[cell]["metrics"] and results["score"] == one[cell]["score"], cell
    # upstream first: the tiny model and mnli were built by upstream jobs, in two phases, before the cells
    assert "upstream first, phase 1 of 2: 1 shared stage(s), one job each: pretrained/tiny-" in printed
    assert "upstream first, phase 2 of 2: 1 shared stage(s), one job each: intermediate/mnli-" in printed
    built = [s for path in parallel.glob("multiruns/*/*/upstream/*/upstream.json")
             for s in json.loads(path.read_text())["stages"] if not s["reused"]]
    assert sorted(s["kind"] for s in built) == ["intermediate", "pretrained"]
    for cell, results in both.items():
        assert all(s["reused"] for s in results["stages"][:2 if cell[0] == "mnli" else 1]), cell
        assert results["waited_s"] == 0, cell


def test_local_parallel_cells_claim_different_gpus(tmp_path, monkeypatch):
    from xtransfer.errors import ConfigError
    from xtransfer.pipeline import gpu_slots

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(gpu_slots, "_held", [])
    assert gpu_slots.claim(1, tmp_path) == ["0"] and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert gpu_slots.claim(1, tmp_path) == ["0"]          # a reused worker keeps its GPU
    other = subprocess.run([sys.executable, "-c", "import os, sys; from pathlib import Path; from xtransfer.pipeline "
                            "import gpu_slots; print(gpu_slots.claim(1, Path(sys.argv[1])), "
                            "os.environ['CUDA_VISIBLE_DEVICES'])", str(tmp_path)],
                           env={**os.environ, "CUDA_VISIBLE_DEVICES": "0,1", "PYTHONPATH": str(REPO)},
                           capture_output=True, text=True, timeout=120)
    assert other.stdout.split("\n")[-2] == "['1'] 1", other.stderr[-2000:]
    monkeypatch.setattr(gpu_slots, "_held", [])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(ConfigError, match=r"^a cell needs 3 GPU\(s\) \(trainer.devices\) but this machine has 2$"):
        gpu_slots.claim(3, tmp_path)


@pytest.mark.slow
def test_a_two_rank_cell_stopped_by_sigterm_resumes_to_the_uninterrupted_metrics(tmp_path):
    from tests.test_resume import finish, start, wait_for

    outputs, two = tmp_path / "outputs", ("trainer.devices=2", "trainer.accelerator=cpu")
    reference = finish(outputs, "whole", *two)
    target = Path(next(s["path"] for s in reference["stages"] if s["kind"] == "target"))
    metrics = json.loads((target / "metrics.json").read_text())
    assert metrics["steps"] == 32 and metrics["resumed_from_step"] is None  # 2 epochs of 32 batches, 16 a rank
    for stage in reference["stages"][1:]:  # train it again, the same key
        subprocess.run(["rm", "-rf", stage["path"]], check=True)

    scratch = target.with_name(target.name + ".partial")
    stopped = start(outputs, "stopped", *two, "trainer.checkpoint_every_n_steps=5")
    wait_for(stopped, (scratch / ".resume" / "last.ckpt").is_file, "checkpoint")
    stopped.send_signal(signal.SIGTERM)  # rank 0 only: the other rank stops at the same step
    assert stopped.wait(timeout=300) == 128 + signal.SIGTERM, (outputs.parent / "stopped.log").read_text()[-3000:]
    error = json.loads((outputs / "stopped" / "error.json").read_text())
    step = int(error["message"].split(" at step ")[1].split()[0])
    assert error["error"] == "Interrupted" and step >= 5

    resumed = finish(outputs, "stopped", *two)
    assert [s["resumed_from_step"] for s in resumed["stages"] if s["kind"] == "target"] == [step]
    assert resumed["metrics"] == reference["metrics"]
    again = json.loads((target / "metrics.json").read_text())
    assert again.pop("resumed_from_step") == step and metrics.pop("resumed_from_step") is None
    assert again == metrics  # the same losses, validations and best step on 2 ranks, to the last digit


# ---- a rank killed under SLURM -----------------------------------------------------------------------
def task_pid(outputs: Path, rank: int) -> int | None:
    """The pid of task `rank` (srun's SLURM_PROCID) of the job that runs a cell under `outputs`: the python
    that srun starts with the job's folder (not srun itself, whose command line names it too)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if cmdline[:4] == [sys.executable.encode(), b"-u", b"-m", b"submitit.core._submit"] and \
                    str(outputs).encode() in cmdline[4]:
                if f"SLURM_PROCID={rank}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                    return int(proc.name)
        except OSError:
            continue
    return None


@pytest.mark.slow
@pytest.mark.parametrize("rank", [0, 1])
def test_a_rank_killed_under_slurm_ends_the_cell_at_once_and_the_rerun_resumes_its_stage(tmp_path, rank):
    from tests.test_slurm import job_state, wait_until

    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
    outputs, longer = tmp_path / "out", ("target.optim.max_train_examples=1000", "target.optim.epochs=10")
    sweep = ["hydra/launcher=slurm", "hydra.launcher.tasks_per_node=2", "hydra.launcher.timeout_min=20",
             "trainer.checkpoint_every_n_steps=4", *longer, f"paths.outputs_root={outputs}"]
    cell = [setting for setting in CELL if setting.split("=")[0] not in [s.split("=")[0] for s in longer]]
    command = [sys.executable, "-m", "xtransfer.run", "-m", *cell, *sweep]
    first = subprocess.Popen(command, cwd=REPO, env=run_env(tmp_path), stdout=open(tmp_path / "killed.log", "w"),
                             stderr=subprocess.STDOUT)
    job = None
    try:
        wait_until(lambda: list(outputs.glob("cache/stages/target/*.partial/.resume/last.ckpt")), "checkpoint")
        (job,) = [p.name for p in outputs.glob("multiruns/*/*/.submitit/*") if p.is_dir()]
        pid = task_pid(outputs, rank)
        assert pid is not None, f"no process of rank {rank}"
        os.kill(pid, signal.SIGKILL)  # as the OOM killer does
        killed = time.time()
        wait_until(lambda: job_state(job) not in ("RUNNING", "COMPLETING"), "end of the job", 120)
        ended_after = time.time() - killed
    finally:
        # The launcher learns of a job killed from outside from sacct; the local SLURM keeps no accounting,
        # so it would wait for the job's result for ever.
        first.kill()
        if job:
            subprocess.run(["scancel", job], timeout=60)
    (cell_dir,) = [p for p in outputs.glob("multiruns/*/*/*") if p.is_dir() and p.name != ".submitit"]
    assert not (cell_dir / "results.json").exists()
    saved = [int(line.split(" at step ")[1].split(":")[0]) for line in (cell_dir / "run.log").read_text().splitlines()
             if "stage checkpoint at step" in line]
    assert saved and saved[-1] > 0 and not list(outputs.glob("cache/stages/target/*/COMPLETE"))  # killed mid-stage
    assert ended_after < 60, f"the job ran on {ended_after:.0f} s after rank {rank} was killed"
    # srun ended the step for the killed task (--kill-on-bad-exit). Here, on one node over gloo, the other
    # rank's next collective would also fail within seconds (its peer's sockets close); NCCL's, or one with a
    # peer on a node that is gone, may wait for the process group's timeout: SLURM does not.
    (batch_log,) = outputs.glob(f"multiruns/*/*/.submitit/{job}/{job}_0_log.err")
    assert f"task {rank}: Killed" in batch_log.read_text() and f"Terminating StepId={job}.0" in batch_log.read_text()

    again = subprocess.run(command, cwd=REPO, env=run_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    (results,) = [json.loads(p.read_text()) for p in outputs.glob("multiruns/*/*/*/results.json")]
    target = [s for s in results["stages"] if s["kind"] == "target"]
    assert [(s["reused"], s["resumed_from_step"]) for s in target] == [(False, saved[-1])]
    assert json.loads((Path(target[0]["path"]) / "metrics.json").read_text())["steps"] == 160  # 16 a rank and epoch
