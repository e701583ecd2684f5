"""Mewsli-X trained as XTREME-R trains it: the reader of XTREME's download layout (its texts as
utils_mewslix.py builds them), the dual-encoder family's loss, ranking and map@20, the target's settings."""
from __future__ import annotations

import json
import math

import pytest
import torch

from tests.conftest import compose_cfg
from xtransfer.config.build import build_cell
from xtransfer.data.formats import reader_for
from xtransfer.errors import DataError
from xtransfer.tasks import get_family

CONTEXT = {"document_title": "d", "document_url": "u", "document_id": "d", "language": "de",
           "text": "Erster Satz. Heute traf {Anna} Bob Novak in Berlin.\nEnde.",
           "sentence_spans": [{"start": 0, "end": 12}, {"start": 13, "end": 51}, {"start": 52, "end": 57}]}
MENTION = {"example_id": "e1", "mention_span": {"start": 31, "end": 40, "text": "Bob Novak"}, "entity_id": ""}
ENTITY = {"entity_id": "Q7", "title": "Bob Novak", "description": "Bob Novak is a\nchemist.  He lives in Prague.",
          "sentence_spans": [{"start": 0, "end": 23}, {"start": 25, "end": 46}], "description_language": "en",
          "description_url": "u"}


def write(folder, name, lines):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) if isinstance(lines, list) else lines)
    return path


def test_mentions_take_their_sentence_marked_and_test_gold_from_the_labels_file(tmp_path):
    assert CONTEXT["text"][31:40] == "Bob Novak"
    path = write(tmp_path, "wikinews_mentions/test-de.jsonl", [{"context": CONTEXT, "mentions": [MENTION]}])
    write(tmp_path, "wikinews_labels/test-de.json", json.dumps({"e1": ["Q7"]}))
    [(where, row)] = list(reader_for("mewslix")(path))
    # one sentence of context, the mention repeated in front and marked; braces in the text -> parentheses
    assert row == {"kind": "mention", "id": "e1", "query": "Bob Novak: Heute traf (Anna) { Bob Novak } in Berlin.",
                   "candidate": None, "entity_id": "Q7"}
    assert where == f"{path}:1"
    assert list(reader_for("mewslix")(tmp_path / "wikinews_labels/test-de.json")) == []


def test_entities_and_pairs(tmp_path):
    [(_, entity)] = list(reader_for("mewslix")(write(tmp_path, "candidate_set_entities.jsonl", [ENTITY])))
    assert entity == {"kind": "entity", "id": "Q7", "query": None,
                      "candidate": "Bob Novak is a chemist. He lives in Prague.", "entity_id": "Q7"}
    mention = {**MENTION, "entity_id": "Q7", "mention_span": {"start": 31, "end": 40, "text": "Bob Novak"}}
    pair = {"contextual_mention": {"context": CONTEXT, "mention": mention}, "entity": ENTITY}
    [(_, row)] = list(reader_for("mewslix")(write(tmp_path, "wikipedia_pairs-dev.jsonl", [pair])))
    assert (row["kind"], row["entity_id"], row["candidate"]) == ("pair", "Q7", entity["candidate"])


def test_a_mention_across_sentences_is_located(tmp_path):
    bad = {**MENTION, "mention_span": {"start": 8, "end": 20, "text": "Satz. Heute "}}
    path = write(tmp_path, "wikinews_mentions/dev-de.jsonl", [{"context": CONTEXT, "mentions": [bad]}])
    with pytest.raises(DataError, match=r"dev-de.jsonl:1: mention 'e1' \(8-20\) lies in no single sentence"):
        list(reader_for("mewslix")(path))


def test_in_batch_loss_is_cross_entropy_over_the_batch_entities():
    family = get_family("entity_retrieval")
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    loss = family.loss((q, c, torch.tensor([2.0])), {})
    # row 0: logits (2, 2) -> -log(1/2); row 1: logits (0, 0) -> -log(1/2)
    assert loss.item() == pytest.approx(math.log(2))


def test_ranking_and_map_at_20_by_hand():
    family = get_family("entity_retrieval")
    e = torch.eye(3)
    features = {"kind": ["mention", "mention", "entity", "entity", "entity"], "id": ["m1", "m2", "Q1", "Q2", "Q3"],
                "entity_id": ["Q2", "Q3", "Q1", "Q2", "Q3"]}
    outputs = [(torch.tensor([0.1, 0.9, 0.0]), None), (torch.tensor([0.6, 0.0, 0.3]), None),
               (e[0], None), (e[1], None), (e[2], None)]
    predictions = family.decode(outputs, features, None)
    assert predictions == [("m1", ["Q2", "Q1", "Q3"]), ("m2", ["Q1", "Q3", "Q2"])]
    assert family.score(predictions, features, None) == {"map@20": pytest.approx(100 * (1 + 1 / 2) / 2)}


def test_target_trains_on_english_wikipedia_pairs_with_the_scripts_settings(tmp_path):
    cell = build_cell(compose_cfg(["target=mewslix"], tmp_path))
    target = cell.target
    assert (target.train_task.name, target.eval_task.name, target.part.languages) == ("mewslix_wiki", "mewslix", ["en"])
    assert target.languages == "ar de en es fa ja pl ro ta tr uk".split()
    o = target.optim   # train_mewslix.sh, xlm-roberta-large: LR 1e-5, 8 x 4, 2 epochs, no warmup, no decay
    assert (o.lr, o.batch_size, o.grad_accum, o.epochs, o.warmup_ratio, o.weight_decay) == (1e-5, 8, 4, 2, 0.0, 0.0)
    assert target.train_task.max_length == 64 and target.eval_task.max_length == 64
