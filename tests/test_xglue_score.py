"""XGLUE submissions and scoring: xtransfer.export/score --benchmark xglue."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_export import make_cell
from xtransfer.xglue.benchmark import LANGUAGES, TARGET_TASKS
from xtransfer.xglue.score import evaluate
from xtransfer.xtreme.export import main as export_main
from xtransfer.xtreme.score import main as score_main


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_languages_and_names_are_the_evaluators():
    assert TARGET_TASKS["xglue_pawsx"] == "PAWSX" and len(TARGET_TASKS) == 9
    assert LANGUAGES["POS"][0] == "pl" and len(LANGUAGES["POS"]) == 18 and len(LANGUAGES["XNLI"]) == 15


def test_scores_read_the_files_as_the_evaluator(tmp_path):
    gold, pred = tmp_path / "gold", tmp_path / "pred"
    for lang in LANGUAGES["NER"]:
        # -DOCSTART- ends a sentence; a short predicted sentence is padded with "O"
        write(gold / "NER" / f"{lang}.dev", "-DOCSTART- -X- O\n\nAnna B-PER\nsleeps O\n\nBob B-PER\nand O\nEve B-PER\n")
        write(pred / "NER" / f"{lang}.prediction", "B-PER\nO\n\nB-PER\n")
    for lang in LANGUAGES["PAWSX"]:
        write(gold / "PAWSX" / lang / "dev_2k.tsv", "id\tsentence1\tsentence2\tlabel\n1\ta\tb\t1\n2\tc\td\t0\n\n")
        write(pred / "PAWSX" / lang / "x", "")  # a stray file is ignored
        write(pred / "PAWSX" / f"{lang}.prediction", "1\n1\n")
    for lang in LANGUAGES["WPR"]:
        write(gold / "WPR" / f"xglue.wpr.{lang}.dev", "q1\tt\ts\t3\nq1\tt\ts\t2\nq1\tt\ts\t0\nq2\tt\ts\t1\nq2\tt\ts\t0\n")
        write(pred / "WPR" / f"{lang}.prediction", "1\n2\n0\n1\n1\n")
    result = evaluate(pred, gold, "dev")
    # NER: gold chunks {Anna, Bob, Eve}, predicted {Anna, Bob}: P = 1, R = 2/3, F1 = 0.8
    assert result["NER"]["de"] == pytest.approx(0.8) and result["NER"]["avg"] == pytest.approx(0.8)
    assert result["PAWSX"]["fr"] == 0.5
    log3 = math.log2(3)
    wpr = ((2 + 3 / log3) / (3 + 2 / log3) + 0.5 * (1 + 1 / log3)) / 2
    assert result["WPR"]["zh"] == pytest.approx(wpr)
    assert result["average"] == pytest.approx((0.8 + 0.5 + wpr) / 3) and "understanding" not in result


def test_bad_submissions_name_the_file(tmp_path, capsys):
    write(tmp_path / "gold" / "QAM" / "xglue.qam.de.test", "q\tp\t1\nq\tp\t0\n")
    write(tmp_path / "pred" / "QAM" / "de.prediction", "1\n")
    args = ["--predictions", str(tmp_path / "pred"), "--labels", str(tmp_path / "gold"), "--benchmark", "xglue",
            "--output", str(tmp_path / "s.json")]
    with pytest.raises(SystemExit) as exit_:
        score_main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'pred' / 'QAM' / 'de.prediction'}: 1 lines, but" in err and "has 2 labels" in err
    write(tmp_path / "pred" / "QAM" / "de.prediction", "1\n1\n")
    with pytest.raises(SystemExit):
        score_main(args)
    assert f"{tmp_path / 'pred' / 'QAM' / 'en.prediction'} is missing" in capsys.readouterr().err


def test_export_writes_xglues_layout(tmp_path, capsys):
    make_cell(tmp_path / "sweep", "0", "xglue_qam", ["de", "en"],
              {"test-de.tsv": "1\n", "test-en.tsv": "0\n", "validation-de.tsv": "v\n", "validation-en.tsv": "v\n"})
    make_cell(tmp_path / "sweep", "1", "xglue_mlqa", ["de"], {"test-de.json": '{"q": "a"}\n'})
    make_cell(tmp_path / "sweep", "2", "xnli", ["de"], {"test-de.tsv": "neutral\n"})
    export_main([str(tmp_path / "sweep"), "--benchmark", "xglue", "--out", str(tmp_path / "sub")])
    files = sorted(str(p.relative_to(tmp_path / "sub")) for p in (tmp_path / "sub").rglob("*") if p.is_file())
    assert files == ["MLQA/de.prediction", "QAM/de.prediction", "QAM/en.prediction"]
    assert (tmp_path / "sub" / "QAM" / "de.prediction").read_text() == "1\n"
    out = capsys.readouterr()
    assert "skipped xnli: not an XGLUE task" in out.err and "QAM: 2 languages" in out.out
    assert "(XGLUE also needs fr)" in out.out
    export_main([str(tmp_path / "sweep" / "0"), "--benchmark", "xglue", "--split", "dev", "--out", str(tmp_path / "dev")])
    assert (tmp_path / "dev" / "QAM" / "en.prediction").read_text() == "v\n"


@pytest.mark.slow
def test_demo_round_trip_equals_the_cells_results(tmp_path):
    """Demo cells -> export with labels -> score: the scorer's figures are the cells' own (fractions)."""
    targets = "xglue_nc,xglue_ner,xglue_pos,xglue_wpr,xglue_mlqa,xglue_qadsm,xglue_qam,xglue_xnli,xglue_pawsx"
    subprocess.run([sys.executable, "-m", "xtransfer.run", "-m", "intermediate=none", f"target={targets}",
                    "experiment=demo", "logger=none", "target.optim.epochs=1", f"paths.outputs_root={tmp_path}"],
                   check=True)
    export_main([str(tmp_path / "multiruns"), "--benchmark", "xglue", "--out", str(tmp_path / "sub"),
                 "--labels", str(tmp_path / "gold")])
    scores = evaluate(tmp_path / "sub", tmp_path / "gold")
    assert "understanding" in scores
    compared = 0
    for path in (tmp_path / "multiruns").rglob("results.json"):
        cell = json.loads(path.read_text())
        task = TARGET_TASKS[cell["target"]]
        for lang, values in cell["metrics"]["test"].items():
            assert scores[task][lang] * 100 == pytest.approx(values[cell["main_metric"]], abs=1e-9)
            compared += 1
    assert compared == sum(len(langs) for langs in LANGUAGES.values())
