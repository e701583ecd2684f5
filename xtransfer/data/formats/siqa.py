"""Social IQa as AI2 releases it (socialiqa-train-dev.zip): `<split>.jsonl` rows (context, question,
answerA, answerB, answerC) and, beside them, `<split>-labels.lst`, the right answer of row i on line i
(1, 2 or 3). XTREME-R trains XCOPA on it before COPA (google-research/xtreme scripts/train_xcopa.sh)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from xtransfer.data.formats.registry import Record, register_format
from xtransfer.data.formats.tabular import json_object
from xtransfer.data.formats.textio import open_text
from xtransfer.errors import DataError


def _lines(path: Path) -> list[tuple[int, str]]:
    with open_text(path) as f:
        return [(n, line.rstrip("\n")) for n, line in enumerate(f, start=1) if line.strip()]


@register_format("socialiqa")
def read_socialiqa(path: Path) -> Iterator[Record]:
    """Given `<split>.jsonl`, its rows with `label` from `<split>-labels.lst`; given the `.lst`, nothing
    (list it anyway, so that its bytes are part of the data fingerprint)."""
    if path.suffix == ".lst":
        return
    labels_path = path.with_name(f"{path.stem}-labels.lst")
    if not labels_path.is_file():
        raise DataError(f"{path}: its labels {labels_path.name} are missing beside it (socialiqa-train-dev.zip "
                        f"has <split>.jsonl and <split>-labels.lst side by side)")
    rows, labels = _lines(path), _lines(labels_path)
    if len(rows) != len(labels):
        raise DataError(f"{path}: {len(rows)} rows but {labels_path.name} has {len(labels)} labels; "
                        f"line i of one labels row i of the other")
    for (lineno, line), (_, label) in zip(rows, labels):
        yield f"{path}:{lineno}", {**json_object(path, lineno, line), "label": label.strip()}
