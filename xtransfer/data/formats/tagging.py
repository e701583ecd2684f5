"""Readers for token-tagging releases: UD .conllu, PAN-X `lang:token<TAB>TAG`, CCGbank AUTO.

Each yields one record per sentence, {"tokens": [...], "tags": [...]}, located at the file
line where the sentence starts, so that an error about a sentence (a tag outside the label
set, say) names that line.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from xtransfer.data.formats import ud
from xtransfer.data.formats.registry import Record, register_format
from xtransfer.data.formats.textio import open_text
from xtransfer.errors import DataError

def _sentence(path: Path, start: int, tokens: list[str], tags: list[str]) -> Record:
    if not tokens:
        raise DataError(f"{path}:{start}: empty sentence (no token lines). Delete it or add its tokens.")
    return f"{path}:{start}", {"tokens": tokens, "tags": tags}


def _blocks(path: Path) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Blank-line-separated blocks of (line number, line), with the line each block starts at."""
    block: list[tuple[int, str]] = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if line.strip():
                block.append((lineno, line))
            elif block:
                yield block[0][0], block
                block = []
    if block:
        yield block[0][0], block


@register_format("conllu")
def read_conllu(path: Path) -> Iterator[Record]:
    """UD CoNLL-U as XTREME's UD-POS (formats/ud.py): multiword tokens become their fused form,
    empty nodes and comments are skipped, sentences whose words are `_` placeholders are dropped."""
    for start, tokens, tags in ud.treebank(path, _blocks(path)):
        yield _sentence(path, start, tokens, tags)


@register_format("panx")
def read_panx(path: Path) -> Iterator[Record]:
    """PAN-X / WikiANN as XTREME ships it: `lang:token<TAB>TAG` lines, blank line between sentences."""
    for start, block in _blocks(path):
        tokens, tags = [], []
        for lineno, line in block:
            fields = line.split("\t")
            if len(fields) != 2 or ":" not in fields[0]:
                raise DataError(f"{path}:{lineno}: expected 'lang:token<TAB>TAG', found {line!r}")
            token = fields[0].split(":", 1)[1]
            if not token:
                raise DataError(f"{path}:{lineno}: empty token in {line!r}")
            tokens.append(token)
            tags.append(fields[1].strip())
        yield _sentence(path, start, tokens, tags)


# A leaf of an AUTO derivation: (<L category modified-POS original-POS token predicate-argument-category>)
AUTO_LEAF = re.compile(r"\(<L (\S+) \S+ \S+ (\S+) \S+>\)")


@register_format("ccg_auto")
def read_ccg_auto(path: Path) -> Iterator[Record]:
    """CCGbank AUTO files: an `ID=...` line, then the derivation on one line; the leaves in
    order give the tokens and their lexical categories (supertags)."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip() or line.startswith("ID="):
                continue
            leaves = AUTO_LEAF.findall(line)
            if not leaves:
                raise DataError(f"{path}:{lineno}: a derivation line without any (<L ...>) leaf; "
                                f"expected CCGbank AUTO format")
            yield _sentence(path, lineno, [token for _, token in leaves], [cat for cat, _ in leaves])
