"""Small, deterministic, synthetic stand-ins for the datasets xtransfer reads.

``generate_demo_data(root)`` writes MNLI, QQP, ANLI, SNLI, XNLI, XNLI-MT, PAWS-X and
monolingual corpora under ``root`` in the *raw file layouts of the real releases*
(same paths, headers, column order and label strings), so the real readers parse them
and the whole pipeline can run offline on a CPU in minutes.

Task design
-----------
Every sentence states facts over a small concept inventory::

    Clause(name="Anna", verb="buy", num=3, noun="car", adj="red", place="park")
    en: "Anna buys 3 red cars at the park."

Each language renders the same facts with its own lexicon: English uses real words,
every other language deterministic pseudo-words in its own script (Cyrillic for bg/ru,
Greek for el, Arabic for ar/ur, Devanagari for hi, Thai for th, CJK for zh/ja, Hangul for
ko, Latin with language-specific letters for the rest) and a few word-order rules
(verb-final hi/ja/ko/tr/ur, noun-adjective ar/es/fr/sw/th/vi, no spaces ja/th/zh).
Shared anchors make zero-shot transfer from English possible but imperfect: names and
digits are written the same everywhere, and Latin-script languages borrow some English
words. Every verb and noun has two surface forms (synonyms) in every language.

The labels are relations *between* the two sentences, never a marker in one of them:

* NLI (MNLI, SNLI, ANLI, XNLI, XNLI-MT): the hypothesis restates one premise fact.
  entailment = the same fact, if positive maybe less specific; neutral = a positive
  fact made more specific (a modifier the premise does not give); contradiction = the
  fact with its polarity flipped. ANLI contexts hold 2-3 facts, so the model must also
  find the right one (it is the hard task).
* QQP: duplicates reword the verb or noun with its synonym; non-duplicates ask the
  negated or a more/less specific question ('Why does Anna buy cars?' / 'Why does Anna
  not buy cars?' / 'Why does Anna buy red cars?').
* PAWS-X: both sentences use (almost) the same words. Paraphrase = verb synonym and/or
  fronted time phrase; non-paraphrase = agent and patient swapped.

A tiny encoder trained for a minute learns such structural relations but hardly learns
to match content words across the sentences, so only ``LEXICAL_SHARE`` of the
non-entailments / non-duplicates / non-paraphrases hinge on a changed content word
(another person or number, another question word, ...): the hard tail. As in real NLI
data, an NLI hypothesis alone carries weak cues (negation, length): a hypothesis-only model
reaches 0.67 on demo MNLI against 0.90 with both sentences. They help a tiny model get
started; removing them dropped 3-epoch accuracy to 0.64-0.71.

Parallel data is rendered from the same abstract examples in every language, as in
the real releases: XNLI dev/test and PAWS-X dev/test are "translations" of one set of
examples, XNLI-MT is the first half of MNLI train "translated", PAWS-X translated_train
is the English train "translated". Everything else is drawn from a random stream seeded
by (seed, dataset name), and abstract examples are de-duplicated across datasets.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["DEMO_LANGUAGES", "XNLI_LANGUAGES", "PAWSX_LANGUAGES", "generate_demo_data"]

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
DEMO_LANGUAGES = tuple(sorted(set(XNLI_LANGUAGES) | set(PAWSX_LANGUAGES)))

# --------------------------------------------------------------------------------------
# Concept inventory (English surface forms). Verbs are (3rd person singular, base form);
# the second entry of a verb or noun is its synonym, used for paraphrases.
# --------------------------------------------------------------------------------------
NAMES = ("Anna", "Omar", "Li", "Maria", "Ivan", "Sara", "Kenji", "Amir", "Lena", "Raj", "Nora", "Pablo")
NUMBERS = tuple(range(2, 10))

THING_VERBS = {
    "buy": (("buys", "buy"), ("purchases", "purchase")),
    "see": (("sees", "see"), ("notices", "notice")),
    "cook": (("cooks", "cook"), ("prepares", "prepare")),
    "find": (("finds", "find"), ("discovers", "discover")),
    "fix": (("fixes", "fix"), ("repairs", "repair")),
    "wash": (("washes", "wash"), ("cleans", "clean")),
    "get": (("gets", "get"), ("receives", "receive")),
    "want": (("wants", "want"), ("desires", "desire")),
    "lose": (("loses", "lose"), ("misplaces", "misplace")),
    "pick": (("picks", "pick"), ("chooses", "choose")),
}
PERSON_VERBS = {  # PAWS-X: agent VERB patient
    "help": (("helps", "help"), ("assists", "assist")),
    "call": (("calls", "call"), ("phones", "phone")),
    "teach": (("teaches", "teach"), ("instructs", "instruct")),
    "hire": (("hires", "hire"), ("employs", "employ")),
    "pay": (("pays", "pay"), ("compensates", "compensate")),
    "warn": (("warns", "warn"), ("alerts", "alert")),
    "greet": (("greets", "greet"), ("welcomes", "welcome")),
    "visit": (("visits", "visit"), ("sees", "see")),
}
NOUNS = {  # always plural: numbers start at 2
    "car": ("cars", "automobiles"),
    "bike": ("bikes", "bicycles"),
    "cup": ("cups", "mugs"),
    "box": ("boxes", "crates"),
    "phone": ("phones", "telephones"),
    "photo": ("photos", "pictures"),
    "stone": ("stones", "rocks"),
    "bag": ("bags", "sacks"),
    "gift": ("gifts", "presents"),
    "coat": ("coats", "jackets"),
}
ADJECTIVES = {a: (a,) for a in ("red", "blue", "green", "old", "new", "small", "big", "cheap", "heavy")}
PLACES = {p: (p,) for p in ("market", "park", "school", "station", "kitchen", "office", "garden", "harbor", "museum")}
EVENTS = {e: (e,) for e in ("festival", "lunch", "dinner", "storm", "game", "concert", "meeting", "exam")}
QUESTION_WORDS = {w: (w,) for w in ("where", "why", "when", "how")}
# Only the QA demo asks these; last in the lexicon, so adding them left every other word as it was.
SPAN_QUESTION_WORDS = {"who": ("who",), "howmany": ("how many",)}
FUNCTION_WORDS = {"and": ("and",), "not": ("not",), "at": ("at the",), "before": ("before the",), "obj": ("",)}

# --------------------------------------------------------------------------------------
# Languages: script (syllable pools), word length in syllables, and word-order rules.
# --------------------------------------------------------------------------------------
VERB_FINAL = frozenset({"hi", "ja", "ko", "tr", "ur"})
NOUN_ADJ = frozenset({"ar", "es", "fr", "sw", "th", "vi"})
NO_SPACES = frozenset({"ja", "th", "zh"})
# Latin-script languages borrow some English words verbatim (loanwords): beyond names and
# digits, these shared words are what lets zero-shot transfer work better for them than
# for languages in other scripts, as it does for real cross-lingual models.
LOANWORD_RATE = {"de": 0.3, "es": 0.25, "fr": 0.25, "sw": 0.15, "tr": 0.15, "vi": 0.1}
PUNCT = {  # (statement end, question end); default (".", "?")
    "zh": ("。", "？"), "ja": ("。", "？"), "hi": ("।", "?"), "ur": ("۔", "؟"), "ar": (".", "؟"),
    "el": (".", ";"), "th": ("", ""),
}


def _cross(onsets: str, vowels: str) -> list[str]:
    return [c + v for c in onsets.split() for v in vowels.split()]


def _char_range(first: int, last: int) -> list[str]:
    return [chr(c) for c in range(first, last + 1)]


def _hangul() -> list[str]:
    # Compose a fixed subset of Hangul syllables: 0xAC00 + (initial * 21 + medial) * 28 + final.
    return [chr(0xAC00 + (i * 21 + m) * 28 + f) for i in range(0, 19, 2) for m in range(0, 21, 3) for f in (0, 4, 8)]


_CJK = _char_range(0x4E00, 0x4FFF)
_KANA = _char_range(0x3042, 0x3093)  # hiragana
# lang -> (syllable pool, (min, max) syllables per word, separator between syllables)
_SCRIPTS: dict[str, tuple[list[str], tuple[int, int], str]] = {
    "de": (_cross("b d f g k l m n r s t w sch pf z", "a e i o u ä ö ü ei au"), (2, 3), ""),
    "es": (_cross("b c d g l m n ñ p r s t ll ch", "a e i o u á é ó"), (2, 3), ""),
    "fr": (_cross("b d f g l m n p r s t v ch j", "a e i o ou é è eau ai"), (2, 3), ""),
    "sw": (_cross("b d g k l m mb nd ng p s t w ch ny", "a e i o u"), (2, 4), ""),
    "tr": (_cross("b c ç d g ğ k l m n s ş t y", "a e ı i o ö u ü"), (2, 3), ""),
    "vi": (_cross("b ch đ g h kh l m n ng nh ph t th tr v x", "a ă â e ê o ô ơ u ư à ạ ế ờ ữ"), (1, 2), " "),
    "ru": (_cross("б в г д ж з к л м н п р с т х ч ш", "а е и о у ы я ю"), (2, 3), ""),
    "bg": (_cross("б в г д ж з к л м н п р с т ц ч щ", "а е и о у ъ я ю"), (2, 3), ""),
    "el": (_cross("β γ δ ζ θ κ λ μ ν ξ π ρ σ τ φ χ", "α ε η ι ο υ ω ά έ ί ό"), (2, 3), ""),
    "ar": (_cross("ب ت ث ج ح خ د ذ ر ز س ش ص ط ع غ ف ق ك ل م ن ه", "ا و ي"), (2, 3), ""),
    "ur": (_cross("ب پ ت ٹ ج چ د ڈ ر ڑ ز س ش ک گ ل م ن ہ", "ا و ی ے"), (2, 3), ""),
    "hi": (_cross("क ख ग च ज ट ड त द न प ब म य र ल व स ह", "ा ि ी ु ू े ो"), (2, 3), ""),
    "th": (_cross("ก ข ค ง จ ช ด ต ท น บ ป พ ม ย ร ล ว ส ห", "า ิ ี ุ ู ะ ั"), (2, 3), ""),
    "zh": (_CJK, (1, 2), ""),
    "ja": (_KANA + _CJK[:64], (2, 3), ""),  # shares some characters with zh, as real Japanese does
    "ko": (_hangul(), (2, 3), ""),
    # Languages only some demos render (XCOPA, TyDiQA, UD/PAN-X, Tatoeba). Latin-script ones share the
    # tiny tokenizer's alphabet; the others are unseen scripts, where only names and digits carry over.
    "et": (_cross("k l m n p r s t v h j", "a e i o u õ ä ü"), (2, 3), ""),
    "ht": (_cross("b d f k l m n p r s t v w y ch", "a e i o ou è an on"), (1, 2), ""),
    "id": (_cross("b c d g k l m n p r s t j ng", "a e i o u"), (2, 3), ""),
    "it": (_cross("b c d f g l m n p r s t v z gl", "a e i o u à è ò"), (2, 3), ""),
    "qu": (_cross("ch k ll m n p q r s t w y", "a i u"), (2, 4), ""),
    "ta": (_cross("க ங ச ஞ ட ண த ந ப ம ய ர ல வ", "ா ி ீ ு ூ ெ ே ை ொ"), (2, 3), ""),
    "bn": (_cross("ক খ গ চ জ ট ড ত দ ন প ব ম র ল স হ", "া ি ী ু ে ো"), (2, 3), ""),
    "te": (_cross("క గ చ జ ట డ త ద న ప బ మ ర ల వ స", "ా ి ీ ు ె ో"), (2, 3), ""),
    "fi": (_cross("h j k l m n p r s t v", "a e i o u y ä ö"), (2, 4), ""),
    "af": (_cross("b d f g k l m n p r s t v w", "a e i o u aa ee oe ie"), (2, 3), ""),
    "eu": (_cross("b d g k l m n p r s t x z tx tz", "a e i o u"), (2, 3), ""),
    "hu": (_cross("b d f g h k l m n p r s t v z sz gy", "a e i o u á é ö ü"), (2, 3), ""),
    "nl": (_cross("b d f g h k l m n p r s t v w z", "a e i o u aa oo ij ui"), (2, 3), ""),
    "pt": (_cross("b c d f g l m n p r s t v ch lh nh", "a e i o u ã é ô"), (2, 3), ""),
    "tl": (_cross("b d g h k l m n p s t w y ng", "a e i o u"), (2, 3), ""),
    "yo": (_cross("b d f g gb j k l m n r s ṣ t w y", "a e ẹ i o ọ u"), (2, 3), ""),
    "jv": (_cross("b c d g j k l m n p r s t w ng ny", "a e é i o u"), (2, 3), ""),
    "ms": (_cross("b c d g h j k l m n p r s t ng", "a e i o u"), (2, 3), ""),
    "kk": (_cross("б ғ д ж з к қ л м н п р с т ш", "а ә е ы і о ө ұ ү"), (2, 3), ""),
    "fa": (_cross("ب پ ت ج چ د ر ز ژ س ش ف ک گ ل م ن", "ا و ی"), (2, 3), ""),
    "he": (_cross("ב ג ד ז ח ט כ ל מ נ ס פ צ ק ר ש ת", "ו י"), (2, 3), ""),
    "mr": (_cross("क ख ग च ज ट ड ण त द न प ब म ळ र ल व स", "ा ि ी ु ू े ो"), (2, 3), ""),
    "ml": (_cross("ക ഗ ച ജ ട ഡ ത ദ ന പ ബ മ യ ര ല വ സ", "ാ ി ീ ു ൂ െ ോ"), (2, 3), ""),
    "ka": (_cross("ბ გ დ ვ ზ თ კ ლ მ ნ პ რ ს ტ ქ შ ც", "ა ე ი ო უ"), (2, 3), ""),
    "my": (_cross("က ခ ဂ င စ ဆ ည တ ထ ဒ န ပ ဖ ဗ မ ယ ရ လ သ", "ာ ိ ီ ု ူ ေ"), (1, 2), ""),
}


def _english_lexicon() -> dict[str, tuple[str, ...]]:
    """Every lexicon key ('verb:buy', 'noun:car', ...) -> its English forms."""
    table: dict[str, tuple[str, ...]] = {}
    for verbs in (THING_VERBS, PERSON_VERBS):
        for key, forms in verbs.items():
            table[f"verb:{key}"] = tuple(f[0] for f in forms)
    for prefix, group in (("noun", NOUNS), ("adj", ADJECTIVES), ("place", PLACES), ("event", EVENTS),
                          ("wh", QUESTION_WORDS), ("fn", FUNCTION_WORDS), ("wh", SPAN_QUESTION_WORDS)):
        for key, forms in group.items():
            table[f"{prefix}:{key}"] = forms
    return table


def _pseudo_lexicon(lang: str) -> dict[str, tuple[str, ...]]:
    """Deterministic pseudo-words in ``lang``'s script, one per English form, all distinct.

    Seeded by the language only, so a language's lexicon is the same for every seed."""
    pool, (lo, hi), sep = _SCRIPTS[lang]
    rng = random.Random(f"xtransfer-demo-lexicon:{lang}")
    used: set[str] = set(NAMES)
    lexicon = {}
    for key, forms in _EN_LEXICON.items():
        words = []
        for english in forms:
            loan = rng.random() < LOANWORD_RATE.get(lang, 0.0)
            word = english if loan and english and english not in used else ""
            while not word or word in used:
                word = sep.join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))
            used.add(word)
            words.append(word)
        lexicon[key] = tuple(words)
    lexicon["fn:obj"] = lexicon["fn:obj"] if lang in VERB_FINAL else ("",)  # object marker only if verb-final
    return lexicon


_EN_LEXICON = _english_lexicon()
_LEXICONS = {"en": _EN_LEXICON} | {lang: _pseudo_lexicon(lang) for lang in _SCRIPTS}


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


def _word(lang: str, key: str, synonym: bool = False) -> list[str]:
    """The words of ``key``'s (synonym) form in ``lang``: 'fn:at' -> ['at', 'the']."""
    cache_key = (lang, key, synonym)
    if cache_key not in _WORDS:  # memoised: rendering is the hot loop; lexicon entries never change
        forms = _LEXICONS[lang][key]
        _WORDS[cache_key] = tuple(w for w in forms[1 if synonym and len(forms) > 1 else 0].split(" ") if w)
    return list(_WORDS[cache_key])


_WORDS: dict[tuple[str, str, bool], tuple[str, ...]] = {}


def _verb(lang: str, verb: str, synonym: bool, base: bool = False) -> list[str]:
    if lang != "en":
        return _word(lang, f"verb:{verb}", synonym)
    forms = {**THING_VERBS, **PERSON_VERBS}[verb][1 if synonym else 0]
    return [forms[1] if base else forms[0]]


def _noun_phrase(lang: str, num: int | None, adj: str | None, noun: str, syn: bool) -> list[str]:
    noun_words = _word(lang, f"noun:{noun}", syn)
    adj_words = _word(lang, f"adj:{adj}") if adj else []
    phrase = noun_words + adj_words if lang in NOUN_ADJ else adj_words + noun_words
    return ([str(num)] if num is not None else []) + phrase


def _postposed(lang: str, key: str, words: list[str]) -> list[str]:
    """'at the market' in most languages, 'market at' in verb-final ones."""
    return words + _word(lang, key) if lang in VERB_FINAL else _word(lang, key) + words


def _place(lang: str, place: str | None) -> list[str]:
    return _postposed(lang, "fn:at", _word(lang, f"place:{place}")) if place else []


def _time(lang: str, event: str | None) -> list[str]:
    return _postposed(lang, "fn:before", _word(lang, f"event:{event}")) if event else []


def _render_clause(lang: str, c: Clause) -> list[str]:
    obj = _noun_phrase(lang, c.num, c.adj, c.noun, "noun" in c.syn)
    verb = _verb(lang, c.verb, "verb" in c.syn, base=c.neg)
    if lang == "en" and c.neg:
        verb = ["does", "not", *verb]
    elif c.neg:  # the negation particle follows a final verb and precedes the others
        verb = [*verb, *_word(lang, "fn:not")] if lang in VERB_FINAL else [*_word(lang, "fn:not"), *verb]
    if lang in VERB_FINAL:
        return [c.name, *_time(lang, c.time), *_place(lang, c.place), *obj, *_word(lang, "fn:obj"), *verb]
    return [c.name, *verb, *obj, *_place(lang, c.place), *_time(lang, c.time)]


def _render_question(lang: str, q: Question) -> list[str]:
    wh = _word(lang, f"wh:{q.wh}")
    obj = _noun_phrase(lang, None, q.adj, q.noun, "noun" in q.syn)
    verb = _verb(lang, q.verb, "verb" in q.syn, base=True)
    if q.neg:
        verb = [*verb, *_word(lang, "fn:not")] if lang in VERB_FINAL else [*_word(lang, "fn:not"), *verb]
    if lang == "en":
        return [*wh, "does", q.name, *verb, *obj, *_time(lang, q.time)]
    if lang in VERB_FINAL:
        return [q.name, *_time(lang, q.time), *obj, *_word(lang, "fn:obj"), *wh, *verb]
    return [*wh, q.name, *verb, *obj, *_time(lang, q.time)]


def _render_event(lang: str, e: Event) -> list[str]:
    place, time = _place(lang, e.place), _time(lang, e.event)
    front = [*time, ","] if e.fronted else []
    back = [] if e.fronted else time
    verb = _verb(lang, e.verb, "verb" in e.syn)
    if lang in VERB_FINAL:  # the verb stays last, after an unfronted time phrase
        return [*front, e.agent, e.patient, *_word(lang, "fn:obj"), *place, *back, *verb]
    return [*front, e.agent, *verb, e.patient, *place, *back]


def _sentence(lang: str, words: list[str], question: bool = False) -> tuple[str, str]:
    """Return (surface text, space-tokenised text), like XNLI's sentence / sentence_tokenized."""
    end = PUNCT.get(lang, (".", "?"))[1 if question else 0]
    if lang == "en":
        words = [words[0][0].upper() + words[0][1:], *words[1:]]
    text = ("" if lang in NO_SPACES else " ").join(words).replace(" ,", ",") + end
    return text, " ".join(words + ([end] if end else []))


def _join_clauses(lang: str, clauses: tuple[Clause, ...]) -> list[str]:
    words = _render_clause(lang, clauses[0])
    for c in clauses[1:]:
        words += [*_word(lang, "fn:and"), *_render_clause(lang, c)]
    return words


# --------------------------------------------------------------------------------------
# Random abstract examples.
# --------------------------------------------------------------------------------------
NLI_LABELS = ("entailment", "neutral", "contradiction")
# Share of non-entailments / non-duplicates / non-paraphrases whose label hinges on a
# changed content word instead of a structural difference (see the module docstring).
LEXICAL_SHARE = 0.1


def _rng(seed: int, *names: str) -> random.Random:
    """Independent stream per (seed, dataset): datasets never share examples by accident."""
    return random.Random(f"xtransfer-demo:{seed}:" + "/".join(names))


def _other(rng: random.Random, options, current):
    return rng.choice([o for o in options if o != current])


def _synonyms(rng: random.Random, slots: tuple[str, ...], p: float = 0.3) -> frozenset[str]:
    return frozenset(s for s in slots if rng.random() < p)


def _balanced_labels(rng: random.Random, labels: tuple, n: int) -> list:
    out = list(labels) * (n // len(labels)) + rng.sample(labels, n % len(labels))
    rng.shuffle(out)
    return out


def _random_clause(rng: random.Random, name: str) -> Clause:
    return Clause(
        name=name,
        verb=rng.choice(list(THING_VERBS)),
        num=rng.choice(NUMBERS),
        noun=rng.choice(list(NOUNS)),
        adj=rng.choice(list(ADJECTIVES)) if rng.random() < 0.4 else None,
        place=rng.choice(list(PLACES)) if rng.random() < 0.4 else None,
        time=rng.choice(list(EVENTS)) if rng.random() < 0.3 else None,
        neg=rng.random() < 0.3,
        syn=_synonyms(rng, ("verb", "noun")),
    )


def _premise(rng: random.Random, n_clauses: int) -> tuple[Clause, ...]:
    return tuple(_random_clause(rng, name) for name in rng.sample(NAMES, n_clauses))


MODIFIERS = {"adj": ADJECTIVES, "place": PLACES, "time": EVENTS}


def _more_general(rng: random.Random, c: Clause) -> Clause:
    """Drop each modifier with probability 1/2: 'buys 3 red cars at the park' -> 'buys 3 cars'."""
    return replace(c, **{slot: None for slot in MODIFIERS if rng.random() < 0.5})


@dataclass(frozen=True)
class NLIExample:
    premise: tuple[Clause, ...]
    hypothesis: Clause
    label: str  # one of NLI_LABELS


def _nli_example(rng: random.Random, label: str, n_clauses: int) -> NLIExample:
    """A premise of ``n_clauses`` facts and a hypothesis restating one of them, ``c``:

    entailment:    ``c``, if positive maybe less specific ('buys 3 red cars' -> 'buys 3 cars');
    neutral:       a positive ``c`` with a modifier it lacks ('buys 3 cars' -> 'buys 3 red
                   cars' / '... at the park' / '... before the storm'); or, for the lexical
                   share (and when ``c`` has every modifier), the same fact about someone else;
    contradiction: ``c`` with its polarity flipped, the negated side no more specific; or,
                   for the lexical share of positive facts, with another number.
    """
    premise = list(_premise(rng, n_clauses))
    k = rng.randrange(n_clauses)
    if label == "neutral":  # 'does not buy cars' -> 'does not buy red cars' would be entailed
        premise[k] = replace(premise[k], neg=False)
    c = premise[k]
    lexical = label != "entailment" and rng.random() < LEXICAL_SHARE
    missing = [slot for slot in MODIFIERS if getattr(c, slot) is None]
    if label == "entailment":
        h = c if c.neg else _more_general(rng, c)
    elif label == "neutral" and missing and not lexical:
        slot = rng.choice(missing)
        h = replace(c, **{slot: rng.choice(list(MODIFIERS[slot]))})
    elif label == "neutral":
        h = replace(c, name=rng.choice([n for n in NAMES if n not in {p.name for p in premise}]))
    elif c.neg:
        h = replace(c, neg=False)
    elif lexical:
        h = replace(_more_general(rng, c), num=_other(rng, NUMBERS, c.num))
    else:
        h = replace(_more_general(rng, c), neg=True)
    # Which synonym a sentence uses is independent of the label.
    return NLIExample(tuple(premise), replace(h, syn=_synonyms(rng, ("verb", "noun"))), label)


def _nli_examples(rng: random.Random, n: int, seen: set, clauses: tuple[int, int] = (1, 1)) -> list[NLIExample]:
    """``n`` NLI examples with balanced labels, none of them in ``seen`` (which is updated)."""
    out = []
    for label in _balanced_labels(rng, NLI_LABELS, n):
        ex = _nli_example(rng, label, rng.randint(*clauses))
        while (ex.premise, ex.hypothesis) in seen:
            ex = _nli_example(rng, label, rng.randint(*clauses))
        seen.add((ex.premise, ex.hypothesis))
        out.append(ex)
    return out


def _random_question(rng: random.Random) -> Question:
    return Question(
        wh=rng.choice(list(QUESTION_WORDS)),
        name=rng.choice(NAMES),
        verb=rng.choice(list(THING_VERBS)),
        noun=rng.choice(list(NOUNS)),
        adj=rng.choice(list(ADJECTIVES)) if rng.random() < 0.5 else None,
        time=rng.choice(list(EVENTS)) if rng.random() < 0.5 else None,
        neg=rng.random() < 0.5,  # 1/2 each, so that adding or removing one tells nothing
        syn=_synonyms(rng, ("verb", "noun")),
    )


def _question_pair(rng: random.Random, duplicate: bool) -> tuple[Question, Question]:
    """Duplicates reword the verb or noun with its synonym; non-duplicates ask the negated
    or a more/less specific question, or (lexical share) one about another person/thing."""
    q1 = _random_question(rng)
    reworded = replace(q1, syn=q1.syn ^ {rng.choice(("verb", "noun"))})
    if duplicate:
        return q1, reworded
    q2 = reworded if rng.random() < 0.25 else q1  # near-duplicates are mostly worded alike
    change = "lexical" if rng.random() < LEXICAL_SHARE else rng.choice(("neg", "adj", "time"))
    if change == "lexical":
        slot = rng.choice(("wh", "name", "verb", "noun"))
        pool = {"wh": QUESTION_WORDS, "name": NAMES, "verb": THING_VERBS, "noun": NOUNS}[slot]
        return q1, replace(q2, **{slot: _other(rng, list(pool), getattr(q1, slot))})
    if change == "neg":
        return q1, replace(q2, neg=not q1.neg)
    pool = ADJECTIVES if change == "adj" else EVENTS
    return q1, replace(q2, **{change: None if getattr(q1, change) else rng.choice(list(pool))})


def _questions(rng: random.Random, n: int, seen: set) -> list[tuple[Question, Question, int]]:
    out = []
    for label in _balanced_labels(rng, (0, 1), n):
        pair = _question_pair(rng, bool(label))
        while pair in seen:
            pair = _question_pair(rng, bool(label))
        seen.add(pair)
        out.append((*pair, label))
    return out


def _random_event(rng: random.Random) -> Event:
    agent, patient = rng.sample(NAMES, 2)
    return Event(agent, rng.choice(list(PERSON_VERBS)), patient, rng.choice(list(PLACES)), rng.choice(list(EVENTS)),
                 fronted=rng.random() < 0.5, syn=_synonyms(rng, ("verb",), 0.5))


def _reword(rng: random.Random, e: Event) -> Event:
    """Same meaning, different surface: the verb's synonym and/or the time phrase moved."""
    move = rng.choice(("verb", "front", "both"))
    if move != "front":
        e = replace(e, syn=e.syn ^ {"verb"})
    if move != "verb":
        e = replace(e, fronted=not e.fronted)
    return e


def _paws_pair(rng: random.Random, paraphrase: bool) -> tuple[Event, Event]:
    """Pairs with (nearly) the same words: paraphrases reword the sentence, non-paraphrases
    swap who does what to whom (for the lexical share: swap *and* reword)."""
    e1 = _random_event(rng)
    if paraphrase:
        return e1, _reword(rng, e1)
    e2 = _reword(rng, e1) if rng.random() < LEXICAL_SHARE else e1
    return e1, replace(e2, agent=e1.patient, patient=e1.agent)


def _paws_pairs(rng: random.Random, n: int, seen: set) -> list[tuple[Event, Event, int]]:
    out = []
    for label in _balanced_labels(rng, (0, 1), n):
        pair = _paws_pair(rng, bool(label))
        while pair in seen:
            pair = _paws_pair(rng, bool(label))
        seen.add(pair)
        out.append((*pair, label))
    return out


# --------------------------------------------------------------------------------------
# Writers, one per raw format.
# --------------------------------------------------------------------------------------
def _write(path: Path, lines: list[str]) -> None:
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


def _tsv(path: Path, header: list[str], rows: list[list]) -> None:
    _write(path, ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows])


_EN_TAGS = {"does": "VBZ", "not": "RB", "at": "IN", "before": "IN", "the": "DT", "and": "CC", ",": ",", ".": "."}
_EN_TAGS.update({n: "NNP" for n in NAMES})
_EN_TAGS.update({a: "JJ" for a in ADJECTIVES})
_EN_TAGS.update({w: "NN" for group in (PLACES, EVENTS) for w in group})
_EN_TAGS.update({w: "NNS" for forms in NOUNS.values() for w in forms})
_EN_TAGS.update({f[0]: "VBZ" for v in THING_VERBS.values() for f in v})
_EN_TAGS.update({f[1]: "VB" for v in THING_VERBS.values() for f in v})


def _parses(tokenized: str) -> tuple[str, str]:
    """A right-branching binary parse and a flat Penn-style parse, like MNLI/SNLI's columns."""
    words = tokenized.split(" ")
    binary = " ".join(words[-2:])
    for w in reversed(words[:-2]):
        binary = f"{w} ( {binary} )"
    tags = " ".join(f"({_EN_TAGS.get(w) or _EN_TAGS.get(w.lower()) or ('CD' if w.isdigit() else 'NN')} {w})"
                    for w in words)
    return f"( {binary} )", f"(ROOT (S {tags}))"


def _nli_text(lang: str, ex: NLIExample) -> tuple[tuple[str, str], tuple[str, str]]:
    return _sentence(lang, _join_clauses(lang, ex.premise)), _sentence(lang, _render_clause(lang, ex.hypothesis))


def _annotator_labels(rng: random.Random, gold: str) -> list[str]:
    """Five annotator labels whose strict majority is ``gold`` (label1 = author's label)."""
    labels = [gold] + [gold if rng.random() < 0.8 else _other(rng, NLI_LABELS, gold) for _ in range(4)]
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
    dev = _nli_examples(_rng(seed, "mnli", "dev"), dev_size, seen)
    for split, examples, n_labels in (("train", train, 1), ("dev_matched", dev, 5)):
        rng = _rng(seed, "mnli", split, "meta")
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
        for i, (q1, q2, duplicate) in enumerate(_questions(_rng(seed, "qqp", split), n, seen)):
            qid = 2 * (first_id + i)
            text1 = _sentence("en", _render_question("en", q1), question=True)[0]
            text2 = _sentence("en", _render_question("en", q2), question=True)[0]
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
            rng = _rng(seed, "anli", rnd, split)
            lines = []
            for ex in _nli_examples(rng, n, seen, clauses=(2, 3)):
                gold = ex.label[0]
                fooled = rng.random() < 0.7  # the adversary model was usually wrong
                record = {
                    "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "context": " ".join(_sentence("en", _render_clause("en", c))[0] for c in ex.premise),
                    "hypothesis": _sentence("en", _render_clause("en", ex.hypothesis))[0],
                    "label": gold,
                    "model_label": _other(rng, "enc", gold) if fooled else gold,
                    "emturk": rng.random() < 0.1,
                    "genre": rng.choice(ANLI_GENRES[rnd]),
                    "reason": "" if split == "train" else ANLI_REASONS[ex.label],
                    "tag": f"{rnd.lower()}_{split}",
                }
                lines.append(json.dumps(record))
            _write(root / "anli_v1.0" / rnd / f"{split}.jsonl", lines)


def _write_snli(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    header = ["gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "captionID", "pairID",
              "label1", "label2", "label3", "label4", "label5"]
    for split, n in (("train", train_size), ("dev", eval_size), ("test", eval_size)):
        examples = _nli_examples(_rng(seed, "snli", split), n, seen)
        rng = _rng(seed, "snli", split, "meta")
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
        examples = _nli_examples(_rng(seed, "xnli", split), eval_size, seen)
        rng = _rng(seed, "xnli", split, "meta")
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
    train = _paws_pairs(_rng(seed, "pawsx", "train"), train_size, seen)
    dev = _paws_pairs(_rng(seed, "pawsx", "dev"), eval_size, seen)
    test = _paws_pairs(_rng(seed, "pawsx", "test"), eval_size, seen)

    def rows(lang: str, pairs: list) -> list[list]:
        return [[i, _sentence(lang, _render_event(lang, a))[0], _sentence(lang, _render_event(lang, b))[0], label]
                for i, (a, b, label) in enumerate(pairs, start=1)]

    for lang in PAWSX_LANGUAGES:
        out = root / "x-final" / lang
        _tsv(out / "dev_2k.tsv", header, rows(lang, dev))
        _tsv(out / "test_2k.tsv", header, rows(lang, test))
        _tsv(out / ("train.tsv" if lang == "en" else "translated_train.tsv"), header, rows(lang, train))


def _corpus_line(rng: random.Random, lang: str) -> str:
    kind = rng.random()
    if kind < 0.5:
        return _sentence(lang, _join_clauses(lang, _premise(rng, rng.randint(1, 2))))[0]
    if kind < 0.75:
        return _sentence(lang, _render_event(lang, _random_event(rng)))[0]
    return _sentence(lang, _render_question(lang, _random_question(rng)), question=True)[0]


def _write_corpus(root: Path, seed: int, n_lines: int = 2000, n_valid: int = 200) -> None:
    """Monolingual text for tokenizer training and MLM: statements, questions and events.

    corpus/<lang>.txt trains the tiny tokenizer and MLM; corpus/valid/<lang>.txt is MLM's
    validation split, lines not in the train file, in a subfolder so the tokenizer's
    corpus/*.txt glob leaves it out.
    """
    for lang in DEMO_LANGUAGES:
        rng = _rng(seed, "corpus", lang)
        lines = [_corpus_line(rng, lang) for _ in range(n_lines)]
        _write(root / "corpus" / f"{lang}.txt", lines)
        rng, seen, valid = _rng(seed, "corpus", lang, "valid"), set(lines), []
        while len(valid) < n_valid:
            line = _corpus_line(rng, lang)
            if line not in seen:
                seen.add(line)
                valid.append(line)
        _write(root / "corpus" / "valid" / f"{lang}.txt", valid)


def generate_demo_data(root: str | Path, *, seed: int = 0, train_size: int = 3000, eval_size: int = 200) -> Path:
    """Write every demo dataset under ``root`` (idempotent: same args -> byte-identical files). Returns root."""
    if train_size < 6 or eval_size < 2:
        raise ValueError(f"need train_size >= 6 and eval_size >= 2, got {train_size} and {eval_size}")
    root = Path(root)
    seen: set = set()  # abstract examples already used: no example appears in two datasets by accident
    mnli_train = _nli_examples(_rng(seed, "mnli", "train"), train_size, seen)
    _write_mnli(root, seed, mnli_train, eval_size, seen)
    _write_xnli_mt(root, mnli_train, train_size // 2)
    _write_qqp(root, seed, train_size, eval_size, seen)
    _write_anli(root, seed, train_size, eval_size, seen)
    _write_snli(root, seed, train_size, eval_size, seen)
    _write_xnli(root, seed, eval_size, seen)
    _write_pawsx(root, seed, train_size, eval_size, seen)
    from xtransfer.data.demo_multiple_choice import write_multiple_choice  # here: it imports this module
    write_multiple_choice(root, seed, train_size, eval_size, seen)
    from xtransfer.data.demo_span import write_span_data  # here: it imports this module
    write_span_data(root, seed, train_size, eval_size)
    from xtransfer.data.demo_retrieval import write_retrieval  # here: it imports this module
    write_retrieval(root, seed, eval_size)
    from xtransfer.data.demo_tagging import write_tagging  # here: it imports this module
    write_tagging(root, seed, train_size, eval_size)
    _write_corpus(root, seed)
    return root
