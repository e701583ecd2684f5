"""The format registry: a reader turns one raw file into (location, record) pairs, location being
"file:line" so that every error about a row can name it.

A reader knows a file format, not a dataset: which columns mean what is the task config's
business (its `local.columns`). Add a format by writing one function in a module of this
package, decorating it with `register_format`, and importing the module in `__init__`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from xtransfer.errors import DataError

Record = tuple[str, dict[str, Any]]
Reader = Callable[[Path], Iterator[Record]]

FORMATS: dict[str, Reader] = {}


def register_format(name: str):
    """Decorator: `reader` reads local files of format `name`."""
    def register(reader: Reader) -> Reader:
        FORMATS[name] = reader
        return reader
    return register


def reader_for(name: str) -> Reader:
    try:
        return FORMATS[name]
    except KeyError:
        raise DataError(f"unknown local format '{name}'; known formats: {sorted(FORMATS)}") from None
