"""XGLUE's own file formats, as `xglue_full_dataset.tar.gz` unpacks (microsoft/XGLUE `Data_Format.txt`).

- NER and POS (`en.train`, `<lang>.dev`, `<lang>.test`): `word label` per line (space-separated),
  a blank line between sentences. `-DOCSTART-` lines end a sentence and are skipped, as XGLUE's
  evaluator does. Records: {"tokens", "tags"}.
- NC, QADSM, WPR, QAM (`xglue.<task>.<lang>.<split>`) and XNLI (`<lang>.{dev,test}`, and the train
  file `multinli.train.en.tsv`): tab-separated, no header, a fixed column order per task. Records
  carry the hub's column names (`microsoft/xglue`'s features), so a task maps the same names from
  either source. A `.tsv` file starts with a header line, which is skipped (XGLUE's XNLI train file).
  A row one field short lacks its label (the test files of the first release had none): the task
  then names the missing column.

PAWS-X (`<lang>/{train,dev_2k,test_2k}.tsv`, with a header) and MLQA (SQuAD json) use the readers
of those datasets (`tsv`, `squad_json`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from xtransfer.data.formats.registry import Record, register_format
from xtransfer.errors import DataError

# Column order of each headerless file, named as the hub copy names its features.
XGLUE_COLUMNS = {
    "xglue_nc": ("news_title", "news_body", "news_category"),
    "xglue_qadsm": ("query", "ad_title", "ad_description", "relevance_label"),
    "xglue_wpr": ("query", "web_page_title", "web_page_snippet", "relavance_label"),   # sic, the hub's spelling
    "xglue_qam": ("question", "answer", "label"),
    "xglue_xnli": ("premise", "hypothesis", "label"),
}


def _read_columns(path: Path, names: tuple[str, ...]) -> Iterator[Record]:
    with path.open(encoding="utf-8", newline="") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or (lineno == 1 and path.suffix == ".tsv"):
                continue
            fields = line.split("\t")
            if len(fields) not in (len(names), len(names) - 1):
                raise DataError(f"{path}:{lineno}: expected {len(names)} tab-separated fields "
                                f"({', '.join(names)}), found {len(fields)}. Fix or delete this line "
                                f"(a stray tab or a line break inside a field?)")
            yield f"{path}:{lineno}", dict(zip(names, fields))


def _register_columns(fmt: str, names: tuple[str, ...]) -> None:
    register_format(fmt)(lambda path: _read_columns(path, names))


for _fmt, _names in XGLUE_COLUMNS.items():
    _register_columns(_fmt, _names)


@register_format("xglue_conll")
def read_xglue_conll(path: Path) -> Iterator[Record]:
    """XGLUE NER/POS: `word label` lines (the label is the last space-separated field), blank line between sentences."""
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if tokens:
                    yield f"{path}:{start}", {"tokens": tokens, "tags": tags}
                    tokens, tags = [], []
                continue
            if len(fields) < 2:
                raise DataError(f"{path}:{lineno}: expected 'word label', found {line.rstrip()!r}")
            if not tokens:
                start = lineno
            tokens.append(fields[0])
            tags.append(fields[-1])
    if tokens:
        yield f"{path}:{start}", {"tokens": tokens, "tags": tags}
