"""Sentence and sentence-pair classification (MNLI, QQP, ANLI, XNLI, PAWS-X, XGLUE's NC/QADSM/WPR/QAM).

Canonical row: text_a, text_b (optional; several source columns are joined with a space),
label (class id). The head is RoBERTa's: dense + tanh over the first token, then a
projection to the classes.

Graded relevance (XGLUE WPR, `main_metric: ndcg`): the classes are the grades ("0".."4"); the
predicted grade is a document's score and nDCG is taken per query, a query being a run of
consecutive rows with the same text_a (as XGLUE's evaluator groups them).
"""
from __future__ import annotations

import hashlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xtransfer import metrics
from xtransfer.metrics.ranking import consecutive_groups, ndcg
from xtransfer.config.schema import TaskSpec
from xtransfer.errors import ConfigError
from xtransfer.tasks.base import Family, pad, register, sentence_vector


class ClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden_states[:, 0])
        x = self.dropout(torch.tanh(self.dense(x)))
        return self.out_proj(x)


def label_id(raw: Any, labels: list[str], aliases: dict[str, str]) -> int:
    """A raw label (class id, class name, alias, or digit string) -> class id."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"label {raw!r} is not one of {labels}")
    if isinstance(raw, int):
        if 0 <= raw < len(labels):
            return raw
        raise ValueError(f"label id {raw} is out of range for {len(labels)} classes {labels}")
    text = str(raw).strip()
    name = aliases.get(text, text)
    if name in labels:
        return labels.index(name)
    if text.isascii() and text.isdigit() and int(text) < len(labels):  # e.g. GLUE QQP's is_duplicate 0/1
        return int(text)
    raise ValueError(f"label {raw!r} is not one of {labels}" + (f" (aliases: {aliases})" if aliases else ""))


@register
class Classification(Family):
    name = "classification"
    main_metric = "acc"
    prediction_suffix = ".tsv"

    def normalize(self, record, task: TaskSpec, aliases):
        raw = record["label"]
        if raw in task.skip_labels:
            return None
        text_a = record["text_a"]
        if not isinstance(text_a, str) or not text_a.strip():
            raise ValueError("empty text_a")
        text_b = record.get("text_b")
        if isinstance(text_b, list):
            text_b = " ".join(str(t) for t in text_b)
        return {"text_a": text_a, "text_b": text_b, "label": label_id(raw, task.labels, aliases)}

    def featurize(self, rows, tokenizer, task: TaskSpec):
        pairs = rows["text_b"] if any(t is not None for t in rows["text_b"]) else None
        enc = tokenizer(rows["text_a"], pairs, truncation=True, max_length=task.max_length)
        ids = enc["input_ids"]
        out = {"input_ids": ids, "length": [len(x) for x in ids], "label": rows["label"]}
        if task.main_metric == "ndcg":
            out["query"] = [query_key(text) for text in rows["text_a"]]
        return out

    def collate(self, features, pad_id):
        input_ids = pad([f["input_ids"] for f in features], pad_id)
        return {
            "input_ids": input_ids,
            "attention_mask": (input_ids != pad_id).long(),
            "labels": torch.tensor([f["label"] for f in features], dtype=torch.long),
        }

    def build_head(self, hidden_size, task):
        return ClassificationHead(hidden_size, len(task.labels))

    def forward(self, encoder, head, batch):
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return head(sentence_vector(encoder, hidden, batch["attention_mask"]))

    def loss(self, outputs, batch):
        return F.cross_entropy(outputs.float(), batch["labels"])

    def predict(self, outputs, batch):
        return outputs.argmax(-1).tolist()

    def decode(self, outputs, features, task):
        return [task.labels[i] for i in outputs]

    def score(self, predictions, features, task):
        gold = [task.labels[i] for i in features["label"]]
        scores = {"acc": metrics.accuracy(predictions, gold)}
        if task.main_metric == "ndcg":
            grade = _grades(task)
            groups = consecutive_groups(features["query"])
            scores = {"ndcg": ndcg([([grade[gold[i]] for i in g], [grade[predictions[i]] for i in g]) for g in groups]),
                      **scores}
        return scores


def query_key(text: str) -> int:
    """A stable id of a query's text (fits int64), so that rows of one query can be told apart."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=7).digest(), "big")


def _grades(task: TaskSpec) -> dict[str, float]:
    try:
        return {label: float(label) for label in task.labels}
    except ValueError:
        raise ConfigError(f"task '{task.name}' ranks by nDCG, so its labels must be relevance grades "
                         f"(numbers, e.g. [\"0\", \"1\", \"2\"]), not {task.labels}") from None
