"""XTREME's UD-POS: what its preprocessing makes of a UD v2.5 treebank file.

google-research/xtreme @ 838c13b6 converts each `.conllu` file with
`third_party/ud-conversion-tools/conllu_to_conll.py --lang <xx> --replace_subtokens_with_fused_forms`
(scripts/download_data.sh), then `utils_preprocess.py --task udpos` reads the result. Together:

- Empty nodes (`8.1`) and comments are dropped; a multiword token (`3-4 du`) replaces its words
  by ONE token, its fused form, which keeps the UPOS of the span's head word: the word with the
  fewest ancestors in the sentence graph (basic heads and the enhanced DEPS heads, lib/conll.py
  `_choose_spanhead_from_heuristics`); on a tie, the word whose UPOS comes first in the language's
  precedence list (`POSRANKPRECEDENCEDICT` in conllu_to_conll.py: es, fr, it, else the default).
  A tie between words whose UPOS is not in that list makes the converter raise, so XTREME's data
  has no file for that treebank: such a file is dropped here too, with a warning.
- A sentence is dropped when its forms are `_` placeholders: all of them, or all but one
  (`udpos_preprocess._read_one_file`). Treebanks released without their words lose every sentence.
- Spaces and zero-width non-joiners (U+200C) are removed from the forms (`remove_empty_space`).

Not reproduced: the converter also raises when removing the enhanced-graph cycles leaves a fused
span's inner word without a head (lib/conll.py `remove_all_cycle`), which depends on networkx's
cycle enumeration order; none of the UD v2.5 files we know of hits it.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from xtransfer.errors import DataError

log = logging.getLogger(__name__)

COLUMNS = 10
WORD, RANGE, EMPTY = re.compile(r"\d+"), re.compile(r"(\d+)-(\d+)"), re.compile(r"\d+\.\d+")
# conllu_to_conll.py's POSRANKPRECEDENCEDICT (the default string ends in a space: "" is its last entry)
PRECEDENCE = {
    "default": "VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT ".split(" "),
    "es": "VERB AUX PRON ADP DET".split(" "),
    "fr": "VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ".split(" "),
    "it": "VERB AUX ADV PRON ADP DET INTJ".split(" "),
}


class ConverterFailure(Exception):
    """XTREME's converter raises on this file, so XTREME's UD-POS has nothing from it."""


@dataclass
class Sentence:
    line: int                                   # where the block starts
    forms: dict[int, str] = field(default_factory=dict)
    upos: dict[int, str] = field(default_factory=dict)
    heads: dict[int, set[int]] = field(default_factory=dict)   # basic head and enhanced (DEPS) heads
    ranges: list[tuple[int, int, str, int]] = field(default_factory=list)   # start, end, fused form, line


def parse(path: Path, start: int, block: Iterable[tuple[int, str]]) -> Sentence:
    sentence = Sentence(start)
    for lineno, line in block:
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != COLUMNS:
            raise DataError(f"{path}:{lineno}: expected {COLUMNS} tab-separated CoNLL-U columns, "
                            f"found {len(fields)}. Fix this line (spaces instead of tabs?)")
        ident, form, upos, head, deps = fields[0], fields[1], fields[3], fields[6], fields[8]
        if EMPTY.fullmatch(ident):
            continue
        if span := RANGE.fullmatch(ident):
            sentence.ranges.append((int(span[1]), int(span[2]), form, lineno))
            continue
        if not WORD.fullmatch(ident):
            raise DataError(f"{path}:{lineno}: CoNLL-U ID {ident!r} is not a word (7), a multiword range (7-8) "
                            f"or an empty node (7.1)")
        word = int(ident)
        if not head.isdigit():
            raise ConverterFailure(f"{path}:{lineno}: HEAD is {head!r}, not a number")
        sentence.forms[word], sentence.upos[word] = form, upos
        enhanced = {int(p.split(":")[0]) for p in deps.split("|") if p.split(":")[0].isdigit()} if deps != "_" else set()
        sentence.heads[word] = {int(head)} | enhanced
    return sentence


def _ancestor_count(sentence: Sentence, word: int) -> int:
    """How many nodes (the root 0 included) reach `word` through head edges, basic or enhanced."""
    seen, todo = set(), [word]
    while todo:
        for head in sentence.heads.get(todo.pop(), ()):
            if head not in seen:
                seen.add(head)
                todo.append(head)
    return len(seen - {word})   # networkx's ancestors() never counts the node itself, even on a cycle


def span_head(sentence: Sentence, start: int, end: int, language: str, where: str) -> int:
    """The word of a multiword token whose UPOS the fused token keeps (lib/conll.py's heuristics)."""
    span = list(range(start, end + 1))
    missing = [w for w in span if w not in sentence.forms]
    if missing:
        raise ConverterFailure(f"{where}: multiword token {start}-{end} covers words {missing} that the sentence lacks")
    counts = [_ancestor_count(sentence, w) for w in span]
    highest = [w for w, c in zip(span, counts) if c == min(counts)]
    if len(highest) == 1:
        return highest[0]
    ranking = PRECEDENCE.get(language, PRECEDENCE["default"])
    unranked = [sentence.upos[w] for w in highest if sentence.upos[w] not in ranking]
    if unranked:
        raise ConverterFailure(f"{where}: multiword token {start}-{end}: its words tie for head and UPOS "
                               f"{unranked[0]} is not in the converter's precedence list for '{language}'")
    return min(highest, key=lambda w: (ranking.index(sentence.upos[w]), span.index(w)))


def words(sentence: Sentence, language: str, path: Path) -> tuple[list[str], list[str]]:
    """(forms, UPOS tags) after replacing every multiword token's words by its fused form."""
    forms, dropped = dict(sentence.forms), set()
    for start, end, fused, lineno in sentence.ranges:
        head = span_head(sentence, start, end, language, f"{path}:{lineno}")
        forms[head] = fused
        dropped |= set(range(start, end + 1)) - {head}
    kept = [w for w in sorted(forms) if w not in dropped]
    return [forms[w] for w in kept], [sentence.upos[w] for w in kept]


def has_words(forms: list[str]) -> bool:
    """utils_preprocess.py keeps a sentence unless all its forms, or all but one, are `_`."""
    placeholders = sum(form == "_" for form in forms)
    return placeholders == 0 or placeholders < len(forms) - 1


def clean(form: str) -> str:
    """utils_preprocess.py's remove_empty_space: no spaces, no zero-width non-joiners."""
    return "".join(form.replace("\u200c", "").split(" "))


def treebank(path: Path, blocks: Iterable[tuple[int, list[tuple[int, str]]]]) -> list[tuple[int, list[str], list[str]]]:
    """(line, forms, tags) of every sentence XTREME keeps from one file (see the module doc)."""
    language = path.name.split("_")[0]   # download_data.sh passes --lang <the file name's prefix>
    kept, total = [], 0
    try:
        for start, block in blocks:
            sentence = parse(path, start, block)
            if not sentence.forms:
                raise DataError(f"{path}:{start}: empty sentence (no token lines). Delete it or add its tokens.")
            total += 1
            forms, tags = words(sentence, language, path)
            forms, tags = [f.strip() for f in forms], [t.strip() for t in tags]   # as utils_preprocess reads them
            if has_words(forms):
                kept.append((start, [clean(f) for f in forms], tags))
    except ConverterFailure as e:
        log.warning("dropped %s as XTREME does: its converter (conllu_to_conll.py) fails on it (%s)", path, e)
        return []
    if total and not kept:
        log.warning("dropped treebank %s: it is released without its words (every FORM is `_`), as XTREME "
                    "drops it", path)
    elif len(kept) < total:
        log.info("%s: dropped %d of %d sentences whose forms are `_` placeholders (as XTREME)",
                 path, total - len(kept), total)
    return kept
