"""XGLUE submissions: `python -m xtransfer.export --benchmark xglue DIR [DIR ...] --out PRED_DIR [--labels DIR]`

Writes the predictions of the xglue_* cells found under DIR as XGLUE's submission layout,
`<TASK>/<lang>.prediction` (TASK as XGLUE spells it: NER, POS, MLQA, NC, XNLI, PAWSX, QADSM,
WPR, QAM), from the test split (`--split dev`: the dev split, for checking before a submission).
The families already write XGLUE's formats (a label per line; tags with a blank line between
sentences; MLQA `{id: answer}`), so files are copied. `--labels` also writes the gold labels of
the same data in the release layout the evaluator reads, so `python -m xtransfer.score
--benchmark xglue` can score the export (tests, local checks).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from xtransfer.config.schema import TaskSpec
from xtransfer.errors import DataError
from xtransfer.xglue.benchmark import LANGUAGES, SPLITS, label_file, prediction_file

Cell = Any   # xtransfer.xtreme.export.Cell (job_dir, results, describe(), eval_task()); that CLI calls this module


def _suffix(task: str) -> str:
    return "json" if task == "MLQA" else "tsv"


def export_predictions(cell: Cell, task: str, out: Path, split: str = "test") -> list[str]:
    """Copies the cell's predictions of `split` (test or dev) to out/<TASK>/<lang>.prediction; returns the languages."""
    written = []
    for lang in cell.results["languages"]:
        source = cell.job_dir / cell.results.get("predictions", "predictions") / f"{SPLITS[split]}-{lang}.{_suffix(task)}"
        if not source.is_file():
            raise DataError(f"{source} is missing: the cell has no {split} predictions for '{lang}'")
        target = prediction_file(out, task, lang)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(lang)
    return written


def _label_text(task: str, spec: TaskSpec, split: str, lang: str) -> str:
    """The gold labels of the cell's data, in the release file format the evaluator reads."""
    from xtransfer.data.sources import load_rows
    from xtransfer.tasks import get_family

    rows = load_rows(spec, SPLITS[split], lang, get_family(spec.family).normalize)
    if spec.family == "tagging":
        return "\n\n".join("\n".join(f"{w} {t}" for w, t in zip(row["tokens"], row["tags"])) for row in rows) + "\n"
    if spec.family == "span":
        paragraphs = [{"context": row["context"], "qas": [{
            "id": row["id"], "question": row["question"],
            "answers": [{"text": t, "answer_start": s}
                        for t, s in zip(row["answers"]["text"], row["answers"]["answer_start"])]}]} for row in rows]
        return json.dumps({"data": [{"paragraphs": paragraphs}]}, ensure_ascii=False) + "\n"
    # classification: the query (text_a) first, as WPR groups by it, and the label last
    lines = [f"{row['text_a']}\t{spec.labels[row['label']]}\n" for row in rows]
    return ("id\tsentence1\tsentence2\tlabel\n" if task == "PAWSX" else "") + "".join(lines)


def export_labels(cell: Cell, task: str, out: Path, split: str = "test") -> None:
    spec = cell.eval_task()
    for lang in cell.results["languages"]:
        path = label_file(out, task, lang, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_label_text(task, spec, split, lang), encoding="utf-8")


def missing_languages(task: str, written: list[str]) -> str:
    lacking = [lang for lang in LANGUAGES[task] if lang not in written]
    return f" (XGLUE also needs {' '.join(lacking)})" if lacking else ""
