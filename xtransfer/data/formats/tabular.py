"""Tabular and line formats: tsv (GLUE, XNLI, PAWS-X, SNLI), csv (Cosmos QA), jsonl (ANLI, HellaSwag, ...)."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Iterator

from xtransfer.data.formats.registry import Record, register_format
from xtransfer.data.formats.textio import open_text
from xtransfer.errors import DataError

csv.field_size_limit(sys.maxsize)  # SQuAD-sized contexts and long premises exceed the 128 KiB default


@register_format("tsv")
def read_tsv(path: Path) -> Iterator[Record]:
    """Tab-separated with a header line and no quoting (GLUE, XNLI, PAWS-X, SNLI .txt).

    A row may stop short of the header: SNLI's .txt files leave out the empty trailing
    label2..label5 of every pair with a single annotation (10 of 14 fields). Such a record
    simply lacks the missing columns, so a row that lost a column the task reads is still an
    error at its file:line (load_rows: "no column ..."). A row longer than the header is
    always an error.
    """
    with open_text(path, newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}:1: empty file; expected a tab-separated header line")
        for row in reader:
            if not row or row == [""]:
                continue
            if len(row) > len(header):
                raise DataError(
                    f"{path}:{reader.line_num}: expected {len(header)} tab-separated fields as in the "
                    f"header, found {len(row)}. Fix or delete this line (a stray tab or newline inside a field?)")
            yield f"{path}:{reader.line_num}", dict(zip(header, row))


@register_format("csv")
def read_csv(path: Path) -> Iterator[Record]:
    """Comma-separated with a header line and standard quoting (Cosmos QA)."""
    with open_text(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}:1: empty file; expected a comma-separated header line")
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{path}:{reader.line_num}: expected {len(header)} fields as in the header, "
                                f"found {len(row)}")
            yield f"{path}:{reader.line_num}", dict(zip(header, row))


@register_format("jsonl")
def read_jsonl(path: Path) -> Iterator[Record]:
    """One JSON object per line (ANLI, HellaSwag, CommonsenseQA, XCOPA)."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                yield f"{path}:{lineno}", json_object(path, lineno, line)


def json_object(path: Path, lineno: int, line: str) -> dict:
    """One JSONL line as a dict, or one DataError naming the file and line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg}: column {e.colno})") from None
    if not isinstance(record, dict):
        raise DataError(f"{path}:{lineno}: expected a JSON object, found {type(record).__name__}")
    return record
