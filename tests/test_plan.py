"""`python -m xtransfer.plan`: the grid Hydra's sweeper expands, each cell's stage keys as the run computes
them, cache status, data availability, and the compute estimate (checked by hand); no model is loaded."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from tests.conftest import REPO
from xtransfer.config import CONF_DIR
from xtransfer.plan import data as plan_data
from xtransfer.plan.compute import load_assumptions, stage_cost
from xtransfer.plan.grid import make_plan
from xtransfer.plan.sweep import OUTPUT_DIR, expand

HEAVY = ("torch", "transformers", "pytorch_lightning", "datasets")


def plan_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "xtransfer.plan", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_phang2020_plans_99_cells_in_seconds_without_loading_a_model(tmp_path):
    script = ("import sys, time; t = time.perf_counter(); from xtransfer.plan.__main__ import main; "
              f"code = main(['-m', 'experiment=phang2020', 'paths.outputs_root={tmp_path}', '--on', 'gpu', "
              f"'--json', '{tmp_path / 'plan.json'}']); "
              f"print('loaded:', [m for m in {HEAVY!r} if m in sys.modules], 'seconds:', time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("99 cells (composed by Hydra once per option of each swept group (20 options))")
    assert "loaded: []" in proc.stdout                       # no torch, no model, no datasets
    assert float(proc.stdout.rsplit("seconds:", 1)[1]) < 120  # a few seconds on an idle machine
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert len(plan["cells"]) == 99
    kinds = {}
    for stage in plan["stages"]:
        kinds.setdefault(stage["kind"], []).append(stage)
    # With data=hub: ccg and cosmosqa read local files only (18 cells; multitask needs them too since it no
    # longer skips tasks), BUCC's dev set is local only and UD-POS has no hub copy of XTREME's rows.
    blocked = [c for c in plan["cells"] if c["blocked"]]
    assert {c["intermediate"] for c in blocked if c["target"] not in ("bucc", "udpos")} == {"ccg", "cosmosqa", "multitask"}
    assert "bucc" in {c["target"] for c in blocked if c["intermediate"] not in ("ccg", "cosmosqa", "multitask")}
    # 7 buildable intermediates (not ccg, cosmosqa, multitask) each shared by 9 cells; 8 rows x 7 trained
    # targets; 8 rows x 8 scored targets (BUCC lacks its local dev set)
    assert len(kinds["intermediate"]) == 7 and all(s["cells"] == 9 for s in kinds["intermediate"])
    assert len(kinds["target"]) == 56 and len(kinds["eval"]) == 64
    assert "Unique stages: 127 (127 to train, 0 in the cache), used 183 times by the cells:" in proc.stdout
    # MNLI on XLM-R large, by hand: N = 24 (4·1024² + 2·1024·4096 + 9·1024 + 4096) = 302,309,376;
    # T = 392,702 rows x 2 epochs x 50 tokens; validation (jiant's protocol) every 1000 of the
    # ceil(785,404 / 32) = 24,544 steps and once at the end: 25 x 500 examples x 50 tokens;
    # (6·N·T + 2·N·V) / (989e12 x 0.40 x 3600) GPU-hours
    n, t, v = 302_309_376, 392_702 * 2 * 50, 25 * 500 * 50
    mnli = next(s for s in kinds["intermediate"] if s["name"] == "mnli")
    assert mnli["gpu_hours"] == pytest.approx((6 * n * t + 2 * n * v) / (989e12 * 0.4 * 3600), rel=1e-9)
    assert plan["gpu_hours"] > 0 and plan["wall_hours"] >= plan["gpu_hours"] / 8


def test_sweep_configs_are_hydras_own(tmp_path):
    """Composed per swept option, put together per cell: equal to composing each cell from scratch."""
    grid = ["intermediate=none,mnli", "mlm=before,mixed", "target=xnli,tatoeba", "seed=0,1", "experiment=demo",
            f"paths.outputs_root={tmp_path}"]
    jobs, how = expand(grid, multirun=True)
    assert len(jobs) == 16 and how.startswith("composed by Hydra once per option")
    assert [j.overrides for j in jobs][:2] == [
        ["intermediate=none", "mlm=before", "target=xnli", "seed=0", "experiment=demo", f"paths.outputs_root={tmp_path}"],
        ["intermediate=none", "mlm=before", "target=xnli", "seed=1", "experiment=demo", f"paths.outputs_root={tmp_path}"]]
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        for job in jobs:
            full = loader.load_configuration("config", [*job.overrides, OUTPUT_DIR], run_mode=RunMode.RUN)
            mine = OmegaConf.to_container(job.cfg, resolve=False)
            assert mine == {k: v for k, v in OmegaConf.to_container(full, resolve=False).items() if k != "hydra"}


def test_a_global_option_is_composed_cell_by_cell(tmp_path):
    jobs, how = expand(["experiment=demo,phang2020", "intermediate=none", "target=pawsx",
                        f"paths.outputs_root={tmp_path}"], multirun=True)
    assert how == "composed by Hydra, cell by cell"
    assert [j.cfg.model.name for j in jobs] == ["tiny", "xlmr_large"]


def test_plan_equals_what_the_run_trains_and_a_rerun_is_all_cached(workspace, tmp_path):
    grid = ["-m", "intermediate=none,mnli", "target=pawsx", "target.languages=[en,de]", "experiment=demo",
            "logger=none", "trainer.enable_progress_bar=false", "target.optim.max_train_examples=301",
            "target.optim.epochs=1", "target.optim.max_val_examples=50", "intermediate.optim.max_train_examples=301",
            "intermediate.optim.epochs=1", "intermediate.optim.max_val_examples=50",
            f"paths.outputs_root={workspace}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = plan_cli(*grid, "--json", str(tmp_path / "before.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = json.loads((tmp_path / "before.json").read_text())
    run = subprocess.run([sys.executable, "-m", "xtransfer.run", *grid], cwd=REPO, capture_output=True, text=True,
                         timeout=900, env={**os.environ, "WANDB_SILENT": "true"})
    assert run.returncode == 0, run.stderr[-3000:]
    results = {(r["intermediate"], r["target"]): r for r in
               (json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/results.json"))}
    assert len(results) == 2
    trained = {(s["kind"], s["name"], s["key"]) for r in results.values() for s in r["stages"] if not s["reused"]}
    to_train = {(s["kind"], s["name"], s["key"]) for s in before["stages"] if not s["cached"]}
    assert to_train == trained and {k for k, *_ in to_train} >= {"intermediate", "target", "eval"}
    for cell in before["cells"]:     # every stage of every cell, keys included, in the run's order
        ran = results[(cell["intermediate"], cell["target"])]["stages"]
        assert [(s["kind"], s["name"], s["key"]) for s in cell["stages"]] == [(s["kind"], s["name"], s["key"])
                                                                              for s in ran]
    again = plan_cli(*grid, "--json", str(tmp_path / "after.json"))
    after = json.loads((tmp_path / "after.json").read_text())
    assert all(s["cached"] for s in after["stages"]) and "(0 to train," in again.stdout


def test_data_availability_and_rows_from_local_files_and_the_hub_cache(tmp_path, monkeypatch):
    plan = make_plan(["intermediate=mnli", "target=pawsx", "data=local", f"data.root={tmp_path / 'none'}",
                      f"paths.outputs_root={tmp_path}"], False, load_assumptions(precision_on="cpu"))
    cell = plan.cells[0]
    assert cell.blocked.startswith(f"intermediate 'mnli': missing file {tmp_path / 'none' / 'glue/MNLI/train.tsv'}")
    mnli = next(n for n in plan.data if n.task == "mnli")
    assert mnli.status.status == "missing" and mnli.reads == {"train": {"en"}, "validation": {"en"}}

    # the hub: a snapshot of nyu-mll/glue at the pinned revision with mnli's train split, 7 rows
    monkeypatch.setattr(plan_data, "hub_cache_dir", lambda: tmp_path / "hub")
    plan = make_plan(["intermediate=mnli", "target=pawsx", f"paths.outputs_root={tmp_path}"], False,
                     load_assumptions(precision_on="cpu"))
    stage = next(s for s in plan.cells[0].stages if s.kind == "intermediate")
    task = stage.parts[0].task
    assert plan_data.availability(task, "train", "en").status == "download"
    snapshot = tmp_path / "hub" / "datasets--nyu-mll--glue" / "snapshots" / task.hub.revision / "mnli"
    snapshot.mkdir(parents=True)
    pq.write_table(pa.table({"premise": ["p"] * 7}), snapshot / "train-00000-of-00001.parquet")
    assert plan_data.availability(task, "train", "en").status == "cached"
    assert plan_data.count_rows(task, "train", "en", {}) == plan_data.Rows(7, "cache")
    assert plan_data.count_rows(task, "validation", "en", {"mnli": {"validation": 9815}}) == \
        plan_data.Rows(9815, "stated")
    cost = stage_cost(stage, load_assumptions())
    assert cost.examples == 7 * 2 and cost.train_tokens == 7 * 2 * 50    # 2 epochs, 50 tokens per example


def test_bad_overrides_exit_2_with_one_line(tmp_path):
    proc = plan_cli("-m", "target=xnlii", f"paths.outputs_root={tmp_path}")
    assert proc.returncode == 2 and proc.stderr.startswith("error: In 'config': Could not find 'target/xnlii'")
    assert "Traceback" not in proc.stderr


def test_a_slurm_grid_with_two_tasks_per_node_plans_the_keys_its_two_rank_jobs_compute(workspace):
    """srun's ranks make a training stage's key (N ranks train with N times the batch): the plan, and the
    upstream-first sweep that plans with it, must see them."""
    def keys(multirun: bool, *extra: str) -> list[tuple[str, str]]:
        plan = make_plan(["experiment=demo", "intermediate=mnli", "target=pawsx", f"paths.outputs_root={workspace}",
                          *extra], multirun, load_assumptions(precision_on="cpu"))
        (cell,) = plan.cells
        return [(s.kind, s.key) for s in cell.stages]

    srun_two = keys(True, "hydra/launcher=slurm", "hydra.launcher.tasks_per_node=2")
    spawned_two = keys(False, "trainer.devices=2")
    one = keys(True, "hydra/launcher=slurm")
    assert [kind for kind, _ in srun_two] == ["pretrained", "intermediate", "target", "eval"]
    assert srun_two == spawned_two
    assert srun_two[0] == one[0] and all(a != b for a, b in zip(srun_two[1:], one[1:]))
