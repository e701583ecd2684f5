"""Metrics as XTREME's evaluator computes them, in percent (0-100).

One module per kind of metric (squad.py, seqeval.py, ...); the simple ones live here.
"""
from __future__ import annotations

from typing import Sequence


def accuracy(predictions: Sequence, labels: Sequence) -> float:
    """Percentage of exact matches (XNLI, PAWS-X, XCOPA, Tatoeba)."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    if not labels:
        raise ValueError("accuracy of an empty set is undefined")
    # correct / n * 100 in this order, as XTREME's evaluator: 100 * correct / n can differ in the last bit
    return sum(p == g for p, g in zip(predictions, labels)) / len(labels) * 100


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)
