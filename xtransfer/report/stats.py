"""Uncertainty of grid scores: bootstrap intervals, the paired test against `none`, Holm's correction.

A row of the grid (an intermediate on a target) is its seeds' per-example units (examples.py):
per language an array (seeds, units) of numerators `a` and denominators `b`; each seed's metric in
a language is 100·Σa/Σb, its score the mean over languages, the row's score the mean over seeds.

* Bootstrap (percentile intervals): each replicate resamples the units of every language with
  replacement (the same draw for every row of a target, so rows stay paired) and, when a row has
  several seeds, its seeds too; it recomputes every metric from the resampled sums.
* Paired test of a row against `none` (approximate randomization): under "no difference", the two
  systems' scores of a unit in a (seed, language) are exchangeable, so each replicate swaps them
  unit by unit with probability 1/2; p = the share of replicates whose |gain| is at least the observed
  one (two-sided). Only units where the two differ can move the gain; with at most EXACT_UNITS of
  those, every swap pattern is enumerated and p is exact.
* Holm's step-down correction over a family of p-values (family-wise error rate at alpha).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

EXACT_UNITS = 12
CHUNK_ELEMENTS = 4_000_000   # random swap indicators held at once


@dataclass(frozen=True)
class RowUnits:
    seeds: tuple[int, ...]
    a: dict[str, np.ndarray]      # language -> (seeds, units)
    b: dict[str, np.ndarray]

    def per_seed(self) -> dict[str, np.ndarray]:
        """language -> each seed's metric."""
        return {lang: ratio(self.a[lang].sum(1), self.b[lang].sum(1)) for lang in self.a}

    def score(self) -> float:
        return float(np.mean([v.mean() for v in self.per_seed().values()]))

    def seeds_subset(self, seeds: tuple[int, ...]) -> "RowUnits":
        rows = [self.seeds.index(s) for s in seeds]
        return RowUnits(seeds, {k: v[rows] for k, v in self.a.items()}, {k: v[rows] for k, v in self.b.items()})


def ratio(a, b):
    """100·a/b, 0 where b is 0 (seqeval's F1 with no entity at all)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.divide(100.0 * a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def resample_counts(rng: np.random.Generator, replicates: int, n: int) -> np.ndarray:
    """(replicates, n): how often each unit is drawn when n units are drawn with replacement."""
    draws = rng.integers(0, n, size=(replicates, n)) + np.arange(replicates)[:, None] * n
    return np.bincount(draws.ravel(), minlength=replicates * n).reshape(replicates, n).astype(np.float32)


def interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.percentile(replicates, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


class TargetBootstrap:
    """Bootstrap replicates of every row of one target, all from the same resampled units."""

    def __init__(self, rows: dict[str, RowUnits], replicates: int, seed: int = 0):
        self.rows, self.n = rows, replicates
        rng = np.random.default_rng(seed)
        self._seed_rng, self._draws = seed, {}
        # label -> language -> (replicates, seeds) metrics
        self.metrics: dict[str, dict[str, np.ndarray]] = {label: {} for label in rows}
        for lang, units in next(iter(rows.values())).a.items():
            weights = resample_counts(rng, replicates, units.shape[1])
            for label, row in rows.items():
                self.metrics[label][lang] = ratio(weights @ row.a[lang].T, weights @ row.b[lang].T)

    def _seed_draw(self, k: int) -> np.ndarray:
        """(replicates, k) resampled seed positions; the same for every row with k seeds (rows stay paired)."""
        if k not in self._draws:
            rng = np.random.default_rng([self._seed_rng, k])
            self._draws[k] = rng.integers(0, k, size=(self.n, k)) if k > 1 else np.zeros((self.n, 1), dtype=int)
        return self._draws[k]

    def _resampled(self, m: np.ndarray) -> np.ndarray:
        return np.take_along_axis(m, self._seed_draw(m.shape[1]), axis=1).mean(axis=1)

    def language(self, label: str, lang: str) -> np.ndarray:
        return self._resampled(self.metrics[label][lang])

    def score(self, label: str) -> np.ndarray:
        return np.mean([self.language(label, lang) for lang in self.metrics[label]], axis=0)

    def gain(self, label: str, base: str) -> np.ndarray:
        """Replicates of the row's score minus the base's, over their common seeds, paired seed by seed."""
        row, other = self.rows[label], self.rows[base]
        common = tuple(s for s in row.seeds if s in other.seeds)
        diffs = [self.metrics[label][lang][:, [row.seeds.index(s) for s in common]]
                 - self.metrics[base][lang][:, [other.seeds.index(s) for s in common]] for lang in row.a]
        return np.mean([self._resampled(d) for d in diffs], axis=0)


def gain(x: RowUnits, y: RowUnits) -> float:
    """Observed score of x minus y over their common seeds."""
    common = tuple(s for s in x.seeds if s in y.seeds)
    return x.seeds_subset(common).score() - y.seeds_subset(common).score()


def paired_test(x: RowUnits, y: RowUnits, replicates: int, seed: int = 0) -> float:
    """Two-sided p-value of the gain of x over y (approximate randomization, exact for few differing units)."""
    common = tuple(s for s in x.seeds if s in y.seeds)
    x, y = x.seeds_subset(common), y.seeds_subset(common)
    blocks = []          # per (language, seed): sums of both, and the units where they differ
    for lang in x.a:
        for k in range(len(common)):
            ax, bx, ay, by = x.a[lang][k], x.b[lang][k], y.a[lang][k], y.b[lang][k]
            differ = (ax != ay) | (bx != by)
            blocks.append((ax.sum(), bx.sum(), ay.sum(), by.sum(), (ay - ax)[differ], (by - bx)[differ]))
    weight = 1.0 / len(blocks)
    observed = weight * sum(ratio(sx, tx) - ratio(sy, ty) for sx, tx, sy, ty, _, _ in blocks)
    total = sum(len(da) for *_, da, _ in blocks)
    if total == 0:
        return 1.0
    if total <= EXACT_UNITS:
        swaps = np.array(list(itertools.product((0.0, 1.0), repeat=total)))
        return float(np.mean(np.abs(_swapped_gains(blocks, swaps, weight)) >= abs(observed) - 1e-9))
    rng, extreme, done = np.random.default_rng(seed), 0, 0
    chunk = max(1, min(replicates, CHUNK_ELEMENTS // total))
    while done < replicates:
        size = min(chunk, replicates - done)
        swaps = rng.integers(0, 2, size=(size, total), dtype=np.uint8).astype(float)
        extreme += int(np.sum(np.abs(_swapped_gains(blocks, swaps, weight)) >= abs(observed) - 1e-9))
        done += size
    return (1 + extreme) / (1 + replicates)


def _swapped_gains(blocks: list, swaps: np.ndarray, weight: float) -> np.ndarray:
    """The gain for each row of swap indicators (one column per differing unit, blocks in order)."""
    out, start = np.zeros(len(swaps)), 0
    for sx, tx, sy, ty, da, db in blocks:
        z = swaps[:, start:start + len(da)]
        start += len(da)
        move_a, move_b = z @ da, z @ db      # swapping unit i moves (a_y - a_x) from y to x
        out += weight * (ratio(sx + move_a, tx + move_b) - ratio(sy - move_a, ty - move_b))
    return out


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone): significant at alpha when adjusted <= alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
