"""Synthetic extractive-QA datasets in the real raw layouts (see lexicon.py and grammar.py):

    squad/{train,dev}-v1.1.json, squad/{train,dev}-v2.0.json     English intermediate tasks
    translate-train/squad.translate.train.en-<lang>.json           SQuAD train 'translated' (XTREME)
    xquad/xquad.<lang>.json                                       one parallel set, 11 languages
    MLQA_V1/{dev,test}/{dev,test}-context-<l>-question-<l>.json   parallel, 7 languages
    tydiqa/tydiqa-goldp-v1.1-{train,dev}.json                     ids prefixed by the language name

A context is two facts ('Anna buys 3 red cars at the park and Omar sees 5 cups.'); a question
asks for one fact's person ('Who buys red cars?'), number ('How many cups does Omar see?') or
place ('Where does Anna buy cars?'), so answers are a name, a digit or a place word. Verbs and
nouns differ between the facts of a context, so every question has one answer. SQuAD v2's
unanswerable questions ask about a verb/noun pair that no fact of the context has.
"""
from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

from xtransfer.data.formats.span import TYDIQA_LANGUAGES
from xtransfer.demo.grammar import (Clause, Question, join_clauses, render_clause, render_noun_phrase, render_question,
                                    render_verb, render_word, rng_for, sentence, write_lines)
from xtransfer.demo.lexicon import ADJECTIVES, NAMES, NO_SPACES, NOUNS, NUMBERS, PLACES, THING_VERBS, VERB_FINAL

XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
XQUAD_R_EXTRA = ("ro",)   # XTREME-R's XQuAD language (no translate-train file: XTREME's translations predate it)
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
TYDIQA_DEMO_LANGUAGES = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")
TYDIQA_NAMES = {code: name for name, code in TYDIQA_LANGUAGES.items()}

# ---- abstract examples ---------------------------------------------------------------
def _context(rng: random.Random) -> tuple[Clause, ...]:
    """Two positive facts with distinct people, verbs and nouns (so each question has one answer).
    Two, not more: the tiny demo model learns to pick the right fact of two in a minute."""
    n = 2
    names = rng.sample(NAMES, n)
    verbs, nouns = rng.sample(list(THING_VERBS), n), rng.sample(list(NOUNS), n)
    return tuple(Clause(name, verb, rng.choice(NUMBERS), noun,
                        adj=rng.choice(list(ADJECTIVES)) if rng.random() < 0.4 else None,
                        place=rng.choice(list(PLACES)) if rng.random() < 0.5 else None)
                 for name, verb, noun in zip(names, verbs, nouns))


def _question(rng: random.Random, facts: tuple[Clause, ...]) -> tuple[int, str]:
    """(which fact, what it asks: who | howmany | where)."""
    k = rng.randrange(len(facts))
    kinds = ["who", "howmany"] + (["where"] if facts[k].place else [])
    return k, rng.choice(kinds)


def _unanswerable(rng: random.Random, facts: tuple[Clause, ...]) -> Clause:
    """A fact whose verb/noun pair the context lacks."""
    pairs = {(c.verb, c.noun) for c in facts}
    while True:
        c = replace(facts[0], verb=rng.choice(list(THING_VERBS)), noun=rng.choice(list(NOUNS)))
        if (c.verb, c.noun) not in pairs:
            return c


# ---- rendering -------------------------------------------------------------------------
def _question_text(lang: str, c: Clause, kind: str) -> str:
    if kind == "where":
        q = Question("where", c.name, c.verb, c.noun, adj=c.adj)
        return sentence(lang, render_question(lang, q), question=True)[0]
    wh = render_word(lang, f"wh:{kind}")
    obj = render_noun_phrase(lang, c.num if kind == "who" else None, c.adj, c.noun, False)
    if kind == "who":
        verb = render_verb(lang, c.verb, False)
        words = [*wh, *obj, *render_word(lang, "fn:obj"), *verb] if lang in VERB_FINAL else [*wh, *verb, *obj]
    elif lang == "en":
        words = [*wh, *obj, "does", c.name, *render_verb(lang, c.verb, False, base=True)]
    else:
        verb = render_verb(lang, c.verb, False)
        words = ([c.name, *wh, *obj, *render_word(lang, "fn:obj"), *verb] if lang in VERB_FINAL
                 else [*wh, *obj, c.name, *verb])
    return sentence(lang, words, question=True)[0]


def _answer_words(lang: str, c: Clause, kind: str) -> list[str]:
    if kind == "where":
        return render_word(lang, f"place:{c.place}")
    return [c.name] if kind == "who" else [str(c.num)]


def _render(lang: str, facts: tuple[Clause, ...], k: int, kind: str) -> tuple[str, str, int]:
    """(context, answer text, answer_start): the answer located in fact k's words."""
    context = sentence(lang, join_clauses(lang, facts))[0]
    words_before = [*join_clauses(lang, facts[:k]), *render_word(lang, "fn:and")] if k else []
    fact = render_clause(lang, facts[k])
    answer = _answer_words(lang, facts[k], kind)
    at = next(i for i in range(len(fact)) if fact[i:i + len(answer)] == answer)
    sep = "" if lang in NO_SPACES else " "
    prefix = sep.join(words_before + fact[:at])
    start = len(prefix) + (len(sep) if prefix else 0)
    text = sep.join(answer)
    assert context[start:start + len(text)].lower() == text.lower(), (context, text, start)
    return context, context[start:start + len(text)], start  # the context's case ('Anna' stays 'Anna')


def _squad_json(version: str, articles: list[dict]) -> list[str]:
    return [json.dumps({"version": version, "data": articles}, ensure_ascii=False)]


def _article(title: str, paragraphs: list[dict]) -> dict:
    return {"title": title, "paragraphs": paragraphs}


def _examples(rng: random.Random, n: int) -> list[tuple[tuple[Clause, ...], int, str]]:
    out = []
    for _ in range(n):
        facts = _context(rng)
        out.append((facts, *_question(rng, facts)))
    return out


def _paragraphs(lang: str, examples, id_of, v2_rng: random.Random | None = None) -> list[dict]:
    paragraphs = []
    for i, (facts, k, kind) in enumerate(examples):
        context, text, start = _render(lang, facts, k, kind)
        qa = {"id": id_of(i), "question": _question_text(lang, facts[k], kind),
              "answers": [{"text": text, "answer_start": start}]}
        if v2_rng is not None:
            qa["is_impossible"] = False
            if v2_rng.random() < 1 / 3:
                qa.update(question=_question_text(lang, _unanswerable(v2_rng, facts), kind if kind != "where" else "who"),
                          answers=[], plausible_answers=qa["answers"], is_impossible=True)
        paragraphs.append({"context": context, "qas": [qa]})
    return paragraphs


def _write_squad(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    for version, suffix in (("1.1", "v1.1"), ("v2.0", "v2.0")):
        for split, n in (("train", train_size), ("dev", eval_size)):
            examples = _examples(rng_for(seed, "squad", suffix, split), n)
            v2 = rng_for(seed, "squad", suffix, split, "unanswerable") if version == "v2.0" else None
            paragraphs = _paragraphs("en", examples, lambda i: f"{split}{suffix}{i:06x}", v2)
            articles = [_article(f"Demo article {a}", paragraphs[a:a + 20]) for a in range(0, len(paragraphs), 20)]
            write_lines(root / "squad" / f"{split}-{suffix}.json", _squad_json(version, articles))


def _write_squad_translate_train(root: Path, seed: int, train_size: int) -> None:
    """XTREME's translate-train data: the first half of SQuAD v1.1 train 'machine-translated'
    into every XQuAD language (the same facts rendered in each language's lexicon)."""
    examples = _examples(rng_for(seed, "squad", "v1.1", "train"), train_size)[: train_size // 2]
    for lang in XQUAD_LANGUAGES:
        if lang != "en":
            paragraphs = _paragraphs(lang, examples, lambda i: f"mt-{lang}-{i:06x}")
            write_lines(root / "translate-train" / f"squad.translate.train.en-{lang}.json",
                        _squad_json("v1.1", [_article("Demo article", paragraphs)]))


def _write_xquad(root: Path, seed: int, eval_size: int) -> None:
    examples = _examples(rng_for(seed, "xquad"), eval_size)
    for lang in XQUAD_LANGUAGES + XQUAD_R_EXTRA:
        paragraphs = _paragraphs(lang, examples, lambda i: f"xquad{i:024x}")
        write_lines(root / "xquad" / f"xquad.{lang}.json", _squad_json("1.0", [_article("Demo", paragraphs)]))


def _write_mlqa(root: Path, seed: int, eval_size: int) -> None:
    for split, n in (("dev", max(2, eval_size // 2)), ("test", eval_size)):
        examples = _examples(rng_for(seed, "mlqa", split), n)
        for lang in MLQA_LANGUAGES:
            paragraphs = _paragraphs(lang, examples, lambda i: f"{split}{i:036x}")
            write_lines(root / "MLQA_V1" / split / f"{split}-context-{lang}-question-{lang}.json",
                        _squad_json("1.0", [_article("Demo", paragraphs)]))


def _write_tydiqa(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    """Train: English plus a few questions in every other language (XTREME keeps the English ones)."""
    for split, sizes in (("train", {"en": train_size}), ("dev", {})):
        articles = []
        for lang in TYDIQA_DEMO_LANGUAGES:
            n = sizes.get(lang, eval_size if split == "dev" else max(2, eval_size // 4))
            examples = _examples(rng_for(seed, "tydiqa", split, lang), n)
            name = TYDIQA_NAMES[lang]
            paragraphs = _paragraphs(lang, examples, lambda i: f"{name}-{1000 + i}-0")
            articles.append(_article(f"Demo {name}", paragraphs))
        write_lines(root / "tydiqa" / f"tydiqa-goldp-v1.1-{split}.json",
                    [json.dumps({"data": articles}, ensure_ascii=False)])


def write_span_data(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    _write_squad(root, seed, train_size, eval_size)
    _write_squad_translate_train(root, seed, train_size)
    _write_xquad(root, seed, eval_size)
    _write_mlqa(root, seed, eval_size)
    _write_tydiqa(root, seed, train_size, eval_size)
