"""The family interface: what a kind of task (classification, span, tagging, multiple choice,
retrieval, mlm) must say so that the pipeline can train and evaluate it.

A family is code; a task is data (conf/task/*.yaml naming a family). The pipeline only
talks to families through this interface:

    rows      normalize(mapped_record, task, aliases) -> canonical row | None
    features  featurize(batch_of_rows, tokenizer, task) -> columns (input_ids, length, ...)
    batches   collate(features, pad_id) -> tensors
    model     build_head(hidden_size, task); forward(encoder, head, batch) -> outputs; loss(outputs, batch)
    eval      predict(outputs, batch) -> small per-row outputs (moved to CPU);
              decode(per_row_outputs, features, task) -> one prediction per example;
              score(predictions, features, task) -> {metric: value}, main metric first
    files     write_predictions(predictions, path) in XTREME's format
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from xtransfer.config.schema import TaskSpec


class Family:
    name: ClassVar[str]
    version: ClassVar[int] = 1           # bump when featurize changes: it is part of the feature cache key
    main_metric: ClassVar[str]
    prediction_suffix: ClassVar[str] = ".txt"
    packs_rows: ClassVar[bool] = False   # featurize joins rows of a batch (MLM packing): batches must stay aligned

    def normalize(self, record: dict[str, Any], task: TaskSpec, aliases: dict[str, str]) -> dict[str, Any] | None:
        raise NotImplementedError

    def labels_from_train(self, task: TaskSpec) -> bool:
        """True when the label set is derived from the train split (so every split's features depend on it)."""
        return False

    def featurize(self, rows: dict[str, list], tokenizer, task: TaskSpec) -> dict[str, list]:
        raise NotImplementedError

    def collate(self, features: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
        raise NotImplementedError

    def build_head(self, hidden_size: int, task: TaskSpec) -> nn.Module:
        raise NotImplementedError

    def head_for(self, encoder: nn.Module, task: TaskSpec) -> nn.Module:
        """A fresh head for task on this encoder. Most heads need only its hidden size; the MLM head also
        needs its vocabulary, and starts from the checkpoint's pretrained LM head when it has one."""
        return self.build_head(encoder.config.hidden_size, task)

    def forward(self, encoder: nn.Module, head: nn.Module, batch: dict[str, Any]) -> Any:
        raise NotImplementedError

    def loss(self, outputs: Any, batch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, outputs: Any, batch: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def decode(self, outputs: list[Any], features, task: TaskSpec) -> list[Any]:
        raise NotImplementedError

    def score(self, predictions: list[Any], features, task: TaskSpec) -> dict[str, float]:
        raise NotImplementedError

    def write_predictions(self, predictions: list[Any], path: Path) -> None:
        path.write_text("".join(f"{p}\n" for p in predictions), encoding="utf-8")


FAMILIES: dict[str, Family] = {}


def register(family_cls: type[Family]) -> type[Family]:
    FAMILIES[family_cls.name] = family_cls()
    return family_cls


def pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    """Right-pad to the longest sequence of the batch (dynamic padding)."""
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), value, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def sentence_vector(encoder: nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """One vector per row of right-padded token states, pooled as the backbone says (engine/backbone.py):
    first token, mean over real tokens, or the last real token (decoders). Shape (batch, 1, hidden), the
    layout of token states, so heads that read the first position read it."""
    pooling = getattr(encoder, "pooling", "first")
    if pooling == "first":
        return hidden[:, :1]
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))[:, None]
    last = attention_mask.long().sum(1).clamp(min=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last][:, None]
