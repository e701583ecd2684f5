"""XTREME-R end to end on the demo: the issue's done-when grid (Mewsli-X trained on English Wikipedia
pairs, XCOPA through SIQA then COPA), then export --benchmark xtreme-r, score: the scorer's figures are
the cells' own results.json figures."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xtransfer.xtreme.benchmark import TARGET_TASKS
from xtransfer.xtreme.export import main as export
from xtransfer.xtreme.score import evaluate


@pytest.mark.slow
def test_mewslix_and_xcopa_train_and_round_trip_through_the_xtreme_r_export(tmp_path):
    subprocess.run([sys.executable, "-m", "xtransfer.run", "-m", "intermediate=none", "target=mewslix,xcopa",
                    "experiment=demo", "logger=none", f"paths.outputs_root={tmp_path}"], check=True)
    cells = {r["target"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "multiruns").rglob("results.json"))}
    assert sorted(cells) == ["mewslix", "xcopa"]
    assert [(s["kind"], s["name"]) for s in cells["xcopa"]["stages"]] == [
        ("pretrained", "tiny"), ("target", "siqa"), ("target", "xcopa"), ("eval", "xcopa")]
    assert [(s["kind"], s["name"]) for s in cells["mewslix"]["stages"]] == [
        ("pretrained", "tiny"), ("target", "mewslix"), ("eval", "mewslix")]
    assert cells["mewslix"]["main_metric"] == "map@20" and cells["xcopa"]["main_metric"] == "acc"
    export([str(tmp_path / "multiruns"), "--benchmark", "xtreme-r", "--out", str(tmp_path / "sub"),
            "--labels", str(tmp_path / "gold")])
    scores = evaluate(tmp_path / "sub", tmp_path / "gold", "xtreme-r")
    compared = 0
    for target, cell in cells.items():
        task = TARGET_TASKS[target]
        for lang, values in cell["metrics"]["test"].items():
            for metric, value in values.items():
                ours = {"acc": "accuracy"}.get(metric, metric)
                assert scores[task][ours][lang] == pytest.approx(value, abs=1e-9)
                compared += 1
        assert scores[task]["avg_metric"] == pytest.approx(cell["score"], abs=1e-4)
    assert compared == 22
