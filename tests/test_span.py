"""The span family: SQuAD JSON reading (local and hub alike), windows, decoding, bad input, real XQuAD."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pytest
import torch
from hydra import compose, initialize_config_dir

from tests.conftest import SHARED_DATA, compose_cfg
from xtransfer.config import CONF_DIR
from xtransfer.data.sources import load_rows
from xtransfer.errors import DataError
from xtransfer.engine.modeling import train_tiny_tokenizer
from xtransfer.config.build import build_task
from xtransfer.config.schema import TinySpec, spec_from_conf
from xtransfer.tasks import get_family
from xtransfer.tasks.span import IGNORE, Answer

SPAN = get_family("span")
CONTEXT = "Anna buys 3 red cars at the park and Omar sees 5 blue cups at the market before the storm."


def task(name: str, root: Path, source: str = "local", **changes):
    target = {"squad": "xquad", "xquad": "xquad", "mlqa": "mlqa", "tydiqa": "tydiqa"}[name]
    node = "target.train_task" if name == "squad" else "target.eval_task"
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"target={target}", "intermediate=none", f"data.source={source}",
                                           f"data.root={root}"])
    spec = build_task(cfg.target.train_task if node == "target.train_task" else cfg.target.eval_task)
    return spec.__class__(**{**spec.__dict__, **changes})


def squad_file(path: Path, qas: list[dict], context: str = CONTEXT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": [
        {"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}), encoding="utf-8")
    return path


def qa(qid: str, question: str, *answers: tuple[str, int]) -> dict:
    return {"id": qid, "question": question, "answers": [{"text": t, "answer_start": s} for t, s in answers]}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus") / "en.txt"
    corpus.write_text("\n".join([CONTEXT, "Who buys 3 red cars?", "How many cups does Omar see?"] * 20))
    return train_tiny_tokenizer(spec_from_conf(TinySpec, "model/tiny.yaml", "tiny", tokenizer_files=str(corpus), vocab_size=60))


# ---- reading -------------------------------------------------------------------------
def test_squad_json_local_and_hub_give_the_same_rows(tmp_path, monkeypatch):
    squad_file(tmp_path / "squad" / "dev-v1.1.json",
               [qa("q1", "Who buys cars?", ("Anna", 0), ("Anna", 0)), qa("q2", "How many cups?", ("5", 47))])
    local = load_rows(task("squad", tmp_path), "validation", "en", SPAN.normalize)
    expected = [
        {"id": "q1", "context": CONTEXT, "question": "Who buys cars?",
         "answers": {"text": ["Anna", "Anna"], "answer_start": [0, 0]}, "language": "en", "problem": ""},
        {"id": "q2", "context": CONTEXT, "question": "How many cups?",
         "answers": {"text": ["5"], "answer_start": [47]}, "language": "en", "problem": ""},
    ]
    assert local == expected

    def load_dataset(path, name, split, revision):  # the hub's shape: answers as a dict of lists
        assert (path, name, split, revision) == ("rajpurkar/squad", "plain_text", "validation",
                                                 "7b6d24c440a36b6815f21b70d25016731768db1f")
        return [{"id": r["id"], "title": "T", "context": r["context"], "question": r["question"],
                 "answers": r["answers"]} for r in expected]
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert load_rows(task("squad", tmp_path, source="hub"), "validation", "en", SPAN.normalize) == expected


def test_tydiqa_keeps_the_language_of_the_id_prefix(tmp_path):
    squad_file(tmp_path / "tydiqa" / "tydiqa-goldp-v1.1-dev.json",
               [qa("english-1-0", "Who buys cars?", ("Anna", 0)), qa("finnish-2-0", "Kuka?", ("Omar", 37))])
    rows = load_rows(task("tydiqa", tmp_path), "test", "fi", SPAN.normalize)
    assert [(r["id"], r["language"]) for r in rows] == [("finnish-2-0", "fi")]


def test_mlqa_reads_the_release_layout(tmp_path):
    squad_file(tmp_path / "MLQA_V1" / "test" / "test-context-de-question-de.json", [qa("m1", "Wer?", ("Anna", 0))])
    rows = load_rows(task("mlqa", tmp_path), "test", "de", SPAN.normalize)
    assert [(r["id"], r["language"]) for r in rows] == [("m1", "de")]


def test_a_squad_file_without_paragraph_context_names_the_place(tmp_path):
    path = tmp_path / "squad" / "dev-v1.1.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}))
    with pytest.raises(DataError, match=r"dev-v1.1.json: data\[0\].paragraphs\[0\]: a paragraph needs 'context'"):
        load_rows(task("squad", tmp_path), "validation", "en", SPAN.normalize)


# ---- bad input -----------------------------------------------------------------------
@pytest.mark.parametrize("question, answer, problem", [
    ("", ("Anna", 0), "empty question"),
    ("Who?", ("Anna", 200), "answer 'Anna' at answer_start 200 ends at 204, past the end of the 90-character context"),
    ("Who?", ("Omar", 0), "answer 'Omar' does not match the context at answer_start 0 (it reads 'Anna')"),
])
def test_bad_questions_are_skipped_in_training_and_errors_in_evaluation(tmp_path, tokenizer, caplog, question,
                                                                        answer, problem):
    squad_file(tmp_path / "squad" / "dev-v1.1.json", [qa("bad1", question, answer), qa("ok", "Who?", ("Anna", 0))])
    spec = task("squad", tmp_path)
    rows = load_rows(spec, "validation", "en", SPAN.normalize)
    assert rows[0]["problem"] == problem
    with caplog.at_level(logging.WARNING):
        features = datasets.Dataset.from_list(rows).map(
            SPAN.featurize, batched=True, remove_columns=list(rows[0]), fn_kwargs={"tokenizer": tokenizer, "task": spec})
    assert f"question bad1: {problem}" in caplog.text
    assert (features[0]["start_position"], features[0]["end_position"]) == (IGNORE, IGNORE)
    batch = SPAN.collate([features[0], features[0]], tokenizer.pad_token_id)
    logits = torch.zeros(batch["input_ids"].shape)
    assert SPAN.loss((logits, logits), batch).item() == 0.0  # nothing to learn from, no NaN
    with pytest.raises(DataError, match=f"1 evaluation questions have a bad answer or question \\(question bad1: "):
        SPAN.score([Answer("bad1", "Anna", 0.0), Answer("ok", "Anna", 0.0)], features, spec)


# ---- windows and decoding ------------------------------------------------------------
def featurized(rows, tokenizer, spec):
    return datasets.Dataset.from_list(rows).map(SPAN.featurize, batched=True, remove_columns=list(rows[0]),
                                                fn_kwargs={"tokenizer": tokenizer, "task": spec})


def pointing_logits(batch, window: int, first: int, last: int):
    """Logits whose best span in `window` is tokens first..last; every other window prefers CLS."""
    start = torch.full(batch["input_ids"].shape, -5.0)
    end = start.clone()
    start[:, 0] = end[:, 0] = 0.0
    start[window, first], end[window, last] = 10.0, 10.0
    return start, end


def test_an_answer_across_a_window_boundary_is_labelled_and_decoded_in_the_window_that_holds_it(tmp_path, tokenizer):
    answer_start = CONTEXT.index("5 blue cups")
    spec = task("squad", tmp_path, max_length=40, options={"doc_stride": 6, "max_query_length": 64, "metric": "squad"})
    rows = [SPAN.normalize({"id": "q", "context": CONTEXT, "question": "How many?", "language": "en",
                            "answers": {"text": ["5 blue cups"], "answer_start": [answer_start]}}, spec, {})]
    features = featurized(rows, tokenizer, spec)
    assert len(features) > 2  # a long context for 40 tokens: several windows
    labelled = [i for i, f in enumerate(features) if f["start_position"] != 0]
    assert labelled, "no window holds the whole answer"
    for i, f in enumerate(features):
        chars = [(s, e) for s, e in zip(f["offset_start"], f["offset_end"]) if s >= 0]
        holds_part = any(s < answer_start + 11 and e > answer_start for s, e in chars)
        holds_all = chars[0][0] <= answer_start and chars[-1][1] >= answer_start + 11
        assert (i in labelled) == holds_all  # a window with part of the answer only points at CLS
        if holds_part and not holds_all:
            assert (f["start_position"], f["end_position"]) == (0, 0)
    w = labelled[-1]
    batch = SPAN.collate(list(features), tokenizer.pad_token_id)
    outputs = SPAN.predict(pointing_logits(batch, w, features[w]["start_position"], features[w]["end_position"]), batch)
    [answer] = SPAN.decode(outputs, features, spec)
    assert answer.id == "q" and answer.text == "5 blue cups"
    assert SPAN.score([answer], features, spec)["exact_match"] == 100.0


def test_decoding_skips_spans_outside_the_context_and_too_long(tmp_path, tokenizer):
    spec = task("squad", tmp_path)
    rows = [SPAN.normalize({"id": "q", "context": CONTEXT, "question": "Who buys cars?", "language": "en",
                            "answers": {"text": ["Anna"], "answer_start": [0]}}, spec, {})]
    features = featurized(rows, tokenizer, spec)
    batch = SPAN.collate(list(features), tokenizer.pad_token_id)
    start, end = pointing_logits(batch, 0, 1, 1)          # token 1 is in the question
    start[0, 0] = end[0, 0] = 20.0                         # CLS is no answer in SQuAD v1.1
    context_tokens = torch.nonzero(batch["context_mask"][0]).flatten()
    first, last = int(context_tokens[0]), int(context_tokens[-1])
    start[0, first], end[0, first + 1] = 3.0, 3.0        # the best span inside the context
    [answer] = SPAN.decode(SPAN.predict((start, end), batch), features, spec)
    expected = CONTEXT[features[0]["offset_start"][first]:features[0]["offset_end"][first + 1]].strip()
    assert answer.text == expected and last - first >= 30  # (a whole-context span would be too long)


def test_squad_v2_answers_nothing_when_the_null_score_wins(tmp_path, tokenizer):
    spec = task("squad", tmp_path, options={"metric": "squad_v2", "null_threshold": 1.0})
    rows = [SPAN.normalize({"id": q, "context": CONTEXT, "question": "Who?", "language": "en",
                            "answers": {"text": [], "answer_start": []}}, spec, {}) for q in ("a", "b")]
    features = featurized(rows, tokenizer, spec)
    assert list(features["start_position"]) == [0, 0]  # unanswerable: CLS
    batch = SPAN.collate(list(features), tokenizer.pad_token_id)
    p = int(torch.nonzero(batch["context_mask"][0])[2])  # 'n' of 'Anna' (after '▁', 'A'), in both windows
    start, end = pointing_logits(batch, 0, p, p)
    start[1, p], end[1, p] = 10.0, 10.0
    start[:, 0] = torch.tensor([10.5, 9.0])  # null score 10.5 (a, margin 0.5 <= 1) and 9.0 (b)
    end[:, 0] = 10.0
    a, b = SPAN.decode(SPAN.predict((start, end), batch), features, spec)
    assert (a.null_margin, b.null_margin) == (0.5, -1.0)
    assert (a.text, b.text) == ("n", "n")  # both margins are under the threshold
    spec0 = task("squad", tmp_path, options={"metric": "squad_v2", "null_threshold": 0.0})
    a, b = SPAN.decode(SPAN.predict((start, end), batch), features, spec0)
    assert (a.text, b.text) == ("", "n")
    scores = SPAN.score([a, b], features, spec0)
    assert (scores["NoAns_exact"], scores["exact_match"]) == (50.0, 50.0)
    assert (scores["best_exact"], scores["best_exact_thresh"]) == (100.0, 0.0)  # 'no answer' for both is best


def test_predictions_are_squad_json(tmp_path):
    path = tmp_path / "test-zh.json"
    SPAN.write_predictions([Answer("q1", "北京", 0.0), Answer("q2", "", 1.0)], path)
    assert json.loads(path.read_text(encoding="utf-8")) == {"q1": "北京", "q2": ""}


# ---- real data -----------------------------------------------------------------------
@pytest.mark.skipif(not (SHARED_DATA / "xquad").is_dir(), reason="real XQuAD files not present")
def test_real_xquad_parses_to_1190_clean_questions_per_language():
    spec = task("xquad", SHARED_DATA)
    for lang in spec.languages:
        rows = load_rows(spec, "test", lang, SPAN.normalize)
        assert len(rows) == 1190, lang
        assert [r["id"] for r in rows if r["problem"]] == [], lang


# ---- end to end ----------------------------------------------------------------------
@pytest.mark.slow  # about a minute and a half on 2 CPU cores
def test_demo_cell_trains_squad_and_scores_xquad_per_language(workspace):
    from xtransfer.pipeline.cell import run

    cfg = compose_cfg(["experiment=demo", "logger=none", "trainer.enable_progress_bar=false", "intermediate=none",
                       "target=xquad", "target.languages=[en,de,zh]"], workspace, "span")
    results = run(cfg)
    test = results["metrics"]["test"]
    assert sorted(test) == ["de", "en", "zh"]
    assert set(test["en"]) == {"f1", "exact_match", "f1_em_avg"}
    # answering the context's first word scores 20.5: the model reads the question
    assert test["en"]["f1"] > 35.0
    predictions = json.loads((workspace / "span" / "predictions" / "test-zh.json").read_text(encoding="utf-8"))
    assert len(predictions) == 200
