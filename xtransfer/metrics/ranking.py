"""Pair-set F1 (BUCC) and mean reciprocal rank at k (Mewsli-X), as XTREME's evaluator computes them;
nDCG over query groups (XGLUE WPR), as XGLUE's evaluator computes it."""
from __future__ import annotations

import math

from typing import Collection, Mapping, Sequence


def pair_f1(gold: Collection[tuple[str, str]], predicted: Collection[tuple[str, str]]) -> dict[str, float]:
    """BUCC: F1, precision and recall (percent) of predicted (source id, target id) pairs
    against the gold pairs, each side a set (duplicates count once); 0 when nothing is right."""
    gold, predicted = set(gold), set(predicted)
    correct = len(gold & predicted)
    if not correct:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision, recall = correct / len(predicted), correct / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": f1 * 100, "precision": precision * 100, "recall": recall * 100}


def mrr_at_k(gold: Mapping[str, str], ranked: Mapping[str, Sequence[str]], k: int) -> float:
    """Mean over the gold examples of 1 / rank of the gold id among an example's first k
    predictions (0 when absent or unpredicted), as a fraction; 0 for no examples. Mewsli-X
    calls it MAP@k: with one relevant item per example, average precision is the reciprocal rank."""
    reciprocal = []
    for example, answer in gold.items():
        top = list(ranked.get(example, []))[:k]
        reciprocal.append(1.0 / (top.index(answer) + 1) if answer in top else 0.0)
    return sum(reciprocal) / len(reciprocal) if reciprocal else 0.0


def _tie_averaged_dcg(relevance: Sequence[float], scores: Sequence[float]) -> float:
    """DCG of the documents ranked by score, ties sharing the mean discount of their positions
    (scikit-learn's ndcg_score with ignore_ties=False); gain = relevance, discount 1/log2(rank + 1)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    dcg, rank = 0.0, 0
    while rank < len(order):
        tied = [i for i in order[rank:] if scores[i] == scores[order[rank]]]
        discounts = sum(1.0 / math.log2(r + 2) for r in range(rank, rank + len(tied)))
        dcg += sum(relevance[i] for i in tied) / len(tied) * discounts
        rank += len(tied)
    return dcg


def ndcg(groups: Sequence[tuple[Sequence[float], Sequence[float]]]) -> float:
    """Mean nDCG (percent) over query groups of (gold relevance, predicted scores), as XGLUE's
    evaluator scores WPR: groups with fewer than 2 documents are left out, a group without a
    relevant document scores 0, ties in the predicted scores are averaged."""
    values = []
    for relevance, scores in groups:
        if len(relevance) != len(scores):
            raise ValueError(f"{len(scores)} scores for {len(relevance)} documents")
        if len(relevance) < 2:
            continue
        ideal = _tie_averaged_dcg(relevance, relevance)
        values.append(_tie_averaged_dcg(relevance, scores) / ideal if ideal else 0.0)
    if not values:
        raise ValueError("nDCG needs at least one query with 2 or more documents")
    return 100.0 * sum(values) / len(values)


def consecutive_groups(keys: Sequence) -> list[list[int]]:
    """Indices of runs of equal consecutive keys (XGLUE's WPR: a new query starts a new group)."""
    groups: list[list[int]] = []
    for i, key in enumerate(keys):
        if groups and keys[groups[-1][-1]] == key:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
