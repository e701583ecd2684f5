"""Token tagging (UDPOS, PAN-X, CCG supertagging).

Canonical row: tokens (list of str), tags (list of str, one per token).

Alignment: the first sub-token of each word carries the word's label; the other sub-tokens
get -100 (ignored by the loss and by decoding), so every word gets exactly one prediction.
A word the tokenizer turns into nothing gets <unk>, as in XTREME.

No silent truncation: a sentence longer than max_length is cut, between words, into windows
that each fit; every window is a feature row carrying its sentence key and the index of its
first word, and decode re-joins the windows of a sentence. (XTREME splits such sentences in
preprocessing and scores the pieces as separate sentences; jiant truncated and lost words.)
A single word longer than a whole window keeps its first pieces: only the first is labelled.

Tag sets: `labels` in the task config, or, when it is null (CCG), the tags seen at least
`options.tag_min_count` times in the English train split, the rest folded into
`options.unknown_tag`.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from xtransfer.data.sources import load_rows
from xtransfer.errors import ConfigError
from xtransfer.metrics.seqeval import entity_scores, token_accuracy
from xtransfer.config.schema import TaskSpec
from xtransfer.tasks.base import Family, pad, register

IGNORE = -100  # label of sub-tokens that are not the first of their word, and of special tokens


class TaggingHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(hidden_states))


# ---------------------------------------------------------------------------------------
# Tag sets
# ---------------------------------------------------------------------------------------
_derived: dict[int, tuple[TaskSpec, list[str]]] = {}  # id(task) -> (task, its derived tag set)


def tag_set(task: TaskSpec) -> list[str]:
    """The task's labels, in label-id order (derived from the train split when labels is null)."""
    if task.labels:
        return list(task.labels)
    cached = _derived.get(id(task))
    if cached is None or cached[0] is not task:
        cached = _derived[id(task)] = (task, _frequent_tags(task))
    return cached[1]


def _frequent_tags(task: TaskSpec) -> list[str]:
    min_count, unknown = task.options.get("tag_min_count"), task.options.get("unknown_tag")
    if not min_count or not unknown:
        raise ConfigError(f"task '{task.name}' has no labels: list them, or set options.tag_min_count and "
                          f"options.unknown_tag to take the frequent tags of the train split")
    rows = load_rows(task, "train", task.languages[0], _raw_row)
    counts = Counter(tag for row in rows for tag in row["tags"])
    frequent = sorted((tag for tag, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
    return [*frequent, unknown]


def _raw_row(record: dict[str, Any], task: TaskSpec, aliases: dict[str, str]) -> dict[str, Any]:
    tags = [aliases.get(str(t), str(t)) for t in record["tags"]]
    return {"tokens": list(record["tokens"]), "tags": tags}


def _tag_name(raw: Any, labels: list[str], aliases: dict[str, str]) -> str | None:
    """A raw tag (hub class id or tag string, maybe aliased) -> a tag of `labels`, or None."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return labels[raw] if 0 <= raw < len(labels) else None
    name = aliases.get(str(raw), str(raw))
    return name if name in labels else None


# ---------------------------------------------------------------------------------------
# Windows over words
# ---------------------------------------------------------------------------------------
def word_pieces(word_ids: list[int | None], input_ids: list[int], n_words: int, unk_id: int) -> list[list[int]]:
    """The sub-token ids of each word (<unk> for a word that tokenizes to nothing)."""
    pieces: list[list[int]] = [[] for _ in range(n_words)]
    for word, token in zip(word_ids, input_ids):
        if word is not None:
            pieces[word].append(token)
    return [p or [unk_id] for p in pieces]


def windows(sizes: list[int], budget: int) -> Iterator[tuple[int, int]]:
    """Greedy [first, end) word ranges whose sub-token counts fit in budget (a lone long word is one window)."""
    first, used = 0, 0
    for w, size in enumerate(sizes):
        if used and used + size > budget:
            yield first, w
            first, used = w, 0
        used += size
    yield first, len(sizes)


def sentence_key(tokens: list[str]) -> int:
    """A stable id of a sentence's words (fits int64): tells the windows of different sentences apart."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(tokens).encode(), digest_size=7).digest(), "big")


def sentence_groups(keys: list[int], first_words: list[int], word_counts: list[int]) -> list[list[int]]:
    """Feature rows -> rows of each sentence: a row continues the previous one when it is the
    same sentence and starts where that one ended. Rows in file order re-join exactly; a
    random subset (max_val_examples) scores a lone window as its own sentence."""
    groups: list[list[int]] = []
    prev_key, prev_end = None, None
    for row, (key, first, count) in enumerate(zip(keys, first_words, word_counts)):
        if groups and first > 0 and key == prev_key and first == prev_end:
            groups[-1].append(row)
        else:
            groups.append([row])
        prev_key, prev_end = key, first + count
    return groups


def _joined(groups: list[list[int]], per_row: list[list[Any]]) -> list[list[Any]]:
    return [[item for row in group for item in per_row[row]] for group in groups]


@register
class Tagging(Family):
    name = "tagging"
    main_metric = "f1"
    prediction_suffix = ".tsv"

    def normalize(self, record, task: TaskSpec, aliases):
        tokens, raw_tags = list(record["tokens"]), list(record["tags"])
        if not tokens:
            raise ValueError("empty sentence (no tokens)")
        if len(tokens) != len(raw_tags):
            raise ValueError(f"{len(tokens)} tokens but {len(raw_tags)} tags")
        labels, unknown = tag_set(task), task.options.get("unknown_tag")
        tags = []
        for i, (token, raw) in enumerate(zip(tokens, raw_tags), start=1):
            if not isinstance(token, str) or not token:
                raise ValueError(f"word {i} is empty or not a string: {token!r}")
            tag = _tag_name(raw, labels, aliases) or unknown
            if tag is None:
                raise ValueError(f"word {i} ({token!r}) has tag {raw!r}, which is not one of the {len(labels)} "
                                 f"labels of task '{task.name}' {labels}. Fix the tag, or add it to `labels` "
                                 f"(or to `label_aliases`) in conf/task/{task.name}.yaml")
            tags.append(tag)
        return {"tokens": tokens, "tags": tags}

    def labels_from_train(self, task: TaskSpec) -> bool:
        return not task.labels

    def featurize(self, rows, tokenizer, task: TaskSpec):
        label_id = {tag: i for i, tag in enumerate(tag_set(task))}
        budget = task.max_length - 2  # <s> ... </s>
        enc = tokenizer(rows["tokens"], is_split_into_words=True, add_special_tokens=False)
        out: dict[str, list] = {"input_ids": [], "labels": [], "length": [], "sentence": [], "first_word": []}
        for k, (tokens, tags) in enumerate(zip(rows["tokens"], rows["tags"])):
            pieces = word_pieces(enc.word_ids(k), enc["input_ids"][k], len(tokens), tokenizer.unk_token_id)
            key = sentence_key(tokens)
            for first, end in windows([len(p) for p in pieces], budget):
                ids, labels = [tokenizer.cls_token_id], [IGNORE]
                for w in range(first, end):
                    word = pieces[w][:budget]
                    ids += word
                    labels += [label_id[tags[w]]] + [IGNORE] * (len(word) - 1)
                ids.append(tokenizer.sep_token_id)
                labels.append(IGNORE)
                for column, value in (("input_ids", ids), ("labels", labels), ("length", len(ids)),
                                      ("sentence", key), ("first_word", first)):
                    out[column].append(value)
        return out

    def collate(self, features, pad_id):
        input_ids = pad([f["input_ids"] for f in features], pad_id)
        return {
            "input_ids": input_ids,
            "attention_mask": (input_ids != pad_id).long(),
            "labels": pad([f["labels"] for f in features], IGNORE),
        }

    def build_head(self, hidden_size, task):
        return TaggingHead(hidden_size, len(tag_set(task)))

    def forward(self, encoder, head, batch):
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return head(hidden)

    def loss(self, outputs, batch):
        return F.cross_entropy(outputs.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)

    def predict(self, outputs, batch):
        """Per row, the predicted label ids of its words (at their first sub-tokens)."""
        best, labels = outputs.argmax(-1).cpu(), batch["labels"].cpu()
        return [row[mask].tolist() for row, mask in zip(best, labels != IGNORE)]

    def decode(self, outputs, features, task):
        labels = tag_set(task)
        groups = sentence_groups(features["sentence"], features["first_word"], [len(o) for o in outputs])
        return [[labels[i] for i in sentence] for sentence in _joined(groups, outputs)]

    def score(self, predictions, features, task):
        labels = tag_set(task)
        gold_ids = [[i for i in row if i != IGNORE] for row in features["labels"]]
        groups = sentence_groups(features["sentence"], features["first_word"], [len(g) for g in gold_ids])
        gold = [[labels[i] for i in sentence] for sentence in _joined(groups, gold_ids)]
        return {**entity_scores(gold, predictions), "acc": token_accuracy(gold, predictions)}

    def write_predictions(self, predictions, path: Path):
        """XTREME's tag files: one tag per line, a blank line between sentences."""
        path.write_text("\n\n".join("\n".join(tags) for tags in predictions) + "\n", encoding="utf-8")
