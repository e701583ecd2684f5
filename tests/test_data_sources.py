"""Classification data sources: local raw files, the hub, errors, fingerprints, real samples.

Every task (mnli, qqp, anli, snli, anli_plus, xnli, pawsx) is built from the real task config
composed with Hydra. Local fixtures are written in the exact raw layouts of the original
releases; the hub is a monkeypatched `datasets.load_dataset` serving the hub's column names
and int labels for the same examples, so both sources must give the same canonical rows.
"""
from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path

import datasets
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from xtransfer.config import CONF_DIR
from xtransfer.data.sources import data_fingerprint, load_rows, local_files
from xtransfer.errors import DataError
from xtransfer.config.build import build_task
from xtransfer.config.schema import TaskSpec
from xtransfer.tasks import get_family

NORMALIZE = get_family("classification").normalize
NLI = ["entailment", "neutral", "contradiction"]
REPO = Path(__file__).resolve().parents[1]
HF_DUMMY = REPO.parent / "shared" / "data" / "hf-dummy"

# task -> (config group choices that compose it, its node in the composed config)
TASK_NODES = {
    "mnli": (["target=xnli", "intermediate=none"], "target.train_task"),
    "xnli": (["target=xnli", "intermediate=none"], "target.eval_task"),
    "pawsx": (["target=pawsx", "intermediate=none"], "target.eval_task"),
    "qqp": (["target=xnli", "intermediate=qqp"], "intermediate.task"),
    "anli_plus": (["target=xnli", "intermediate=anli_plus"], "intermediate.task"),
    "anli": (["target=xnli", "intermediate=anli_plus"], "intermediate.task.parts.anli"),
    "snli": (["target=xnli", "intermediate=anli_plus"], "intermediate.task.parts.snli"),
}


@functools.lru_cache(maxsize=None)
def composed(groups: tuple[str, ...], source: str):
    """The real config, composed once per group choice and source (a test sets data.root)."""
    overrides = [f"data={source}", "data.root=UNSET", "paths.output_dir=/tmp/unused", *groups]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


def task_spec(name: str, root: Path, source: str = "local", local_root: Path | None = None) -> TaskSpec:
    """The task as the real config composes it, reading below data.root=root (or local_root)."""
    groups, node = TASK_NODES[name]
    cfg = copy.deepcopy(composed(tuple(groups), source))
    cfg.data.root = str(root)  # what `data.root=<root>` on the command line sets
    if local_root is not None:
        OmegaConf.update(cfg, f"{node}.local.root", str(local_root))
    return build_task(OmegaConf.select(cfg, node), node)


def rows(name: str, root: Path, split: str, lang: str = "en", source: str = "local") -> list[dict]:
    return load_rows(task_spec(name, root, source), split, lang, NORMALIZE)


def yaml_revision(name: str) -> str:
    return OmegaConf.load(CONF_DIR / "task" / f"{name}.yaml").hub.revision


def row(a: str, b: str | None, label: int) -> dict:
    return {"text_a": a, "text_b": b, "label": label}


# ---------------------------------------------------------------------------------------------
# The examples, once; local files and hub tables are both written from them.
# ---------------------------------------------------------------------------------------------

MNLI = {
    "train": [
        ("A man inspects the uniform of a figure in some East Asian country.", "The man is sleeping.", "contradiction"),
        ('He said "fine" and left.', "He left.", "entailment"),  # quotes: GLUE tsv has no quoting
        ("Kids play in the yard.", "Children are at school. ", "neutral"),  # trailing space is kept
    ],
    "validation": [
        ("The new rights are nice enough", "Everyone really likes the newest benefits ", "neutral"),
        ("This site includes a list of all award winners.", "The site has no list.", "contradiction"),
    ],
}
QQP = {
    "train": [
        ("How do I control my emotions?", "How do you control your emotions?", 1),
        ("What is the capital of Peru?", "Which level is enough for the JLPT N5?", 0),
        ("How can I create an Android app?", "", 0),  # GLUE QQP really has empty question2s
    ],
    "validation": [("Why are cats so cute?", "Why are dogs so cute?", 0)],
}
ANLI = {  # (split, round) -> examples; labels as the raw files write them (e/n/c)
    ("train", 1): [("The Parma trolleybus system forms part of the network.", "It has over 2 routes", "e"),
                   ("Alexandra Bastedo was an English actress.", "She kept no pets.", "n")],
    ("train", 2): [("Idris Sultan (born January 1993) is a Tanzanian actor.", "He was born in Kenya.", "c")],
    ("train", 3): [("TOKYO, Dec 18 (Reuters) - Shionogi said...", "The article was written on Dec 18.", "e")],
    ("validation", 1): [("Linguistics is the study of language.", "Linguistics studies fish.", "c")],
    ("validation", 2): [("Bloomberg is a company.", "Bloomberg makes software.", "n")],
    ("validation", 3): [("It rained all day in Oslo.", "Oslo was wet.", "e")],
}
ANLI_IDS = {"e": 0, "n": 1, "c": 2}
SNLI = {
    "train": [("A person on a horse jumps over a broken down airplane.", "A person is outdoors, on a horse.", "entailment"),
              ("A person on a horse jumps over a broken down airplane.", "A person is at a diner.", "contradiction")],
    "validation": [("Two women are embracing.", "The sisters are hugging goodbye.", "neutral"),
                   ("Two women are embracing.", "Two women are fighting.", "-"),  # no gold label: dropped
                   ("Two women are embracing.", "Two woman are holding packages.", "entailment")],
    "test": [("This church choir sings to the masses.", "The church has cracks in the ceiling.", "neutral")],
}
SNLI_FILES = {"train": "snli_1.0_train.txt", "validation": "snli_1.0_dev.txt", "test": "snli_1.0_test.txt"}
XNLI = {  # every language in one file, as XNLI-1.0 ships it
    "validation": [
        ("ar", "وقال، ماما، لقد عدت للمنزل.", "اتصل بأمه.", "neutral"),
        ("de", "und er hat gesagt, Mama ich bin daheim.", "Er rief seine Mutter an.", "neutral"),
        ("en", "And he said, Mama, I'm home.", "He called his mom.", "neutral"),
        ("de", "Er sagte nichts.", "Er schwieg.", "entailment"),
        ("zh", "他说，妈妈，我回来了。", "他一下车就给妈妈打电话。", "neutral"),
        ("en", "He said nothing.", "He talked a lot.", "contradiction"),
    ],
    "test": [
        ("de", "Nun, daran dachte ich nicht einmal.", "Ich habe nicht wieder mit ihm gesprochen.", "contradiction"),
        ("en", "Well, I wasn't even thinking about that.", "I havent spoken to him again.", "contradiction"),
    ],
}
XNLI_FILES = {"validation": "xnli.dev.tsv", "test": "xnli.test.tsv"}
PAWSX = {  # (lang, split) -> (id, sentence1, sentence2, label as written: "0"/"1")
    ("en", "train"): [(1, "In Paris , in October 1560 , he met the ambassador .", "In October 1560 , he met the ambassador in Paris .", "0"),
                      (2, "The NBA season of 1975 -- 76 was the 30th season .", "The 1975 -- 76 season was the 30th season .", "1")],
    ("en", "validation"): [(4, "From the merger of the councils , the Trails Council was born .", "The Trails Council was formed from the merger .", "1")],
    ("en", "test"): [(12, "The Tabaci River is a tributary of the River Leurda .", "The Leurda River is a tributary of the River Tabaci .", "0")],
    ("de", "validation"): [(4, "Durch die Zusammenlegung entstand der Shawnee Trails Council.", "Shawnee Trails Council entstand durch die Fusion.", "1"),
                           (6, "Kathy und ihr Ehemann sind finanziell gut aufgestellt.", "NS", "0")],  # "NS": a real placeholder
    ("de", "test"): [(12, "Der Tabaci River ist ein Nebenfluss des Flusses Leurda in Rumänien.", "Der Fluss Leurda ist ein Nebenfluss des Flusses Tabaci in Rumänien.", "0")],
}
PAWSX_FILES = {"train": "train.tsv", "validation": "dev_2k.tsv", "test": "test_2k.tsv"}

MNLI_TRAIN_HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                     "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
MNLI_DEV_HEADER = MNLI_TRAIN_HEADER[:-1] + ["label2", "label3", "label4", "label5", "gold_label"]
QQP_HEADER = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
SNLI_HEADER = ["gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse", "sentence2_parse",
               "sentence1", "sentence2", "captionID", "pairID", "label1", "label2", "label3", "label4", "label5"]
XNLI_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
               "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2",
               "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match"]
PAWSX_HEADER = ["id", "sentence1", "sentence2", "label"]


def binary_parse(s: str) -> str:
    return "( " + " ".join(s.rstrip(" .").split()) + " . )"


def parse(s: str) -> str:
    return "(ROOT (S " + " ".join(f"(NN {w})" for w in s.split()) + "))"


def write_tsv(path: Path, header: list[str], lines: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(map(str, fields)) + "\n" for fields in [header, *lines]), encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def mnli_line(i: int, a: str, b: str, label: str, dev: bool) -> list:
    annotators = [label] * (5 if dev else 1)
    return [i, 1000 + i, f"{1000 + i}{label[0]}", "fiction", binary_parse(a), binary_parse(b), parse(a), parse(b),
            a, b, *annotators, label]


def snli_line(i: int, a: str, b: str, label: str, validated: bool = True) -> list:
    """SNLI .txt: a pair with a single annotation stops after label1 (10 of the header's 14 fields)."""
    votes = ["neutral", "entailment", "contradiction", "neutral", "entailment"] if label == "-" else [label] * 5
    if not validated:
        votes = votes[:1]
    return [label, binary_parse(a), binary_parse(b), parse(a), parse(b), a, b, f"{i}.jpg#0", f"{i}.jpg#0r1{label[0]}",
            *votes]


def xnli_line(i: int, lang: str, a: str, b: str, label: str) -> list:
    return [lang, label, "", "", "", "", a, b, i, i, "facetoface", label, label, label, label, label, a, b, "True"]


def write_local_world(root: Path) -> None:
    """Every classification task's raw files under data.root, in the original layouts."""
    glue = root / "glue"
    write_tsv(glue / "MNLI/train.tsv", MNLI_TRAIN_HEADER,
              [mnli_line(i, *ex, dev=False) for i, ex in enumerate(MNLI["train"])])
    write_tsv(glue / "MNLI/dev_matched.tsv", MNLI_DEV_HEADER,
              [mnli_line(i, *ex, dev=True) for i, ex in enumerate(MNLI["validation"])])
    for split, name in [("train", "train.tsv"), ("validation", "dev.tsv")]:
        write_tsv(glue / "QQP" / name, QQP_HEADER,
                  [[100 + i, 2 * i, 2 * i + 1, a, b, y] for i, (a, b, y) in enumerate(QQP[split])])
    for (split, rnd), examples in ANLI.items():
        fname = {"train": "train.jsonl", "validation": "dev.jsonl"}[split]
        write_jsonl(root / "anli_v1.0" / f"R{rnd}" / fname, [
            {"uid": f"r{rnd}-{i}", "context": a, "hypothesis": b, "label": y, "model_label": "e", "emturk": False,
             "genre": "wikipedia", "reason": "", "tag": f"r{rnd}_{split}"}
            for i, (a, b, y) in enumerate(examples)])
    for split, name in SNLI_FILES.items():
        write_tsv(root / "snli_1.0" / name, SNLI_HEADER,
                  [snli_line(i, *ex, validated=split != "train" or i % 2 == 1) for i, ex in enumerate(SNLI[split])])
    for split, name in XNLI_FILES.items():
        write_tsv(root / "XNLI-1.0" / name, XNLI_HEADER, [xnli_line(i, *ex) for i, ex in enumerate(XNLI[split])])
    for (lang, split), examples in PAWSX.items():
        write_tsv(root / "x-final" / lang / PAWSX_FILES[split], PAWSX_HEADER, [list(ex) for ex in examples])


class FakeHub:
    """Stands in for datasets.load_dataset: the hub's column names and int labels, calls recorded."""

    def __init__(self):
        self.tables: dict[tuple[str, str | None, str], dict[str, list]] = {}
        self.calls: list[tuple[str, str | None, str, str | None]] = []

    def load_dataset(self, path, name=None, *, split, revision=None, **kwargs):
        self.calls.append((path, name, split, revision))
        if (path, name, split) not in self.tables:
            raise FileNotFoundError(f"no split {split} in {path}/{name}")
        return datasets.Dataset.from_dict(self.tables[(path, name, split)])

    def add(self, path: str, name: str | None, split: str, examples: list[tuple], columns: list[str]) -> None:
        self.tables[(path, name, split)] = {c: [ex[i] for ex in examples] for i, c in enumerate(columns)}


def fill_hub(hub: FakeHub) -> None:
    """The same examples as write_local_world, as the hub datasets hold them."""
    for split, hub_split in [("train", "train"), ("validation", "validation_matched")]:
        hub.add("nyu-mll/glue", "mnli", hub_split, [(a, b, NLI.index(y), i) for i, (a, b, y) in enumerate(MNLI[split])],
                ["premise", "hypothesis", "label", "idx"])
        hub.add("nyu-mll/glue", "qqp", split, [(a, b, y, i) for i, (a, b, y) in enumerate(QQP[split])],
                ["question1", "question2", "label", "idx"])
    for (split, rnd), examples in ANLI.items():
        hub_split = {"train": "train", "validation": "dev"}[split] + f"_r{rnd}"
        hub.add("facebook/anli", "plain_text", hub_split,
                [(f"r{rnd}-{i}", a, b, ANLI_IDS[y], "") for i, (a, b, y) in enumerate(examples)],
                ["uid", "premise", "hypothesis", "label", "reason"])
    for split in SNLI:
        hub.add("stanfordnlp/snli", "plain_text", split,
                [(a, b, -1 if y == "-" else NLI.index(y)) for a, b, y in SNLI[split]], ["premise", "hypothesis", "label"])
    for split in XNLI:
        for lang in {ex[0] for ex in XNLI[split]}:
            hub.add("facebook/xnli", lang, split, [(a, b, NLI.index(y)) for l, a, b, y in XNLI[split] if l == lang],
                    ["premise", "hypothesis", "label"])
    for (lang, split), examples in PAWSX.items():
        hub.add("google-research-datasets/paws-x", lang, split, [(i, a, b, int(y)) for i, a, b, y in examples],
                ["id", "sentence1", "sentence2", "label"])


@pytest.fixture
def root(tmp_path) -> Path:
    write_local_world(tmp_path)
    return tmp_path


@pytest.fixture
def hub(monkeypatch) -> FakeHub:
    fake = FakeHub()
    fill_hub(fake)
    monkeypatch.setattr(datasets, "load_dataset", fake.load_dataset)
    return fake


def test_data_root_override_places_every_local_task(tmp_path):
    """`data=local data.root=<dir>` on the command line, composed by Hydra, reaches every task."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["data=local", f"data.root='{tmp_path}'", "target=xnli",
                                           "intermediate=anli_plus", "paths.output_dir=/tmp/unused"])
    xnli, mnli = build_task(cfg.target.eval_task), build_task(cfg.target.train_task)
    union = build_task(cfg.intermediate.task)
    assert (xnli.source, xnli.local.root) == ("local", f"{tmp_path}/XNLI-1.0")
    assert (mnli.source, mnli.local.root) == ("local", f"{tmp_path}/glue/MNLI")
    assert list(union.parts) == ["anli", "mnli", "snli"]
    assert {k: (t.source, t.local.root) for k, t in union.parts.items()} == {
        "anli": ("local", f"{tmp_path}/anli_v1.0"), "mnli": ("local", f"{tmp_path}/glue/MNLI"),
        "snli": ("local", f"{tmp_path}/snli_1.0")}
    assert xnli == task_spec("xnli", tmp_path) and union == task_spec("anli_plus", tmp_path)


# ---------------------------------------------------------------------------------------------
# 1. Local readers on the original raw layouts
# ---------------------------------------------------------------------------------------------

def test_mnli_local_reads_glue_tsv_with_parse_columns(root):
    assert rows("mnli", root, "train") == [
        row("A man inspects the uniform of a figure in some East Asian country.", "The man is sleeping.", 2),
        row('He said "fine" and left.', "He left.", 0),
        row("Kids play in the yard.", "Children are at school. ", 1),
    ]
    assert rows("mnli", root, "validation") == [  # dev_matched.tsv: 16 columns, label1..label5
        row("The new rights are nice enough", "Everyone really likes the newest benefits ", 1),
        row("This site includes a list of all award winners.", "The site has no list.", 2),
    ]


def test_qqp_local_reads_is_duplicate_digits_and_keeps_empty_question2(root):
    assert rows("qqp", root, "train") == [
        row("How do I control my emotions?", "How do you control your emotions?", 1),
        row("What is the capital of Peru?", "Which level is enough for the JLPT N5?", 0),
        row("How can I create an Android app?", "", 0),
    ]
    assert rows("qqp", root, "validation") == [row("Why are cats so cute?", "Why are dogs so cute?", 0)]


def test_anli_local_concatenates_rounds_and_maps_enc_labels(root):
    assert rows("anli", root, "train") == [
        row("The Parma trolleybus system forms part of the network.", "It has over 2 routes", 0),
        row("Alexandra Bastedo was an English actress.", "She kept no pets.", 1),
        row("Idris Sultan (born January 1993) is a Tanzanian actor.", "He was born in Kenya.", 2),
        row("TOKYO, Dec 18 (Reuters) - Shionogi said...", "The article was written on Dec 18.", 0),
    ]
    assert [r["label"] for r in rows("anli", root, "validation")] == [2, 1, 0]  # R1 dev, R2 dev, R3 dev


def test_snli_local_reads_single_annotation_rows_with_10_fields(root):
    lines = (root / "snli_1.0/snli_1.0_train.txt").read_text(encoding="utf-8").splitlines()
    assert [line.count("\t") + 1 for line in lines] == [14, 10, 14]
    assert rows("snli", root, "train") == [
        row("A person on a horse jumps over a broken down airplane.", "A person is outdoors, on a horse.", 0),
        row("A person on a horse jumps over a broken down airplane.", "A person is at a diner.", 2),
    ]


def test_snli_local_drops_rows_without_gold_label(root):
    assert rows("snli", root, "validation") == [
        row("Two women are embracing.", "The sisters are hugging goodbye.", 1),
        row("Two women are embracing.", "Two woman are holding packages.", 0),
    ]
    assert rows("snli", root, "test") == [row("This church choir sings to the masses.",
                                              "The church has cracks in the ceiling.", 1)]


def test_xnli_local_keeps_only_the_requested_language(root):
    assert rows("xnli", root, "validation", "de") == [
        row("und er hat gesagt, Mama ich bin daheim.", "Er rief seine Mutter an.", 1),
        row("Er sagte nichts.", "Er schwieg.", 0),
    ]
    assert rows("xnli", root, "validation", "en") == [
        row("And he said, Mama, I'm home.", "He called his mom.", 1),
        row("He said nothing.", "He talked a lot.", 2),
    ]
    assert rows("xnli", root, "validation", "zh") == [row("他说，妈妈，我回来了。", "他一下车就给妈妈打电话。", 1)]
    assert rows("xnli", root, "test", "de") == [
        row("Nun, daran dachte ich nicht einmal.", "Ich habe nicht wieder mit ihm gesprochen.", 2)]


def test_pawsx_local_reads_per_language_folders_with_string_labels(root):
    assert rows("pawsx", root, "train", "en") == [
        row("In Paris , in October 1560 , he met the ambassador .", "In October 1560 , he met the ambassador in Paris .", 0),
        row("The NBA season of 1975 -- 76 was the 30th season .", "The 1975 -- 76 season was the 30th season .", 1),
    ]
    assert rows("pawsx", root, "validation", "de") == [
        row("Durch die Zusammenlegung entstand der Shawnee Trails Council.", "Shawnee Trails Council entstand durch die Fusion.", 1),
        row("Kathy und ihr Ehemann sind finanziell gut aufgestellt.", "NS", 0),
    ]
    assert rows("pawsx", root, "test", "de") == [
        row("Der Tabaci River ist ein Nebenfluss des Flusses Leurda in Rumänien.",
            "Der Fluss Leurda ist ein Nebenfluss des Flusses Tabaci in Rumänien.", 0)]


def test_anli_plus_local_is_anli_then_mnli_then_snli(root):
    union = rows("anli_plus", root, "train")
    assert union == rows("anli", root, "train") + rows("mnli", root, "train") + rows("snli", root, "train")
    assert len(union) == 4 + 3 + 2
    assert len(rows("anli_plus", root, "validation")) == 3 + 2 + 2  # SNLI's "-" row dropped


# ---------------------------------------------------------------------------------------------
# 2. Hub and local give identical canonical rows
# ---------------------------------------------------------------------------------------------

ANLI_TRAIN_CALLS = [("facebook/anli", "plain_text", f"train_r{r}") for r in (1, 2, 3)]
HUB_CASES = [  # task, split, language, the load_dataset calls (path, config, split) expected
    ("mnli", "train", "en", [("nyu-mll/glue", "mnli", "train")]),
    ("mnli", "validation", "en", [("nyu-mll/glue", "mnli", "validation_matched")]),
    ("qqp", "train", "en", [("nyu-mll/glue", "qqp", "train")]),
    ("qqp", "validation", "en", [("nyu-mll/glue", "qqp", "validation")]),
    ("anli", "train", "en", ANLI_TRAIN_CALLS),
    ("anli", "validation", "en", [("facebook/anli", "plain_text", f"dev_r{r}") for r in (1, 2, 3)]),
    ("snli", "validation", "en", [("stanfordnlp/snli", "plain_text", "validation")]),
    ("xnli", "validation", "de", [("facebook/xnli", "de", "validation")]),
    ("xnli", "test", "en", [("facebook/xnli", "en", "test")]),
    ("pawsx", "train", "en", [("google-research-datasets/paws-x", "en", "train")]),
    ("pawsx", "validation", "de", [("google-research-datasets/paws-x", "de", "validation")]),
    ("anli_plus", "train", "en",
     ANLI_TRAIN_CALLS + [("nyu-mll/glue", "mnli", "train"), ("stanfordnlp/snli", "plain_text", "train")]),
]


@pytest.mark.parametrize("name, split, lang, calls", HUB_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in HUB_CASES])
def test_hub_and_local_give_identical_rows(root, hub, name, split, lang, calls):
    local = rows(name, root, split, lang, source="local")
    assert hub.calls == []  # local never touches the hub
    from_hub = rows(name, root, split, lang, source="hub")
    assert from_hub == local
    assert len(local) > 0 and all(set(r) == {"text_a", "text_b", "label"} for r in local)
    assert all(isinstance(r["label"], int) for r in from_hub)
    assert [c[:3] for c in hub.calls] == calls
    # every call carries the revision pinned in that part's YAML
    part_of = {"nyu-mll/glue": "mnli", "facebook/anli": "anli", "stanfordnlp/snli": "snli",
               "facebook/xnli": "xnli", "google-research-datasets/paws-x": "pawsx"}
    for path, _, _, revision in hub.calls:
        expected_yaml = "qqp" if name == "qqp" else part_of[path]
        assert revision == yaml_revision(expected_yaml)


def test_hub_drops_snli_minus_one_like_local_drops_dash(root, hub):
    assert hub.tables[("stanfordnlp/snli", "plain_text", "validation")]["label"] == [1, -1, 0]
    assert [r["label"] for r in rows("snli", root, "validation", source="hub")] == [1, 0]


# ---------------------------------------------------------------------------------------------
# 3. Bad input: a DataError that says what and where
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, split, lang, rel", [
    ("qqp", "train", "en", "glue/QQP/train.tsv"),
    ("mnli", "validation", "en", "glue/MNLI/dev_matched.tsv"),
    ("anli", "train", "en", "anli_v1.0/R1/train.jsonl"),
    ("snli", "test", "en", "snli_1.0/snli_1.0_test.txt"),
    ("xnli", "test", "de", "XNLI-1.0/xnli.test.tsv"),
    ("pawsx", "test", "ko", "x-final/ko/test_2k.tsv"),
])
def test_missing_local_file_names_the_path_and_data_root(tmp_path, name, split, lang, rel):
    with pytest.raises(DataError) as e:
        rows(name, tmp_path, split, lang)
    msg = str(e.value)
    assert f"missing file {tmp_path / rel}" in msg
    assert "data.root" in msg and f"task '{name}'" in msg and f"split '{split}'" in msg


def test_tsv_row_with_a_stray_tab_names_file_and_line(tmp_path):
    good = mnli_line(0, *MNLI["train"][0], dev=False)
    bad = mnli_line(1, *MNLI["train"][1], dev=False)
    bad[8] = bad[8].replace(" ", "\t", 1)  # a tab inside sentence1: 13 fields instead of 12
    path = write_tsv(tmp_path / "glue/MNLI/train.tsv", MNLI_TRAIN_HEADER, [good, good, bad, good])
    with pytest.raises(DataError) as e:
        rows("mnli", tmp_path, "train")
    assert f"{path}:4: expected 12 tab-separated fields as in the header, found 13" in str(e.value)


def test_tsv_row_that_lost_a_field_the_task_reads_names_file_and_line(tmp_path):
    bad = mnli_line(1, *MNLI["train"][1], dev=False)
    del bad[4]  # a lost field: 11 instead of 12, so gold_label is gone
    path = write_tsv(tmp_path / "glue/MNLI/train.tsv", MNLI_TRAIN_HEADER,
                     [mnli_line(0, *MNLI["train"][0], dev=False), bad])
    with pytest.raises(DataError) as e:
        rows("mnli", tmp_path, "train")
    assert str(e.value).startswith(f"{path}:3: no column 'gold_label'")


def test_line_break_inside_a_field_names_file_and_line(tmp_path):
    path = tmp_path / "x-final/de/test_2k.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("id\tsentence1\tsentence2\tlabel\n"
                    "1\tEin Satz.\tEin anderer Satz.\t0\n"
                    "2\tDer erste Teil\n"          # the line break splits this row in two
                    "und der Rest.\tNoch ein Satz.\t1\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        rows("pawsx", tmp_path, "test", "de")
    assert str(e.value).startswith(f"{path}:3: no column 'sentence2'")
    assert "a line break inside a field?" in str(e.value)


def test_tsv_stray_tab_after_blank_line_counts_physical_lines(tmp_path):
    path = tmp_path / "glue/QQP/train.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("\t".join(QQP_HEADER) + "\n1\t1\t2\tA?\tB?\t0\n\n2\t3\t4\tC?\tD\t?\t1\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        rows("qqp", tmp_path, "train")
    assert f"{path}:4: expected 6 tab-separated fields as in the header, found 7" in str(e.value)


def test_invalid_json_line_names_file_and_line(root):
    path = root / "anli_v1.0/R2/train.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text(lines[0] + "\n\n" + '{"uid": "x", "context": "truncated\n', encoding="utf-8")
    with pytest.raises(DataError) as e:
        rows("anli", root, "train")
    assert f"{path}:3: not valid JSON" in str(e.value)


def test_label_outside_label_set_names_file_line_and_labels(root):
    path = root / "XNLI-1.0/xnli.dev.tsv"
    lines = [xnli_line(i, *ex) for i, ex in enumerate(XNLI["validation"])]
    lines[1][1] = "entailed"  # the de row on line 3
    write_tsv(path, XNLI_HEADER, lines)
    with pytest.raises(DataError) as e:
        rows("xnli", root, "validation", "de")
    assert str(e.value) == f"{path}:3: label 'entailed' is not one of ['entailment', 'neutral', 'contradiction']"


def test_unknown_anli_label_lists_labels_and_aliases(root):
    path = write_jsonl(root / "anli_v1.0/R1/train.jsonl",
                       [{"uid": "a", "context": "P.", "hypothesis": "H.", "label": "e"},
                        {"uid": "b", "context": "P.", "hypothesis": "H.", "label": "x"}])
    with pytest.raises(DataError) as e:
        rows("anli", root, "train")
    msg = str(e.value)
    assert msg.startswith(f"{path}:2: label 'x' is not one of ['entailment', 'neutral', 'contradiction']")
    assert "'e': 'entailment'" in msg


def test_qqp_label_out_of_range_is_rejected(root):
    path = write_tsv(root / "glue/QQP/dev.tsv", QQP_HEADER, [[1, 1, 2, "A?", "B?", 2]])
    with pytest.raises(DataError) as e:
        rows("qqp", root, "validation")
    assert str(e.value) == f"{path}:2: label '2' is not one of ['not_duplicate', 'duplicate']"


def test_hub_label_out_of_range_names_dataset_row(root, hub):
    hub.tables[("nyu-mll/glue", "mnli", "validation_matched")]["label"] = [1, 7]
    with pytest.raises(DataError) as e:
        rows("mnli", root, "validation", source="hub")
    msg = str(e.value)
    assert "nyu-mll/glue/mnli split 'validation_matched'" in msg and "row 1:" in msg
    assert "label id 7 is out of range for 3 classes" in msg


def test_language_without_rows_is_an_empty_split_error(root):
    with pytest.raises(DataError) as e:
        rows("xnli", root, "validation", "sw")
    msg = str(e.value)
    assert "task 'xnli' split 'validation' language 'sw' has no rows" in msg
    assert str(root / "XNLI-1.0/xnli.dev.tsv") in msg


def test_header_only_file_is_an_empty_split_error(root):
    write_tsv(root / "glue/QQP/dev.tsv", QQP_HEADER, [])
    with pytest.raises(DataError, match="task 'qqp' split 'validation' language 'en' has no rows"):
        rows("qqp", root, "validation")


def test_unreachable_hub_says_how_to_use_local_files(root, monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'facebook/xnli' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as e:
        rows("xnli", root, "test", "de", source="hub")
    msg = str(e.value)
    assert f"could not load facebook/xnli/de split 'test' @ {yaml_revision('xnli')}" in msg
    assert "ConnectionError" in msg
    assert "data=local data.root=<folder>" in msg
    assert "xnli.test.tsv" in msg  # which local file the task would read instead


# ---------------------------------------------------------------------------------------------
# 4. data_fingerprint
# ---------------------------------------------------------------------------------------------

def test_fingerprint_follows_local_file_content(root):
    mnli = task_spec("mnli", root)
    path = root / "glue/MNLI/train.tsv"
    original = path.read_bytes()
    before = data_fingerprint(mnli, "train", "en")
    assert len(before) == 16 and before == data_fingerprint(mnli, "train", "en")

    path.write_bytes(original)  # same bytes, new mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert data_fingerprint(mnli, "train", "en") == before

    path.write_bytes(original.replace(b"\tneutral\n", b"\tentailment\n"))
    changed = data_fingerprint(mnli, "train", "en")
    assert changed != before

    path.write_bytes(original)
    assert data_fingerprint(mnli, "train", "en") == before


def test_fingerprint_sees_same_size_edit_within_one_mtime_tick(root):
    """A coarse-mtime filesystem can give a quick rewrite the same size and mtime."""
    qqp = task_spec("qqp", root)
    path = root / "glue/QQP/dev.tsv"
    st = path.stat()
    before = data_fingerprint(qqp, "validation", "en")
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:-2] + "1\n", encoding="utf-8")  # flip the label: same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert data_fingerprint(qqp, "validation", "en") != before


def test_fingerprint_differs_by_language_and_split(root):
    xnli = task_spec("xnli", root)
    prints = {(s, l): data_fingerprint(xnli, s, l) for s in ("validation", "test") for l in ("de", "en")}
    assert len(set(prints.values())) == 4
    assert data_fingerprint(xnli, "validation", "de") == prints[("validation", "de")]


def test_union_fingerprint_covers_every_part_file(root):
    union = task_spec("anli_plus", root)
    before = {s: data_fingerprint(union, s, "en") for s in ("train", "validation")}
    dev = root / "snli_1.0/snli_1.0_dev.txt"
    dev.write_text(dev.read_text(encoding="utf-8").replace("Two woman", "Two women"), encoding="utf-8")
    assert data_fingerprint(union, "validation", "en") != before["validation"]
    assert data_fingerprint(union, "train", "en") == before["train"]


def test_fingerprint_of_missing_local_file_is_the_missing_file_error(tmp_path):
    with pytest.raises(DataError, match="(?s)missing file .*xnli.dev.tsv.*data.root"):
        data_fingerprint(task_spec("xnli", tmp_path), "validation", "de")


def test_hub_fingerprint_downloads_nothing(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("data_fingerprint must not load hub data")

    monkeypatch.setattr(datasets, "load_dataset", no_network)
    xnli = task_spec("xnli", tmp_path, source="hub")  # no local files exist: they must not matter
    de, en = data_fingerprint(xnli, "test", "de"), data_fingerprint(xnli, "test", "en")
    assert de != en and de == data_fingerprint(xnli, "test", "de")
    # only the active source is hashed: where local files would live does not matter on the hub
    assert de == data_fingerprint(task_spec("xnli", tmp_path / "elsewhere", source="hub"), "test", "de")


# ---------------------------------------------------------------------------------------------
# 5. Real samples (huggingface/datasets dummy data in the original layouts), when present
# ---------------------------------------------------------------------------------------------

def data_lines(path: Path, language: str | None = None) -> int:
    """Rows a raw file holds, counted independently of the readers: non-blank lines after the
    header (tsv) or every non-blank line (jsonl), less SNLI's "-" rows; for XNLI only `language`."""
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    if path.suffix != ".jsonl":
        lines = lines[1:]
    if language is not None:
        lines = [l for l in lines if l.split("\t", 1)[0] == language]
    return sum(1 for l in lines if not l.startswith("-\t"))


SAMPLES = [  # task, sample root (under hf-dummy), split, language, (text_a prefix, text_b prefix, label) of row 0
    ("mnli", "glue/mnli/dummy_data/MNLI", "train", "en",
     ("Conceptually cream skimming has two basic dimensions - product and geography.",
      "Product and geography are what make cream skimming work. ", 1)),
    ("mnli", "glue/mnli/dummy_data/MNLI", "validation", "en",
     ("The new rights are nice enough", "Everyone really likes the newest benefits ", 1)),
    ("qqp", "glue/qqp/dummy_data/QQP", "train", "en",
     ("How is the life of a math student? Could you describe your own experiences?",
      "Which level of prepration is enough for the exam jlpt5?", 0)),
    ("qqp", "glue/qqp/dummy_data/QQP", "validation", "en",
     ("Why are African-Americans so beautiful?", "Why are hispanics so beautiful?", 0)),
    ("anli", "anli/plain_text/dummy_data/anli_v0.1", "train", "en",
     ("The Parma trolleybus system (Italian: \"Rete filoviaria di Parma\" )",
      "The trolleybus system has over 2 urban routes", 0)),
    ("anli", "anli/plain_text/dummy_data/anli_v0.1", "validation", "en", ("Linguistics is the scientific study", None, None)),
    ("snli", "snli/plain_text/dummy_data/snli_1.0", "train", "en",
     ("A person on a horse jumps over a broken down airplane.", "A person is training his horse for a competition.", 1)),
    ("snli", "snli/plain_text/dummy_data/snli_1.0", "test", "en",
     ("This church choir sings to the masses as they sing joyous songs", "The church has cracks in the ceiling.", 1)),
    ("xnli", "xnli/all_languages/dummy_data/XNLI-1.0.zip/XNLI-1.0", "validation", "de",
     ("und er hat gesagt, Mama ich bin daheim.", "Er rief seine Mutter an, sobald er aus dem Schulbus stieg.", 1)),
    ("xnli", "xnli/all_languages/dummy_data/XNLI-1.0.zip/XNLI-1.0", "test", "de",
     ("Nun, daran dachte ich nicht einmal, aber ich war so frustriert,", "Ich habe nicht wieder mit ihm gesprochen.", 2)),
    ("pawsx", "paws-x/en/dummy_data/x-final.tar.gz/x-final", "train", "en",
     ("In Paris , in October 1560 , he secretly met the English ambassador", "In October 1560 , he secretly met", 0)),
    ("pawsx", "paws-x/en/dummy_data/x-final.tar.gz/x-final", "test", "en",
     ("The exception was between late 2005 and 2009", "The exception was between late 2005 and 2009", 1)),
    ("pawsx", "paws-x/de/dummy_data/x-final.tar.gz/x-final", "validation", "de",
     ("Durch die Zusammenlegung des Four Rivers Council", "Shawnee Trails Council entstand durch die Fusion", 1)),
    ("pawsx", "paws-x/de/dummy_data/x-final.tar.gz/x-final", "test", "de",
     ("Die Ausnahme war zwischen Ende 2005 und 2009, als er in Schweden mit Carlstad United BK,  in Serbien",
      "Die Ausnahme war zwischen Ende 2005 und 2009", 1)),
]


@pytest.mark.parametrize("name, sample, split, lang, first", SAMPLES,
                         ids=[f"{s[0]}-{s[2]}-{s[3]}" for s in SAMPLES])
def test_real_samples(tmp_path, name, sample, split, lang, first):
    if not HF_DUMMY.is_dir():
        pytest.skip(f"real samples not present at {HF_DUMMY}")
    task = task_spec(name, tmp_path, local_root=HF_DUMMY / sample)
    got = load_rows(task, split, lang, NORMALIZE)
    files = local_files(task, split, lang)
    assert all(f.is_file() for f in files)
    expected = sum(data_lines(f, lang if task.local.language_column else None) for f in files)
    assert expected > 0 and len(got) == expected
    text_a, text_b, label = first
    assert got[0]["text_a"].startswith(text_a)
    if text_b is not None:
        assert got[0]["text_b"].startswith(text_b)
    if label is not None:
        assert got[0]["label"] == label
    assert all(r["label"] in range(len(task.labels)) and r["text_a"] and r["text_b"] for r in got)


def test_real_xnli_sample_has_one_row_per_language(tmp_path):
    sample = HF_DUMMY / "xnli/all_languages/dummy_data/XNLI-1.0.zip/XNLI-1.0"
    if not sample.is_dir():
        pytest.skip(f"real samples not present at {sample}")
    task = task_spec("xnli", tmp_path, local_root=sample)
    assert len(task.languages) == 15
    for lang in task.languages:
        for split in ("validation", "test"):
            got = load_rows(task, split, lang, NORMALIZE)
            assert len(got) == 1, (lang, split)
            assert got[0]["label"] == (1 if split == "validation" else 2)  # neutral / contradiction in every language
