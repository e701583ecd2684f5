"""Similarity search and scoring for retrieval targets, as XTREME's `utils_retrieve.py` does it.

Everything works on L2-normalised embeddings (inner product = cosine). Nearest neighbours
are found in blocks with a running top-k, so memory stays O(block^2 + (n + m) * k) however
large the two sides are: BUCC's mining sets (hundreds of thousands of sentences per side)
never become an n x m matrix. No faiss needed.

- Tatoeba: nearest English neighbour of each sentence (and the reverse), accuracy.
- LAReQA: the k=20 nearest answer sentences of each question, mean average precision.
- BUCC: LASER's margin-based mining (Artetxe & Schwenk 2019): k=4 neighbours in both
  directions, ratio margin, "max" retrieval; the F1-optimal threshold on the dev gold is
  applied to test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from xtransfer.metrics import accuracy
from xtransfer.metrics.ranking import pair_f1

BLOCK = 8192  # rows x columns of one similarity block: 8192^2 float32 = 256 MiB


def normalize(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), dim=-1)


class TopK:
    """A running top-k table: rows of one side, their k best scores and column indices so far."""

    def __init__(self, rows: int, k: int, device):
        self.k = k
        self.sim = torch.full((rows, k), -float("inf"), device=device)
        self.idx = torch.zeros((rows, k), dtype=torch.long, device=device)

    def update(self, start: int, sims: torch.Tensor, offset: int) -> None:
        """Merge a block of scores for rows start.. whose columns start at offset."""
        rows = slice(start, start + sims.shape[0])
        top = sims.topk(min(self.k, sims.shape[1]), dim=1)
        sim = torch.cat([self.sim[rows], top.values], dim=1)
        idx = torch.cat([self.idx[rows], top.indices + offset], dim=1)
        best = sim.topk(self.k, dim=1)
        self.sim[rows], self.idx[rows] = best.values, idx.gather(1, best.indices)


def knn_both(x: torch.Tensor, y: torch.Tensor, k: int, block: int = BLOCK):
    """Top-k inner products x -> y and y -> x from one blockwise pass over x @ y.T.

    Returns (x2y_sim, x2y_idx, y2x_sim, y2x_idx), best first; k is capped at the other side's size.
    """
    x2y, y2x = TopK(len(x), min(k, len(y)), x.device), TopK(len(y), min(k, len(x)), x.device)
    for i in range(0, len(x), block):
        xs = x[i:i + block]
        for j in range(0, len(y), block):
            sims = xs @ y[j:j + block].T
            x2y.update(i, sims, j)
            y2x.update(j, sims.T, i)
    return x2y.sim, x2y.idx, y2x.sim, y2x.idx


def top_k(x: torch.Tensor, y: torch.Tensor, k: int, block: int = BLOCK) -> torch.Tensor:
    """Indices of the k most similar rows of y for every row of x, best first (k capped at len(y))."""
    top = TopK(len(x), min(k, len(y)), x.device)
    for i in range(0, len(x), block):
        for j in range(0, len(y), block):
            top.update(i, x[i:i + block] @ y[j:j + block].T, j)
    return top.idx


def nearest(x: torch.Tensor, y: torch.Tensor, block: int = BLOCK) -> list[int]:
    """Index of the most similar row of y for every row of x (Tatoeba's prediction)."""
    return top_k(x, y, 1, block)[:, 0].tolist()


def tatoeba_accuracy(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, list[int]]:
    """Line i of x translates line i of y. (x -> y accuracy, y -> x accuracy, x -> y predictions)."""
    forward, backward = nearest(x, y), nearest(y, x)
    acc = lambda pred: accuracy(pred, list(range(len(pred))))  # noqa: E731  (the scorer's metric code)
    return acc(forward), acc(backward), forward


def average_precision_at_k(ranked: Sequence, relevant: set, k: int) -> float:
    """AP@k as XTREME-R's LAReQA evaluation computes it: the precision at each relevant hit
    among the first k, summed, over min(|relevant|, k)."""
    hits, total = 0, 0.0
    for rank, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), k)


def margin_mine(x: torch.Tensor, y: torch.Tensor, k: int = 4, block: int = BLOCK) -> list[tuple[int, int, float]]:
    """LASER/XTREME "max" retrieval with the ratio margin: candidate pairs (i, j, score), best first.

    score(i, j) = cos(x_i, y_j) / ((mean of x_i's k best cosines in y + mean of y_j's k best in x) / 2).
    Every x_i proposes its best-scoring neighbour and every y_j its own; going down the
    scores, a pair is kept when neither of its sentences is already used.
    """
    x2y_sim, x2y_idx, y2x_sim, y2x_idx = knn_both(x, y, k, block)
    x2y_mean, y2x_mean = x2y_sim.mean(1), y2x_sim.mean(1)
    fwd = x2y_sim / ((x2y_mean[:, None] + y2x_mean[x2y_idx]) / 2)
    bwd = y2x_sim / ((y2x_mean[:, None] + x2y_mean[y2x_idx]) / 2)
    fwd_score, fwd_pos = fwd.max(1)
    bwd_score, bwd_pos = bwd.max(1)
    src = torch.cat([torch.arange(len(x)), y2x_idx.gather(1, bwd_pos[:, None])[:, 0].cpu()]).tolist()
    trg = torch.cat([x2y_idx.gather(1, fwd_pos[:, None])[:, 0].cpu(), torch.arange(len(y))]).tolist()
    scores = torch.cat([fwd_score, bwd_score]).cpu().double().numpy()
    pairs, seen_src, seen_trg = [], set(), set()
    for c in np.argsort(-scores, kind="stable"):
        if src[c] not in seen_src and trg[c] not in seen_trg:
            seen_src.add(src[c]); seen_trg.add(trg[c])
            pairs.append((src[c], trg[c], float(scores[c])))
    return pairs


def best_threshold(candidates: dict[tuple[str, str], float], gold: set[tuple[str, str]]) -> float:
    """The score threshold of the best F1 on gold (XTREME's bucc_optimize): the midpoint between
    the last kept candidate and the next one (the last score itself when all are kept)."""
    items = sorted(candidates.items(), key=lambda kv: -kv[1])
    threshold, best_f1, correct = 0.0, 0.0, 0
    for n, (pair, score) in enumerate(items, start=1):
        correct += pair in gold
        if correct:
            f1 = 2 * correct / (n + len(gold))  # 2PR/(P+R) with P = correct/n, R = correct/|gold|
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[n][1]) / 2 if n < len(items) else score
    return threshold


@dataclass
class BuccResult:
    pairs: list[tuple[str, str]]   # extracted (source id, target id), best score first
    metrics: dict[str, float]


def bucc_extract(candidates: dict[tuple[str, str], float], gold: set[tuple[str, str]], threshold: float) -> BuccResult:
    """Pairs scoring >= threshold against the gold pairs: F1, precision, recall (percent) and the threshold."""
    pairs = [p for p, s in sorted(candidates.items(), key=lambda kv: -kv[1]) if s >= threshold]
    return BuccResult(pairs, {**pair_f1(gold, pairs), "threshold": threshold})  # the scorer's metric code


def expand_to_ids(pairs: list[tuple[int, int, float]], src_ids: Sequence[list[str]],
                  trg_ids: Sequence[list[str]]) -> dict[tuple[str, str], float]:
    """Mined pairs of unique sentences -> every (source id, target id) carrying those sentences."""
    return {(s, t): score for i, j, score in pairs for s in src_ids[i] for t in trg_ids[j]}


def unique(texts: Sequence[str], ids: Sequence[str]) -> tuple[list[int], list[list[str]]]:
    """Duplicate removal as LASER's TextLoadUnify: the first row of each distinct text, and all its ids."""
    first: dict[str, int] = {}
    rows, groups = [], []
    for row, (text, id_) in enumerate(zip(texts, ids)):
        if text not in first:
            first[text] = len(rows)
            rows.append(row)
            groups.append([])
        groups[first[text]].append(id_)
    return rows, groups
