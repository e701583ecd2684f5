"""`python -m xtransfer.run` in a subprocess, as a user runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, compose_cfg

TINY_BUDGET = [
    "experiment=demo", "trainer.enable_progress_bar=false",
    "target.optim.max_train_examples=300", "target.optim.epochs=1", "target.optim.max_val_examples=50",
    "intermediate.optim.max_train_examples=300", "intermediate.optim.epochs=1",
    "intermediate.optim.max_val_examples=50",
]


def xtransfer(*args: str, outputs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}
    env.pop("WANDB_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "xtransfer.run", *args, f"paths.outputs_root={outputs}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def sweep_results(outputs: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(outputs.glob("multiruns/*/*/*/results.json"))]


def test_multirun_grid_shares_intermediate_stages_and_reruns_train_nothing(tmp_path):
    grid = ["-m", "intermediate=none,mnli", "target=pawsx,xnli", "target.languages=[en,de]",
            "logger=wandb", "logger.mode=offline", *TINY_BUDGET]
    proc = xtransfer(*grid, outputs=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sweep_results(tmp_path)
    assert len(results) == 4 and all(isinstance(r["score"], float) for r in results)
    trained = [(s["kind"], s["name"]) for r in results for s in r["stages"] if not s["reused"]]
    assert trained.count(("intermediate", "mnli")) == 1          # shared by both targets
    assert trained.count(("pretrained", "tiny")) == 1
    assert "task scores" in proc.stderr + proc.stdout              # the sweep summary
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 4, "one offline W&B run per job, no report run"
    for files in (tmp_path / "wandb").glob("offline-run-*/files"):   # readable before `wandb sync`
        summary = json.loads((files / "xtransfer-summary.json").read_text())
        assert isinstance(summary["score"], (int, float)) and [s["kind"] for s in summary["stages"]][-1] == "eval"
        config = yaml.safe_load((files / "xtransfer-config.yaml").read_text())
        assert config["cell"]["model"] == "tiny" and config["seed"] == 0 and config["verbose"] is False

    again = xtransfer(*grid, outputs=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = sweep_results(tmp_path)[4:] if len(sweep_results(tmp_path)) == 8 else []
    assert len(rerun) == 4 and all(s["reused"] for r in rerun for s in r["stages"])


def test_missing_local_data_gives_one_clear_error(tmp_path):
    proc = xtransfer("data=local", f"data.root={tmp_path / 'nowhere'}", "model=tiny",
                     f"model.tiny.tokenizer_files={REPO / 'README.md'}", "logger=none", outputs=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert f"missing file {tmp_path / 'nowhere' / 'glue' / 'MNLI' / 'train.tsv'}" in output
    assert "data.root" in output and "Traceback" not in output
    error = json.loads(next(tmp_path.glob("runs/*/*/error.json")).read_text())
    assert error["error"] == "DataError"


def test_unknown_option_exits_with_hydras_choices(tmp_path):
    proc = xtransfer("target=xnlii", outputs=tmp_path)
    assert proc.returncode != 0 and "xnli" in proc.stderr and "pawsx" in proc.stderr


def test_srun_tasks_are_the_ranks_of_one_cell(monkeypatch):
    from xtransfer.engine.ranks import external_world

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_NAME", "cell")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert external_world() is None
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "2")
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    world = external_world()
    assert (world.rank, world.size, world.local_rank, world.local_size, world.source, world.leader) == \
        (1, 2, 1, 2, "slurm", False)


def test_devices_that_disagree_with_the_jobs_ranks_are_refused(tmp_path, monkeypatch):
    from xtransfer.config.build import build_cell
    from xtransfer.errors import ConfigError
    from xtransfer.pipeline.ranked import run_ranks

    for name in ("SLURM_NTASKS", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    cell = build_cell(compose_cfg(["experiment=demo", "trainer.devices=3"], tmp_path))
    with pytest.raises(ConfigError, match=r"^trainer.devices=3, but this job has 2 ranks \(env\): leave "
                                          r"trainer.devices=1 \(the ranks decide\) or set it to 2$"):
        run_ranks(cell, lead=None, follow=None)
