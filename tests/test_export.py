"""xtransfer.xtreme.export: cells' test predictions -> an XTREME submission folder (and labels)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import compose_cfg
from xtransfer.errors import DataError
from xtransfer.xtreme.export import find_cells, main
from xtransfer.xtreme.score import evaluate
from xtransfer.xtreme.benchmark import TARGET_TASKS, xtreme_language


def make_cell(root: Path, name: str, target: str, languages: list[str], files: dict[str, str],
              intermediate: str = "none", seed: int = 0, config=None) -> Path:
    job = root / name
    (job / "predictions").mkdir(parents=True)
    (job / "results.json").write_text(json.dumps({"model": "tiny", "intermediate": intermediate, "target": target,
                                                  "seed": seed, "languages": languages, "predictions": "predictions"}))
    for file, text in files.items():
        (job / "predictions" / file).write_text(text)
    if config is not None:
        (job / ".hydra").mkdir()
        OmegaConf.save(config, job / ".hydra" / "config.yaml")
    return job


def test_names_and_layout_as_xtreme_spells_them(tmp_path):
    make_cell(tmp_path / "sweep", "0_bucc", "bucc", ["de", "fr"],
              {"test-de.tsv": "de-1\ten-2\n", "test-fr.tsv": "fr-1\ten-1\n", "validation-de.tsv": "x\n"})
    make_cell(tmp_path / "sweep", "1_xquad", "xquad", ["de"], {"test-de.json": '{"q": "a"}\n'})
    make_cell(tmp_path / "sweep", "2_lareqa", "lareqa", ["de"], {"test-de.tsv": "q\tde_0_0\n"})
    main([str(tmp_path / "sweep"), "--out", str(tmp_path / "sub")])
    files = sorted(str(p.relative_to(tmp_path / "sub")) for p in (tmp_path / "sub").rglob("*") if p.is_file())
    assert files == ["bucc2018/test-de.tsv", "bucc2018/test-fr.tsv", "xquad/test-de.json"]
    assert (tmp_path / "sub" / "bucc2018" / "test-de.tsv").read_text() == "de-1\ten-2\n"


def test_several_cells_for_one_task_need_a_filter(tmp_path, capsys):
    for k, inter in enumerate(["none", "mnli"]):
        make_cell(tmp_path, f"{k}_{inter}", "xnli", ["en"], {"test-en.tsv": f"{inter}\n"}, intermediate=inter)
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--out", str(tmp_path / "sub")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "2 cells fill XTREME task 'xnli'" in err and "intermediate=none" in err and "intermediate=mnli" in err
    assert "--intermediate" in err
    main([str(tmp_path / "0_none"), str(tmp_path / "1_mnli"), "--out", str(tmp_path / "sub"), "--intermediate", "mnli"])
    assert (tmp_path / "sub" / "xnli" / "test-en.tsv").read_text() == "mnli\n"


def test_setting_tells_zero_shot_from_translate_train_cells(tmp_path, capsys):
    for k, setting in enumerate(["zero-shot", "translate-train"]):
        job = make_cell(tmp_path, f"{k}", "xnli", ["en"], {"test-en.tsv": f"{setting}\n"})
        results = json.loads((job / "results.json").read_text())
        (job / "results.json").write_text(json.dumps({**results, "setting": setting}))
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--out", str(tmp_path / "sub")])
    assert "setting=translate-train" in capsys.readouterr().err
    main([str(tmp_path), "--out", str(tmp_path / "sub"), "--setting", "translate-train"])
    assert (tmp_path / "sub" / "xnli" / "test-en.tsv").read_text() == "translate-train\n"


def test_missing_prediction_file_is_named(tmp_path, capsys):
    make_cell(tmp_path, "job", "pawsx", ["de", "en"], {"test-de.tsv": "0\n"})
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--out", str(tmp_path / "sub")])
    assert exit_.value.code == 2
    assert "job/predictions/test-en.tsv is missing" in capsys.readouterr().err


def test_no_results_under_the_dirs(tmp_path):
    with pytest.raises(DataError, match="no results.json under"):
        find_cells([tmp_path])


def test_tatoeba_indices_follow_xtreme_sorted_english_side(tmp_path):
    """XTREME sorts the English side: English lines b, c, a sit at 1, 2, 0 there."""
    data = tmp_path / "data" / "tatoeba" / "v1"
    data.mkdir(parents=True)
    (data / "tatoeba.deu-eng.deu").write_text("B\nC\nA\n")
    (data / "tatoeba.deu-eng.eng").write_text("b\nc\na\n")
    cfg = compose_cfg(["target=tatoeba", "data=local", f"data.root={tmp_path / 'data'}", "logger=none"], tmp_path)
    # predicted English lines 0, 2, 2: lines 0 and 2 right
    make_cell(tmp_path / "runs", "job", "tatoeba", ["deu"], {"test-deu.tsv": "0\n2\n2\n"}, config=cfg)
    main([str(tmp_path / "runs"), "--out", str(tmp_path / "sub"), "--labels", str(tmp_path / "gold")])
    assert (tmp_path / "sub" / "tatoeba" / "test-de.tsv").read_text() == "1\n0\n0\n"
    assert (tmp_path / "gold" / "tatoeba" / "test-de.tsv").read_text() == "1\n2\n0\n"


@pytest.mark.slow
def test_demo_round_trip_equals_the_cells_results(tmp_path):
    """Demo cells -> export with labels -> score: the scorer's figures are the cells' own."""
    subprocess.run([sys.executable, "-m", "xtransfer.run", "-m", "intermediate=none", "target=xnli,xquad,tatoeba,bucc",
                    "experiment=demo", "logger=none", f"paths.outputs_root={tmp_path}"], check=True)
    main([str(tmp_path / "multiruns"), "--out", str(tmp_path / "sub"), "--labels", str(tmp_path / "gold")])
    # the demo has every XTREME language of these tasks but not XTREME's nine tasks: score task by task
    scores = evaluate(tmp_path / "sub", tmp_path / "gold")
    compared = 0
    for path in (tmp_path / "multiruns").rglob("results.json"):
        cell = json.loads(path.read_text())
        task = TARGET_TASKS[cell["target"]]
        for lang, values in cell["metrics"]["test"].items():
            for metric, value in values.items():
                ours = {"acc": "accuracy"}.get(metric, metric)
                if ours in scores[task]:
                    assert scores[task][ours][xtreme_language(task, lang)] == pytest.approx(value, abs=1e-9)
                    compared += 1
    assert compared > 60


def test_xtreme_r_export_keeps_xtreme_r_tasks_only(tmp_path, capsys):
    make_cell(tmp_path / "sweep", "0_pawsx", "pawsx", ["de"], {"test-de.tsv": "1\n"})
    make_cell(tmp_path / "sweep", "1_xcopa", "xcopa", ["et"], {"test-et.jsonl": '{"idx": 0, "label": 1}\n'})
    make_cell(tmp_path / "sweep", "2_mewslix", "mewslix", ["de"], {"test-de.json": '{"e1": ["Q7"]}\n'})
    main([str(tmp_path / "sweep"), "--benchmark", "xtreme-r", "--out", str(tmp_path / "sub")])
    files = sorted(str(p.relative_to(tmp_path / "sub")) for p in (tmp_path / "sub").rglob("*") if p.is_file())
    assert files == ["mewslix/test-de.json", "xcopa/test-et.jsonl"]
    out = capsys.readouterr()
    assert "skipped pawsx: not an XTREME-R task" in out.err
    assert "xtreme-r also needs ar en es fa ja pl ro ta tr uk" in out.out   # what the evaluator would miss
