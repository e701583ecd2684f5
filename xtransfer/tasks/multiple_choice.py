"""Multiple choice (HellaSwag, CommonsenseQA, Cosmos QA, COPA, XCOPA).

Canonical row: context, question (optional), choices (list of str), label (index of the
right choice), id (optional; XCOPA's idx names its predictions). Every choice becomes one
sequence `context </s></s> question choice`; a batch holds (examples x choices) sequences,
encoded in ONE forward pass as (examples * choices) rows, each scored by a head on its first
token; the scores of an example's choices are its logits (softmax over choices).

Task options (conf/task/*.yaml `options:`):
  num_choices       every row must have exactly this many choices (required)
  label_names       raw labels in choice order, e.g. [A, B, C, D, E] (CommonsenseQA's answerKey);
                    default "0".."n-1" (integer ids in range are always accepted)
  question_prompts  raw question -> text (COPA/XCOPA's cause/effect -> jiant's English prompts)
"""
from __future__ import annotations

import json
from typing import Any

import torch
import torch.nn.functional as F

from xtransfer import metrics
from xtransfer.errors import ConfigError
from xtransfer.config.schema import TaskSpec
from xtransfer.tasks.base import Family, pad, register, sentence_vector
from xtransfer.tasks.classification import ClassificationHead


def _num_choices(task: TaskSpec) -> int:
    n = task.options.get("num_choices")
    if not isinstance(n, int) or n < 2:
        raise ConfigError(f"task '{task.name}': options.num_choices must be an integer >= 2, got {n!r}")
    return n


def choice_index(raw: Any, label_names: list[str], aliases: dict[str, str]) -> int:
    """A raw label (choice id, label name like 'B', alias, digit string) -> choice index."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if 0 <= raw < len(label_names):
            return raw
        raise ValueError(f"label {raw} is out of range for {len(label_names)} choices (0..{len(label_names) - 1})")
    text = aliases.get(str(raw).strip(), str(raw).strip()) if raw is not None else None
    if text in label_names:
        return label_names.index(text)
    raise ValueError(f"label {raw!r} is not one of {label_names}; set the task's options.label_names "
                     f"(or label_aliases) to map it, or drop this row")


def _choice_text(choice: Any) -> str:
    """A choice string; CommonsenseQA's raw jsonl gives {label, text} objects."""
    return choice["text"] if isinstance(choice, dict) and "text" in choice else choice


@register
class MultipleChoice(Family):
    name = "multiple_choice"
    main_metric = "acc"
    prediction_suffix = ".jsonl"

    def normalize(self, record, task: TaskSpec, aliases):
        n = _num_choices(task)
        choices = [_choice_text(c) for c in record["choices"]]
        if len(choices) != n:
            raise ValueError(f"{len(choices)} choices, but task '{task.name}' has {n} (options.num_choices); "
                             f"fix or delete this row")
        if not all(isinstance(c, str) for c in choices):
            raise ValueError(f"choices must be strings, got {choices!r}")
        context = record["context"]
        if not isinstance(context, str) or not context.strip():
            raise ValueError("empty context")
        question = record.get("question")
        prompts = task.options.get("question_prompts")
        if prompts is not None:
            if question not in prompts:
                raise ValueError(f"question {question!r} is not one of {sorted(prompts)} (options.question_prompts)")
            question = prompts[question]
        label_names = task.options.get("label_names") or [str(i) for i in range(n)]
        return {"id": record.get("id"), "context": context, "question": question or None, "choices": choices,
                "label": choice_index(record["label"], label_names, aliases)}

    def featurize(self, rows, tokenizer, task: TaskSpec):
        firsts, seconds = [], []
        for context, question, choices in zip(rows["context"], rows["question"], rows["choices"]):
            firsts += [context] * len(choices)
            seconds += [f"{question} {c}" if question else c for c in choices]
        flat = tokenizer(firsts, seconds, truncation=True, max_length=task.max_length)["input_ids"]
        grouped, start = [], 0
        for choices in rows["choices"]:
            grouped.append(flat[start:start + len(choices)])
            start += len(choices)
        return {"input_ids": grouped, "length": [max(len(s) for s in g) for g in grouped],
                "label": rows["label"], "id": rows["id"]}

    def collate(self, features, pad_id):
        n_choices = len(features[0]["input_ids"])  # normalize made it the same for every row
        input_ids = pad([seq for f in features for seq in f["input_ids"]], pad_id).view(len(features), n_choices, -1)
        return {
            "input_ids": input_ids,
            "attention_mask": (input_ids != pad_id).long(),
            "labels": torch.tensor([f["label"] for f in features], dtype=torch.long),
        }

    def build_head(self, hidden_size, task):
        return ClassificationHead(hidden_size, 1)  # one score per (example, choice) sequence

    def forward(self, encoder, head, batch):
        examples, n_choices, width = batch["input_ids"].shape
        mask = batch["attention_mask"].view(-1, width)
        hidden = encoder(input_ids=batch["input_ids"].view(-1, width), attention_mask=mask).last_hidden_state
        return head(sentence_vector(encoder, hidden, mask)).view(examples, n_choices)

    def loss(self, outputs, batch):
        return F.cross_entropy(outputs.float(), batch["labels"])

    def predict(self, outputs, batch):
        return outputs.argmax(-1).tolist()

    def decode(self, outputs, features, task):
        ids = list(features["id"])
        return [{"idx": i if ids[i] is None else ids[i], "label": choice} for i, choice in enumerate(outputs)]

    def score(self, predictions, features, task):
        return {"acc": metrics.accuracy([p["label"] for p in predictions], features["label"])}

    def write_predictions(self, predictions, path):
        """XCOPA's own jsonl layout: one {"idx": ..., "label": <choice index>} object per example."""
        path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions), encoding="utf-8")
