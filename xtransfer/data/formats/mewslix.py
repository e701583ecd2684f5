"""Mewsli-X as XTREME-R's download leaves it (google-research/xtreme scripts/download_data.sh, then
utils_preprocess.py --task mewslix), one reader for its three record shapes, told apart by their keys:

- `wikipedia_pairs-{train,dev}.jsonl`: English Wikipedia mention-entity pairs (MentionEntityPair:
  `contextual_mention` {context, mention}, `entity`) -> one `pair` row each (training);
- `wikinews_mentions/{dev,test}-<lang>.jsonl`: WikiNews documents with their mentions (ContextualMentions:
  `context`, `mentions`) -> one `mention` row per mention; the test files have blank entity ids, their
  gold is in `wikinews_labels/<split>-<lang>.json` ({example_id: [entity_id]}), read from there;
- `candidate_set_entities.jsonl`: the candidate entities (Entity) -> one `entity` row each.

The texts are those XTREME-R's baseline encodes (third_party/utils_mewslix.py): a mention is the
sentence holding it, the mention marked `{ ... }` (braces already in the text become parentheses) and
repeated in front, `mention: left { mention } right`; an entity is its description's sentences joined
by spaces. Newlines become spaces and double spaces single ones. A labels json yields no row.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from xtransfer.data.formats.registry import Record, register_format
from xtransfer.data.formats.textio import open_text, read_text
from xtransfer.errors import DataError

_BRACED = re.compile(r"\{(.*?)\}")


def _tidy(text: str) -> str:
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def mention_text(context: dict[str, Any], mention: dict[str, Any]) -> str:
    """The query string of one mention in its context (one sentence of context)."""
    span = mention["mention_span"]
    start, end = span["start"], span["end"]
    for sentence in context["sentence_spans"]:
        if sentence["start"] <= start < sentence["end"] and sentence["start"] < end <= sentence["end"]:
            break
    else:
        raise ValueError(f"mention {mention.get('example_id')!r} ({start}-{end}) lies in no single sentence "
                         f"of its context")
    text = context["text"]
    left = _BRACED.sub(r"(\1)", text[sentence["start"]:start])
    right = _BRACED.sub(r"(\1)", text[end:sentence["end"]])
    return _tidy(f"{span['text']}: {left} {{ {span['text']} }} {right}")


def entity_text(entity: dict[str, Any]) -> str:
    description = entity["description"]
    return _tidy(" ".join(description[s["start"]:s["end"]] for s in entity["sentence_spans"]))


def _gold(path: Path) -> dict[str, str]:
    """wikinews_labels/<split>-<lang>.json beside wikinews_mentions/, when there is one."""
    labels = path.parent.parent / "wikinews_labels" / f"{path.stem}.json"
    if not labels.is_file():
        return {}
    try:
        return {example: ids[0] for example, ids in json.loads(read_text(labels)).items()}
    except (json.JSONDecodeError, AttributeError, IndexError, TypeError):
        raise DataError(f"{labels}: expected a JSON object {{example_id: [entity_id]}}") from None


def _rows(record: dict[str, Any], gold: dict[str, str]) -> list[dict[str, Any]]:
    if "contextual_mention" in record:
        cm, entity = record["contextual_mention"], record["entity"]
        return [{"kind": "pair", "id": cm["mention"]["example_id"], "query": mention_text(cm["context"], cm["mention"]),
                 "candidate": entity_text(entity), "entity_id": entity["entity_id"]}]
    if "mentions" in record:
        return [{"kind": "mention", "id": m["example_id"], "query": mention_text(record["context"], m),
                 "candidate": None, "entity_id": m.get("entity_id") or gold.get(m["example_id"], "")}
                for m in record["mentions"]]
    if "entity_id" in record and "description" in record:
        return [{"kind": "entity", "id": record["entity_id"], "query": None, "candidate": entity_text(record),
                 "entity_id": record["entity_id"]}]
    raise ValueError(f"not a Mewsli-X record (a mention-entity pair, a document's mentions or an entity): "
                     f"keys {sorted(record)}")


@register_format("mewslix")
def read_mewslix(path: Path) -> Iterator[Record]:
    if path.suffix == ".json":   # wikinews_labels: read beside the mentions they label
        return
    gold = _gold(path)
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows = _rows(json.loads(line), gold)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg}: column {e.colno})") from None
            except (KeyError, TypeError, ValueError) as e:
                raise DataError(f"{path}:{lineno}: {e}") from None
            for row in rows:
                yield f"{path}:{lineno}", row
