"""The demo's grammar: abstract sentences, their rendering in every language, random draws.

Every sentence states facts over the small concept inventory of ``xtransfer.demo.lexicon``::

    Clause(name="Anna", verb="buy", num=3, noun="car", adj="red", place="park")
    en: "Anna buys 3 red cars at the park."

Each language renders the same facts with its own lexicon and word-order rules, so
parallel data is the same abstract examples rendered in several languages. The writers
(one module per task family) draw abstract examples from ``rng_for(seed, dataset, ...)``
streams and write them with ``write_lines``.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from xtransfer.demo.lexicon import (ADJECTIVES, EVENTS, LEXICONS, NAMES, NO_SPACES, NOUN_ADJ, NOUNS, NUMBERS,
                                    PERSON_VERBS, PLACES, PUNCT, QUESTION_WORDS, THING_VERBS, VERB_FINAL)

# --------------------------------------------------------------------------------------
# Abstract sentences and their rendering.
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clause:
    """'name (does not) verb num adj noun at place before time': 'Anna buys 3 red cars at the park'."""

    name: str
    verb: str
    num: int
    noun: str
    adj: str | None = None
    place: str | None = None
    time: str | None = None  # an event: 'before the storm'
    neg: bool = False
    syn: frozenset[str] = frozenset()  # slots ('verb', 'noun') rendered with their synonym


@dataclass(frozen=True)
class Question:
    """'wh does name (not) verb adj noun before time': 'Where does Anna buy red cars?'."""

    wh: str
    name: str
    verb: str
    noun: str
    adj: str | None = None
    time: str | None = None
    neg: bool = False
    syn: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Event:
    """'agent verb patient at place before event': 'Anna helps Omar at the park before the lunch'."""

    agent: str
    verb: str
    patient: str
    place: str
    event: str
    fronted: bool = False  # time phrase first: 'Before the lunch, Anna helps Omar ...'
    syn: frozenset[str] = frozenset()


def render_word(lang: str, key: str, synonym: bool = False) -> list[str]:
    """The words of ``key``'s (synonym) form in ``lang``: 'fn:at' -> ['at', 'the']."""
    cache_key = (lang, key, synonym)
    if cache_key not in _WORDS:  # memoised: rendering is the hot loop; lexicon entries never change
        forms = LEXICONS[lang][key]
        _WORDS[cache_key] = tuple(w for w in forms[1 if synonym and len(forms) > 1 else 0].split(" ") if w)
    return list(_WORDS[cache_key])


_WORDS: dict[tuple[str, str, bool], tuple[str, ...]] = {}


def render_verb(lang: str, verb: str, synonym: bool, base: bool = False) -> list[str]:
    if lang != "en":
        return render_word(lang, f"verb:{verb}", synonym)
    forms = {**THING_VERBS, **PERSON_VERBS}[verb][1 if synonym else 0]
    return [forms[1] if base else forms[0]]


def render_noun_phrase(lang: str, num: int | None, adj: str | None, noun: str, syn: bool) -> list[str]:
    noun_words = render_word(lang, f"noun:{noun}", syn)
    adj_words = render_word(lang, f"adj:{adj}") if adj else []
    phrase = noun_words + adj_words if lang in NOUN_ADJ else adj_words + noun_words
    return ([str(num)] if num is not None else []) + phrase


def _postposed(lang: str, key: str, words: list[str]) -> list[str]:
    """'at the market' in most languages, 'market at' in verb-final ones."""
    return words + render_word(lang, key) if lang in VERB_FINAL else render_word(lang, key) + words


def _place(lang: str, place: str | None) -> list[str]:
    return _postposed(lang, "fn:at", render_word(lang, f"place:{place}")) if place else []


def _time(lang: str, event: str | None) -> list[str]:
    return _postposed(lang, "fn:before", render_word(lang, f"event:{event}")) if event else []


def render_clause(lang: str, c: Clause) -> list[str]:
    obj = render_noun_phrase(lang, c.num, c.adj, c.noun, "noun" in c.syn)
    verb = render_verb(lang, c.verb, "verb" in c.syn, base=c.neg)
    if lang == "en" and c.neg:
        verb = ["does", "not", *verb]
    elif c.neg:  # the negation particle follows a final verb and precedes the others
        verb = [*verb, *render_word(lang, "fn:not")] if lang in VERB_FINAL else [*render_word(lang, "fn:not"), *verb]
    if lang in VERB_FINAL:
        return [c.name, *_time(lang, c.time), *_place(lang, c.place), *obj, *render_word(lang, "fn:obj"), *verb]
    return [c.name, *verb, *obj, *_place(lang, c.place), *_time(lang, c.time)]


def render_question(lang: str, q: Question) -> list[str]:
    wh = render_word(lang, f"wh:{q.wh}")
    obj = render_noun_phrase(lang, None, q.adj, q.noun, "noun" in q.syn)
    verb = render_verb(lang, q.verb, "verb" in q.syn, base=True)
    if q.neg:
        verb = [*verb, *render_word(lang, "fn:not")] if lang in VERB_FINAL else [*render_word(lang, "fn:not"), *verb]
    if lang == "en":
        return [*wh, "does", q.name, *verb, *obj, *_time(lang, q.time)]
    if lang in VERB_FINAL:
        return [q.name, *_time(lang, q.time), *obj, *render_word(lang, "fn:obj"), *wh, *verb]
    return [*wh, q.name, *verb, *obj, *_time(lang, q.time)]


def render_event(lang: str, e: Event) -> list[str]:
    place, time = _place(lang, e.place), _time(lang, e.event)
    front = [*time, ","] if e.fronted else []
    back = [] if e.fronted else time
    verb = render_verb(lang, e.verb, "verb" in e.syn)
    if lang in VERB_FINAL:  # the verb stays last, after an unfronted time phrase
        return [*front, e.agent, e.patient, *render_word(lang, "fn:obj"), *place, *back, *verb]
    return [*front, e.agent, *verb, e.patient, *place, *back]


def sentence(lang: str, words: list[str], question: bool = False) -> tuple[str, str]:
    """Return (surface text, space-tokenised text), like XNLI's sentence / sentence_tokenized."""
    end = PUNCT.get(lang, (".", "?"))[1 if question else 0]
    if lang == "en":
        words = [words[0][0].upper() + words[0][1:], *words[1:]]
    text = ("" if lang in NO_SPACES else " ").join(words).replace(" ,", ",") + end
    return text, " ".join(words + ([end] if end else []))


def join_clauses(lang: str, clauses: tuple[Clause, ...]) -> list[str]:
    words = render_clause(lang, clauses[0])
    for c in clauses[1:]:
        words += [*render_word(lang, "fn:and"), *render_clause(lang, c)]
    return words


# --------------------------------------------------------------------------------------
# Random abstract sentences.
# --------------------------------------------------------------------------------------
def rng_for(seed: int, *names: str) -> random.Random:
    """Independent stream per (seed, dataset): datasets never share examples by accident."""
    return random.Random(f"xtransfer-demo:{seed}:" + "/".join(names))


def other(rng: random.Random, options, current):
    return rng.choice([o for o in options if o != current])


def synonyms(rng: random.Random, slots: tuple[str, ...], p: float = 0.3) -> frozenset[str]:
    return frozenset(s for s in slots if rng.random() < p)


def random_clause(rng: random.Random, name: str) -> Clause:
    return Clause(
        name=name,
        verb=rng.choice(list(THING_VERBS)),
        num=rng.choice(NUMBERS),
        noun=rng.choice(list(NOUNS)),
        adj=rng.choice(list(ADJECTIVES)) if rng.random() < 0.4 else None,
        place=rng.choice(list(PLACES)) if rng.random() < 0.4 else None,
        time=rng.choice(list(EVENTS)) if rng.random() < 0.3 else None,
        neg=rng.random() < 0.3,
        syn=synonyms(rng, ("verb", "noun")),
    )


def random_premise(rng: random.Random, n_clauses: int) -> tuple[Clause, ...]:
    return tuple(random_clause(rng, name) for name in rng.sample(NAMES, n_clauses))


MODIFIERS = {"adj": ADJECTIVES, "place": PLACES, "time": EVENTS}


def more_general(rng: random.Random, c: Clause) -> Clause:
    """Drop each modifier with probability 1/2: 'buys 3 red cars at the park' -> 'buys 3 cars'."""
    return replace(c, **{slot: None for slot in MODIFIERS if rng.random() < 0.5})


def random_question(rng: random.Random) -> Question:
    return Question(
        wh=rng.choice(list(QUESTION_WORDS)),
        name=rng.choice(NAMES),
        verb=rng.choice(list(THING_VERBS)),
        noun=rng.choice(list(NOUNS)),
        adj=rng.choice(list(ADJECTIVES)) if rng.random() < 0.5 else None,
        time=rng.choice(list(EVENTS)) if rng.random() < 0.5 else None,
        neg=rng.random() < 0.5,  # 1/2 each, so that adding or removing one tells nothing
        syn=synonyms(rng, ("verb", "noun")),
    )


def random_event(rng: random.Random) -> Event:
    agent, patient = rng.sample(NAMES, 2)
    return Event(agent, rng.choice(list(PERSON_VERBS)), patient, rng.choice(list(PLACES)), rng.choice(list(EVENTS)),
                 fronted=rng.random() < 0.5, syn=synonyms(rng, ("verb",), 0.5))


# --------------------------------------------------------------------------------------
# Files.
# --------------------------------------------------------------------------------------
def write_lines(path: Path, lines: list[str]) -> None:
    """Write via a temporary file + os.replace, so a crash never leaves a truncated file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(line + "\n" for line in lines))
        os.chmod(tmp, 0o644)  # mkstemp creates the file private
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
