"""BUCC with data=hub: the threshold comes from the local `sample` files, never from the test data
unless asked (target.oracle_threshold=true), and results.json, the report and the export say which.

The hub is a monkeypatched `datasets.load_dataset` serving mteb/BUCC's layout (one row per pair:
both sides' sentences, gold pairs as 1-based positions) built from the demo's `training` files.
"""
import json

import datasets
import pytest

from tests.conftest import FAST, compose_cfg
from xtransfer.errors import DataError
from xtransfer.pipeline.cell import run
from xtransfer.pipeline.demo_data import ensure_demo_data

REVISION = "414572247440f0ccacf7eb0bb70a31533a0e5443"
BUCC = [*FAST, "intermediate=none", "target=bucc", "target.languages=[de]"]


def read_pairs(path):
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def hub(workspace, monkeypatch):
    """mteb/BUCC de-en from the demo's `training` (test) files; records the calls."""
    ensure_demo_data(workspace / "demo_data")
    folder = workspace / "demo_data" / "bucc2018" / "de-en"
    de, en = read_pairs(folder / "de-en.training.de"), read_pairs(folder / "de-en.training.en")
    position = {ident: k + 1 for side in (de, en) for k, (ident, _) in enumerate(side)}
    row = {"sentence1": [s for _, s in de], "sentence2": [s for _, s in en],
           "gold": [[position[a], position[b]] for a, b in read_pairs(folder / "de-en.training.gold")]}
    calls = []

    def load_dataset(path, name=None, *, split, revision=None, **kwargs):
        calls.append((path, name, split, revision))
        return datasets.Dataset.from_list([row])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_bucc_without_sample_files_refuses_before_anything_trains(workspace, hub, tmp_path):
    cfg = compose_cfg([*BUCC, "intermediate=mnli", "target.eval_task.source=hub",
                       "target.eval_task.local.root=/nowhere", f"paths.cache_dir={tmp_path / 'cache'}"],
                      workspace, "bucc-refused")
    with pytest.raises(DataError) as error:
        run(cfg)
    message = str(error.value)
    assert "missing file /nowhere/de-en/de-en.sample.de (task 'bucc', split 'validation', language 'de') (read " \
           "from local files even with data=hub: no hub copy has it)" in message
    assert "https://comparable.limsi.fr/bucc2018/" in message and "target.oracle_threshold=true" in message
    assert not (tmp_path / "cache").exists() and hub == []   # nothing trained, nothing loaded


def test_hub_bucc_tunes_on_the_local_sample_files_and_scores_the_hub_test(workspace, hub):
    local = run(compose_cfg(BUCC, workspace, "bucc-local"))
    results = run(compose_cfg([*BUCC, "target.eval_task.source=hub"], workspace, "bucc-hub"))
    assert hub == [("mteb/BUCC", "de-en", "test", REVISION)]
    sample = workspace / "demo_data" / "bucc2018" / "de-en" / "de-en.sample"
    assert results["threshold"] == {"tuned_on": "validation", "oracle": False, "data": {
        "validation/de": f"local files {sample}.de, {sample}.en, {sample}.gold"}}
    assert results["oracle_threshold"] is False
    on_disk = json.loads((workspace / "bucc-hub" / "results.json").read_text())
    assert on_disk["threshold"] == results["threshold"]
    # the same sample threshold, the same test data (hub rows of the same files): the same scores as local
    assert results["metrics"] == local["metrics"] and results["scores"] == local["scores"]
    assert results["scores"] == {"validation": round(results["metrics"]["validation"]["de"]["f1"], 4),
                                 "test": results["score"]}


def test_oracle_threshold_is_opt_in_and_labelled_everywhere(workspace, hub, tmp_path, capsys):
    tuned = run(compose_cfg([*BUCC, "target.eval_task.source=hub"], workspace, "bucc-tuned"))
    oracle = run(compose_cfg([*BUCC, "target.eval_task.source=hub", "target.oracle_threshold=true",
                              "target.eval_task.local.root=/nowhere"], workspace, "bucc-oracle"))
    assert oracle["oracle_threshold"] is True and list(oracle["metrics"]) == ["test"]
    assert oracle["threshold"] == {"tuned_on": "the split it scores", "oracle": True, "data": {
        "test/de": f"hub mteb/BUCC @ {REVISION}: de-en split test"}}
    assert oracle["score"] >= tuned["score"]   # the F1-best threshold on the test data itself

    from xtransfer.report.build import write_report
    report = write_report([workspace / "bucc-oracle", workspace / "bucc-tuned"], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| intermediate | bucc | bucc (oracle threshold) | avg |" in md   # two columns, never mixed
    assert f"| none | {tuned['score']:.2f} | {oracle['score']:.2f} |" in md
    assert "`bucc (oracle threshold)`: the mining threshold was tuned on the test data it scores" in md
    assert report.n_cells == 2

    from xtransfer.xtreme.export import main as export
    export([str(workspace / "bucc-oracle"), "--out", str(tmp_path / "submission")])
    assert "bucc2018: 1 languages from" in capsys.readouterr().out
    export([str(workspace / "bucc-oracle"), "--out", str(tmp_path / "submission")])
    assert "[ORACLE THRESHOLD: tuned on the test data it scores (target.oracle_threshold=true); not BUCC F1 as " \
           "XTREME reports it]" in capsys.readouterr().out


def test_oracle_threshold_is_bucc_only(tmp_path):
    from xtransfer.config.build import build_target
    from xtransfer.errors import ConfigError
    with pytest.raises(ConfigError, match="oracle_threshold applies to bucc only"):
        build_target(compose_cfg(["target=tatoeba", "+target.oracle_threshold=true"], tmp_path).target)
