"""XGLUE: the readers on files written in the release layout, nDCG by hand, POS vs NER scoring,
the hub's parquet-export loading, and the demo read back through the composed task configs."""
from __future__ import annotations

import copy
import functools
import math
from pathlib import Path

import datasets
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from xtransfer.config import CONF_DIR
from tests.conftest import compose_cfg
from xtransfer.config.build import build_cell, build_task
from xtransfer.data import sources
from xtransfer.data.formats import reader_for
from xtransfer.data.sources import load_rows
from xtransfer.demo import generate_demo_data
from xtransfer.errors import ConfigError, DataError
from xtransfer.metrics.ranking import consecutive_groups, ndcg
from xtransfer.metrics.seqeval import entity_scores, token_accuracy
from xtransfer.tasks import get_family

XGLUE_TARGETS = ("ner", "pos", "mlqa", "nc", "xnli", "pawsx", "qadsm", "wpr", "qam")
# xglue_evaluate.py's task2lg (microsoft/XGLUE, evaluation/xglue_evaluate.py)
OFFICIAL_LANGUAGES = {
    "ner": "de en es nl", "pos": "pl ar ru bg de el en es fr hi it nl pt th tr ur vi zh", "nc": "de en es fr ru",
    "mlqa": "ar de en es hi vi zh", "xnli": "ar bg de el en es fr hi ru sw th tr ur vi zh", "pawsx": "de en es fr",
    "qadsm": "de en fr", "wpr": "de en es fr it pt zh", "qam": "de en fr",
}


@functools.lru_cache(maxsize=None)
def composed(target: str, source: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"data={source}", "data.root=UNSET", "paths.output_dir=/tmp/unused",
                                            f"target=xglue_{target}", "intermediate=none"])


def task(target: str, root: Path, node: str = "target.eval_task", source: str = "local"):
    cfg = copy.deepcopy(composed(target, source))
    cfg.data.root = str(root)
    return build_task(OmegaConf.select(cfg, node), node)


def rows(target: str, root: Path, split: str, lang: str, node: str = "target.eval_task"):
    spec = task(target, root, node)
    return load_rows(spec, split, lang, get_family(spec.family).normalize)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", XGLUE_TARGETS)
def test_languages_are_xglue_evaluates(name):
    spec = task(name, Path("/unused"))
    assert sorted(spec.languages) == sorted(OFFICIAL_LANGUAGES[name].split())


def test_ner_and_pos_files(tmp_path):
    ner = tmp_path / "xglue_full_dataset" / "NER"
    write(ner / "en.train", "-DOCSTART- O\n\nAnna B-PER\nlives O\nin O\nNew B-LOC\nYork I-LOC\n\n\nBye O\n")
    write(ner / "de.dev", "Anna B-PER\nwohnt O\n")  # no blank line at the end
    assert rows("ner", tmp_path, "train", "en") == [
        {"tokens": ["Anna", "lives", "in", "New", "York"], "tags": ["B-PER", "O", "O", "B-LOC", "I-LOC"]},
        {"tokens": ["Bye"], "tags": ["O"]}]
    assert rows("ner", tmp_path, "validation", "de") == [{"tokens": ["Anna", "wohnt"], "tags": ["B-PER", "O"]}]
    write(ner / "es.test", "Anna\n")
    with pytest.raises(DataError, match=r"es\.test:1: expected 'word label', found 'Anna'"):
        rows("ner", tmp_path, "test", "es")
    write(ner / "nl.test", "Anna B-FOO\n")
    with pytest.raises(DataError, match=r"nl\.test:1: word 1 \('Anna'\) has tag 'B-FOO'"):
        rows("ner", tmp_path, "test", "nl")


def test_headerless_tsv_files(tmp_path):
    root = tmp_path / "xglue_full_dataset"
    write(root / "NC" / "xglue.nc.en.train", "A title\tA body\tsports\nT2\tB2\tautos\n")
    assert rows("nc", tmp_path, "train", "en") == [
        {"text_a": "A title", "text_b": "A body", "label": 1}, {"text_a": "T2", "text_b": "B2", "label": 9}]
    write(root / "QADSM" / "xglue.qadsm.fr.dev", "q\tad title\tad text\tGood\n")
    assert rows("qadsm", tmp_path, "validation", "fr") == [{"text_a": "q", "text_b": "ad title ad text", "label": 1}]
    write(root / "WPR" / "xglue.wpr.zh.test", "q\tt\ts\t4\n")
    assert rows("wpr", tmp_path, "test", "zh") == [{"text_a": "q", "text_b": "t s", "label": 4}]
    write(root / "QAM" / "xglue.qam.de.dev", "q\tp\t0\n")
    assert rows("qam", tmp_path, "validation", "de") == [{"text_a": "q", "text_b": "p", "label": 0}]
    # XNLI: the train file has a header line and MNLI's "contradictory"; dev/test have none
    write(root / "XNLI" / "multinli.train.en.tsv", "premise\thypo\tlabel\nP\tH\tcontradictory\n")
    assert rows("xnli", tmp_path, "train", "en") == [{"text_a": "P", "text_b": "H", "label": 2}]
    write(root / "XNLI" / "sw.test", "P\tH\tneutral\n")
    assert rows("xnli", tmp_path, "test", "sw") == [{"text_a": "P", "text_b": "H", "label": 1}]
    # a test file without labels (the first release) names the missing column; a stray tab names the line
    write(root / "QAM" / "xglue.qam.fr.test", "q\tp\n")
    with pytest.raises(DataError, match=r"xglue\.qam\.fr\.test:1: no column 'label'"):
        rows("qam", tmp_path, "test", "fr")
    write(root / "QAM" / "xglue.qam.en.test", "q\tp\t1\textra\n")
    with pytest.raises(DataError, match=r"xglue\.qam\.en\.test:1: expected 3 tab-separated fields \(question, "
                                        r"answer, label\), found 4"):
        rows("qam", tmp_path, "test", "en")


def test_ndcg_by_hand():
    log3 = math.log2(3)
    # query 1: grades 3 2 0 ranked by predicted grades 1 2 0 -> order (2, 3, 0); ideal (3, 2, 0)
    # query 2: grades 1 0, both predicted 1: a tie shares its discounts (1 + 1/log2 3) / 2 each
    # query 3: one page only, left out as XGLUE's evaluator does
    q1 = (2 + 3 / log3) / (3 + 2 / log3)
    q2 = 0.5 * (1 + 1 / log3)
    got = ndcg([([3, 2, 0], [1, 2, 0]), ([1, 0], [1, 1]), ([4], [0])])
    assert got == pytest.approx(100 * (q1 + q2) / 2, abs=1e-12)
    assert round(q1, 6) == 0.913402 and round(q2, 6) == 0.815465
    assert ndcg([([0, 0], [1, 0])]) == 0.0  # no relevant page: 0, as scikit-learn's ndcg_score
    with pytest.raises(ValueError, match="at least one query with 2 or more documents"):
        ndcg([([1], [1])])
    assert consecutive_groups(["a", "a", "b", "a"]) == [[0, 1], [2], [3]]  # a query seen again is a new group


def test_wpr_scores_ndcg_per_query():
    spec = task("wpr", Path("/unused"))
    family = get_family("classification")
    features = {"label": [3, 2, 0, 1, 0], "query": [7, 7, 7, 9, 9]}
    scores = family.score(["1", "2", "0", "1", "1"], features, spec)
    assert list(scores) == ["ndcg", "acc"] and spec.main_metric == "ndcg"
    assert scores["ndcg"] == pytest.approx(ndcg([([3, 2, 0], [1, 2, 0]), ([1, 0], [1, 1])]))
    assert scores["acc"] == pytest.approx(60.0)


def test_pos_and_ner_score_the_same_file_differently(tmp_path):
    """xglue_evaluate.py scores NER with seqeval F1 and POS with seqeval *precision* (not token accuracy)."""
    path = write(tmp_path / "gold", "dogs NOUN\ncats NOUN\nrun VERB\n\nAnna PROPN\n")
    gold = [record["tags"] for _, record in reader_for("xglue_conll")(path)]
    predicted = [["NOUN", "VERB", "VERB"], ["PROPN"]]
    # chunks as seqeval reads POS tags: gold {NOUN NOUN, VERB, PROPN}, predicted {NOUN, VERB VERB, PROPN}
    scores = entity_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(100 / 3) and scores["f1"] == pytest.approx(100 / 3)
    assert token_accuracy(gold, predicted) == pytest.approx(300 / 4)
    assert task("pos", tmp_path).main_metric == "precision" and task("ner", tmp_path).main_metric is None


def test_hub_reads_the_parquet_export_by_split_pattern(monkeypatch):
    calls = []

    def load_dataset(path, name=None, *, split, revision=None, data_files=None):
        calls.append((path, name, split, revision, data_files))
        return datasets.Dataset.from_dict({"query": ["q", "q"], "web_page_title": ["t", "u"],
                                           "web_page_snippet": ["s", "v"], "relavance_label": [4, 0]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    spec = task("wpr", Path("/unused"), source="hub")
    got = sources.load_rows(spec, "validation", "de", get_family("classification").normalize)
    assert got == [{"text_a": "q", "text_b": "t s", "label": 4}, {"text_a": "q", "text_b": "u v", "label": 0}]
    assert calls == [("hgissbkh/xglue", None, "validation.de", "5cd856453762269d08b2c1ffeb6eb80b41d84902",
                      {"validation.de": "wpr/validation.de/*.parquet"})]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return generate_demo_data(tmp_path_factory.mktemp("xglue_demo"), train_size=60, eval_size=20)


@pytest.mark.parametrize("name", XGLUE_TARGETS)
def test_demo_reads_back_in_every_language(demo, name):
    train = rows(name, demo, "train", "en", node="target.train_task")
    assert len(train) == {"xnli": 30}.get(name, 60)  # the demo's XNLI-MT is half of its MNLI train
    for lang in task(name, demo).languages:
        for split in ("validation", "test"):
            assert rows(name, demo, split, lang)


def test_demo_wpr_has_five_graded_pages_per_query(demo):
    got = rows("wpr", demo, "validation", "en")
    groups = consecutive_groups([row["text_a"] for row in got])
    assert [len(g) for g in groups] == [5, 5, 5, 5]
    assert {row["label"] for row in got} <= {0, 1, 2, 3, 4}


@pytest.mark.parametrize("target,translated", [("xnli", "xnli_mt"), ("pawsx", "pawsx"), ("mlqa", "squad_mt")])
def test_direct_arm_trains_on_translated_data(tmp_path, target, translated):
    cell = build_cell(compose_cfg(["experiment=demo", f"target=xglue_{target}", "target.train_languages=all"], tmp_path))
    sources = {lang: task.name for task, lang in cell.target.part.sources}
    assert cell.target.setting == "translate-train" and sources.pop("en").startswith("xglue_")
    assert sorted(sources) == sorted(set(cell.target.languages) - {"en"}) and set(sources.values()) == {translated}


def test_zero_shot_only_targets_refuse_other_training_languages(tmp_path):
    with pytest.raises(ConfigError, match=r"target 'xglue_ner': no training data in 'de': task 'xglue_ner' has "
                                          r"\['en'\] and there is no translated_task to take it from"):
        build_cell(compose_cfg(["experiment=demo", "target=xglue_ner", "target.train_languages=[en,de]"], tmp_path))
    assert build_cell(compose_cfg(["experiment=demo", "target=xglue_wpr"], tmp_path)).target.setting == "zero-shot"


def test_xglue_direct_preset_defines_its_grid(tmp_path):
    from tests.test_grid_variants import compose_preset, sweep
    grid = sweep(compose_preset(tmp_path, ["experiment=xglue_direct"]))
    assert grid == {"intermediate": ["none", "mnli", "squad"], "target": ["xglue_xnli", "xglue_pawsx", "xglue_mlqa"],
                    "target.train_languages": ["null", "all"]}


@pytest.mark.slow
def test_xglue_direct_preset_runs_a_corner_offline(tmp_path):
    from tests.test_cli import TINY_BUDGET, sweep_results, xtransfer
    proc = xtransfer("-m", "experiment=xglue_direct", "offline=demo", "logger=csv", "intermediate=none",
                     "target=xglue_pawsx", *TINY_BUDGET[1:], outputs=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sweep_results(tmp_path)
    assert {(r["intermediate"], r["target"], r["setting"]) for r in results} == {
        ("none", "xglue_pawsx", "zero-shot"), ("none", "xglue_pawsx", "translate-train")}
    assert all(isinstance(r["score"], float) for r in results)
