"""The catalogue of bad inputs, part 5: the cases that need demo runs (slow). A moved outputs folder
retrains nothing; a damaged checkpoint or metrics file in a finished cell is rebuilt and the reused
evaluation stands for the checkpoint that is there now; a sweep with a failing cell runs the others,
lists the failure in its report and exits 2 without a traceback."""
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import FAST, cli, compose_cfg
from xtransfer.cache.manifest import build_id, problem
from xtransfer.pipeline.cell import run

pytestmark = pytest.mark.slow

CELL = [*FAST, "intermediate=none", "target=pawsx", "target.languages=[en,de]", "target.optim.epochs=1",
        "target.optim.max_train_examples=600"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    return run(compose_cfg(CELL, outputs, "first")), outputs


def stages_of(results: dict) -> dict[str, dict]:
    return {s["kind"]: s for s in results["stages"]}


def test_moving_the_outputs_and_data_folders_retrains_nothing(finished, tmp_path):
    """The demo data (data.root) and the stage cache live under paths.outputs_root: copy it all elsewhere."""
    results, outputs = finished
    moved = tmp_path / "somewhere" / "else"
    shutil.copytree(outputs, moved, ignore=shutil.ignore_patterns("*.lock"))
    again = run(compose_cfg(CELL, moved, "again"))
    assert [(s["kind"], s["reused"]) for s in again["stages"]] == [("pretrained", True), ("target", True),
                                                                    ("eval", True)]
    assert [s["key"] for s in again["stages"]] == [s["key"] for s in results["stages"]]
    assert again["metrics"] == results["metrics"]
    assert all(s["path"].startswith(str(moved)) for s in again["stages"])


def test_a_truncated_target_checkpoint_is_rebuilt_and_the_reused_eval_matches_it(finished, tmp_path, caplog):
    results, outputs = finished
    work = tmp_path / "outputs"
    shutil.copytree(outputs, work, ignore=shutil.ignore_patterns("*.lock"))
    target = work / Path(stages_of(results)["target"]["path"]).relative_to(outputs)
    weights = target / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    again = stages_of(run(compose_cfg(CELL, work, "again")))
    assert not again["target"]["reused"] and again["pretrained"]["reused"]
    assert f"{target} is damaged: model/model.safetensors has 1000 bytes" in caplog.text
    assert len(list(target.parent.glob(f"{target.name}.damaged-*"))) == 1
    # Reused or not, the evaluation is of the checkpoint that is there now (same bytes: CPU training is exact).
    recorded = yaml.safe_load((Path(again["eval"]["path"]) / "stage.yaml").read_text())["upstream_build"]
    assert recorded == build_id(target) and problem(target, content=True) is None


def test_a_corrupt_metrics_file_is_rebuilt_without_a_traceback(finished, tmp_path):
    results, outputs = finished
    work = tmp_path / "outputs"
    shutil.copytree(outputs, work, ignore=shutil.ignore_patterns("*.lock"))
    ev = work / Path(stages_of(results)["eval"]["path"]).relative_to(outputs)
    size = (ev / "metrics.json").stat().st_size
    (ev / "metrics.json").write_text("{" * size)
    again = run(compose_cfg(CELL, work, "again"))
    assert not stages_of(again)["eval"]["reused"] and again["metrics"] == results["metrics"]


def test_a_sweep_with_a_failing_cell_runs_the_others_reports_it_and_exits_2(tmp_path):
    """On main: Hydra's "Error executing job" with a traceback, exit 1."""
    demo = tmp_path / "demo_data"
    proc = cli("xtransfer.run", "-m", "experiment=demo", "logger=none", "intermediate=none", "target=tatoeba",
               "target.languages=[deu]", "trainer.enable_progress_bar=false", f"paths.outputs_root={tmp_path}",
               f"target.eval_task.local.root={demo / 'tatoeba' / 'v1'},{tmp_path / 'nowhere'}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "Error executing job" not in output
    missing = f"missing file {tmp_path / 'nowhere' / 'tatoeba.deu-eng.deu'}"
    assert missing in output  # the cell's own preflight names the file; the sweep's list gives its first line
    [sweep] = tmp_path.glob("multiruns/*/*")
    good = json.loads(next(sweep.glob("0_*/results.json")).read_text())
    assert good["target"] == "tatoeba" and isinstance(good["score"], float)
    assert json.loads(next(sweep.glob("1_*/error.json")).read_text())["error"] == "DataError"
    report = (sweep / "report.md").read_text()
    assert missing in report  # the report lists the failed cell with its message
