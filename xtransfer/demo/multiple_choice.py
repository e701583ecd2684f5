"""Demo multiple-choice datasets in the real raw layouts (see xtransfer/demo/grammar.py).

Every example is a context of facts and choices that restate one of them; exactly one
choice is entailed by the context, the others are built the way the NLI demo builds its
non-entailments: the polarity flipped, a modifier the fact lacks, or (the hard, lexical
tail) another number or thing. A tiny encoder learns to pick the entailed choice in English,
and names, digits and word order carry it to the other languages.

Layouts written under the demo root:
  hellaswag/hellaswag_{train,val}.jsonl      ctx_a = the facts, ctx_b = the person, 4 endings
  commonsenseqa/{train,dev}_rand_split.jsonl question.stem + 5 choices labelled A-E, answerKey
  cosmosqa/{train,valid}.csv                 id,context,question,answer0..answer3,label
  COPA/{train,val}.jsonl                     SuperGLUE COPA: premise, choice1, choice2, question, idx, label
  xcopa/data/<lang>/{val,test}.<lang>.jsonl  XCOPA: COPA's fields + changed, one abstract set in 11 languages
  socialiqa-train-dev/{train,dev}.jsonl      Social IQa (AI2's release): context, question, answerA-C, with
  socialiqa-train-dev/{train,dev}-labels.lst the labels 1-3 one per line (XCOPA's first stage in XTREME-R)

COPA's cause/effect question is rendered like the real one, but in this demo the label does
not depend on it (the right choice is always the entailed restatement).
"""
from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

from xtransfer.demo.grammar import (MODIFIERS, Clause, more_general, other, random_premise, render_clause, rng_for,
                                    sentence, synonyms, write_lines)
from xtransfer.demo.lexicon import NO_SPACES, NOUNS, NUMBERS

XCOPA_LANGUAGES = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
COPA_QUESTIONS = ("cause", "effect")
LEXICAL_SHARE = 0.1  # share of two-choice distractors that hinge on a changed content word


@dataclass(frozen=True)
class Item:
    facts: tuple[Clause, ...]   # the context
    about: int                  # the fact every choice restates
    choices: tuple[Clause, ...]
    label: int                  # the entailed choice


def _entailed(rng: random.Random, c: Clause) -> Clause:
    return c if c.neg else more_general(rng, c)


def _distractor(rng: random.Random, c: Clause, kind: str) -> Clause:
    """A restatement of c that the context does not entail."""
    if kind == "flip":  # the negated side no more specific than the fact
        return replace(more_general(rng, c), neg=True) if not c.neg else replace(c, neg=False)
    if kind == "add":   # 'does not buy cars' -> 'buys red cars'; 'buys cars' -> 'buys cars at the park'
        missing = [slot for slot in MODIFIERS if getattr(c, slot) is None]
        slot = rng.choice(missing or list(MODIFIERS))
        return replace(c, neg=False, **{slot: other(rng, list(MODIFIERS[slot]), getattr(c, slot))})
    if kind == "num":
        return replace(_entailed(rng, c), num=other(rng, NUMBERS, c.num))
    return replace(_entailed(rng, c), noun=other(rng, list(NOUNS), c.noun))


def _distractor_kinds(rng: random.Random, n: int) -> list[str]:
    if n == 1:
        return ["num" if rng.random() < LEXICAL_SHARE else rng.choice(("flip", "add"))]
    return ["flip", "add", *rng.sample(("num", "noun"), n - 2)]


def _item(rng: random.Random, n_choices: int, n_facts: int) -> Item:
    facts = random_premise(rng, n_facts)
    about = rng.randrange(n_facts)
    c = facts[about]
    choices = [_entailed(rng, c)] + [_distractor(rng, c, k) for k in _distractor_kinds(rng, n_choices - 1)]
    order = rng.sample(range(n_choices), n_choices)
    # Which synonym a choice uses is independent of the label.
    shuffled = tuple(replace(choices[i], syn=synonyms(rng, ("verb", "noun"))) for i in order)
    return Item(facts, about, shuffled, order.index(0))


def _items(rng: random.Random, n: int, seen: set, n_choices: int, facts: tuple[int, int]) -> list[Item]:
    out = []
    while len(out) < n:
        item = _item(rng, n_choices, rng.randint(*facts))
        meanings = {(c.name, c.verb, c.num, c.noun, c.adj, c.place, c.time, c.neg) for c in item.choices}
        if len(meanings) == n_choices and item not in seen:  # no two choices say the same thing
            seen.add(item)
            out.append(item)
    return out


def _text(lang: str, clause: Clause) -> str:
    return sentence(lang, render_clause(lang, clause))[0]


def _context(lang: str, item: Item) -> str:
    return ("" if lang in NO_SPACES else " ").join(_text(lang, f) for f in item.facts)


def _write_hellaswag(root: Path, seed: int, sizes: dict[str, int], seen: set) -> None:
    for split, n in sizes.items():
        lines = []
        for i, item in enumerate(_items(rng_for(seed, "hellaswag", split), n, seen, 4, (1, 2))):
            name = item.facts[item.about].name
            ctx_a = _context("en", item)
            endings = [" ".join(render_clause("en", c)[1:]) + "." for c in item.choices]  # after the name
            lines.append(json.dumps({
                "ind": i, "activity_label": "Shopping", "ctx_a": ctx_a, "ctx_b": name, "ctx": f"{ctx_a} {name}",
                "split": split, "split_type": "indomain", "label": item.label, "endings": endings,
                "source_id": f"demo~{split}-{i}"}))
        write_lines(root / "hellaswag" / f"hellaswag_{split}.jsonl", lines)


def _write_commonsenseqa(root: Path, seed: int, sizes: dict[str, int], seen: set) -> None:
    for split, n in sizes.items():
        rng = rng_for(seed, "commonsenseqa", split, "meta")
        lines = []
        for item in _items(rng_for(seed, "commonsenseqa", split), n, seen, 5, (1, 1)):
            c = item.facts[item.about]
            labels = "ABCDE"
            lines.append(json.dumps({
                "answerKey": labels[item.label], "id": f"{rng.getrandbits(128):032x}",
                "question": {"question_concept": c.noun,
                             "choices": [{"label": letter, "text": _text("en", x)}
                                         for letter, x in zip(labels, item.choices)],
                             "stem": f"{_context('en', item)} What is true about {c.name}?"}}))
        write_lines(root / "commonsenseqa" / f"{split}_rand_split.jsonl", lines)


def _write_cosmosqa(root: Path, seed: int, sizes: dict[str, int], seen: set) -> None:
    for split, n in sizes.items():
        rng = rng_for(seed, "cosmosqa", split, "meta")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"])
        for i, item in enumerate(_items(rng_for(seed, "cosmosqa", split), n, seen, 4, (2, 3))):
            qid = f"{rng.getrandbits(64):016X}##Blog_{rng.randrange(10 ** 6)}##q1_a1"
            question = f"What is true about {item.facts[item.about].name} ?"  # Cosmos QA's tokenised spacing
            writer.writerow([qid, _context("en", item), question, *(_text("en", c) for c in item.choices), item.label])
        write_lines(root / "cosmosqa" / f"{split}.csv", out.getvalue().splitlines())


def _copa_record(lang: str, item: Item, idx: int, question: str) -> dict:
    return {"premise": _context(lang, item), "choice1": _text(lang, item.choices[0]),
            "choice2": _text(lang, item.choices[1]), "question": question, "idx": idx, "label": item.label}


def _write_copa(root: Path, seed: int, sizes: dict[str, int], seen: set) -> None:
    for split, n in sizes.items():
        rng = rng_for(seed, "copa", split, "meta")
        items = _items(rng_for(seed, "copa", split), n, seen, 2, (1, 1))
        lines = [json.dumps(_copa_record("en", item, i, rng.choice(COPA_QUESTIONS))) for i, item in enumerate(items)]
        write_lines(root / "COPA" / f"{split}.jsonl", lines)


def _write_xcopa(root: Path, seed: int, eval_size: int, seen: set) -> None:
    for split in ("val", "test"):
        items = _items(rng_for(seed, "xcopa", split), eval_size, seen, 2, (1, 1))
        rng = rng_for(seed, "xcopa", split, "meta")
        questions = [rng.choice(COPA_QUESTIONS) for _ in items]
        for lang in XCOPA_LANGUAGES:  # one abstract set "translated" into every language
            lines = [json.dumps({**_copa_record(lang, item, i, q), "changed": False}, ensure_ascii=False)
                     for i, (item, q) in enumerate(zip(items, questions))]
            write_lines(root / "xcopa" / "data" / lang / f"{split}.{lang}.jsonl", lines)


def _write_siqa(root: Path, seed: int, sizes: dict[str, int], seen: set) -> None:
    for split, n in sizes.items():
        lines, labels = [], []
        for item in _items(rng_for(seed, "siqa", split), n, seen, 3, (1, 2)):
            name = item.facts[item.about].name
            answers = dict(zip(("answerA", "answerB", "answerC"), (_text("en", c) for c in item.choices)))
            lines.append(json.dumps({"context": _context("en", item), "question": f"What is true about {name}?",
                                     **answers}))
            labels.append(str(item.label + 1))   # the release's labels are 1-based
        write_lines(root / "socialiqa-train-dev" / f"{split}.jsonl", lines)
        write_lines(root / "socialiqa-train-dev" / f"{split}-labels.lst", labels)


def write_multiple_choice(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    _write_hellaswag(root, seed, {"train": train_size, "val": eval_size}, seen)
    # CommonsenseQA and Cosmos QA are the smaller intermediates, as in the real releases
    _write_commonsenseqa(root, seed, {"train": train_size // 2, "dev": eval_size}, seen)
    _write_cosmosqa(root, seed, {"train": train_size // 2, "valid": eval_size}, seen)
    _write_copa(root, seed, {"train": train_size, "val": eval_size}, seen)
    _write_xcopa(root, seed, eval_size, seen)
    _write_siqa(root, seed, {"train": train_size, "dev": eval_size}, seen)   # last: the others keep their items
