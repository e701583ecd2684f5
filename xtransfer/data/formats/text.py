"""Plain text for masked-LM training: one sentence (or paragraph) per line, UTF-8.

Each non-blank line is one record {"text": line}, located at its file:line. Lines are read
as bytes and decoded one at a time, so that a file that is not UTF-8 is reported at the
line that breaks it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from xtransfer.data.formats.registry import Record, register_format
from xtransfer.errors import DataError


@register_format("text")
def read_text(path: Path) -> Iterator[Record]:
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: not UTF-8 ({e.reason} at byte {e.start} of the line); "
                                f"re-encode the file as UTF-8 (e.g. iconv -t UTF-8)") from None
            if text:
                yield f"{path}:{lineno}", {"text": text}
