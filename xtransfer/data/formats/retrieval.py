"""Readers for retrieval releases. Records are retrieval fragments (xtransfer/tasks/retrieval.py):
every field a list, so one column mapping reads corpus lines, gold lines and line pairs alike.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from xtransfer.data.formats.registry import Record, register_format
from xtransfer.data.formats.textio import open_text, read_text
from xtransfer.errors import DataError

EMPTY = {"source": [], "source_id": [], "target": [], "target_id": [], "gold": []}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open_text(path, newline="") as f:
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


@register_format("xquad_r")
def read_xquad_r(path: Path) -> Iterator[Record]:
    """XQuAD-R `xquad-r/<lang>.json` (google-research-datasets/lareqa): SQuAD json whose paragraphs
    carry `sentence_breaks`, [start, end) character offsets into `context`.

    One fragment per paragraph: its questions (source), its sentences (target, id
    `<paragraph number>_<sentence position>`, paragraphs counted from 1 in file order as
    XTREME-R's LAReQA code does) and one gold pair per question: the sentence holding the
    answer start. A question whose answer start lies in no sentence is skipped, as there.
    """
    import json

    try:
        data = json.loads(read_text(path))["data"]
    except (ValueError, KeyError) as e:
        raise DataError(f"{path}: not SQuAD-format json with a top-level 'data' list ({e})") from e
    number = 0
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            number += 1
            where = f"{path}:data[{a}].paragraphs[{p}]"
            if "sentence_breaks" not in paragraph:
                raise DataError(f"{where}: no 'sentence_breaks'; XQuAD-R is XQuAD with sentence boundaries "
                                f"per paragraph (google-research-datasets/lareqa xquad-r/<lang>.json)")
            context, breaks = paragraph["context"], paragraph["sentence_breaks"]
            ids = [f"{number}_{pos}" for pos in range(len(breaks))]
            questions, question_ids, gold = [], [], []
            for qa in paragraph["qas"]:
                start = qa["answers"][0]["answer_start"]
                holding = [i for i, (s, e) in enumerate(breaks) if s <= start < e]
                if holding:
                    questions.append(qa["question"]); question_ids.append(qa["id"])
                    gold.append([qa["id"], ids[holding[0]]])
            yield where, {**EMPTY, "source": questions, "source_id": question_ids,
                          "target": [context[s:e] for s, e in breaks], "target_id": ids, "gold": gold}
