"""Reading raw text files: UTF-8, a byte-order mark accepted, and a byte that is not UTF-8
reported at its file, line and byte offset with the command that converts the file.

Every reader opens its files here (`open_text` for line by line, `read_text` for a whole
JSON file), so no reader decodes on its own.
"""
from __future__ import annotations

import codecs
from pathlib import Path
from typing import IO, Iterator

from xtransfer.errors import DataError

BOM = codecs.BOM_UTF8


def _decode_error(path: Path, lineno: int, line: bytes, start: int, offset: int, reason: str) -> DataError:
    """The message for a byte that is not UTF-8: where, which byte, and how to convert the file."""
    def convert(source: str) -> str:
        return f"iconv -f {source} -t utf-8 {path} > {path}.utf8 && mv {path}.utf8 {path}"

    if lineno == 1 and line[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return DataError(f"{path}:1: not UTF-8: the file is UTF-16 (it starts with a UTF-16 byte-order mark).\n"
                         f"  Convert it to UTF-8: {convert('utf-16')}")
    try:
        line.decode("cp1252")
        source = "cp1252"  # Windows' Western encoding, a superset of latin1's printable characters
    except UnicodeDecodeError:
        source = "latin1"
    return DataError(
        f"{path}:{lineno}: not UTF-8: byte 0x{line[start]:02x} ({reason}) at byte {offset} of the file "
        f"(column {start + 1} of the line).\n"
        f"  Convert the file to UTF-8 (here it looks like {source}; `file -i` guesses too): {convert(source)}")


class TextFile:
    """A UTF-8 file read as bytes and decoded line by line (so a bad byte has a line number).

    Iterating yields lines with their ending; newline=None turns "\\r\\n" into "\\n" (as
    open() does), newline="" keeps them as they are (for the csv module). A UTF-8 BOM at the
    start is dropped.
    """

    def __init__(self, path: Path, newline: str | None = None):
        self.path, self.newline = Path(path), newline
        self._file: IO[bytes] | None = None

    def __enter__(self) -> "TextFile":
        self._file = self.path.open("rb")
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()

    def __iter__(self) -> Iterator[str]:
        assert self._file is not None, "use `with open_text(path) as f:`"
        offset = 0
        for lineno, raw in enumerate(self._file, start=1):
            if lineno == 1 and raw.startswith(BOM):
                raw, offset = raw[len(BOM):], len(BOM)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _decode_error(self.path, lineno, raw, e.start, offset + e.start, e.reason) from None
            offset += len(raw)
            if self.newline is None and line.endswith("\r\n"):
                line = line[:-2] + "\n"
            yield line


def open_text(path: Path, newline: str | None = None) -> TextFile:
    """`with open_text(path) as f: for line in f:` — open(path, encoding="utf-8") with a located
    error for a byte that is not UTF-8, and a byte-order mark accepted."""
    return TextFile(path, newline)


def read_text(path: Path) -> str:
    """The whole file as text (for JSON files), decoded as open_text decodes it."""
    with open_text(path, newline="") as f:
        return "".join(f)
