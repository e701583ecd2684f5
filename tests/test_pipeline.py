"""The cell end to end, in process, on the demo data with the tiny model."""
import json
from pathlib import Path

import pytest

from tests.conftest import FAST, compose_cfg
from xtransfer.pipeline.cell import run


@pytest.fixture(scope="module")
def first_run(workspace):
    return run(compose_cfg([*FAST, "intermediate=none", "target=pawsx"], workspace, "none-pawsx")), workspace


def test_english_accuracy_is_far_above_chance(first_run):
    results, _ = first_run
    assert results["metrics"]["test"]["en"]["acc"] > 70  # chance is 50


def test_target_training_loss_falls(first_run):
    results, _ = first_run
    target = next(s for s in results["stages"] if s["kind"] == "target")
    losses = json.loads((Path(target["path"]) / "metrics.json").read_text())["train_loss_per_epoch"]
    assert len(losses) == 4 and losses[-1] < 0.85 * losses[0]


def test_results_json_schema_and_score(first_run):
    results, workspace = first_run
    on_disk = json.loads((workspace / "none-pawsx" / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert {k: on_disk[k] for k in ("model", "intermediate", "target", "seed")} == {
        "model": "tiny", "intermediate": "none", "target": "pawsx", "seed": 0}
    langs = ["de", "en", "es", "fr", "ja", "ko", "zh"]
    assert sorted(on_disk["metrics"]) == ["test", "validation"]
    assert sorted(on_disk["metrics"]["test"]) == langs
    mean_acc = sum(on_disk["metrics"]["test"][l]["acc"] for l in langs) / len(langs)
    assert on_disk["score"] == pytest.approx(mean_acc, abs=1e-3)
    assert [s["kind"] for s in on_disk["stages"]] == ["pretrained", "target", "eval"]
    # (the tiny pretrained stage may come from another test of the session)
    assert not any(s["reused"] for s in on_disk["stages"] if s["kind"] != "pretrained")


def test_predictions_are_written_per_language_in_xtreme_format(first_run):
    _, workspace = first_run
    preds = workspace / "none-pawsx" / "predictions"
    assert sorted(p.name for p in preds.iterdir()) == sorted(
        f"{s}-{l}.tsv" for s in ("validation", "test") for l in ["de", "en", "es", "fr", "ja", "ko", "zh"])
    lines = (preds / "test-de.tsv").read_text().splitlines()
    gold = (workspace / "demo_data" / "x-final" / "de" / "test_2k.tsv").read_text().splitlines()[1:]
    assert len(lines) == len(gold) and set(lines) <= {"0", "1"}


def test_identical_rerun_trains_nothing(first_run):
    results, workspace = first_run
    again = run(compose_cfg([*FAST, "intermediate=none", "target=pawsx"], workspace, "none-pawsx-again"))
    assert all(s["reused"] for s in again["stages"])
    assert again["metrics"] == results["metrics"]


def test_intermediate_encoder_flows_into_target_training(first_run):
    _, workspace = first_run
    results = run(compose_cfg([*FAST, "intermediate=qqp", "target=pawsx"], workspace, "qqp-pawsx"))
    kinds = {s["kind"]: s for s in results["stages"]}
    assert kinds["pretrained"]["reused"] and not kinds["intermediate"]["reused"]
    assert not kinds["target"]["reused"]  # a different upstream is a different target stage
    target_yaml = (Path(kinds["target"]["path"]) / "stage.yaml").read_text()
    assert f"upstream: {kinds['intermediate']['key']}" in target_yaml
    # A fresh head per task: the target checkpoint holds the pawsx head only.
    from safetensors.torch import load_file
    heads = load_file(str(Path(kinds["target"]["path"]) / "heads.safetensors"))
    assert {k.split(".")[0] for k in heads} == {"pawsx"}
