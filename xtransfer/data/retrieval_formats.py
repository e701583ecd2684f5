"""Readers for retrieval releases. Records are retrieval fragments (xtransfer/tasks/retrieval.py):
every field a list, so one column mapping reads corpus lines, gold lines and line pairs alike.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from xtransfer.data.formats import Record, register_format
from xtransfer.errors import DataError

EMPTY = {"source": [], "source_id": [], "target": [], "target_id": [], "gold": []}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", newline="\n") as f:
        for lineno, line in enumerate(f, start=1):
            yield lineno, line.rstrip("\n").rstrip("\r")


@register_format("bucc")
def read_bucc(path: Path) -> Iterator[Record]:
    """BUCC 2018 `<xx>-en.<split>.{<xx>,en,gold}`: `id<TAB>sentence` per line on each side (the
    `.en` file is the target side), `<xx>-id<TAB>en-id` per line in `.gold`."""
    kind = "gold" if path.suffix == ".gold" else "target" if path.suffix == ".en" else "source"
    for lineno, line in _lines(path):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(fields):
            what = "<xx>-id<TAB><en>-id" if kind == "gold" else "id<TAB>sentence"
            raise DataError(f"{path}:{lineno}: expected '{what}', found {len(fields)} tab-separated field(s)")
        a, b = fields
        if kind == "gold":
            yield f"{path}:{lineno}", {**EMPTY, "gold": [[a, b]]}
        else:
            yield f"{path}:{lineno}", {**EMPTY, kind: [b], f"{kind}_id": [a]}


@register_format("laser_tatoeba")
def read_laser_tatoeba(path: Path) -> Iterator[Record]:
    """LASER Tatoeba `tatoeba.<xxx>-eng.<xxx>` with its `.eng` partner: line i translates line i.

    Given the `<xxx>` file it yields (source, English) line pairs; given the `.eng` file it
    yields nothing (list it anyway, so that its bytes are part of the data fingerprint).
    """
    if path.suffix == ".eng":
        return
    partner = path.with_suffix(".eng")
    if not partner.is_file():
        raise DataError(f"{path}: its English side {partner.name} is missing beside it")
    source, english = list(_lines(path)), list(_lines(partner))
    if len(source) != len(english):
        raise DataError(f"{path}: {len(source)} lines but {partner.name} has {len(english)}; "
                        f"line i of one must translate line i of the other")
    for (lineno, text), (_, eng) in zip(source, english):
        yield f"{path}:{lineno}", {**EMPTY, "source": [text], "target": [eng]}
