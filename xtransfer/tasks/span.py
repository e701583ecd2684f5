"""Extractive question answering (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP).

Canonical row: id, context, question, answers {text, answer_start}, language (mapped from
"{lang}"), problem (why the row cannot be trained on, "" if fine).

Featurization follows XTREME's run_squad: the question is cut to `max_query_length` tokens and a
long context becomes several windows of `max_length` tokens, each starting `doc_stride` context
tokens after the previous one. A window is labelled with the answer's tokens if it holds the
whole answer, else with the first token (CLS), as is every window of an unanswerable question.

Decoding: per window, the best of the top-N_BEST start x top-N_BEST end pairs that lie in the
context, end >= start, at most MAX_ANSWER_TOKENS long (vectorised over the batch in `predict`);
per question, the best over its windows, its text cut from the context by character offsets.
SQuAD v2: "no answer" when the CLS score minus the best span's exceeds `null_threshold`.
"""
from __future__ import annotations

import json
import logging
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from xtransfer.data.formats.span import tydiqa_language
from xtransfer.errors import ConfigError, DataError
from xtransfer.metrics import squad as squad_metrics
from xtransfer.config.schema import TaskSpec
from xtransfer.tasks.base import Family, pad, register

log = logging.getLogger(__name__)

N_BEST = 20             # start and end candidates per window (XTREME's n_best_size)
MAX_ANSWER_TOKENS = 30  # XTREME's max_answer_length
IGNORE = -100           # a label the loss skips (questions with a bad answer, in training)


@dataclass(frozen=True)
class SpanOptions:
    """task.options of a span task."""
    doc_stride: int = 128          # context tokens between the starts of two windows
    max_query_length: int = 64     # question tokens kept
    metric: str = "squad"          # squad (v1.1) | squad_v2 | mlqa
    null_threshold: float = 0.0    # squad_v2: answer "" when null score - best span score > this
    language_from_id: bool = False  # TyDiQA: keep the rows whose id prefix names the language loaded

    @classmethod
    def of(cls, task: TaskSpec) -> "SpanOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(task.options) - known)
        if unknown:
            raise ConfigError(f"task '{task.name}': unknown option(s) {unknown}; span options: {sorted(known)}")
        opts = cls(**task.options)
        if opts.metric not in ("squad", "squad_v2", "mlqa"):
            raise ConfigError(f"task '{task.name}': options.metric must be squad, squad_v2 or mlqa, got '{opts.metric}'")
        return opts


class Answer(NamedTuple):
    id: str
    text: str
    null_margin: float  # null score - best span score (SQuAD v2's na_prob; -inf if no window had a span)


def answer_problem(context: str, question: str, texts: list[str], starts: list[int]) -> str:
    """Why a question cannot be trained on ("" if it can)."""
    if not question.strip():
        return "empty question"
    if len(texts) != len(starts):
        return f"{len(texts)} answer texts but {len(starts)} answer_start values"
    for text, start in zip(texts, starts):
        if start < 0 or start + len(text) > len(context):
            return (f"answer {text!r} at answer_start {start} ends at {start + len(text)}, "
                    f"past the end of the {len(context)}-character context")
        found = context[start:start + len(text)]
        if found != text:
            return f"answer {text!r} does not match the context at answer_start {start} (it reads {found!r})"
    return ""


@dataclass(frozen=True)
class Layout:
    """Where a tokenizer puts its special tokens around a (question, context) pair."""
    prefix: list[int]
    middle: list[int]
    suffix: list[int]

    @classmethod
    def of(cls, tokenizer) -> "Layout":
        probe = tokenizer("a", "b")
        seq = probe.sequence_ids(0)
        q = [i for i, s in enumerate(seq) if s == 0]
        c = [i for i, s in enumerate(seq) if s == 1]
        ids = probe["input_ids"]
        return cls(ids[:q[0]], ids[q[-1] + 1:c[0]], ids[c[-1] + 1:])

    @property
    def size(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)


def window_starts(n_tokens: int, budget: int, stride: int) -> list[int]:
    """First context token of each window: every `stride` tokens until a window reaches the end."""
    starts = [0]
    while starts[-1] + budget < n_tokens:
        starts.append(starts[-1] + min(budget, stride))
    return starts


def answer_token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """First and last context tokens overlapping characters [start, end)."""
    first = bisect_right([e for _, e in offsets], start)
    last = bisect_left([s for s, _ in offsets], end) - 1
    return (first, last) if first <= last else None


FEATURE_COLUMNS = ("input_ids", "length", "start_position", "end_position", "offset_start", "offset_end",
                   "example_id", "context", "answers", "language", "problem")


@register
class Span(Family):
    name = "span"
    main_metric = "f1"
    prediction_suffix = ".json"

    def normalize(self, record, task: TaskSpec, aliases):
        example_id = str(record["id"])
        language = record.get("language") or ""
        if SpanOptions.of(task).language_from_id and tydiqa_language(example_id) != language:
            return None
        context, question = record["context"], record["question"] or ""
        texts = list(record["answers"]["text"])
        starts = [int(s) for s in record["answers"]["answer_start"]]
        return {"id": example_id, "context": context, "question": question,
                "answers": {"text": texts, "answer_start": starts}, "language": language,
                "problem": answer_problem(context, question, texts, starts)}

    def featurize(self, rows, tokenizer, task: TaskSpec):
        opts, layout = SpanOptions.of(task), Layout.of(tokenizer)
        questions = tokenizer(rows["question"], add_special_tokens=False)["input_ids"]
        contexts = tokenizer(rows["context"], add_special_tokens=False, return_offsets_mapping=True)
        out: dict[str, list] = {c: [] for c in FEATURE_COLUMNS}
        for i, example_id in enumerate(rows["id"]):
            question = questions[i][:opts.max_query_length]
            context_ids, offsets = contexts["input_ids"][i], contexts["offset_mapping"][i]
            budget = task.max_length - len(question) - layout.size
            if budget <= 0:
                raise ConfigError(f"task '{task.name}': max_length {task.max_length} leaves no room for the context "
                                  f"after a {len(question)}-token question; raise max_length")
            problem, answers = rows["problem"][i], rows["answers"][i]
            if problem:
                log.warning("%s: question %s: %s; it is skipped in training and an error in evaluation",
                            task.name, example_id, problem)
                label = None
            elif answers["text"]:
                start = answers["answer_start"][0]
                label = answer_token_span(offsets, start, start + len(answers["text"][0]))
            else:
                label = (-1, -1)  # unanswerable: every window points at CLS
            for first in window_starts(len(context_ids), budget, opts.doc_stride):
                last = min(first + budget, len(context_ids))
                head = len(layout.prefix) + len(question) + len(layout.middle)
                ids = layout.prefix + question + layout.middle + context_ids[first:last] + layout.suffix
                pad_left, pad_right = [-1] * head, [-1] * len(layout.suffix)
                if label is None:
                    positions = (IGNORE, IGNORE)
                elif first <= label[0] and label[1] < last:
                    positions = (head + label[0] - first, head + label[1] - first)
                else:
                    positions = (0, 0)
                out["input_ids"].append(ids)
                out["length"].append(len(ids))
                out["start_position"].append(positions[0])
                out["end_position"].append(positions[1])
                out["offset_start"].append(pad_left + [s for s, _ in offsets[first:last]] + pad_right)
                out["offset_end"].append(pad_left + [e for _, e in offsets[first:last]] + pad_right)
                out["example_id"].append(example_id)
                out["context"].append(rows["context"][i])
                out["answers"].append(answers["text"])
                out["language"].append(rows["language"][i])
                out["problem"].append(problem)
        return out

    def collate(self, features, pad_id):
        input_ids = pad([f["input_ids"] for f in features], pad_id)
        offset_start = pad([f["offset_start"] for f in features], -1)
        return {
            "input_ids": input_ids,
            "attention_mask": (input_ids != pad_id).long(),
            "context_mask": offset_start >= 0,
            "offset_start": offset_start,
            "offset_end": pad([f["offset_end"] for f in features], -1),
            "start_positions": torch.tensor([f["start_position"] for f in features], dtype=torch.long),
            "end_positions": torch.tensor([f["end_position"] for f in features], dtype=torch.long),
        }

    def build_head(self, hidden_size, task):
        return nn.Linear(hidden_size, 2)  # start and end logits per token

    def forward(self, encoder, head, batch):
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        start, end = head(hidden).float().unbind(-1)
        return start, end

    def loss(self, outputs, batch):
        start, end = outputs
        labelled = (batch["start_positions"] != IGNORE).sum().clamp(min=1)  # a batch of skipped rows: loss 0
        total = (F.cross_entropy(start, batch["start_positions"], ignore_index=IGNORE, reduction="sum")
                 + F.cross_entropy(end, batch["end_positions"], ignore_index=IGNORE, reduction="sum"))
        return total / (2 * labelled)

    def predict(self, outputs, batch):
        """Per window: (best span score, its first and end character, null score), all in one pass."""
        start, end = outputs
        mask = batch["context_mask"]
        start_top, start_idx = start.masked_fill(~mask, -torch.inf).topk(min(N_BEST, start.shape[1]), dim=1)
        end_top, end_idx = end.masked_fill(~mask, -torch.inf).topk(min(N_BEST, end.shape[1]), dim=1)
        scores = start_top[:, :, None] + end_top[:, None, :]           # (batch, start candidate, end candidate)
        length = end_idx[:, None, :] - start_idx[:, :, None]
        scores = scores.masked_fill((length < 0) | (length >= MAX_ANSWER_TOKENS), -torch.inf)
        best, flat = scores.flatten(1).max(dim=1)
        k = end_idx.shape[1]
        first = start_idx.gather(1, (flat // k)[:, None])
        last = end_idx.gather(1, (flat % k)[:, None])
        char_start = batch["offset_start"].to(first.device).gather(1, first)[:, 0]
        char_end = batch["offset_end"].to(last.device).gather(1, last)[:, 0]
        null = start[:, 0] + end[:, 0]
        return list(zip(best.tolist(), char_start.tolist(), char_end.tolist(), null.tolist()))

    def decode(self, outputs, features, task):
        """One Answer per question, in the order questions first appear in the features."""
        opts = SpanOptions.of(task)
        v2 = opts.metric == "squad_v2"
        best: dict[str, tuple[float, str]] = {}
        null: dict[str, float] = {}
        for (score, char_start, char_end, null_score), example_id, context in zip(
                outputs, features["example_id"], features["context"]):
            if example_id not in best or score > best[example_id][0]:
                text = context[char_start:char_end].strip() if score > -torch.inf else ""
                best[example_id] = (score, text)
            null[example_id] = min(null.get(example_id, torch.inf), null_score)
        answers = []
        for example_id, (score, text) in best.items():
            margin = null[example_id] - score
            answers.append(Answer(example_id, "" if v2 and margin > opts.null_threshold else text, margin))
        return answers

    def score(self, predictions, features, task):
        gold, language = self._gold(features, task)
        predicted = {a.id: a.text for a in predictions}
        metric = SpanOptions.of(task).metric
        if metric == "squad_v2":
            return squad_metrics.squad_v2(predicted, gold, {a.id: a.null_margin for a in predictions})
        if metric == "mlqa":
            scores = squad_metrics.mlqa(predicted, gold, language)
        else:
            scores = squad_metrics.squad_v1(predicted, gold)
        return {**scores, "f1_em_avg": (scores["f1"] + scores["exact_match"]) / 2}

    @staticmethod
    def _gold(features, task: TaskSpec) -> tuple[dict[str, list[str]], str]:
        gold: dict[str, list[str]] = {}
        bad = {}
        for example_id, answers, problem in zip(features["example_id"], features["answers"], features["problem"]):
            gold[example_id] = answers
            if problem:
                bad[example_id] = problem
        if bad:
            shown = "; ".join(f"question {i}: {p}" for i, p in list(bad.items())[:5])
            raise DataError(f"task '{task.name}': {len(bad)} evaluation questions have a bad answer or question "
                            f"({shown}). Fix these rows in the data; only training skips them.")
        languages = set(features["language"])
        return gold, languages.pop() if len(languages) == 1 else ""

    def write_predictions(self, predictions, path):
        """SQuAD's prediction file: {question id: answer text}."""
        path.write_text(json.dumps({a.id: a.text for a in predictions}, ensure_ascii=False, indent=0) + "\n",
                        encoding="utf-8")
