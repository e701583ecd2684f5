"""Entity retrieval with a dual encoder (Mewsli-X, as XTREME-R trains and scores it).

Canonical row (xtransfer/data/formats/mewslix.py): kind (`pair` | `mention` | `entity`), id, query (a
mention in context), candidate (an entity description), entity_id. One encoder embeds both sides
(google-research/xtreme third_party/bert.py BertForRetrieval, used by run_retrieval_el.py): the pooled
first token (dense + tanh; a fresh dense here, as xtransfer loads encoders without their pooler),
L2-normalised; `options.pooling: mean` pools the mean of the real tokens instead (the tiny models). Training reads `pair` rows: the loss is cross-entropy of each
mention against every entity of its batch (in-batch negatives), cosine x a learned scale (initialised at
100, as there). Evaluation ranks, for every `mention` row of a split, the `entity` rows of the same split
(the candidate set; validation on `pair` rows ranks the split's own entities) by cosine and keeps the
first 20: `map@20` is the mean reciprocal rank of the gold entity (utils_mewslix.py's evaluate).
Predictions: `<split>-<lang>.json`, {example_id: [entity ids, best first]}, XTREME-R's layout.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from xtransfer.config.schema import TaskSpec
from xtransfer.errors import ConfigError
from xtransfer.metrics.ranking import mrr_at_k
from xtransfer.tasks.base import Family, pad, register

TOP_K = 20
KINDS = ("pair", "mention", "entity")


class DualEncoderHead(nn.Module):
    def __init__(self, hidden_size: int, pooling: str = "cls"):
        super().__init__()
        self.pooling = pooling
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.logit_scale = nn.Parameter(torch.full((1,), 100.0))

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "mean":   # over the real tokens (model.dual_encoder_pooling: the tiny random-init models)
            weights = mask.unsqueeze(-1).to(hidden_states.dtype)
            pooled = (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1)
        else:
            pooled = hidden_states[:, 0]
        return F.normalize(torch.tanh(self.dense(pooled)).float(), p=2, dim=-1)


def top_k(queries: torch.Tensor, candidates: torch.Tensor, k: int, block: int = 256) -> list[list[int]]:
    """Indices of each query's k most similar candidates (dot products of unit vectors), best first,
    a block of queries at a time so that no queries x candidates matrix is ever whole."""
    k = min(k, len(candidates))
    ranked: list[list[int]] = []
    for start in range(0, len(queries), block):
        scores = queries[start:start + block] @ candidates.T
        ranked += scores.topk(k, dim=-1).indices.tolist()
    return ranked


@register
class EntityRetrieval(Family):
    name = "entity_retrieval"
    main_metric = f"map@{TOP_K}"
    prediction_suffix = ".json"

    def normalize(self, record, task: TaskSpec, aliases):
        if record["kind"] not in KINDS:
            raise ValueError(f"kind {record['kind']!r} is not one of {KINDS}")
        for side in ("query", "candidate"):
            if record.get(side) is not None and not str(record[side]).strip():
                raise ValueError(f"empty {side}")
        return {"kind": record["kind"], "id": str(record["id"]), "query": record.get("query"),
                "candidate": record.get("candidate"), "entity_id": str(record.get("entity_id") or "")}

    def featurize(self, rows, tokenizer, task: TaskSpec):
        def encode(texts):
            present = [t for t in texts if t is not None]
            ids = iter(tokenizer(present, truncation=True, max_length=task.max_length)["input_ids"] if present else [])
            return [next(ids) if t is not None else [] for t in texts]

        first = encode([q if q is not None else c for q, c in zip(rows["query"], rows["candidate"])])
        second = encode([c if q is not None and k == "pair" else None
                         for k, q, c in zip(rows["kind"], rows["query"], rows["candidate"])])
        return {"input_ids": first, "pair_ids": second, "length": [max(len(a), len(b)) for a, b in zip(first, second)],
                "kind": rows["kind"], "id": rows["id"], "entity_id": rows["entity_id"]}

    def collate(self, features, pad_id):
        input_ids = pad([f["input_ids"] for f in features], pad_id)
        batch = {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long()}
        paired = [bool(f["pair_ids"]) for f in features]
        if any(paired):
            if not all(paired):
                raise ValueError("a batch mixes mention-entity pairs with single texts; a split holds one or the other")
            pair_ids = pad([f["pair_ids"] for f in features], pad_id)
            batch.update(pair_ids=pair_ids, pair_mask=(pair_ids != pad_id).long())
        return batch

    def build_head(self, hidden_size, task):
        pooling = task.options.get("pooling", "cls")
        if pooling not in ("cls", "mean"):
            raise ConfigError(f"task '{task.name}': options.pooling must be cls or mean, got {pooling!r}")
        return DualEncoderHead(hidden_size, pooling)

    def forward(self, encoder, head, batch):
        def embed(ids, mask):
            return head(encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

        first = embed(batch["input_ids"], batch["attention_mask"])
        if "pair_ids" not in batch:
            return first, None, head.logit_scale
        second = embed(batch["pair_ids"], batch["pair_mask"])
        return first, second, head.logit_scale

    def loss(self, outputs, batch):
        mentions, entities, scale = outputs
        logits = mentions @ entities.T * scale
        return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))

    def predict(self, outputs, batch):
        first, second, _ = outputs
        first = first.detach().float().cpu()
        second = second.detach().float().cpu() if second is not None else [None] * len(first)
        return list(zip(first, second))

    def decode(self, outputs, features, task):
        """[(example id, [entity ids, best first])] for every query row (pair or mention)."""
        kinds, ids, entity_ids = list(features["kind"]), list(features["id"]), list(features["entity_id"])
        queries = [i for i, kind in enumerate(kinds) if kind != "entity"]
        candidates, seen = [], set()
        for i, kind in enumerate(kinds):   # the split's candidate set, each entity once
            if kind != "mention" and entity_ids[i] not in seen:
                seen.add(entity_ids[i])
                candidates.append((entity_ids[i], outputs[i][1] if kind == "pair" else outputs[i][0]))
        if not queries or not candidates:
            return [(ids[i], []) for i in queries]
        ranked = top_k(torch.stack([outputs[i][0] for i in queries]), torch.stack([v for _, v in candidates]), TOP_K)
        return [(ids[i], [candidates[j][0] for j in order]) for i, order in zip(queries, ranked)]

    def score(self, predictions, features, task):
        gold = {example: entity for kind, example, entity in zip(features["kind"], features["id"], features["entity_id"])
                if kind != "entity"}
        return {self.main_metric: 100 * mrr_at_k(gold, dict(predictions), TOP_K)}

    def write_predictions(self, predictions, path: Path) -> None:
        path.write_text(json.dumps(dict(predictions), ensure_ascii=False) + "\n", encoding="utf-8")
