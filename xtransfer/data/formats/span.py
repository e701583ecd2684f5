"""SQuAD-style JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): one record per question.

    {"data": [{"title": ..., "paragraphs": [{"context": ..., "qas": [
        {"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": ...}], "is_impossible": ...}]}]}]}

Records carry the hub's shape (answers as {text: [...], answer_start: [...]}), so a task maps the
same column names from either source. The location names the question id, as one JSON file has
no useful line numbers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from xtransfer.data.formats.registry import Record, register_format
from xtransfer.data.formats.textio import read_text
from xtransfer.errors import DataError

# TyDiQA ids start with the language's English name: "finnish--7633091408814529542-0".
TYDIQA_LANGUAGES = {
    "arabic": "ar", "bengali": "bn", "english": "en", "finnish": "fi", "indonesian": "id",
    "japanese": "ja", "korean": "ko", "russian": "ru", "swahili": "sw", "telugu": "te", "thai": "th",
}


def tydiqa_language(example_id: str) -> str | None:
    """The ISO code of a TyDiQA id's language prefix, None if it has none."""
    return TYDIQA_LANGUAGES.get(example_id.split("-", 1)[0])


def _load(path: Path) -> list:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg}: column {e.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: expected SQuAD JSON, an object with a 'data' list of articles")
    return data["data"]


@register_format("squad_json")
def read_squad_json(path: Path) -> Iterator[Record]:
    for a, article in enumerate(_load(path)):
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            if "context" not in paragraph or "qas" not in paragraph:
                raise DataError(f"{where}: a paragraph needs 'context' and 'qas' (it has {sorted(paragraph)})")
            for qa in paragraph["qas"]:
                answers = qa.get("answers") or []
                try:
                    record = {
                        "id": str(qa["id"]), "title": article.get("title", ""), "context": paragraph["context"],
                        "question": qa["question"],
                        "answers": {"text": [x["text"] for x in answers],
                                    "answer_start": [x["answer_start"] for x in answers]},
                    }
                except (KeyError, TypeError) as e:
                    raise DataError(f"{where}: question {qa.get('id', '?')!r} lacks {e} "
                                    f"(needs id, question, answers[{{text, answer_start}}])") from None
                if "is_impossible" in qa:
                    record["is_impossible"] = bool(qa["is_impossible"])
                yield f"{where} id {record['id']}", record
