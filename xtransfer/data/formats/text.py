"""Plain text for masked-LM training: one sentence (or paragraph) per line, UTF-8.

Each non-blank line is one record {"text": line}, located at its file:line (a byte that is
not UTF-8 is reported at its line by open_text).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from xtransfer.data.formats.registry import Record, register_format
from xtransfer.data.formats.textio import open_text


@register_format("text")
def read_text(path: Path) -> Iterator[Record]:
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if text:
                yield f"{path}:{lineno}", {"text": text}
