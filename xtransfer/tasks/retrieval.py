"""Retrieval (BUCC, Tatoeba): sentences embedded by the encoder alone, no head, no training.

Canonical row: a fragment of a retrieval set, every field a list (possibly empty):
`source` / `target` sentences, their `source_id` / `target_id` (empty: ids are positions
on that side), and `gold` [source id, target id] pairs. A Tatoeba line pair is one
fragment with one sentence per side; a BUCC corpus line is a fragment with one sentence
on one side; a BUCC gold line is a fragment with one pair; mteb/BUCC's single row is the
whole set. Featurize flattens fragments into one feature row per sentence or gold pair.

Embedding: hidden state `layer` (0 = embeddings) pooled by `mean` over the attention mask
(special tokens included, as XTREME's run_retrieval does) or `cls`.
"""
from __future__ import annotations

from typing import Any

import torch

from xtransfer.errors import ConfigError
from xtransfer.config.schema import EmbeddingSpec, TaskSpec
from xtransfer.tasks.base import Family, pad, register

SIDES = ("source", "target")


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in ([value] if isinstance(value, (str, int)) else value)]


@register
class Retrieval(Family):
    name = "retrieval"
    main_metric = "acc"   # the scorer in xtransfer.engine.retrieval names each task's own (BUCC: f1)
    prediction_suffix = ".tsv"

    def normalize(self, record, task: TaskSpec, aliases):
        row: dict[str, Any] = {}
        for side in SIDES:
            texts, ids = _strings(record.get(side)), _strings(record.get(f"{side}_id"))
            if any(not t.strip() for t in texts):
                raise ValueError(f"empty {side} sentence")
            if ids and len(ids) != len(texts):
                raise ValueError(f"{len(texts)} {side} sentences but {len(ids)} {side} ids")
            row[side], row[f"{side}_id"] = texts, ids
        # Hub gold pairs may be positions counted from gold_index_base (mteb/BUCC counts from 1).
        base = int(task.options.get("gold_index_base", 0))
        row["gold"] = [[str(v - base) if isinstance(v, int) else str(v) for v in pair]
                       for pair in (record.get("gold") or [])]
        if any(len(pair) != 2 for pair in row["gold"]):
            raise ValueError(f"a gold pair must be [source id, target id], got {record.get('gold')!r}")
        return row

    def featurize(self, rows, tokenizer, task: TaskSpec):
        out: dict[str, list] = {"side": [], "id": [], "link": [], "text": []}
        n = len(rows["source"])
        for r in range(n):
            for side in SIDES:
                texts, ids = rows[side][r], rows[f"{side}_id"][r]
                for k, text in enumerate(texts):
                    out["side"].append(side); out["id"].append(ids[k] if ids else ""); out["link"].append("")
                    out["text"].append(text)
            for src, trg in rows["gold"][r]:
                out["side"].append("gold"); out["id"].append(src); out["link"].append(trg); out["text"].append("")
        enc = tokenizer(out["text"], truncation=True, max_length=task.max_length)["input_ids"]
        out["input_ids"] = [ids if side != "gold" else [] for ids, side in zip(enc, out["side"])]
        out["length"] = [len(ids) for ids in out["input_ids"]]
        return out

    def collate(self, features, pad_id):
        input_ids = pad([f["input_ids"] for f in features], pad_id)
        return {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long()}


def hidden_layer(num_layers: int, spec: EmbeddingSpec) -> int:
    """The hidden state to pool: the configured one, 14 of 24 layers (the study, XTREME), else the middle."""
    layer = spec.layer if spec.layer is not None else (14 if num_layers == 24 else num_layers // 2)
    if not 0 <= layer <= num_layers:
        raise ConfigError(f"target.embedding.layer={layer}: the encoder has hidden states 0..{num_layers} "
                          f"(0 = embeddings)")
    return layer


def drop_layers_above(encoder: torch.nn.Module, layer: int) -> None:
    """Layers above the pooled hidden state cannot change it: drop them (10 of XLM-R large's 24).
    Encoders keep their blocks in encoder.layer; decoders in layers (Qwen2, Llama) or h (BLOOM), and
    their last hidden state is the final norm's output, so a decoder keeps one block above the pooled one."""
    model = getattr(encoder, "model", encoder)   # a Backbone wraps the transformers model
    owner = getattr(model, "encoder", model)
    for name, keep in (("layer", layer), ("layers", layer + 1), ("h", layer + 1)):
        blocks = getattr(owner, name, None)
        if isinstance(blocks, torch.nn.ModuleList):
            if keep < len(blocks):
                setattr(owner, name, blocks[:keep])
            return


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per sentence: the mean over real tokens (special tokens included) or the first token."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
