"""Multiple-choice family: batching, readers (local raw formats, hub, real samples), bad rows,
metric and predictions, and one end-to-end demo cell (hellaswag -> xcopa)."""
from __future__ import annotations

import copy
import csv
import functools
import json
from pathlib import Path

import datasets
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from transformers import XLMRobertaConfig, XLMRobertaModel

from tests.conftest import FAST, SHARED_DATA, compose_cfg
from xtransfer.pipeline.cell import run
from xtransfer.config import CONF_DIR
from xtransfer.data.sources import load_rows
from xtransfer.errors import DataError
from xtransfer.config.build import build_task
from xtransfer.tasks import get_family

MC = get_family("multiple_choice")
HF_DUMMY = SHARED_DATA / "hf-dummy"
COPA_PROMPTS = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}

# task -> (config group choices that compose it, its node in the composed config)
TASK_NODES = {
    "hellaswag": (["intermediate=hellaswag"], "intermediate.task"),
    "commonsenseqa": (["intermediate=commonsenseqa"], "intermediate.task"),
    "cosmosqa": (["intermediate=cosmosqa"], "intermediate.task"),
    "copa": (["target=xcopa"], "target.train_task"),
    "xcopa": (["target=xcopa"], "target.eval_task"),
}


@functools.lru_cache(maxsize=None)
def composed(groups: tuple[str, ...], source: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"data={source}", "data.root=UNSET", "paths.output_dir=/tmp/unused",
                                            *groups])


def task_spec(name: str, root: Path, source: str = "local", local_root: Path | None = None):
    groups, node = TASK_NODES[name]
    cfg = copy.deepcopy(composed(tuple(groups), source))
    cfg.data.root = str(root)
    if local_root is not None:
        OmegaConf.update(cfg, f"{node}.local.root", str(local_root))
    return build_task(OmegaConf.select(cfg, node), node)


def rows(name: str, root: Path, split: str, lang: str = "en", source: str = "local", local_root=None):
    return load_rows(task_spec(name, root, source, local_root), split, lang, MC.normalize)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], records: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *records])
    return path


# ---------------------------------------------------------------------------------------------
# 1. One forward pass over (examples x choices) gives each choice's own score
# ---------------------------------------------------------------------------------------------

def test_batched_choices_score_like_each_choice_alone():
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=40, pad_token_id=1)
    encoder, head = XLMRobertaModel(config, add_pooling_layer=False).eval(), MC.build_head(32, None).eval()
    features = [  # choices of different lengths: the batch pads across examples and choices
        {"input_ids": [[0, 5, 6, 2, 2, 7, 2], [0, 5, 6, 2, 2, 8, 9, 10, 11, 2]], "label": 1},
        {"input_ids": [[0, 12, 2, 2, 13, 2], [0, 12, 2, 2, 14, 15, 2]], "label": 0},
        {"input_ids": [[0, 3, 4, 20, 21, 22, 2, 2, 16, 2], [0, 3, 2, 2, 17, 2]], "label": 0},
    ]
    batch = MC.collate(features, pad_id=1)
    assert batch["input_ids"].shape == (3, 2, 10)
    with torch.no_grad():
        batched = MC.forward(encoder, head, batch)
        alone = torch.tensor([[head(encoder(input_ids=torch.tensor([seq])).last_hidden_state).item()
                               for seq in f["input_ids"]] for f in features])
    assert batched.shape == (3, 2)
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)
    assert MC.predict(batched, batch) == alone.argmax(-1).tolist()
    expected_loss = torch.nn.functional.cross_entropy(alone, torch.tensor([1, 0, 0]))
    torch.testing.assert_close(MC.loss(batched, batch), expected_loss, atol=1e-5, rtol=1e-4)


def test_featurize_groups_one_sequence_per_choice_and_renders_the_question():
    class Tok:  # records the pairs it is asked to encode; ids are word counts, enough to check grouping
        pairs: list = []

        def __call__(self, firsts, seconds, truncation, max_length):
            Tok.pairs = list(zip(firsts, seconds))
            return {"input_ids": [[0] * (len(a.split()) + len(b.split())) for a, b in Tok.pairs]}

    task = task_spec("copa", Path("/unused"))
    out = MC.featurize({"id": [7], "context": ["It rained."], "question": ["What happened as a result?"],
                        "choices": [["We stayed in.", "We went out to the park."]], "label": [0]}, Tok(), task)
    assert Tok.pairs == [("It rained.", "What happened as a result? We stayed in."),
                         ("It rained.", "What happened as a result? We went out to the park.")]
    assert out == {"input_ids": [[[0] * 10, [0] * 13]], "length": [13], "label": [0], "id": [7]}


# ---------------------------------------------------------------------------------------------
# 2. Readers: local raw layouts, the hub, identical canonical rows
# ---------------------------------------------------------------------------------------------

HELLASWAG = [  # (ind, ctx_a, ctx_b, endings, label)
    (4, "A man is on a roof.", "he", ["sings.", "removes shingles.", "flies away.", "eats a roof."], 1),
    (8, "A chef shows pans.", "the pans", ["are oiled.", "sing.", "melt.", "leave."], 0),
]
CSQA = [  # (id, stem, choices, answerKey)
    ("a1", "Where are you likely to find a hamburger?",
     ["fast food restaurant", "pizza", "cow", "mouth", "farm"], "A"),
    ("b2", "What do people aim to do at work?", ["complete job", "learn", "kill", "wear hats", "talk"], "E"),
]
COSMOS = [  # (id, context, question, answers, label)
    ("q1", "I saw both bands , and they blew me away .", "Will this person go to see other bands ?",
     ["None of the above choices .", "Yes , they like music .", "No .", "They are on tour ."], 1),
]
COPA = [  # (idx, premise, question, choice1, choice2, label)
    (0, "My body cast a shadow over the grass.", "cause", "The sun was rising.", "The grass was cut.", 0),
    (1, "The woman tolerated her friend's difficult behavior.", "effect", "She left.", "She stayed.", 1),
]
XCOPA_ET = [
    (0, "Ese oli mullikilesse mässitud.", "cause", "See oli õrn.", "See oli väike.", 0),
    (1, "Ma tühjendasin oma taskud.", "effect", "Ma leidsin pileti.", "Ma leidsin relva.", 1),
]

EXPECTED = {
    "hellaswag": [{"id": i, "context": f"{a} {b}", "question": None, "choices": e, "label": y}
                  for i, a, b, e, y in HELLASWAG],
    "commonsenseqa": [{"id": i, "context": s, "question": None, "choices": c, "label": "ABCDE".index(k)}
                      for i, s, c, k in CSQA],
    "cosmosqa": [{"id": i, "context": c, "question": q, "choices": a, "label": y} for i, c, q, a, y in COSMOS],
    "copa": [{"id": i, "context": p, "question": COPA_PROMPTS[q], "choices": [c1, c2], "label": y}
             for i, p, q, c1, c2, y in COPA],
    "xcopa": [{"id": i, "context": p, "question": COPA_PROMPTS[q], "choices": [c1, c2], "label": y}
              for i, p, q, c1, c2, y in XCOPA_ET],
}


def copa_record(idx, premise, question, c1, c2, label):
    return {"premise": premise, "choice1": c1, "choice2": c2, "question": question, "idx": idx, "label": label}


def write_local_world(root: Path) -> None:
    """The raw release layouts: HellaSwag/CSQA/COPA/XCOPA jsonl, Cosmos QA csv."""
    for split in ("train", "val"):
        write_jsonl(root / "hellaswag" / f"hellaswag_{split}.jsonl", [
            {"ind": i, "activity_label": "x", "ctx_a": a, "ctx_b": b, "ctx": f"{a} {b}", "split": split,
             "split_type": "indomain", "label": y, "endings": e, "source_id": "s"} for i, a, b, e, y in HELLASWAG])
    for split in ("train", "dev"):
        write_jsonl(root / "commonsenseqa" / f"{split}_rand_split.jsonl", [
            {"answerKey": k, "id": i, "question": {"question_concept": "c", "stem": s, "choices": [
                {"label": "ABCDE"[j], "text": t} for j, t in enumerate(c)]}} for i, s, c, k in CSQA])
    for split in ("train", "valid"):
        write_csv(root / "cosmosqa" / f"{split}.csv",
                  ["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"],
                  [[i, c, q, *a, y] for i, c, q, a, y in COSMOS])
    for split in ("train", "val"):
        write_jsonl(root / "COPA" / f"{split}.jsonl", [copa_record(*ex) for ex in COPA])
    for split in ("val", "test"):
        write_jsonl(root / "xcopa" / "data" / "et" / f"{split}.et.jsonl",
                    [{**copa_record(*ex), "changed": False} for ex in XCOPA_ET])


class FakeHub:
    """datasets.load_dataset with the hub's column names: HellaSwag's string labels, CSQA's
    choices {label: [...], text: [...]}, COPA/XCOPA parquet columns."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.tables = {
            ("Rowan/hellaswag", None): {
                "ind": [ex[0] for ex in HELLASWAG], "activity_label": ["x"] * len(HELLASWAG),
                "ctx_a": [ex[1] for ex in HELLASWAG], "ctx_b": [ex[2] for ex in HELLASWAG],
                "ctx": [f"{ex[1]} {ex[2]}" for ex in HELLASWAG], "endings": [ex[3] for ex in HELLASWAG],
                "source_id": ["s"] * len(HELLASWAG), "split": ["train"] * len(HELLASWAG),
                "split_type": ["indomain"] * len(HELLASWAG), "label": [str(ex[4]) for ex in HELLASWAG]},
            ("tau/commonsense_qa", None): {
                "id": [ex[0] for ex in CSQA], "question": [ex[1] for ex in CSQA],
                "question_concept": ["c"] * len(CSQA),
                "choices": [{"label": list("ABCDE"), "text": ex[2]} for ex in CSQA],
                "answerKey": [ex[3] for ex in CSQA]},
            ("aps/super_glue", "copa"): self.copa_table(COPA),
            ("cambridgeltl/xcopa", "et"): {**self.copa_table(XCOPA_ET), "changed": [False] * len(XCOPA_ET)},
        }

    @staticmethod
    def copa_table(examples):
        return {k: [copa_record(*ex)[k] for ex in examples]
                for k in ("premise", "choice1", "choice2", "question", "idx", "label")}

    def load_dataset(self, path, name=None, *, split, revision=None, **kwargs):
        self.calls.append((path, name, split, revision))
        return datasets.Dataset.from_dict(self.tables[(path, name)])


@pytest.fixture
def world(tmp_path) -> Path:
    write_local_world(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name, lang", [("hellaswag", "en"), ("commonsenseqa", "en"), ("cosmosqa", "en"),
                                        ("copa", "en"), ("xcopa", "et")])
def test_local_raw_layouts_give_the_canonical_rows(world, name, lang):
    assert rows(name, world, "validation", lang) == EXPECTED[name]


@pytest.mark.parametrize("name, lang, call", [
    ("hellaswag", "en", ("Rowan/hellaswag", None, "validation", "218ec52e09a7e7462a5400043bb9a69a41d06b76")),
    ("commonsenseqa", "en", ("tau/commonsense_qa", None, "validation", "94630fe30dad47192a8546eb75f094926d47e155")),
    ("copa", "en", ("aps/super_glue", "copa", "validation", "3de24cf8022e94f4ee4b9d55a6f539891524d646")),
    ("xcopa", "et", ("cambridgeltl/xcopa", "et", "validation", "main")),
])
def test_hub_and_local_give_identical_rows(world, monkeypatch, name, lang, call):
    hub = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", hub.load_dataset)
    assert rows(name, world, "validation", lang, source="hub") == rows(name, world, "validation", lang)
    assert hub.calls == [call]


def test_cosmosqa_reads_local_files_even_with_data_hub(world, monkeypatch):
    """Its hub copy is a loading script (datasets >= 4 cannot run it): the task always reads files."""
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("cosmosqa touched the hub"))
    assert rows("cosmosqa", world, "validation", source="hub") == EXPECTED["cosmosqa"]


# ---------------------------------------------------------------------------------------------
# 3. The real-format samples (hf-dummy), when present
# ---------------------------------------------------------------------------------------------

def dummy(rel: str) -> Path:
    path = HF_DUMMY / rel
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def test_real_hellaswag_sample():
    got = rows("hellaswag", Path("/unused"), "validation", local_root=dummy("hellaswag/0.1.0/dummy_data"))
    assert [r["label"] for r in got] == [3, 3] and [r["id"] for r in got] == [24, 92]
    assert got[0]["context"] == "A man is sitting on a roof. he"
    assert got[0]["choices"][3] == "starts pulling up roofing on a roof."


def test_real_commonsenseqa_sample():
    got = rows("commonsenseqa", Path("/unused"), "train", local_root=dummy("commonsense_qa/1.0.0/dummy_data"))
    assert len(got) == 5 and [r["label"] for r in got[:3]] == [1, 0, 0]
    assert got[0]["context"] == "Where would you find magazines along side many other printed works?"
    assert got[0]["choices"] == ["doctor", "bookstore", "market", "train station", "mortuary"]


def test_real_cosmosqa_sample():
    got = rows("cosmosqa", Path("/unused"), "validation", local_root=dummy("cosmos_qa/0.1.0/dummy_data"))
    assert got[0]["question"] == "Why is this person asking about divorce ?" and got[0]["label"] == 1
    assert got[0]["choices"][1] == "He wants to get married to a different person ."
    assert all(len(r["choices"]) == 4 for r in got)


@pytest.fixture
def hf_dummy_xcopa_layout(tmp_path) -> Path:
    """hf-dummy keeps XCOPA as <lang>/dummy_data/*.jsonl; link it into the repo's data/<lang>/ layout."""
    for lang in ("et", "zh"):
        (tmp_path / lang).mkdir()
        for f in dummy(f"xcopa/{lang}/dummy_data").iterdir():
            (tmp_path / lang / f.name).symlink_to(f)
    return tmp_path


def test_real_xcopa_samples(hf_dummy_xcopa_layout):
    et = rows("xcopa", Path("/unused"), "test", "et", local_root=hf_dummy_xcopa_layout)
    assert [r["label"] for r in et] == [0, 0, 1, 0, 0] and [r["id"] for r in et] == [0, 1, 2, 3, 4]
    assert et[0] == {"id": 0, "context": "Ese oli mullikilesse mässitud.", "question": COPA_PROMPTS["cause"],
                     "choices": ["See oli õrn.", "See oli väike."], "label": 0}
    zh = rows("xcopa", Path("/unused"), "validation", "zh", local_root=hf_dummy_xcopa_layout)
    assert [r["label"] for r in zh] == [1, 1, 0, 1, 1]
    assert zh[4]["question"] == COPA_PROMPTS["cause"] and zh[4]["choices"][1] == "厨师把它烤了。"


# ---------------------------------------------------------------------------------------------
# 4. Bad rows: a DataError naming file and line
# ---------------------------------------------------------------------------------------------

def test_label_out_of_range_names_file_and_line(world):
    path = world / "hellaswag" / "hellaswag_val.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[1]["label"] = 4
    write_jsonl(path, records)
    with pytest.raises(DataError, match=rf"^{path}:2: label 4 is out of range for 4 choices \(0..3\)"):
        rows("hellaswag", world, "validation")


def test_unknown_answer_key_names_file_and_line(world):
    path = world / "commonsenseqa" / "dev_rand_split.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["answerKey"] = "F"
    write_jsonl(path, records)
    with pytest.raises(DataError, match=rf"^{path}:1: label 'F' is not one of \['A', 'B', 'C', 'D', 'E'\]"):
        rows("commonsenseqa", world, "validation")


def test_wrong_number_of_choices_names_file_and_line(world):
    path = world / "hellaswag" / "hellaswag_val.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[1]["endings"] = records[1]["endings"][:3]
    write_jsonl(path, records)
    with pytest.raises(DataError) as e:
        rows("hellaswag", world, "validation")
    assert str(e.value).startswith(f"{path}:2: 3 choices, but task 'hellaswag' has 4 (options.num_choices)")


def test_unknown_copa_question_names_file_and_line(world):
    path = world / "xcopa" / "data" / "et" / "test.et.jsonl"
    write_jsonl(path, [{**copa_record(*XCOPA_ET[0]), "question": "reason"}])
    with pytest.raises(DataError, match=rf"^{path}:1: question 'reason' is not one of \['cause', 'effect'\]"):
        rows("xcopa", world, "test", "et")


def test_missing_cosmosqa_column_names_file_and_line(world):
    path = write_csv(world / "cosmosqa" / "valid.csv", ["id", "context", "question", "answer0", "answer1",
                                                        "answer2", "label"], [["q", "c", "q?", "a", "b", "c", 0]])
    with pytest.raises(DataError, match=rf"^{path}:2: no column 'answer3'"):
        rows("cosmosqa", world, "validation")


# ---------------------------------------------------------------------------------------------
# 5. Metric and XCOPA-style predictions
# ---------------------------------------------------------------------------------------------

def test_accuracy_and_predictions_in_xcopa_jsonl(tmp_path):
    features = datasets.Dataset.from_dict({"id": [10, 11, 12, 13], "label": [0, 1, 1, 0]})
    task = task_spec("xcopa", tmp_path)
    predictions = MC.decode([0, 0, 1, 1], features, task)
    assert predictions == [{"idx": 10, "label": 0}, {"idx": 11, "label": 0}, {"idx": 12, "label": 1},
                           {"idx": 13, "label": 1}]
    assert MC.score(predictions, features, task) == {"acc": 50.0}
    MC.write_predictions(predictions, tmp_path / "test-et.jsonl")
    assert (tmp_path / "test-et.jsonl").read_text() == (
        '{"idx": 10, "label": 0}\n{"idx": 11, "label": 0}\n{"idx": 12, "label": 1}\n{"idx": 13, "label": 1}\n')
    no_ids = datasets.Dataset.from_dict({"id": [None, None], "label": [1, 1]})
    assert MC.decode([1, 0], no_ids, task) == [{"idx": 0, "label": 1}, {"idx": 1, "label": 0}]


# ---------------------------------------------------------------------------------------------
# 6. One demo cell end to end: hellaswag -> siqa -> copa -> xcopa in 11 languages
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow  # about a minute alone on 2 CPU cores
def test_demo_cell_hellaswag_to_xcopa(workspace):
    cfg = compose_cfg([*FAST, "intermediate=hellaswag", "target=xcopa", "target.optim.epochs=2",
                       "target.optim.max_train_examples=1500"], workspace, job="mc-hellaswag-xcopa")
    results = run(cfg)
    langs = ["et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh"]
    assert results["languages"] == langs and results["main_metric"] == "acc"
    assert set(results["metrics"]["test"]) == set(langs)
    # XTREME-R's XCOPA: SIQA (a target stage of its own), then COPA
    assert [(s["kind"], s["name"]) for s in results["stages"]] == [
        ("pretrained", "tiny"), ("intermediate", "hellaswag"), ("target", "siqa"), ("target", "xcopa"), ("eval", "xcopa")]
    predictions = Path(cfg.paths.output_dir) / "predictions" / "test-sw.jsonl"
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [p["idx"] for p in lines] == list(range(len(lines))) and {p["label"] for p in lines} <= {0, 1}
    target = json.loads((Path(results["stages"][3]["path"]) / "metrics.json").read_text())
    assert target["val_score_best"] > 75  # English COPA is learnt (chance: 50)
    assert results["score"] > 53          # and carries over to the other languages, imperfectly
