"""xtransfer.xtreme.score: XTREME's official evaluator, reproduced (structure and figures)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from xtransfer.errors import DataError
from xtransfer.xtreme.score import evaluate, main
from xtransfer.xtreme.benchmark import LANGUAGES

MOCK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xtreme-evaluator-format" / "mock_test_data"


def write_task(root: Path, task: str, name: str, predictions: str, labels: str, benchmark: str = "xtreme",
               special: dict[str, tuple[str, str]] | None = None) -> None:
    """The same prediction / label text for every language of a task, except `special` ones."""
    for lang in LANGUAGES[benchmark][task]:
        pred, gold = (special or {}).get(lang, (predictions, labels))
        for side, text in (("predictions", pred), ("labels", gold)):
            (root / side / task).mkdir(parents=True, exist_ok=True)
            (root / side / task / name.format(lang=lang)).write_text(text, encoding="utf-8")


def score(root: Path, benchmark: str = "xtreme") -> dict:
    return evaluate(root / "predictions", root / "labels", benchmark)


def test_accuracy_tasks_average_and_group(tmp_path):
    # pawsx: 3/4 right everywhere but de (2/4); xnli: 1/2 everywhere
    write_task(tmp_path, "pawsx", "test-{lang}.tsv", "0\n1\n0\n0\n", "0\n1\n1\n0\n", special={"de": ("1\n1\n0\n0\n", "0\n1\n1\n0\n")})
    write_task(tmp_path, "xnli", "test-{lang}.tsv", "entailment\nneutral\n", "entailment\ncontradiction\n")
    result = score(tmp_path)
    assert list(result) == ["classification", "pawsx", "xnli"]   # no all_task: not every task is there
    pawsx = result["pawsx"]
    assert list(pawsx) == ["accuracy", "avg_accuracy", "avg_metric"]
    assert pawsx["accuracy"]["de"] == 50.0 and pawsx["accuracy"]["en"] == 75.0
    assert pawsx["avg_metric"] == pytest.approx((6 * 75 + 50) / 7)
    assert result["classification"] == pytest.approx(((6 * 75 + 50) / 7 + 50) / 2)


def test_bucc_pair_f1(tmp_path):
    # gold {a-b, c-d, e-f}, predicted {a-b, c-x}: P 1/2, R 1/3, F1 2/5
    write_task(tmp_path, "bucc2018", "test-{lang}.tsv", "a\tb\nc\tx\n", "a\tb\nc\td\ne\tf\n")
    bucc = score(tmp_path)["bucc2018"]
    assert bucc["f1"]["zh"] == pytest.approx(40.0)
    assert bucc["precision"]["de"] == 50.0 and bucc["recall"]["fr"] == pytest.approx(100 / 3)
    assert bucc["avg_metric"] == pytest.approx(40.0)


def test_pos_goes_through_seqeval_like_the_evaluator(tmp_path):
    # 'NOUN NOUN' is one chunk of type 'OUN'; gold {OUN 0-1, ERB 2}, predicted {OUN 0-1, DJ 2}: P = R = F1 = 1/2
    write_task(tmp_path, "udpos", "test-{lang}.tsv", "NOUN\nNOUN\nADJ\n\nDET\n", "NOUN\nNOUN\nVERB\n\nDET\n")
    udpos = score(tmp_path)["udpos"]
    # second sentence: DET -> chunk (ET, 4, 4) right; so 2 of 3 chunks right both ways
    assert udpos["f1"]["en"] == pytest.approx(200 / 3)
    assert list(udpos) == ["f1", "precision", "recall", "avg_f1", "avg_precision", "avg_recall", "avg_metric"]


def test_qa_unanswered_scores_zero_and_metric_is_em_f1_mean(tmp_path):
    dataset = {"data": [{"paragraphs": [{"context": "The Eiffel Tower was built in 1889.", "qas": [
        {"id": "q1", "question": "What?", "answers": [{"text": "the Eiffel Tower", "answer_start": 0}]},
        {"id": "q2", "question": "When?", "answers": [{"text": "1889", "answer_start": 30}]},
        {"id": "q3", "question": "Built?", "answers": [{"text": "built in 1889", "answer_start": 21}]}]}]}]}
    # q1 exact after normalisation, q2 unanswered (0), q3 F1 = 2 * (2/2 * 2/3) / (1 + 2/3) = 0.8, EM 0
    predictions = {"q1": "Eiffel tower.", "q3": "in 1889", "extra": "ignored"}
    write_task(tmp_path, "xquad", "test-{lang}.json", json.dumps(predictions), json.dumps(dataset))
    xquad = score(tmp_path)["xquad"]
    assert list(xquad) == ["exact_match", "f1", "avg_exact_match", "avg_f1", "avg_metric"]
    assert xquad["exact_match"]["de"] == pytest.approx(100 / 3)
    assert xquad["f1"]["de"] == pytest.approx(100 * 1.8 / 3)
    assert xquad["avg_metric"] == pytest.approx((100 / 3 + 60) / 2)


def test_xtreme_r_tasks_xcopa_and_mewslix(tmp_path):
    write_task(tmp_path, "xcopa", "test-{lang}.jsonl", '{"idx": 0, "label": 1}\n{"idx": 1, "label": 0}\n',
               '{"idx": 0, "label": 1}\n{"idx": 1, "label": 1}\n', benchmark="xtreme-r")
    # a: gold second of the ranking (1/2), b: unpredicted (0) -> 25
    write_task(tmp_path, "mewslix", "test-{lang}.json", '{"a": ["Q9", "Q1"]}', '{"a": ["Q1 "], "b": ["Q2"]}',
               benchmark="xtreme-r")
    result = score(tmp_path, "xtreme-r")
    assert result["xcopa"]["accuracy"]["ht"] == 50.0
    assert result["mewslix"]["map@20"]["uk"] == 25.0 and result["mewslix"]["avg_metric"] == 25.0
    assert result["multi_choice"] == 50.0 and "classification" not in result
    assert "xcopa" not in score(tmp_path, "xtreme")   # XTREME (v1) has no XCOPA


def test_line_count_mismatch_names_both_files_and_exits_2(tmp_path, capsys):
    write_task(tmp_path, "pawsx", "test-{lang}.tsv", "0\n1\n", "0\n1\n", special={"ko": ("0\n", "0\n1\n")})
    with pytest.raises(SystemExit) as exit_:
        main(["--predictions", str(tmp_path / "predictions"), "--labels", str(tmp_path / "labels"),
              "--output", str(tmp_path / "out.json")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "predictions/pawsx/test-ko.tsv: 1 lines, but" in err and "labels/pawsx/test-ko.tsv has 2" in err
    assert err.count("\n") == 1 and not (tmp_path / "out.json").exists()


def test_missing_language_file(tmp_path):
    write_task(tmp_path, "bucc2018", "test-{lang}.tsv", "a\tb\n", "a\tb\n")
    (tmp_path / "predictions" / "bucc2018" / "test-ru.tsv").unlink()
    with pytest.raises(DataError, match=r"predictions/bucc2018/test-ru.tsv is missing"):
        score(tmp_path)


def test_malformed_json_names_file_and_line(tmp_path):
    gold = json.dumps({"data": [{"paragraphs": [{"context": "a", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "a", "answer_start": 0}]}]}]}]})
    write_task(tmp_path, "mlqa", "test-{lang}.json", '{"q1": "a"}', gold,
               special={"hi": ('{\n  "q1": "a",\n  "q2" "b"\n}', gold)})
    with pytest.raises(DataError, match=r"predictions/mlqa/test-hi.json:3: malformed JSON"):
        score(tmp_path)


def test_tag_sentence_length_mismatch(tmp_path):
    write_task(tmp_path, "udpos", "test-{lang}.tsv", "NOUN\n\nDET\n", "NOUN\n\nDET\nNOUN\n")
    with pytest.raises(DataError, match=r"predictions/udpos/test-af.tsv: sentence 2 has 1 tags, its label sentence 2"):
        score(tmp_path)


@pytest.mark.skipif(not MOCK.is_dir(), reason="../shared/data is absent")
def test_official_mock_data_figures(tmp_path):
    """Figures of XTREME's evaluate.py (838c13b6) on its own mock folders, from a faithful
    reimplementation run with the real seqeval 1.2.2 (identical JSON, byte for byte)."""
    main(["--predictions", str(MOCK / "predictions"), "--labels", str(MOCK / "labels"),
          "--output", str(tmp_path / "x.json")])
    result = json.loads((tmp_path / "x.json").read_text())
    assert list(result)[:5] == ["all_task", "classification", "tagging", "qa", "retrieval"]
    assert result["all_task"] == 62.1932649076773
    assert result["qa"] == 80.37568011593986
    assert result["xnli"]["avg_metric"] == 30.666666666666668
    assert result["pawsx"]["accuracy"]["de"] == 50.0
    assert result["bucc2018"]["f1"]["de"] == 50.0
    assert result["udpos"]["f1"]["de"] == 81.57894736842104
    assert result["panx"]["f1"]["de"] == 57.14285714285715
    assert result["tatoeba"]["accuracy"]["de"] == 70.0
    assert result["mlqa"]["avg_metric"] == 69.45578231292518
    assert result["tydiqa"]["avg_metric"] == 93.05555555555556


@pytest.mark.skipif(not MOCK.is_dir(), reason="../shared/data is absent")
def test_official_mock_data_mewslix(tmp_path):
    for side in ("predictions", "labels"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "mewslix").symlink_to(MOCK / side / "mewslix")
    mewslix = score(tmp_path, "xtreme-r")["mewslix"]
    assert mewslix["map@20"]["en"] == 8.333333333333332
    assert mewslix["avg_metric"] == 14.39025156130419
