"""Demo XGLUE: the nine understanding tasks in the layout `xglue_full_dataset.tar.gz` unpacks to.

XGLUE repackages five datasets, so the demo does too: XNLI, PAWS-X and MLQA (with SQuAD train)
are the demo's own XNLI(-MT), PAWS-X and MLQA/SQuAD files in XGLUE's file names and columns.
NER, POS, NC, QADSM, WPR and QAM are drawn here from streams seeded by (seed, "xglue", task),
so the other demo datasets are unchanged. What makes each learnable:
- NER: entities are proper names (the same in every language) in fixed slots; POS: the UD demo's tags.
- NC: the news category is the noun of the title's clause (10 nouns, 10 categories).
- QADSM: an ad is Good when it is about the query's noun. QAM: a passage answers (1) when its
  clause has the question's name, verb and noun.
- WPR: each query has 5 pages; a page's grade (0-4) is how many of the query clause's
  name, verb, noun and number it keeps.
"""
from __future__ import annotations

import csv
import random
import shutil
from dataclasses import replace
from pathlib import Path

from xtransfer.demo.grammar import (Clause, random_clause, random_question, render_clause, render_question,
                                    rng_for, sentence, write_lines)
from xtransfer.demo.lexicon import NAMES, NOUNS, NUMBERS, THING_VERBS
from xtransfer.demo.tagging import tagged_clause

NER_LANGUAGES = ("de", "en", "es", "nl")
POS_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "it", "nl", "pl", "pt", "ru", "th", "tr", "ur",
                 "vi", "zh")
NC_LANGUAGES = ("de", "en", "es", "fr", "ru")
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("de", "en", "es", "fr")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
QADSM_LANGUAGES = QAM_LANGUAGES = ("de", "en", "fr")
WPR_LANGUAGES = ("de", "en", "es", "fr", "it", "pt", "zh")
NC_CATEGORIES = dict(zip(NOUNS, ("foodanddrink", "sports", "travel", "finance", "lifestyle", "news",
                                 "entertainment", "health", "video", "autos")))
ORGS = (("Acme",), ("Globex", "Corporation"), ("Red", "Cross"))
LOCATIONS = (("Paris",), ("New", "York"), ("Lagos",))
MISC = (("World", "Cup"), ("Olympics",), ("Nobel", "Prize"))
WPR_SLOTS = ("name", "verb", "noun", "num")
WPR_PAGES = 5


def _text(lang: str, c: Clause) -> str:
    return sentence(lang, render_clause(lang, c))[0]


def _clauses(rng: random.Random, n: int) -> list[Clause]:
    return [random_clause(rng, rng.choice(NAMES)) for _ in range(n)]


def _splits(seed: int, task: str, train_size: int, eval_size: int) -> dict[str, list[Clause]]:
    """Abstract examples per split; train is English only, dev/test are rendered in every language."""
    return {split: _clauses(rng_for(seed, "xglue", task, split), n)
            for split, n in (("train", train_size), ("dev", eval_size), ("test", eval_size))}


def _languages(split: str, languages: tuple[str, ...]) -> tuple[str, ...]:
    return ("en",) if split == "train" else languages


# ---------------------------------------------------------------------------------------
# NER and POS: `word label` lines
# ---------------------------------------------------------------------------------------
def _iob(words: tuple[str, ...], kind: str) -> list[tuple[str, str]]:
    return [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words)]


def _ner_sentence(lang: str, rng: random.Random, c: Clause) -> list[tuple[str, str]]:
    """The clause with an entity as subject, sometimes followed by a location and a MISC entity."""
    subject = _iob(rng.choice(ORGS), "ORG") if rng.random() < 0.3 else [(c.name, "B-PER")]
    words = render_clause(lang, replace(c, place=None))
    out = [pair for w in words for pair in (subject if w == c.name else [(w, "O")])]
    if rng.random() < 0.5:
        out += _iob(rng.choice(LOCATIONS), "LOC")
    if rng.random() < 0.3:
        out += _iob(rng.choice(MISC), "MISC")
    return out + [(".", "O")]


def _conll_lines(sentences: list[list[tuple[str, str]]]) -> list[str]:
    return [line for s in sentences for line in [f"{w} {t}" for w, t in s] + [""]]


def _write_ner_pos(out: Path, seed: int, train_size: int, eval_size: int) -> None:
    for split, clauses in _splits(seed, "ner", train_size, eval_size).items():
        for lang in _languages(split, NER_LANGUAGES):
            rng = rng_for(seed, "xglue", "ner", split, "entities")  # the same entities in every language
            write_lines(out / "NER" / f"{lang}.{split}", _conll_lines([_ner_sentence(lang, rng, c) for c in clauses]))
    for split, clauses in _splits(seed, "pos", train_size, eval_size).items():
        for lang in _languages(split, POS_LANGUAGES):
            write_lines(out / "POS" / f"{lang}.{split}",
                        _conll_lines([list(zip(*tagged_clause(lang, c))) for c in clauses]))


# ---------------------------------------------------------------------------------------
# NC, QADSM, WPR, QAM: `xglue.<task>.<lang>.<split>`, tab-separated, no header
# ---------------------------------------------------------------------------------------
def _rows(out: Path, task: str, lang: str, split: str, rows: list[list]) -> None:
    write_lines(out / task.upper() / f"xglue.{task}.{lang}.{split}", ["\t".join(str(v) for v in row) for row in rows])


def _other(rng: random.Random, options, current):
    return rng.choice([o for o in options if o != current])


def _write_nc(out: Path, seed: int, train_size: int, eval_size: int) -> None:
    for split, clauses in _splits(seed, "nc", train_size, eval_size).items():
        rng = rng_for(seed, "xglue", "nc", split, "body")
        bodies = [(c, replace(random_clause(rng, rng.choice(NAMES)), noun=c.noun)) for c in clauses]
        for lang in _languages(split, NC_LANGUAGES):
            _rows(out, "nc", lang, split, [[_text(lang, c), _text(lang, b), NC_CATEGORIES[c.noun]] for c, b in bodies])


def _write_qadsm(out: Path, seed: int, train_size: int, eval_size: int) -> None:
    for split, clauses in _splits(seed, "qadsm", train_size, eval_size).items():
        rng = rng_for(seed, "xglue", "qadsm", split, "ads")
        ads = []
        for c in clauses:
            good = rng.random() < 0.5
            ad = replace(random_clause(rng, rng.choice(NAMES)), noun=c.noun if good else _other(rng, NOUNS, c.noun))
            ads.append((c, ad, random_clause(rng, ad.name), "Good" if good else "Bad"))
        for lang in _languages(split, QADSM_LANGUAGES):
            rows = [[" ".join(render_clause(lang, Clause(c.name, c.verb, c.num, c.noun))), _text(lang, ad),
                     _text(lang, desc), label] for c, ad, desc, label in ads]
            _rows(out, "qadsm", lang, split, rows)


def _page(rng: random.Random, query: Clause) -> tuple[Clause, int]:
    """A page clause keeping a random subset of the query's slots; its grade is how many it keeps."""
    kept = [slot for slot in WPR_SLOTS if rng.random() < 0.5]
    pools = {"name": NAMES, "verb": list(THING_VERBS), "noun": list(NOUNS), "num": NUMBERS}
    changes = {slot: _other(rng, pools[slot], getattr(query, slot)) for slot in WPR_SLOTS if slot not in kept}
    return replace(query, **changes), len(kept)


def _write_wpr(out: Path, seed: int, train_size: int, eval_size: int) -> None:
    sizes = {"train": max(2, train_size // WPR_PAGES), "dev": max(2, eval_size // WPR_PAGES),
             "test": max(2, eval_size // WPR_PAGES)}
    for split, n in sizes.items():
        rng = rng_for(seed, "xglue", "wpr", split)
        queries = [Clause(rng.choice(NAMES), rng.choice(list(THING_VERBS)), rng.choice(NUMBERS),
                          rng.choice(list(NOUNS))) for _ in range(n)]
        pages = [(q, *_page(rng, q), random_clause(rng, rng.choice(NAMES))) for q in queries for _ in range(WPR_PAGES)]
        for lang in _languages(split, WPR_LANGUAGES):
            rows = [[" ".join(render_clause(lang, q)), _text(lang, page), _text(lang, snippet), grade]
                    for q, page, grade, snippet in pages]
            _rows(out, "wpr", lang, split, rows)


def _write_qam(out: Path, seed: int, train_size: int, eval_size: int) -> None:
    for split, n in (("train", train_size), ("dev", eval_size), ("test", eval_size)):
        rng = rng_for(seed, "xglue", "qam", split)
        pairs = []
        for _ in range(n):
            q = random_question(rng)
            answer = Clause(q.name, q.verb, rng.choice(NUMBERS), q.noun, adj=q.adj, place=rng.choice([None, "park"]))
            if rng.random() < 0.5:
                slot = rng.choice(("name", "verb", "noun"))
                pools = {"name": NAMES, "verb": list(THING_VERBS), "noun": list(NOUNS)}
                answer = replace(answer, **{slot: _other(rng, pools[slot], getattr(answer, slot))})
                pairs.append((q, answer, 0))
            else:
                pairs.append((q, answer, 1))
        for lang in _languages(split, QAM_LANGUAGES):
            rows = [[sentence(lang, render_question(lang, q), question=True)[0], _text(lang, a), label]
                    for q, a, label in pairs]
            _rows(out, "qam", lang, split, rows)


# ---------------------------------------------------------------------------------------
# XNLI, PAWS-X, MLQA: the demo's own files, repackaged as XGLUE repackages the real ones
# ---------------------------------------------------------------------------------------
def _write_xnli(root: Path, out: Path) -> None:
    shutil.copyfile(root / "XNLI-MT-1.0" / "multinli" / "multinli.train.en.tsv", _parent(out / "XNLI" / "multinli.train.en.tsv"))
    for split in ("dev", "test"):
        with (root / "XNLI-1.0" / f"xnli.{split}.tsv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        for lang in XNLI_LANGUAGES:
            write_lines(out / "XNLI" / f"{lang}.{split}", ["\t".join((r["sentence1"], r["sentence2"], r["gold_label"]))
                                                           for r in rows if r["language"] == lang])


def _write_pawsx(root: Path, out: Path) -> None:
    for lang in PAWSX_LANGUAGES:
        for name in ("dev_2k.tsv", "test_2k.tsv") + (("train.tsv",) if lang == "en" else ()):
            shutil.copyfile(root / "x-final" / lang / name, _parent(out / "PAWSX" / lang / name))


def _write_mlqa(root: Path, out: Path) -> None:
    shutil.copyfile(root / "squad" / "train-v1.1.json", _parent(out / "MLQA" / "squad1.1" / "train-v1.1.json"))
    for split in ("dev", "test"):
        for lang in MLQA_LANGUAGES:
            name = f"{split}-context-{lang}-question-{lang}.json"
            shutil.copyfile(root / "MLQA_V1" / split / name, _parent(out / "MLQA" / "MLQA_V1" / split / name))


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_xglue(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    """Every XGLUE understanding task under root/xglue_full_dataset (after the datasets it repackages)."""
    out = root / "xglue_full_dataset"
    _write_ner_pos(out, seed, train_size, eval_size)
    _write_nc(out, seed, train_size, eval_size)
    _write_qadsm(out, seed, train_size, eval_size)
    _write_wpr(out, seed, train_size, eval_size)
    _write_qam(out, seed, train_size, eval_size)
    _write_xnli(root, out)
    _write_pawsx(root, out)
    _write_mlqa(root, out)
