"""Entity precision / recall / F1 exactly as `seqeval.metrics.f1_score` (1.2.2, default mode)
computes them, which is what XTREME's evaluator reports for PAN-X and UDPOS.

seqeval reads a tag's first character as its chunk prefix and the rest after the first '-'
as its type ('B-PER' -> B, PER). POS tags go through the same code: 'NOUN' -> (N, 'OUN'),
so a run of equal POS tags is one chunk ('NOUN NOUN' is one entity), tags starting with S
(SCONJ, SYM) are single-token chunks, and 'X' has the type '_'. We reproduce that quirk on
purpose: it is the published metric. Sentences are joined with an 'O' between them, so no
chunk crosses a sentence boundary.
"""
from __future__ import annotations

from typing import Sequence

Chunk = tuple[str, int, int]  # (type, first token, last token) in the joined sequence


def _prefix_and_type(tag: str) -> tuple[str, str]:
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (prev_tag in ("E", "S")
            or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != type_))


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def chunks(sentences: Sequence[Sequence[str]]) -> set[Chunk]:
    """seqeval's get_entities over the sentences joined with 'O' separators."""
    joined = [tag for sentence in sentences for tag in [*sentence, "O"]]
    found, prev_tag, prev_type, begin = set(), "O", "", 0
    for i, tag_text in enumerate(joined + ["O"]):
        tag, type_ = _prefix_and_type(tag_text)
        if _ends(prev_tag, tag, prev_type, type_):
            found.add((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return found


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro-averaged entity precision, recall and F1 in percent (0 where undefined, as seqeval)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted sentences for {len(gold)} gold sentences")
    for k, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {k}: {len(p)} predicted tags for {len(g)} gold tags")
    true, pred = chunks(gold), chunks(predicted)
    correct = len(true & pred)
    precision = correct / len(pred) if pred else 0.0
    recall = correct / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}


def token_accuracy(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Percentage of tokens whose tag is right (POS accuracy)."""
    pairs = [(g, p) for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)]
    if not pairs:
        raise ValueError("accuracy of an empty set is undefined")
    return 100.0 * sum(g == p for g, p in pairs) / len(pairs)
