"""Demo sentence-pair classification datasets in the real raw layouts: MNLI, QQP, ANLI,
SNLI, XNLI, XNLI-MT and PAWS-X (same paths, headers, column order and label strings).
The pairs and what makes their labels learnable are in pairs.py.

Parallel data is rendered from the same abstract examples in every language, as in
the real releases: XNLI dev/test and PAWS-X dev/test are "translations" of one set of
examples, XNLI-MT is the first half of MNLI train "translated", PAWS-X translated_train
is the English train "translated". Everything else is drawn from a random stream seeded
by (seed, dataset name), and abstract examples are de-duplicated across datasets.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

from xtransfer.demo.grammar import (join_clauses, other,
                                    render_clause, render_event,
                                    render_question, rng_for, sentence, write_lines)
from xtransfer.demo.lexicon import (EN_TAGS, PAWSX_LANGUAGES,
                                    XNLI_LANGUAGES)

from xtransfer.demo.pairs import NLIExample, NLI_LABELS, nli_examples, paws_pairs, question_pairs


def _tsv(path: Path, header: list[str], rows: list[list]) -> None:
    write_lines(path, ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows])



def _parses(tokenized: str) -> tuple[str, str]:
    """A right-branching binary parse and a flat Penn-style parse, like MNLI/SNLI's columns."""
    words = tokenized.split(" ")
    binary = " ".join(words[-2:])
    for w in reversed(words[:-2]):
        binary = f"{w} ( {binary} )"
    tags = " ".join(f"({EN_TAGS.get(w) or EN_TAGS.get(w.lower()) or ('CD' if w.isdigit() else 'NN')} {w})"
                    for w in words)
    return f"( {binary} )", f"(ROOT (S {tags}))"


def _nli_text(lang: str, ex: NLIExample) -> tuple[tuple[str, str], tuple[str, str]]:
    return sentence(lang, join_clauses(lang, ex.premise)), sentence(lang, render_clause(lang, ex.hypothesis))


def _annotator_labels(rng: random.Random, gold: str) -> list[str]:
    """Five annotator labels whose strict majority is ``gold`` (label1 = author's label)."""
    labels = [gold] + [gold if rng.random() < 0.8 else other(rng, NLI_LABELS, gold) for _ in range(4)]
    while labels.count(gold) < 3:
        labels[labels.index(next(x for x in labels if x != gold))] = gold
    return labels


def _no_consensus_labels(rng: random.Random, author: str) -> list[str]:
    """Five labels without a majority: the author's, then 2 + 1 + 1 votes in some order."""
    first, second = rng.sample([label for label in NLI_LABELS if label != author], 2)
    votes = [author, first, first, second]
    rng.shuffle(votes)
    return [author, *votes]


MNLI_GENRES = ("fiction", "government", "slate", "telephone", "travel")
_MNLI_HEAD = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
              "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]


def _write_mnli(root: Path, seed: int, train: list[NLIExample], dev_size: int, seen: set) -> None:
    dev = nli_examples(rng_for(seed, "mnli", "dev"), dev_size, seen)
    for split, examples, n_labels in (("train", train, 1), ("dev_matched", dev, 5)):
        rng = rng_for(seed, "mnli", split, "meta")
        prompt_ids = rng.sample(range(1, 150_000), len(examples))
        rows = []
        for i, (ex, pid) in enumerate(zip(examples, prompt_ids)):
            (s1, t1), (s2, t2) = _nli_text("en", ex)
            (b1, p1), (b2, p2) = _parses(t1), _parses(t2)
            labels = _annotator_labels(rng, ex.label) if n_labels == 5 else [ex.label]
            rows.append([i, pid, f"{pid}{ex.label[0]}", rng.choice(MNLI_GENRES), b1, b2, p1, p2, s1, s2, *labels,
                         ex.label])
        header = _MNLI_HEAD + [f"label{k}" for k in range(1, n_labels + 1)] + ["gold_label"]
        _tsv(root / "glue" / "MNLI" / f"{split}.tsv", header, rows)


def _write_qqp(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    for split, n, first_id in (("train", train_size, 1), ("dev", eval_size, 500_001)):
        rows = []
        for i, (q1, q2, duplicate) in enumerate(question_pairs(rng_for(seed, "qqp", split), n, seen)):
            qid = 2 * (first_id + i)
            text1 = sentence("en", render_question("en", q1), question=True)[0]
            text2 = sentence("en", render_question("en", q2), question=True)[0]
            rows.append([first_id + i, qid - 1, qid, text1, text2, duplicate])
        _tsv(root / "glue" / "QQP" / f"{split}.tsv", ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"], rows)


ANLI_GENRES = {"R1": ("wikipedia",), "R2": ("wikipedia",), "R3": ("news", "fiction", "legal", "procedural", "wikipedia")}
ANLI_REASONS = {
    "entailment": "The context states this.",
    "neutral": "The context does not say this.",
    "contradiction": "The context says the opposite.",
}


def _write_anli(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    """ANLI is the 'adversarial' one: contexts of 2-3 facts, one sentence each."""
    for rnd in ("R1", "R2", "R3"):
        for split, n in (("train", train_size // 6), ("dev", eval_size // 2), ("test", eval_size // 2)):
            rng = rng_for(seed, "anli", rnd, split)
            lines = []
            for ex in nli_examples(rng, n, seen, clauses=(2, 3)):
                gold = ex.label[0]
                fooled = rng.random() < 0.7  # the adversary model was usually wrong
                record = {
                    "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "context": " ".join(sentence("en", render_clause("en", c))[0] for c in ex.premise),
                    "hypothesis": sentence("en", render_clause("en", ex.hypothesis))[0],
                    "label": gold,
                    "model_label": other(rng, "enc", gold) if fooled else gold,
                    "emturk": rng.random() < 0.1,
                    "genre": rng.choice(ANLI_GENRES[rnd]),
                    "reason": "" if split == "train" else ANLI_REASONS[ex.label],
                    "tag": f"{rnd.lower()}_{split}",
                }
                lines.append(json.dumps(record))
            write_lines(root / "anli_v1.0" / rnd / f"{split}.jsonl", lines)


def _write_snli(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    header = ["gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "captionID", "pairID",
              "label1", "label2", "label3", "label4", "label5"]
    for split, n in (("train", train_size), ("dev", eval_size), ("test", eval_size)):
        examples = nli_examples(rng_for(seed, "snli", split), n, seen)
        rng = rng_for(seed, "snli", split, "meta")
        # ~1.5% of pairs where the annotators did not agree: gold label '-', as in the real data
        no_consensus = set(rng.sample(range(n), max(1, round(0.015 * n))))
        rows = []
        for i, ex in enumerate(examples):
            (s1, t1), (s2, t2) = _nli_text("en", ex)
            (b1, p1), (b2, p2) = _parses(t1), _parses(t2)
            caption = f"{rng.randrange(10 ** 9, 10 ** 10)}.jpg#{rng.randrange(5)}"
            if i in no_consensus:  # these were all re-annotated, so they carry five labels
                gold, labels = "-", _no_consensus_labels(rng, ex.label)
            elif split == "train":  # real train rows carry only label1 (and no trailing empty columns)
                gold, labels = ex.label, [ex.label]
            else:
                gold, labels = ex.label, _annotator_labels(rng, ex.label)
            rows.append([gold, b1, b2, p1, p2, s1, s2, caption, f"{caption}r1{ex.label[0]}", *labels])
        _tsv(root / "snli_1.0" / f"snli_1.0_{split}.txt", header, rows)


XNLI_GENRES = ("facetoface", "fiction", "government", "nineeleven", "oup", "slate", "telephone", "travel",
               "verbatim", "letters")


def _write_xnli(root: Path, seed: int, eval_size: int, seen: set) -> None:
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre",
              "label1", "label2", "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match"]
    first_id = 1  # IDs continue from dev into test
    for split in ("dev", "test"):
        examples = nli_examples(rng_for(seed, "xnli", split), eval_size, seen)
        rng = rng_for(seed, "xnli", split, "meta")
        meta = [(rng.choice(XNLI_GENRES), _annotator_labels(rng, ex.label)) for ex in examples]
        rows = []
        for lang in XNLI_LANGUAGES:  # grouped by language, then by pairID, like the real file
            for i, (ex, (genre, labels)) in enumerate(zip(examples, meta), start=first_id):
                (s1, t1), (s2, t2) = _nli_text(lang, ex)
                rows.append([lang, ex.label, "", "", "", "", s1, s2, i, i, genre, *labels, t1, t2, "True"])
        first_id += len(examples)
        _tsv(root / "XNLI-1.0" / f"xnli.{split}.tsv", header, rows)


def _write_xnli_mt(root: Path, mnli_train: list[NLIExample], size: int) -> None:
    """'Machine-translated' MNLI train: the first ``size`` MNLI train examples in every language."""
    names = {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradictory"}
    for lang in XNLI_LANGUAGES:
        rows = []
        for ex in mnli_train[:size]:
            (_, t1), (_, t2) = _nli_text(lang, ex)
            rows.append([t1, t2, names[ex.label]])
        _tsv(root / "XNLI-MT-1.0" / "multinli" / f"multinli.train.{lang}.tsv", ["premise", "hypo", "label"], rows)


def _write_pawsx(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    header = ["id", "sentence1", "sentence2", "label"]
    train = paws_pairs(rng_for(seed, "pawsx", "train"), train_size, seen)
    dev = paws_pairs(rng_for(seed, "pawsx", "dev"), eval_size, seen)
    test = paws_pairs(rng_for(seed, "pawsx", "test"), eval_size, seen)

    def rows(lang: str, pairs: list) -> list[list]:
        return [[i, sentence(lang, render_event(lang, a))[0], sentence(lang, render_event(lang, b))[0], label]
                for i, (a, b, label) in enumerate(pairs, start=1)]

    for lang in PAWSX_LANGUAGES:
        out = root / "x-final" / lang
        _tsv(out / "dev_2k.tsv", header, rows(lang, dev))
        _tsv(out / "test_2k.tsv", header, rows(lang, test))
        _tsv(out / ("train.tsv" if lang == "en" else "translated_train.tsv"), header, rows(lang, train))


def write_classification(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    """MNLI, XNLI-MT, QQP, ANLI, SNLI, XNLI and PAWS-X, in this order: they share ``seen``."""
    mnli_train = nli_examples(rng_for(seed, "mnli", "train"), train_size, seen)
    _write_mnli(root, seed, mnli_train, eval_size, seen)
    _write_xnli_mt(root, mnli_train, train_size // 2)
    _write_qqp(root, seed, train_size, eval_size, seen)
    _write_anli(root, seed, train_size, eval_size, seen)
    _write_snli(root, seed, train_size, eval_size, seen)
    _write_xnli(root, seed, eval_size, seen)
    _write_pawsx(root, seed, train_size, eval_size, seen)
