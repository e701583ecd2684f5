"""Multi-task training batches: each step draws a task, then that task's next batch.

Sampling rates (T5's mixing strategies, which jiant's multi-task runs also offer):
  proportional  p_i ~ n_i                 (every example seen about once per epoch)
  temperature   p_i ~ n_i ** (1 / T)      (T > 1 flattens towards uniform; T = 1 is proportional)
  uniform       p_i = 1 / K
with n_i = min(size_i, max_examples_per_task) when a cap is set, so a huge task (ANLI+, 1.1M)
cannot crowd out a small one (CommonsenseQA, 9.7k). An epoch is as many steps as the capped
tasks have batches (batches of examples or of a token budget alike).
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np

from xtransfer.config.checks import check_spec
from xtransfer.config.schema import SamplingSpec


def capped_sizes(sizes: Sequence[int], sampling: SamplingSpec) -> np.ndarray:
    cap = sampling.max_examples_per_task
    sizes = np.asarray(sizes, dtype=np.float64)
    return np.minimum(sizes, cap) if cap is not None else sizes


def mixture_weights(sizes: Sequence[int], sampling: SamplingSpec) -> np.ndarray:
    """The probability of drawing each task at a step."""
    check_spec(sampling, "sampling")
    n = capped_sizes(sizes, sampling)
    if sampling.kind == "uniform":
        rates = np.ones_like(n)
    elif sampling.kind == "temperature":
        rates = n ** (1.0 / sampling.temperature)
    else:
        rates = n
    return rates / rates.sum()


def steps_per_epoch(sizes: Sequence[int], batches: Sequence[int], sampling: SamplingSpec) -> int:
    """One pass over every task's (capped) examples: each task's batch count, scaled by its cap."""
    capped = capped_sizes(sizes, sampling)
    return int(sum(math.ceil(b * c / n) for n, b, c in zip(sizes, batches, capped)))


class MixtureLoader:
    """Iterates `steps` batches per epoch, each from a task drawn with `weights`.

    Each task's own loader (length-grouped, shuffled) restarts when it runs out, with the
    next epoch's order. Draws depend only on (seed, epoch): reruns see the same batches.
    """

    def __init__(self, loaders: Sequence[Any], weights: Sequence[float], steps: int, seed: int):
        self.loaders, self.weights, self.steps, self.seed = list(loaders), np.asarray(weights), steps, seed
        self.epoch = 0
        self._passes = [0] * len(self.loaders)  # how often each task's loader was restarted
        self._resume: tuple[int, int] | None = None

    def __len__(self) -> int:
        return self.steps

    @property
    def sampler(self) -> "MixtureLoader":
        """Lightning calls `set_epoch` on a loader's `sampler` every epoch (it stops iterating after len()
        steps, so the loader never sees its epoch end by itself)."""
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def draws(self, epoch: int) -> np.ndarray:
        """Which task each step of an epoch takes a batch from."""
        rng = np.random.default_rng([self.seed, epoch])
        return rng.choice(len(self.loaders), size=self.steps, p=self.weights)

    def _restart(self, i: int) -> Iterator:
        sampler = getattr(self.loaders[i], "batch_sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self._passes[i])  # a new order on every pass over a task
        self._passes[i] += 1
        return iter(self.loaders[i])

    def resume_at(self, epoch: int, done: int) -> None:
        """Start the next pass at step `done` of `epoch`, as an uninterrupted run would be there."""
        self._resume = (epoch + 1, 0) if done >= self.steps else (epoch, done)

    def _replay(self, epoch: int, done: int) -> list[Iterator]:
        """Set the state the draws of every earlier epoch and the first `done` steps of `epoch` left:
        each task's restart count and, mid-pass, its loader skipping the batches already drawn."""
        sizes = [len(loader) for loader in self.loaders]
        self.epoch, self._passes = epoch, [0] * len(self.loaders)
        for e in range(epoch + 1):
            counts = np.bincount(self.draws(e)[: done if e == epoch else None], minlength=len(self.loaders))
            for i, count in enumerate(counts.tolist()):
                self._passes[i] += math.ceil(count / sizes[i]) if sizes[i] else 0
        iterators: list[Iterator] = []
        for i, count in enumerate(counts.tolist()):  # the current epoch's: resume each task inside its pass
            done_in_pass = count - (math.ceil(count / sizes[i]) - 1) * sizes[i] if count else 0
            if done_in_pass in (0, sizes[i]):  # not started, or a pass just over: the next draw restarts it
                iterators.append(iter(()))
                continue
            self._passes[i] -= 1
            self.loaders[i].batch_sampler.resume_at(self._passes[i], done_in_pass)
            iterators.append(self._restart(i))
        return iterators

    def __iter__(self) -> Iterator[dict[str, Any]]:
        iterators = [iter(()) for _ in self.loaders]  # each task's loader starts on its first draw
        resume, self._resume, skip = self._resume, None, 0
        if resume is not None:
            iterators, skip = self._replay(*resume), resume[1]
        for i in self.draws(self.epoch)[skip:]:
            batch = next(iterators[i], None)
            if batch is None:
                iterators[i] = self._restart(i)
                batch = next(iterators[i])
            yield batch
        self.epoch += 1  # iterated to the end by hand; under Lightning, set_epoch says the epoch
