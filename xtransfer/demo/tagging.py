"""Demo tagging datasets in the real raw layouts (see xtransfer/demo/grammar.py).

The sentences are the demo's clauses ('Anna buys 3 red cars at the park'), rendered in
every language with its lexicon; each word's tag follows from the lexicon entry it renders,
so the tags are the same abstract facts in every language:

* UDPOS-like: UPOS tags (PROPN verb NUM ADJ NOUN ADP ...), English train/dev/test, every
  other language dev/test: ud-treebanks-v2.5/UD_<Lang>-Demo/<lang>_demo-ud-<split>.conllu
  (with `# sent_id` / `# text` comments, 10 columns).
* PAN-X-like: IOB2 PER/ORG/LOC: the subject is a person (a name, maybe with a surname) or
  an organisation, and some clauses add 'in <place>' with a multi-word location; entity
  strings are written the same in every language, as names are:
  panx_dataset/<lang>/{train,dev,test} with `lang:token<TAB>TAG` lines.
* CCG-like (English): CCGbank supertags in AUTO files, sections 02-21 train, 00 dev, 23 test:
  ccgbank_1_1/data/AUTO/<section>/wsj_<section>01.auto.
"""
from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from xtransfer.demo.grammar import Clause, random_clause, render_clause, render_word, rng_for, write_lines
from xtransfer.demo.lexicon import EN_TAGS, LEXICONS, NAMES, PUNCT

UDPOS_LANGUAGES = ("af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
                   "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo", "zh",
                   "lt", "pl", "uk", "wo", "ro")   # XTREME's, then XTREME-R's (conf/task/udpos.yaml)
PANX_LANGUAGES = ("ar", "he", "vi", "id", "jv", "ms", "tl", "eu", "ml", "ta", "te", "af", "nl", "en", "de", "el", "bn",
                  "hi", "mr", "ur", "fa", "fr", "it", "pt", "es", "bg", "ru", "ja", "ka", "ko", "th", "sw", "yo", "my",
                  "zh", "kk", "tr", "et", "fi", "hu", "qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")   # XTREME-R's last 8


# Lexicon key prefix -> UPOS; the English function words of multi-word entries are tagged one by one.
_UPOS = {"verb": "VERB", "noun": "NOUN", "adj": "ADJ", "place": "NOUN", "event": "NOUN", "wh": "ADV"}
_UPOS_FN = {"fn:and": "CCONJ", "fn:not": "PART", "fn:at": "ADP", "fn:before": "ADP", "fn:obj": "ADP"}
_EN_UPOS = {"the": "DET", "does": "AUX"}


def _upos_lexicon(lang: str) -> dict[str, str]:
    """Every word the language's lexicon renders -> its UPOS tag (pseudo-words are all distinct)."""
    table = {}
    for key, forms in LEXICONS[lang].items():
        tag = _UPOS_FN.get(key) or _UPOS[key.split(":")[0]]
        for form in forms:
            for word in form.split(" "):
                table[word] = _EN_UPOS.get(word, tag) if lang == "en" else tag
    return table


_UPOS_LEXICONS = {lang: _upos_lexicon(lang) for lang in set(UDPOS_LANGUAGES) | set(PANX_LANGUAGES)}


def _upos(lang: str, word: str) -> str:
    if word in NAMES:
        return "PROPN"
    if word.isdigit():
        return "NUM"
    if lang not in _UPOS_LEXICONS:  # a language only another demo renders (XGLUE's pl)
        _UPOS_LEXICONS[lang] = _upos_lexicon(lang)
    return _UPOS_LEXICONS[lang].get(word) or _EN_UPOS.get(word) or "PUNCT"


def tagged_clause(lang: str, c: Clause) -> tuple[list[str], list[str]]:
    """The clause's words, ending in a full stop, and their UPOS tags."""
    words = render_clause(lang, c) + [PUNCT.get(lang, (".", "?"))[0] or "."]
    return words, [_upos(lang, w) for w in words]


def _clauses(seed: int, name: str, n: int) -> list[Clause]:
    rng = rng_for(seed, "tagging", name)
    return [random_clause(rng, rng.choice(NAMES)) for _ in range(n)]


# ---------------------------------------------------------------------------------------
# UDPOS-like
# ---------------------------------------------------------------------------------------
def _conllu(lang: str, clauses: list[Clause], split: str) -> list[str]:
    lines = []
    for i, c in enumerate(clauses, start=1):
        words, tags = tagged_clause(lang, c)
        lines += [f"# sent_id = {split}-s{i}", f"# text = {' '.join(words)}"]
        lines += [f"{k}\t{w}\t{w}\t{t}\t_\t_\t0\t_\t_\t_" for k, (w, t) in enumerate(zip(words, tags), start=1)]
        lines.append("")
    return lines


def _write_udpos(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    splits = {"train": _clauses(seed, "udpos/train", train_size), "dev": _clauses(seed, "udpos/dev", eval_size),
              "test": _clauses(seed, "udpos/test", eval_size)}
    for lang in UDPOS_LANGUAGES:
        folder = root / "ud-treebanks-v2.5" / f"UD_{lang.upper()}-Demo"
        for split, clauses in splits.items():
            if split != "train" or lang == "en":
                write_lines(folder / f"{lang}_demo-ud-{split}.conllu", _conllu(lang, clauses, split))


# ---------------------------------------------------------------------------------------
# PAN-X-like
# ---------------------------------------------------------------------------------------
SURNAMES = ("Smith", "Garcia", "Novak", "Tanaka", "Okafor", "Rossi")
ORGS = (("Acme",), ("Globex", "Corporation"), ("United", "Nations"), ("Red", "Cross"), ("Nordic", "Rail", "Group"))
PLACES = (("Paris",), ("New", "York"), ("Lagos",), ("Rio", "de", "Janeiro"), ("Tokyo",), ("Cape", "Town"))


def _iob(words: tuple[str, ...], kind: str) -> list[str]:
    return [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)


def _panx_sentence(lang: str, rng: random.Random, c: Clause) -> tuple[list[str], list[str]]:
    """The clause with an entity as subject and, sometimes, 'at <location>' instead of its place."""
    location = rng.choice(PLACES) if rng.random() < 0.5 else None
    words = render_clause(lang, replace(c, name="\0", place="market" if location else None))
    if rng.random() < 0.3:
        subject, kind = rng.choice(ORGS), "ORG"
    else:
        subject, kind = (c.name, rng.choice(SURNAMES)) if rng.random() < 0.4 else (c.name,), "PER"
    market = render_word(lang, "place:market")
    tokens, tags, i = [], [], 0
    while i < len(words):
        if words[i] == "\0":
            tokens += subject
            tags += _iob(subject, kind)
        elif location and words[i:i + len(market)] == market:
            tokens += location
            tags += _iob(location, "LOC")
            i += len(market) - 1
        else:
            tokens.append(words[i])
            tags.append("O")
        i += 1
    return tokens + ["."], tags + ["O"]


def _panx_lines(lang: str, sentences: list[tuple[list[str], list[str]]]) -> list[str]:
    lines = []
    for tokens, tags in sentences:
        lines += [f"{lang}:{t}\t{tag}" for t, tag in zip(tokens, tags)] + [""]
    return lines


def _write_panx(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    for split, n in (("train", train_size), ("dev", eval_size), ("test", eval_size)):
        clauses = _clauses(seed, f"panx/{split}", n)
        for lang in PANX_LANGUAGES if split != "train" else ("en",):
            rng = rng_for(seed, "panx", split, "entities")  # the same entities in every language
            sentences = [_panx_sentence(lang, rng, c) for c in clauses]
            write_lines(root / "panx_dataset" / lang / split, _panx_lines(lang, sentences))


# ---------------------------------------------------------------------------------------
# CCG-like (English)
# ---------------------------------------------------------------------------------------
_CCG = {"NNP": "N", "CD": "N/N", "JJ": "N/N", "NN": "N", "NNS": "N", "VBZ": r"(S[dcl]\NP)/NP", "VB": r"(S[b]\NP)/NP",
        "DT": "NP[nb]/N", "CC": "conj", ".": "."}
_CCG_WORDS = {"does": r"(S[dcl]\NP)/(S[b]\NP)", "not": r"(S\NP)\(S\NP)", "at": r"((S\NP)\(S\NP))/NP",
              "before": r"((S\NP)\(S\NP))/NP"}


def _auto_line(words: list[str]) -> str:
    """A right-branching AUTO derivation over the leaves (the readers only use the leaves)."""
    leaves = []
    for w in words:
        pos = EN_TAGS.get(w) or ("CD" if w.isdigit() else "NN")
        cat = _CCG_WORDS.get(w) or _CCG[pos]
        leaves.append(f"(<L {cat} {pos} {pos} {w} {cat}>)")
    tree = leaves[-1]
    for leaf in reversed(leaves[:-1]):
        tree = f"(<T S 0 2> {leaf} {tree} )"
    return tree


def _auto_file(clauses: list[Clause], section: str) -> list[str]:
    lines = []
    for i, c in enumerate(clauses, start=1):
        lines += [f"ID=wsj_{section}01.{i} PARSER=GOLD NUMPARSE=1", _auto_line(render_clause("en", c) + ["."])]
    return lines


def _write_ccg(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    auto = root / "ccgbank_1_1" / "data" / "AUTO"
    train = _clauses(seed, "ccg/train", train_size)
    sections = [f"{s:02d}" for s in range(2, 22)]
    for k, section in enumerate(sections):
        write_lines(auto / section / f"wsj_{section}01.auto", _auto_file(train[k::len(sections)], section))
    for section, name in (("00", "dev"), ("23", "test")):
        write_lines(auto / section / f"wsj_{section}01.auto",
                    _auto_file(_clauses(seed, f"ccg/{name}", eval_size), section))


def write_tagging(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    _write_udpos(root, seed, train_size, eval_size)
    _write_panx(root, seed, train_size, eval_size)
    _write_ccg(root, seed, train_size, eval_size)
