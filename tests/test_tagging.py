"""Tagging family: readers, alignment, windows, seqeval, hub = local rows, bad input, demo run."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import datasets
import pytest

from xtransfer.data.formats import reader_for
from xtransfer.data.sources import load_rows
from xtransfer.errors import DataError
from xtransfer.metrics.seqeval import entity_scores, token_accuracy
from xtransfer.engine.modeling import build_tiny, load_encoder
from xtransfer.config.schema import HubSource, LocalSource, TaskSpec, TinySpec, spec_from_conf
from xtransfer.tasks import get_family
from xtransfer.tasks.tagging import IGNORE, tag_set, windows

from tests.conftest import FAST, SHARED_DATA, compose_cfg

TAGGING = get_family("tagging")
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def local_task(root: Path, fmt: str, files: dict, labels=NER, max_length=256, **options) -> TaskSpec:
    return TaskSpec(name="t", family="tagging", languages=["en", "de"], max_length=max_length, source="local",
                    labels=labels, options=options,
                    local=LocalSource(format=fmt, root=str(root), files=files,
                                      columns={"tokens": "tokens", "tags": "tags"}))


# --------------------------------------------------------------------------------------- readers
CONLLU = """# newdoc id = d1
# sent_id = s1
1-2\tzum\t_\t_\t_\t_\t_\t_\t_\t_
1\tzu\tzu\tADP\tAPPR\t_\t3\tcase\t_\t_
2\tdem\tder\tDET\tART\t_\t3\tdet\t_\t_
3\tHaus\tHaus\tNOUN\tNN\t_\t0\troot\t_\t_
3.1\tgeht\tgehen\tVERB\t_\t_\t_\t_\t0:root\t_

# sent_id = s2
1\tJa\tja\tINTJ\t_\t_\t0\troot\t_\t_
"""


def test_conllu_skips_comments_and_empty_nodes_and_fuses_multiword_tokens(tmp_path):
    (tmp_path / "a.conllu").write_text(CONLLU, encoding="utf-8")
    records = list(reader_for("conllu")(tmp_path / "a.conllu"))
    # zu and dem tie as heads of `zum` (both hang from Haus): ADP ranks before DET (XTREME's default list)
    assert records == [(f"{tmp_path / 'a.conllu'}:1", {"tokens": ["zum", "Haus"], "tags": ["ADP", "NOUN"]}),
                       (f"{tmp_path / 'a.conllu'}:9", {"tokens": ["Ja"], "tags": ["INTJ"]})]


def test_conllu_wrong_column_count_and_empty_sentence_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_text("# c\n1\tzu\tzu\tADP\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{bad}:2: expected 10 tab-separated CoNLL-U columns, found 4"):
        list(reader_for("conllu")(bad))
    bad.write_text("1\tA\ta\tX\t_\t_\t0\t_\t_\t_\n\n# only a comment\n1-2\tzum\t_\t_\t_\t_\t_\t_\t_\t_\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{bad}:3: empty sentence"):
        list(reader_for("conllu")(bad))


def test_panx_and_ccg_auto_readers(tmp_path):
    (tmp_path / "train").write_text("en:New\tB-LOC\nen:York\tI-LOC\nen::\tO\n\n\nen:Hi\tO\n", encoding="utf-8")
    assert [r for _, r in reader_for("panx")(tmp_path / "train")] == [
        {"tokens": ["New", "York", ":"], "tags": ["B-LOC", "I-LOC", "O"]}, {"tokens": ["Hi"], "tags": ["O"]}]
    (tmp_path / "w.auto").write_text(
        "ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n(<T S[dcl] 0 2> (<L NP NNP NNP Pierre NP>) "
        r"(<L S[dcl]\NP VBZ VBZ sleeps S[dcl]\NP_1>) )" "\n", encoding="utf-8")
    assert list(reader_for("ccg_auto")(tmp_path / "w.auto")) == [
        (f"{tmp_path / 'w.auto'}:2", {"tokens": ["Pierre", "sleeps"], "tags": ["NP", r"S[dcl]\NP"]})]


def test_tag_outside_the_label_set_names_file_and_line(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "test").write_text("en:a\tO\n\nen:b\tO\nen:c\tB-MISC\n", encoding="utf-8")
    task = local_task(tmp_path, "panx", {"test": "{lang}/test"})
    with pytest.raises(DataError, match=rf"{tmp_path / 'en' / 'test'}:3: word 2 \('c'\) has tag 'B-MISC'"):
        load_rows(task, "test", "en", TAGGING.normalize)


def test_ccg_tag_set_keeps_frequent_categories_and_folds_the_rest(tmp_path):
    leaf = "(<L {0} X X w {0}>)"
    lines = []
    for cats in [["N"] * 3 + ["NP"]] * 3 + [["N", "conj"]]:
        lines += ["ID=x", "(<T S 0 2> " + " ".join(leaf.format(c) for c in cats) + " )"]
    (tmp_path / "02").mkdir()
    (tmp_path / "02" / "a.auto").write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = local_task(tmp_path, "ccg_auto", {"train": "02/*.auto"}, labels=None, tag_min_count=3, unknown_tag="<UNK>")
    assert tag_set(task) == ["N", "NP", "<UNK>"]  # N 10x, NP 3x, conj 1x
    rows = load_rows(task, "train", "en", TAGGING.normalize)
    assert rows[-1]["tags"] == ["N", "<UNK>"]


# --------------------------------------------------------------------------------------- alignment, windows
@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-tag")
    (root / "c.txt").write_text("\n".join(["the cat sleeps on the mat", "a dog runs", "Anna buys cars"] * 50))
    build_tiny(spec_from_conf(TinySpec, "model/tiny.yaml", "tiny", tokenizer_files=str(root / "*.txt"), vocab_size=60), root / "ckpt")
    return load_encoder(str(root / "ckpt" / "model"))[1]


def featurize(tokenizer, rows, max_length=256):
    task = TaskSpec(name="t", family="tagging", languages=["en"], max_length=max_length, labels=NER)
    return task, TAGGING.featurize({"tokens": [r[0] for r in rows], "tags": [r[1] for r in rows]}, tokenizer, task)


def test_first_sub_token_of_each_word_is_labelled(tokenizer):
    words = ["dogcatmatruns", "cat", "sleepsAnnabuys", "mat"]  # glued words split into many sub-tokens
    _, out = featurize(tokenizer, [(words, ["B-PER", "O", "B-LOC", "O"])])
    pieces = [len(tokenizer(w, add_special_tokens=False)["input_ids"]) for w in words]
    assert pieces[0] >= 3 and pieces[2] >= 3
    expected = [IGNORE]
    for n, label in zip(pieces, [1, 0, 5, 0]):
        expected += [label] + [IGNORE] * (n - 1)
    assert out["labels"] == [expected + [IGNORE]]
    assert out["input_ids"][0][0] == tokenizer.cls_token_id and out["input_ids"][0][-1] == tokenizer.sep_token_id


def test_windows_split_between_words():
    assert list(windows([2, 3, 1, 4, 1], budget=5)) == [(0, 2), (2, 4), (4, 5)]
    assert list(windows([9, 1], budget=5)) == [(0, 1), (1, 2)]  # a word longer than a window is alone


def test_sentence_three_times_the_max_length_keeps_every_prediction(tokenizer):
    long = [f"cat{i % 7}" for i in range(3 * 32)]
    tags = ["B-PER" if i % 3 == 0 else "O" for i in range(len(long))]
    rows = [(["a", "dog"], ["O", "O"]), (long, tags), (["mat"], ["B-LOC"])]
    task, out = featurize(tokenizer, rows, max_length=32)
    assert len(out["input_ids"]) > 5 and max(out["length"]) <= 32
    features = {k: v for k, v in out.items()}
    # a perfect model: predict each row's gold labels
    predicted = [[i for i in row if i != IGNORE] for row in out["labels"]]
    sentences = TAGGING.decode(predicted, features, task)
    assert sentences == [r[1] for r in rows]
    assert TAGGING.score(sentences, features, task)["f1"] == 100.0


def test_predictions_file_is_xtreme_format(tmp_path):
    TAGGING.write_predictions([["B-PER", "O"], ["O"]], tmp_path / "test-en.tsv")
    assert (tmp_path / "test-en.tsv").read_text() == "B-PER\nO\n\nO\n"


# --------------------------------------------------------------------------------------- seqeval
def test_entity_f1_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-LOC"]]
    # gold: PER(0-1) LOC(3) ORG(5); pred: PER(0-1) ORG(3) ORG(5) LOC(6); correct 2
    s = entity_scores(gold, pred)
    assert s["precision"] == pytest.approx(50.0) and s["recall"] == pytest.approx(200 / 3)
    assert s["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3) * 100)
    # an I- without B- starts an entity (seqeval's default mode)
    assert entity_scores([["I-PER", "I-PER"]], [["B-PER", "I-PER"]])["f1"] == 100.0


def test_pos_tags_as_seqeval_sees_them():
    # NOUN NOUN is one chunk (type 'OUN'); SCONJ is a single-token 'S' chunk each time
    gold, pred = [["NOUN", "NOUN", "SCONJ", "SCONJ"]], [["NOUN", "VERB", "SCONJ", "SCONJ"]]
    s = entity_scores(gold, pred)  # gold 3 chunks, pred 4 chunks, correct 2 (the SCONJs)
    assert (s["precision"], s["recall"]) == pytest.approx((50.0, 200 / 3))
    assert token_accuracy(gold, pred) == 75.0


def test_matches_the_seqeval_package():
    metrics = pytest.importorskip("seqeval.metrics")
    cases = [([["B-PER", "I-PER", "O"], ["B-LOC", "I-ORG"]], [["B-PER", "O", "O"], ["B-LOC", "I-ORG"]]),
             ([["NOUN", "NOUN", "X", "SYM", "PUNCT"]], [["NOUN", "ADJ", "X", "SYM", "PUNCT"]]),
             ([["O", "O"]], [["O", "O"]])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for gold, pred in cases:
            assert entity_scores(gold, pred)["f1"] == pytest.approx(100 * metrics.f1_score(gold, pred))


# --------------------------------------------------------------------------------------- hub = local, samples
def test_hub_rows_equal_local_rows(tmp_path, monkeypatch):
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "dev").write_text("de:Anton\tB-PER\nde:in\tO\nde:Köln\tB-LOC\n", encoding="utf-8")
    local = local_task(tmp_path, "panx", {"validation": "{lang}/dev"})
    hub = TaskSpec(name="t", family="tagging", languages=["de"], max_length=256, labels=NER,
                   hub=HubSource(path="google/xtreme", name="PAN-X.{lang}", revision="abc",
                                 splits={"validation": "validation"}, columns={"tokens": "tokens", "tags": "ner_tags"}))
    calls = []

    def fake_load(path, name, split, revision):
        calls.append((path, name, split, revision))
        return datasets.Dataset.from_list([{"tokens": ["Anton", "in", "Köln"], "ner_tags": [1, 0, 5], "langs": ["de"] * 3}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert load_rows(hub, "validation", "de", TAGGING.normalize) == load_rows(local, "validation", "de", TAGGING.normalize)
    assert calls == [("google/xtreme", "PAN-X.de", "validation", "abc")]


def test_real_samples_parse():
    ud = SHARED_DATA / "ud-sample" / "de_gsd-ud-dev.first60.conllu"
    panx = SHARED_DATA / "hf-dummy" / "xtreme" / "PAN-X.de" / "dummy_data" / "de.tar.gz" / "dev"
    wikiann = SHARED_DATA / "hf-dummy" / "wikiann" / "en" / "dummy_data" / "en.tar.gz" / "dev"
    if not ud.is_file() or not panx.is_file():
        pytest.skip("real-format samples in ../shared/data are absent")
    sentences = [r for _, r in reader_for("conllu")(ud)]
    assert len(sentences) == 60
    assert sentences[0] == {"tokens": ["Manasse", "ist", "ein", "einzigartiger", "Parfümeur", "."],
                            "tags": ["PROPN", "AUX", "DET", "ADJ", "NOUN", "PUNCT"]}
    upos = TaskSpec(name="udpos", family="tagging", languages=["de"], max_length=256,
                    labels="ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
    assert all(TAGGING.normalize(s, upos, {}) for s in sentences)
    first = next(reader_for("panx")(panx))[1]
    assert first == {"tokens": ["Anton", "Wilhelm", "von", "Zuccalmaglio", "."],
                     "tags": ["B-PER", "I-PER", "I-PER", "I-PER", "O"]}
    assert all(TAGGING.normalize(r, local_task(Path("."), "panx", {}), {}) for _, r in reader_for("panx")(wikiann))


# --------------------------------------------------------------------------------------- demo, end to end
def test_demo_udpos_after_ccg_scores_every_language(workspace):
    from xtransfer.pipeline.cell import run
    cfg = compose_cfg([*FAST, "intermediate=ccg", "target=udpos", "target.languages=[en,de,ja]",
                       "target.optim.epochs=2"], workspace, "tagging")
    run(cfg)
    results = json.loads((workspace / "tagging" / "results.json").read_text())
    test = results["metrics"]["test"]
    assert set(test) == {"en", "de", "ja"} and test["en"]["f1"] > 60 and test["en"]["acc"] > 80
    lines = (workspace / "tagging" / "predictions" / "test-en.tsv").read_text().split("\n\n")
    assert len(lines) == 200
