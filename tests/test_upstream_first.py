"""Upstream first (plan/upstream_first.py): the stages several cells share are built first, each by
one job, phase by phase, so no cell's job waits on another's lock; an upstream job builds its first N
stages and stops."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FAST, compose_cfg
from xtransfer.cache.locking import MARKER
from xtransfer.plan.stages import PlannedCell, PlannedStage
from xtransfer.plan.upstream_first import phases


def _cell(cache: Path, name: str, chain: list[str]) -> PlannedCell:
    """A planned cell whose stages are `kind:name` entries, each keyed by its chain so far (as real keys are)."""
    stages = [PlannedStage(entry.split(":")[0], entry.split(":")[1], "-".join(chain[:i + 1]).replace(":", ""), str(cache))
              for i, entry in enumerate(chain)]
    return PlannedCell([f"cell={name}"], stages=stages)


def test_phases_build_each_shared_uncached_stage_once_after_its_upstream(tmp_path):
    p, m, s = "pretrained:tiny", "intermediate:mnli", "intermediate:squad"
    cells = [_cell(tmp_path, "a", [p, "target:xnli", "eval:xnli"]),
             _cell(tmp_path, "b", [p, "target:pawsx", "eval:pawsx"]),
             _cell(tmp_path, "c", [p, m, "target:xnli", "eval:xnli"]),
             _cell(tmp_path, "d", [p, m, "target:pawsx", "eval:pawsx"]),
             _cell(tmp_path, "e", [p, m, s, "target:xnli", "eval:xnli"]),
             _cell(tmp_path, "f", [p, m, s, "target:pawsx", "eval:pawsx"])]
    todo = phases(cells)
    assert [[str(b) for b in phase] for phase in todo] == [
        ["pretrained/tiny-pretrainedtiny (6 cells)"],
        ["intermediate/mnli-pretrainedtiny-intermediatemnli (4 cells)"],
        ["intermediate/squad-pretrainedtiny-intermediatemnli-intermediatesquad (2 cells)"]]
    squad = todo[2][0]
    assert squad.cell.overrides == ["cell=e"] and squad.depth == 2   # the first cell that uses it
    assert squad.overrides == ["cell=e", "upstream_stages=3",
                               f"hydra.sweep.subdir=upstream/intermediate_squad_{squad.stage.key}"]

    # a stage the cache holds is not built again; what is downstream of it still is, in its own phase
    mnli = todo[1][0].stage
    done = tmp_path / "stages" / "intermediate" / f"mnli-{mnli.key}"
    done.mkdir(parents=True)
    (done / MARKER).write_text("ok\n")
    assert [[b.stage.name for b in phase] for phase in phases(cells)] == [["tiny"], ["squad"]]
    # a grid whose cells share nothing has nothing to build first
    assert phases([cells[0]]) == []


def test_the_callback_plans_the_real_grid_and_leaves_hydras_one_at_a_time_launcher_alone(workspace, monkeypatch):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from xtransfer.config import CONF_DIR
    from xtransfer.plan import upstream_first

    def master(*launcher: str):
        cfg = compose("config", overrides=[f"paths.outputs_root={workspace}", *FAST, *launcher],
                      return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.sweeper.params = {"intermediate": "none,mnli", "target": "xnli,pawsx"}
        HydraConfig.instance().set_config(cfg)
        return cfg

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        todo = phases(upstream_first.plan_cells(master("hydra/launcher=local_parallel")))
        called = []
        monkeypatch.setattr(upstream_first, "plan_cells", called.append)
        upstream_first.UpstreamFirst().on_multirun_start(master())   # Hydra's basic launcher: nothing to do
        upstream_first.UpstreamFirst().on_multirun_start(master("hydra/launcher=local_parallel", "upstream_first=false"))
    assert [[(b.stage.kind, b.stage.name, b.cells) for b in phase] for phase in todo][-1] == [("intermediate", "mnli", 2)]
    mnli = todo[-1][0]
    assert "intermediate=mnli" in mnli.overrides and "target=xnli" in mnli.overrides and mnli.depth == 1
    assert called == []


def test_an_upstream_job_builds_its_first_stages_and_stops(workspace):
    from xtransfer.pipeline.cell import run

    own = [*FAST, "intermediate=qqp", "intermediate.optim.max_train_examples=500", "target=pawsx"]  # stages no other test has
    done = run(compose_cfg([*own, "upstream_stages=2"], workspace, "upstream-qqp"))
    job = workspace / "upstream-qqp"
    record = json.loads((job / "upstream.json").read_text())
    assert [s["kind"] for s in record["stages"]] == ["pretrained", "intermediate"] and record["waited_s"] == 0.0
    assert done == {"score": None, **record} and not (job / "results.json").exists()
    qqp = record["stages"][1]
    assert qqp["name"] == "qqp" and Path(qqp["path"], MARKER).is_file()

    cell = run(compose_cfg(own, workspace, "qqp-pawsx-after-upstream"))
    assert cell["stages"][1] == {**qqp, "reused": True, "seconds": cell["stages"][1]["seconds"]}
    assert [s["kind"] for s in cell["stages"]] == ["pretrained", "intermediate", "target", "eval"]


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_upstream_stages_is_a_positive_count(workspace, bad):
    from xtransfer.config.build import build_cell
    from xtransfer.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"^upstream_stages must be a positive whole number \(the first N stages of "
                                          rf"the cell to build\), got {bad}$"):
        build_cell(compose_cfg([*FAST, f"upstream_stages={bad}"], workspace))


@pytest.mark.slow
def test_a_failed_upstream_job_is_reported_and_its_downstream_phase_skipped(workspace, tmp_path):
    import shutil

    from tests.conftest import cli
    from xtransfer.pipeline.demo_data import ensure_demo_data

    ensure_demo_data(workspace / "demo_data")
    data = tmp_path / "data"   # a user's copy (no manifest: not demo data to regenerate) with a bad MNLI label
    shutil.copytree(workspace / "demo_data", data, ignore=shutil.ignore_patterns("MANIFEST.json"))
    train = data / "glue" / "MNLI" / "train.tsv"
    lines = train.read_text().splitlines(keepends=True)
    lines[1] = lines[1].rstrip("\n").rsplit("\t", 1)[0] + "\tsideways\n"
    train.write_text("".join(lines))
    done = cli("xtransfer.run", "-m", *FAST, "intermediate=sequential", "intermediate.tasks=[mnli,qqp]",
               "target=xnli,pawsx", f"data.root={data}", "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2",
               f"paths.outputs_root={tmp_path / 'out'}")
    printed = done.stdout + done.stderr
    assert done.returncode == 2, printed[-3000:]
    assert "upstream first, phase 2 of 3: 1 shared stage(s), one job each: intermediate/mnli-" in printed
    (line,) = [line for line in printed.splitlines() if "was not built" in line]
    assert f"(2 cells) was not built ({train}:2: " in line and line.endswith(
        "; the cells that need it build it themselves"), line
    assert "phase 3 of 3" not in printed          # qqp after mnli: its upstream failed, so it was not launched
    sweep = next((tmp_path / "out" / "multiruns").glob("*/*"))
    assert len(list(sweep.glob("*/error.json"))) == 2 and not list(sweep.glob("*/results.json"))
