"""Pair-set F1 (BUCC) and mean reciprocal rank at k (Mewsli-X), as XTREME's evaluator computes them."""
from __future__ import annotations

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
