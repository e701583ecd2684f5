"""Retrieval targets: mining maths against hand-computed values, embedding choices, readers,
hub/local equivalence, and end-to-end demo runs of tatoeba, bucc and lareqa (no target training)."""
from __future__ import annotations

import json

import datasets
import pytest
import torch

from tests.conftest import FAST, SHARED_DATA, compose_cfg
from xtransfer.engine import mining
from xtransfer.data.formats.retrieval import read_bucc, read_laser_tatoeba, read_xquad_r
from xtransfer.data.sources import load_rows
from xtransfer.errors import ConfigError, DataError
from xtransfer.pipeline.cell import run
from xtransfer.config.build import build_cell
from xtransfer.config.schema import EmbeddingSpec, spec_from_conf
from xtransfer.tasks import get_family
from xtransfer.tasks.retrieval import hidden_layer, pool

RETRIEVAL = get_family("retrieval")


# --- mining maths ---------------------------------------------------------------------
def test_margin_scores_match_hand_computed_ratio_margins():
    # cosines: x0.y0 = 1, x0.y1 = .6, x1.y0 = 0, x1.y1 = .8; with k = 2 the neighbourhood means are
    # x0: .8, x1: .4, y0: .5, y1: .7, so score(0,0) = 1/((.8+.5)/2) and score(1,1) = .8/((.4+.7)/2).
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    pairs = mining.margin_mine(x, y, k=2)
    assert [(i, j) for i, j, _ in pairs] == [(0, 0), (1, 1)]
    assert [s for _, _, s in pairs] == pytest.approx([1 / 0.65, 0.8 / 0.55])


def test_max_retrieval_uses_each_sentence_once():
    # Both x rows are closest to y0; x1 then gets nothing better than y1 from y1's own proposal.
    x = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1]]), dim=1)
    y = torch.nn.functional.normalize(torch.tensor([[1.0, 0.05], [0.0, 1.0]]), dim=1)
    pairs = mining.margin_mine(x, y, k=1)
    assert sorted((i, j) for i, j, _ in pairs) == [(0, 0), (1, 1)]


def test_threshold_search_and_extraction_match_hand_computed_f1():
    candidates = {("a", "1"): 0.9, ("b", "2"): 0.8, ("c", "3"): 0.7, ("d", "4"): 0.6}
    gold = {("a", "1"), ("c", "3"), ("e", "5")}
    # F1 after 1..4 candidates: 2/4, 2/5, 4/6 (best), 4/7: the threshold sits between .7 and .6.
    threshold = mining.best_threshold(candidates, gold)
    assert threshold == pytest.approx(0.65)
    result = mining.bucc_extract(candidates, gold, threshold)
    assert result.pairs == [("a", "1"), ("b", "2"), ("c", "3")]
    assert result.metrics == pytest.approx({"f1": 200 / 3, "precision": 200 / 3, "recall": 200 / 3,
                                            "threshold": 0.65})
    assert mining.best_threshold({("a", "1"): 0.9}, gold) == 0.9  # all kept: the last score itself


def test_chunked_topk_equals_brute_force_both_ways():
    g = torch.Generator().manual_seed(0)
    x = mining.normalize(torch.randn(37, 8, generator=g))
    y = mining.normalize(torch.randn(53, 8, generator=g))
    x2y_sim, x2y_idx, y2x_sim, y2x_idx = mining.knn_both(x, y, k=4, block=10)
    full = x @ y.T
    assert torch.equal(x2y_idx, full.topk(4, dim=1).indices)
    assert torch.equal(y2x_idx, full.T.topk(4, dim=1).indices)
    assert torch.allclose(x2y_sim, full.topk(4, dim=1).values)
    assert mining.nearest(x, y, block=7) == full.argmax(1).tolist()


def test_duplicates_are_mined_once_and_expand_to_every_id():
    rows, groups = mining.unique(["a", "b", "a"], ["s1", "s2", "s3"])
    assert rows == [0, 1] and groups == [["s1", "s3"], ["s2"]]
    assert mining.expand_to_ids([(0, 0, 1.5)], groups, [["t1", "t2"]]) == {
        ("s1", "t1"): 1.5, ("s1", "t2"): 1.5, ("s3", "t1"): 1.5, ("s3", "t2"): 1.5}


def test_tatoeba_accuracy_both_directions():
    x = torch.eye(3)
    y = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 0, 1.0]])  # x1 finds nothing; y1 and y2 both pick x2
    forward_acc, backward_acc, predictions = mining.tatoeba_accuracy(x, y)
    assert predictions[0] == 0 and predictions[2] in (1, 2)
    assert backward_acc == pytest.approx(200 / 3)  # y0 -> x0 and y2 -> x2 right, y1 -> x2 wrong


# --- embedding ------------------------------------------------------------------------
def test_layer_defaults_to_14_of_24_else_the_middle():
    assert hidden_layer(24, spec_from_conf(EmbeddingSpec, "target/tatoeba.yaml", "embedding")) == 14
    assert hidden_layer(12, spec_from_conf(EmbeddingSpec, "target/tatoeba.yaml", "embedding")) == 6
    assert hidden_layer(2, spec_from_conf(EmbeddingSpec, "target/tatoeba.yaml", "embedding")) == 1  # the tiny model: hidden states 0 (embeddings), 1, 2
    assert hidden_layer(2, spec_from_conf(EmbeddingSpec, "target/tatoeba.yaml", "embedding", layer=0)) == 0
    with pytest.raises(ConfigError, match=r"layer=3: the encoder has hidden states 0\.\.2"):
        hidden_layer(2, spec_from_conf(EmbeddingSpec, "target/tatoeba.yaml", "embedding", layer=3))


def test_mean_pooling_averages_real_tokens_and_cls_takes_the_first():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 3.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 2.0]]


def test_bad_pooling_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="pooling must be 'mean' or 'cls'"):
        build_cell(compose_cfg(["target=tatoeba", "target.embedding.pooling=max"], tmp_path))


# --- readers and sources --------------------------------------------------------------
def test_bucc_reader_sides_ids_gold_and_bad_line(tmp_path):
    (tmp_path / "de-en.sample.de").write_text("de-000000001\tHallo Welt\n", encoding="utf-8")
    (tmp_path / "de-en.sample.en").write_text("en-000000007\tHello world\n", encoding="utf-8")
    (tmp_path / "de-en.sample.gold").write_text("de-000000001\ten-000000007\nbroken\n", encoding="utf-8")
    (_, de), = read_bucc(tmp_path / "de-en.sample.de")
    (_, en), = read_bucc(tmp_path / "de-en.sample.en")
    assert de["source"] == ["Hallo Welt"] and de["source_id"] == ["de-000000001"] and de["target"] == []
    assert en["target"] == ["Hello world"] and en["target_id"] == ["en-000000007"]
    gold = read_bucc(tmp_path / "de-en.sample.gold")
    assert next(gold)[1]["gold"] == [["de-000000001", "en-000000007"]]
    with pytest.raises(DataError, match=r"de-en\.sample\.gold:2: expected '<xx>-id<TAB><en>-id'"):
        next(gold)


def test_laser_tatoeba_reader_pairs_lines_and_rejects_unequal_files(tmp_path):
    (tmp_path / "tatoeba.deu-eng.deu").write_text("Hallo\nJa\n", encoding="utf-8")
    (tmp_path / "tatoeba.deu-eng.eng").write_text("Hello\n", encoding="utf-8")
    with pytest.raises(DataError, match="2 lines but tatoeba.deu-eng.eng has 1"):
        list(read_laser_tatoeba(tmp_path / "tatoeba.deu-eng.deu"))
    assert list(read_laser_tatoeba(tmp_path / "tatoeba.deu-eng.eng")) == []


def test_real_tatoeba_sample_parses():
    folder = SHARED_DATA / "tatoeba-sample"
    if not folder.is_dir():
        pytest.skip("no ../shared/data/tatoeba-sample")
    records = [r for _, r in read_laser_tatoeba(folder / "tatoeba.deu-eng.deu")]
    assert len(records) == 100
    assert records[0]["source"] == ["Maria sagte, sie wisse nicht, wo Tom sei."]
    assert records[0]["target"] == ["Mary said she didn't know where Tom was."]
    assert len(list(read_laser_tatoeba(folder / "tatoeba.cmn-eng.cmn"))) == 100


def _task(tmp_path, target, source):
    return build_cell(compose_cfg([f"target={target}", "data=local", f"data.root={tmp_path}",
                                   f"target.eval_task.source={source}"], tmp_path)).target.eval_task


def test_tatoeba_hub_and_local_give_identical_rows(tmp_path, monkeypatch):
    v1 = tmp_path / "tatoeba" / "v1"
    v1.mkdir(parents=True)
    (v1 / "tatoeba.deu-eng.deu").write_text("Hallo\nJa\n", encoding="utf-8")
    (v1 / "tatoeba.deu-eng.eng").write_text("Hello\nYes\n", encoding="utf-8")
    calls = []

    def load_dataset(path, name=None, *, split, revision=None, **kwargs):
        calls.append((path, name, split, revision))
        return datasets.Dataset.from_list([{"sentence1": "Hallo", "sentence2": "Hello", "lang": "deu-eng"},
                                           {"sentence1": "Ja", "sentence2": "Yes", "lang": "deu-eng"}])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    local = load_rows(_task(tmp_path, "tatoeba", "local"), "test", "deu", RETRIEVAL.normalize)
    hub = load_rows(_task(tmp_path, "tatoeba", "hub"), "test", "deu", RETRIEVAL.normalize)
    assert hub == local
    assert local[1] == {"source": ["Ja"], "source_id": [], "target": ["Yes"], "target_id": [], "gold": []}
    assert calls == [("mteb/tatoeba-bitext-mining", "deu-eng", "test", "69e8f12da6e31d59addadda9a9c8a2e601a0e282")]


def test_bucc_hub_row_becomes_positional_ids_with_zero_based_gold(tmp_path, monkeypatch):
    def load_dataset(path, name=None, *, split, revision=None, **kwargs):
        return datasets.Dataset.from_list([{"sentence1": ["Hallo", "Ja"], "sentence2": ["Yes", "Hello", "No"],
                                            "gold": [[1, 2], [2, 1]]}])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    (row,) = load_rows(_task(tmp_path, "bucc", "hub"), "test", "de", RETRIEVAL.normalize)
    assert row["source"] == ["Hallo", "Ja"] and row["source_id"] == [] and row["gold"] == [["0", "1"], ["1", "0"]]


# --- end to end -----------------------------------------------------------------------
def test_demo_tatoeba_and_bucc_read_the_encoder_without_target_training(workspace):
    for target, langs in (("tatoeba", "[deu,cmn]"), ("bucc", "[de]")):
        results = run(compose_cfg([*FAST, "intermediate=none", f"target={target}", f"target.languages={langs}"],
                                  workspace, job=f"retrieval-{target}"))
        assert [s["kind"] for s in results["stages"]] == ["pretrained", "eval"]  # no target stage
        on_disk = json.loads((workspace / f"retrieval-{target}" / "results.json").read_text())
        assert on_disk["score"] == results["score"]
        predictions = workspace / f"retrieval-{target}" / "predictions"
        if target == "tatoeba":
            assert results["main_metric"] == "acc" and set(results["metrics"]["test"]) == {"deu", "cmn"}
            lines = (predictions / "test-deu.tsv").read_text().splitlines()
            assert len(lines) == 100 and all(0 <= int(x) < 100 for x in lines)
            assert set(results["metrics"]["test"]["deu"]) == {"acc", "acc_en2xx"}
        else:
            assert results["main_metric"] == "f1"
            dev, test = results["metrics"]["validation"]["de"], results["metrics"]["test"]["de"]
            assert dev["threshold"] == test["threshold"]  # tuned on dev, applied to test
            lines = (predictions / "test-de.tsv").read_text().splitlines()
            assert all(a.startswith("de-") and b.startswith("en-") for a, b in (x.split("\t") for x in lines))
        assert results["score"] == pytest.approx(sum(v[results["main_metric"]]
                                                     for v in results["metrics"]["test"].values())
                                                 / len(results["metrics"]["test"]), abs=1e-4)


# --- LAReQA (XQuAD-R) -----------------------------------------------------------------
def test_average_precision_at_k_matches_hand_computed_values():
    # hits at ranks 1 and 3 of 3 relevant: (1/1 + 2/3) / 3
    assert mining.average_precision_at_k(["a", "x", "b", "y"], {"a", "b", "c"}, 20) == pytest.approx(5 / 9)
    # 30 relevant, the first 20 all hits: divided by min(30, 20), so a perfect 1
    assert mining.average_precision_at_k(list(range(40)), set(range(30)), 20) == pytest.approx(1.0)
    assert mining.average_precision_at_k(["x", "a"], {"a"}, 1) == 0.0  # the hit is past k


def test_lareqa_ranks_every_languages_sentences_and_scores_map_at_20():
    from xtransfer.engine.retrieval import candidate_pool, score_lareqa

    embed = lambda ids: mining.normalize(torch.tensor(ids, dtype=torch.float))  # noqa: E731  input ids = vectors
    per_language = {  # question q1's answer is sentence 1_0 in both languages
        "en": {"target": {"id": ["1_0", "1_1"], "input_ids": [[1.0, 0.0], [0.0, 1.0]]}, "gold": {("q1", "1_0")}},
        "de": {"target": {"id": ["1_0", "1_1"], "input_ids": [[-1.0, 0.1], [1.0, 0.2]]}, "gold": {("q1", "1_0")}},
    }
    pool = candidate_pool(embed, per_language)
    question = {"source": {"id": ["q1"], "input_ids": [[1.0, 0.0]]}}
    metrics, lines = score_lareqa(embed, question, {}, "test", {}, lambda: pool)
    # ranking en_1_0 (hit), de_1_1, en_1_1, de_1_0 (hit): AP = (1/1 + 2/4) / 2
    assert metrics == {"map": pytest.approx(75.0)}
    assert lines == ["q1\ten_1_0\tde_1_1\ten_1_1\tde_1_0"]
    with pytest.raises(DataError, match="sentence_breaks"):  # the hub copy: questions, no sentences
        candidate_pool(embed, {"en": {"target": {"id": [], "input_ids": []}, "gold": set()}})


def _xquad_r_json(paragraph: dict) -> str:
    return json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [paragraph]}]})


def test_xquad_r_reader_sentences_gold_and_missing_breaks(tmp_path):
    path = tmp_path / "en.json"
    path.write_text(_xquad_r_json({
        "context": "Tom runs. Ann sings well.", "sentence_breaks": [[0, 9], [10, 25]],
        "qas": [{"id": "q1", "question": "Who sings?", "answers": [{"answer_start": 10, "text": "Ann"}]},
                {"id": "q2", "question": "Lost?", "answers": [{"answer_start": 9, "text": " "}]}]}))
    (location, record), = read_xquad_r(path)
    assert location == f"{path}:data[0].paragraphs[0]"
    assert record == {"source": ["Who sings?"], "source_id": ["q1"], "target": ["Tom runs.", "Ann sings well."],
                      "target_id": ["1_0", "1_1"], "gold": [["q1", "1_1"]]}  # q2's answer is in no sentence
    path.write_text(_xquad_r_json({"context": "Tom runs.", "qas": []}))
    with pytest.raises(DataError, match=r"en\.json:data\[0\]\.paragraphs\[0\]: no 'sentence_breaks'"):
        list(read_xquad_r(path))


def test_lareqa_reads_the_pinned_release_files_with_any_source(tmp_path, monkeypatch):
    """The hub copy has no sentence breaks, so XQuAD-R's only split always comes from the release files
    (`local_splits: [test]`): data=hub gives the same rows, sentences and gold, and loads nothing."""
    (tmp_path / "xquad-r").mkdir()
    (tmp_path / "xquad-r" / "de.json").write_text(_xquad_r_json({
        "context": "Tom läuft. Ann singt.", "sentence_breaks": [[0, 10], [11, 21]],
        "qas": [{"id": "q1", "question": "Wer singt?", "answers": [{"answer_start": 11, "text": "Ann"}]}]}))
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append(a))
    (local,) = load_rows(_task(tmp_path, "lareqa", "local"), "test", "de", RETRIEVAL.normalize)
    (hub,) = load_rows(_task(tmp_path, "lareqa", "hub"), "test", "de", RETRIEVAL.normalize)
    assert hub == local
    assert (local["source"], local["target"], local["gold"]) == (["Wer singt?"], ["Tom läuft.", "Ann singt."],
                                                                [["q1", "1_1"]])
    assert calls == []


def test_demo_lareqa_ranks_a_pool_of_all_eleven_languages(workspace):
    results = run(compose_cfg([*FAST, "intermediate=none", "target=lareqa", "target.languages=[en,de]"],
                              workspace, job="retrieval-lareqa"))
    assert [s["kind"] for s in results["stages"]] == ["pretrained", "eval"] and results["main_metric"] == "map"
    assert set(results["metrics"]["test"]) == {"en", "de"}
    assert results["score"] == pytest.approx((results["metrics"]["test"]["en"]["map"]
                                              + results["metrics"]["test"]["de"]["map"]) / 2, abs=1e-4)
    rows = [line.split("\t") for line in
            (workspace / "retrieval-lareqa" / "predictions" / "test-de.tsv").read_text().splitlines()]
    assert len(rows) == 40 and all(len(r) == 21 and r[0].startswith("lareqa") for r in rows)  # 20 paragraphs x 2
    # candidates come from languages that are not evaluated too: the pool is all 11
    assert {c.split("_")[0] for r in rows for c in r[1:]} - {"en", "de"}


def test_dropping_the_layers_above_the_pooled_one_keeps_its_hidden_state():
    from transformers import XLMRobertaConfig, XLMRobertaModel
    from xtransfer.tasks.retrieval import drop_layers_above

    torch.manual_seed(0)
    encoder = XLMRobertaModel(XLMRobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4,
                                               num_attention_heads=2, intermediate_size=64),
                              add_pooling_layer=False).eval()
    x = torch.randint(5, 100, (2, 7))
    full = encoder(input_ids=x, output_hidden_states=True).hidden_states[2]
    drop_layers_above(encoder, 2)
    cut = encoder(input_ids=x, output_hidden_states=True).hidden_states
    assert len(encoder.encoder.layer) == 2 and len(cut) == 3
    assert torch.allclose(full, cut[2])
