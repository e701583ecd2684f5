"""Tests for the synthetic demo datasets (xtransfer.demo): layout, headers, labels,
balance, scripts and determinism. No model is trained here."""

from __future__ import annotations

import collections
import csv
import json
import re
from pathlib import Path

import pytest

from xtransfer.demo import DEMO_LANGUAGES, generate_demo_data

XNLI_LANGS = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGS = ("de", "en", "es", "fr", "ja", "ko", "zh")
TRAIN, EVAL = 600, 60  # small sizes keep the tests fast

MNLI_HEAD = ("index promptID pairID genre sentence1_binary_parse sentence2_binary_parse sentence1_parse "
             "sentence2_parse sentence1 sentence2").split()
SNLI_HEAD = ("gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
             "sentence1 sentence2 captionID pairID label1 label2 label3 label4 label5").split()
XNLI_HEAD = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
             "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5 "
             "sentence1_tokenized sentence2_tokenized match").split()
NLI = {"entailment", "neutral", "contradiction"}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert generate_demo_data(out, seed=0, train_size=TRAIN, eval_size=EVAL) == out
    return out


def read_tsv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Read like the real readers: tab separated, no quoting."""
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\n").split("\t")
        f.seek(0)
        return header, list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def assert_balanced(labels: list[str], expected: set[str], tolerance: float = 0.1) -> None:
    counts = collections.Counter(labels)
    assert set(counts) == expected
    for label, count in counts.items():
        assert abs(count / len(labels) - 1 / len(expected)) <= tolerance, counts


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_languages():
    assert set(DEMO_LANGUAGES) == set(XNLI_LANGS) | set(PAWSX_LANGS)
    assert len(DEMO_LANGUAGES) == 17


def nli_pair_files() -> set[str]:
    """The files this test module is about (other demo modules write more under the root)."""
    expected = {"glue/MNLI/train.tsv", "glue/MNLI/dev_matched.tsv", "glue/QQP/train.tsv", "glue/QQP/dev.tsv",
                "XNLI-1.0/xnli.dev.tsv", "XNLI-1.0/xnli.test.tsv"}
    expected |= {f"anli_v1.0/R{r}/{s}.jsonl" for r in (1, 2, 3) for s in ("train", "dev", "test")}
    expected |= {f"snli_1.0/snli_1.0_{s}.txt" for s in ("train", "dev", "test")}
    expected |= {f"XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv" for lang in XNLI_LANGS}
    expected |= {f"x-final/{lang}/{s}_2k.tsv" for lang in PAWSX_LANGS for s in ("dev", "test")}
    expected |= {"x-final/en/train.tsv"} | {f"x-final/{lang}/translated_train.tsv" for lang in PAWSX_LANGS if lang != "en"}
    expected |= {f"corpus/{lang}.txt" for lang in DEMO_LANGUAGES}
    return expected


def test_file_layout(root):
    files = set(all_files(root))
    assert nli_pair_files() <= files
    assert not [f for f in files if f.endswith(".tmp") or Path(f).name.startswith(".")]  # no stray temporary files
    for name in nli_pair_files():  # UTF-8, LF line ends, no quote characters (the readers use QUOTE_NONE)
        text = (root / name).read_bytes().decode("utf-8")
        assert text.endswith("\n") and "\r" not in text, name
        assert name.endswith(".jsonl") or '"' not in text, name


def test_mnli(root):
    header, train = read_tsv(root / "glue/MNLI/train.tsv")
    assert header == MNLI_HEAD + ["label1", "gold_label"]
    assert len(train) == TRAIN
    assert [r["index"] for r in train] == [str(i) for i in range(TRAIN)]
    assert all(r["pairID"] == r["promptID"] + r["gold_label"][0] for r in train)
    assert all(r["label1"] == r["gold_label"] for r in train)
    assert_balanced([r["gold_label"] for r in train], NLI)

    header, dev = read_tsv(root / "glue/MNLI/dev_matched.tsv")
    assert header == MNLI_HEAD + ["label1", "label2", "label3", "label4", "label5", "gold_label"]
    assert len(dev) == EVAL
    for r in dev:  # the gold label is the annotators' majority
        votes = [r[f"label{k}"] for k in range(1, 6)]
        assert votes.count(r["gold_label"]) >= 3
    # no quote characters (the real readers use QUOTE_NONE), English text
    text = (root / "glue/MNLI/train.tsv").read_text(encoding="utf-8")
    assert '"' not in text and text.isascii()


def test_qqp(root):
    for split, n in (("train", TRAIN), ("dev", EVAL)):
        header, rows = read_tsv(root / f"glue/QQP/{split}.tsv")
        assert header == ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
        assert len(rows) == n
        assert all(r["question1"].endswith("?") and r["question1"] != r["question2"] for r in rows)
        assert_balanced([r["is_duplicate"] for r in rows], {"0", "1"}, tolerance=0.12)


def test_anli(root):
    keys = ["uid", "context", "hypothesis", "label", "model_label", "emturk", "genre", "reason", "tag"]
    for rnd in ("R1", "R2", "R3"):
        for split, n in (("train", TRAIN // 6), ("dev", EVAL // 2), ("test", EVAL // 2)):
            lines = (root / f"anli_v1.0/{rnd}/{split}.jsonl").read_text(encoding="utf-8").splitlines()
            records = [json.loads(line) for line in lines]
            assert len(records) == n
            assert all(list(r) == keys for r in records)
            assert {r["label"] for r in records} <= {"e", "n", "c"}
            assert all(r["tag"] == f"{rnd.lower()}_{split}" and isinstance(r["emturk"], bool) for r in records)
            assert len({r["uid"] for r in records}) == n
    train = [json.loads(line)["label"] for r in (1, 2, 3)
             for line in (root / f"anli_v1.0/R{r}/train.jsonl").read_text().splitlines()]
    assert_balanced(train, {"e", "n", "c"})


def test_snli(root):
    for split, n in (("train", TRAIN), ("dev", EVAL), ("test", EVAL)):
        header, rows = read_tsv(root / f"snli_1.0/snli_1.0_{split}.txt")
        assert header == SNLI_HEAD
        assert len(rows) == n
        golds = [r["gold_label"] for r in rows]
        assert 1 <= golds.count("-") <= max(1, 0.03 * n)  # a few rows without annotator consensus
        assert_balanced([g for g in golds if g != "-"], NLI)
        for r in rows:
            assert r["pairID"].startswith(r["captionID"] + "r1")
            votes = [r[f"label{k}"] for k in range(1, 6)]
            if r["gold_label"] == "-":
                assert max(votes.count(label) for label in NLI) <= 2
            elif split != "train":
                assert votes.count(r["gold_label"]) >= 3
    # Real train rows carry only label1 and end there, except the fully annotated ones.
    lines = (root / "snli_1.0/snli_1.0_train.txt").read_text(encoding="utf-8").splitlines()[1:]
    assert {len(line.split("\t")) for line in lines} == {10, 14}
    assert all(len(line.split("\t")) == 14 for line in lines if line.startswith("-\t"))


def test_xnli(root):
    for split in ("dev", "test"):
        header, rows = read_tsv(root / f"XNLI-1.0/xnli.{split}.tsv")
        assert header == XNLI_HEAD
        langs = [r["language"] for r in rows]
        assert langs == sorted(langs)  # grouped by language like the real file
        assert collections.Counter(langs) == {lang: EVAL for lang in XNLI_LANGS}
        for lang in XNLI_LANGS:
            mine = [r for r in rows if r["language"] == lang]
            assert_balanced([r["gold_label"] for r in mine], NLI)
            assert all(r["sentence1_parse"] == r["sentence1_binary_parse"] == "" for r in mine)
        # parallel: every language has the same pairIDs and labels, in the same order
        by_lang = {lang: [(r["pairID"], r["gold_label"]) for r in rows if r["language"] == lang] for lang in XNLI_LANGS}
        assert all(v == by_lang["en"] for v in by_lang.values())
        # the translations differ, the shared anchors (digits) survive
        en = [r for r in rows if r["language"] == "en"]
        ru = [r for r in rows if r["language"] == "ru"]
        assert all(a["sentence1"] != b["sentence1"] for a, b in zip(en, ru))
        assert all(re.findall(r"\d", a["sentence1"]) == re.findall(r"\d", b["sentence1"]) for a, b in zip(en, ru))
    _, dev = read_tsv(root / "XNLI-1.0/xnli.dev.tsv")
    _, test = read_tsv(root / "XNLI-1.0/xnli.test.tsv")
    assert not {r["sentence1"] + r["sentence2"] for r in dev} & {r["sentence1"] + r["sentence2"] for r in test}


def test_xnli_mt(root):
    _, mnli = read_tsv(root / "glue/MNLI/train.tsv")
    for lang in XNLI_LANGS:
        header, rows = read_tsv(root / f"XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv")
        assert header == ["premise", "hypo", "label"]
        assert len(rows) == TRAIN // 2
        assert_balanced([r["label"] for r in rows], {"entailment", "neutral", "contradictory"})
        # the 'translation' of the first half of MNLI train, row by row
        gold = [m["gold_label"].replace("contradiction", "contradictory") for m in mnli[: TRAIN // 2]]
        assert [r["label"] for r in rows] == gold
    en = read_tsv(root / "XNLI-MT-1.0/multinli/multinli.train.en.tsv")[1]
    assert en[0]["premise"].replace(" .", ".") == mnli[0]["sentence1"]


def test_pawsx(root):
    header, en_train = read_tsv(root / "x-final/en/train.tsv")
    assert header == ["id", "sentence1", "sentence2", "label"]
    assert len(en_train) == TRAIN
    assert_balanced([r["label"] for r in en_train], {"0", "1"}, tolerance=0.12)
    for lang in PAWSX_LANGS:
        for name, n in (("dev_2k", EVAL), ("test_2k", EVAL), ("train" if lang == "en" else "translated_train", TRAIN)):
            header, rows = read_tsv(root / f"x-final/{lang}/{name}.tsv")
            assert header == ["id", "sentence1", "sentence2", "label"]
            assert len(rows) == n
            assert {r["label"] for r in rows} == {"0", "1"}
            assert [r["id"] for r in rows] == [str(i) for i in range(1, n + 1)]
    # non-paraphrases swap roles: same words, different order
    swapped = [r for r in en_train if r["label"] == "0"]
    assert sum(sorted(r["sentence1"].split()) == sorted(r["sentence2"].split()) for r in swapped) > len(swapped) / 2
    # the translated train is the English train, label for label
    de = read_tsv(root / "x-final/de/translated_train.tsv")[1]
    assert [r["label"] for r in de] == [r["label"] for r in en_train]


SCRIPTS = {  # a character class every corpus line of the language must contain
    "ru": "[\u0400-\u04ff]", "bg": "[\u0400-\u04ff]", "el": "[\u0370-\u03ff]", "ar": "[\u0600-\u06ff]",
    "ur": "[\u0600-\u06ff]", "hi": "[\u0900-\u097f]", "th": "[\u0e00-\u0e7f]", "zh": "[\u4e00-\u9fff]",
    "ja": "[\u3040-\u309f\u4e00-\u9fff]", "ko": "[\uac00-\ud7a3]",
}


def test_corpus_scripts(root):
    for lang in DEMO_LANGUAGES:
        lines = (root / f"corpus/{lang}.txt").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 2000 and all(lines)
        if lang in SCRIPTS:
            assert all(re.search(SCRIPTS[lang], line) for line in lines), lang
        else:  # Latin script: no Cyrillic/Greek/Arabic/CJK letters at all
            assert not re.search("[\u0370-\u04ff\u0600-\u06ff\u0900-\u0e7f\u3040-\ud7a3]", "".join(lines)), lang
    ru = (root / "corpus/ru.txt").read_text(encoding="utf-8")
    assert len(re.findall("[\u0400-\u04ff]", ru)) > 0.5 * len(re.findall(r"\w", ru))
    # Japanese mixes kana with CJK characters, Chinese has no kana
    assert re.search("[\u3040-\u309f]", (root / "corpus/ja.txt").read_text(encoding="utf-8"))
    assert not re.search("[\u3040-\u309f]", (root / "corpus/zh.txt").read_text(encoding="utf-8"))
    # the shared anchors: names and digits appear in every language as is
    for lang in DEMO_LANGUAGES:
        text = (root / f"corpus/{lang}.txt").read_text(encoding="utf-8")
        assert "Anna" in text and re.search(r"\d", text), lang


def test_deterministic_and_seeded(tmp_path):
    small = dict(train_size=60, eval_size=10)
    first = all_files(generate_demo_data(tmp_path / "a", seed=3, **small))
    generate_demo_data(tmp_path / "a", seed=3, **small)  # regenerating in place rewrites the same bytes
    assert all_files(tmp_path / "a") == first
    other = all_files(generate_demo_data(tmp_path / "c", seed=4, **small))
    assert set(other) == set(first)
    assert all(first[name] != other[name] for name in nli_pair_files())  # every file depends on the seed


def test_datasets_do_not_share_examples(root):
    pairs = collections.defaultdict(set)
    pairs["mnli"] = {(r["sentence1"], r["sentence2"]) for r in read_tsv(root / "glue/MNLI/train.tsv")[1]}
    pairs["mnli-dev"] = {(r["sentence1"], r["sentence2"]) for r in read_tsv(root / "glue/MNLI/dev_matched.tsv")[1]}
    for split in ("train", "dev", "test"):
        pairs[f"snli-{split}"] = {(r["sentence1"], r["sentence2"])
                                  for r in read_tsv(root / f"snli_1.0/snli_1.0_{split}.txt")[1]}
    pairs["xnli"] = {(r["sentence1"], r["sentence2"])
                     for s in ("dev", "test") for r in read_tsv(root / f"XNLI-1.0/xnli.{s}.tsv")[1]}
    names = sorted(pairs)
    for i, x in enumerate(names):
        assert len(pairs[x]) > 0
        for y in names[i + 1:]:
            assert not pairs[x] & pairs[y], (x, y)


def test_rejects_tiny_sizes(tmp_path):
    with pytest.raises(ValueError):
        generate_demo_data(tmp_path, train_size=3)


def words(sentence: str) -> list[str]:
    return sentence.rstrip(".?").replace(",", "").split()


def test_nli_labels_are_relations_between_the_sentences(root):
    """The English generator's invariants: the label follows from comparing the two sentences."""
    _, rows = read_tsv(root / "glue/MNLI/train.tsv")
    for r in rows:
        p, h = words(r["sentence1"]), words(r["sentence2"])
        negation_flipped = ("not" in p) != ("not" in h)
        same_number = re.findall(r"\d", r["sentence1"]) == re.findall(r"\d", r["sentence2"])
        if r["gold_label"] == "entailment":  # same fact, maybe less specific
            assert not negation_flipped and same_number and p[0] == h[0] and len(h) <= len(p), r
        elif r["gold_label"] == "neutral":  # more specific, or about someone else
            assert not negation_flipped and (len(h) > len(p) or p[0] != h[0]), r
        else:  # polarity flipped, or another number
            assert negation_flipped or not same_number, r
    # negation is no giveaway on its own: it occurs in entailments and contradictions alike
    with_not = collections.Counter(r["gold_label"] for r in rows if "not" in words(r["sentence2"]))
    assert with_not["entailment"] > 0.25 * with_not["contradiction"]


def test_qqp_and_pawsx_labels_are_relations(root):
    from xtransfer.demo.lexicon import NAMES

    _, qqp = read_tsv(root / "glue/QQP/train.tsv")
    for r in qqp:
        q1, q2 = words(r["question1"]), words(r["question2"])
        if r["is_duplicate"] == "1":  # one word replaced by its synonym
            assert len(q1) == len(q2) and sum(a != b for a, b in zip(q1, q2)) == 1, r
    non_dup = [r for r in qqp if r["is_duplicate"] == "0"]
    differ_in_length = sum(len(words(r["question1"])) != len(words(r["question2"])) for r in non_dup)
    assert differ_in_length > 0.8 * len(non_dup)

    _, paws = read_tsv(root / "x-final/en/train.tsv")
    for r in paws:
        order1 = [w for w in words(r["sentence1"]) if w in NAMES]
        order2 = [w for w in words(r["sentence2"]) if w in NAMES]
        assert sorted(order1) == sorted(order2) and len(order1) == 2
        assert (order1 == order2) == (r["label"] == "1"), r  # non-paraphrases swap the roles
