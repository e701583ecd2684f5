"""Batches that waste little compute on padding.

Training: length-grouped batches (sort within pools of `group_size` batches, then shuffle
the batches), so each batch pads to a similar length while the data order stays random.
Evaluation: the whole split sorted by length. Padding is dynamic (to the batch's longest).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from torch.utils.data import DataLoader, Sampler

from xtransfer.tasks.base import Family


class LengthGroupedBatches(Sampler[list[int]]):
    def __init__(self, lengths: Sequence[int], batch_size: int, group_size: int = 50, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.lengths = np.asarray(lengths)
        self.batch_size, self.group_size, self.seed = batch_size, group_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this every epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size) // self.world_size

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        pool = self.batch_size * self.group_size
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        # Each rank takes every world_size-th batch; equal counts keep DDP ranks in step.
        yield from batches[self.rank::self.world_size][: len(self)]


class SortedBatches(Sampler[list[int]]):
    """Evaluation batches over the split sorted by length, longest first (an OOM shows at once)."""

    def __init__(self, lengths: Sequence[int], batch_size: int):
        order = np.argsort(-np.asarray(lengths), kind="stable")
        self.batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)


class Rows:
    """A featurized dataset whose items carry their row index (evaluation restores the order)."""

    def __init__(self, features):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        rows = self.features[indices]  # one columnar read for the whole batch
        columns = list(rows)
        return [{"row": i, **{c: rows[c][k] for c in columns}} for k, i in enumerate(indices)]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]


def make_collate(family: Family, pad_id: int, task_name: str) -> Callable[[list[dict]], dict]:
    def collate(rows: list[dict]) -> dict:
        batch = family.collate(rows, pad_id)
        batch["row"] = [r["row"] for r in rows]
        batch["task"] = task_name
        return batch
    return collate


def loader(features, batch_sampler, family: Family, pad_id: int, task_name: str, num_workers: int = 0,
           pin_memory: bool = False) -> DataLoader:
    return DataLoader(Rows(features), batch_sampler=batch_sampler, collate_fn=make_collate(family, pad_id, task_name),
                      num_workers=num_workers, pin_memory=pin_memory, persistent_workers=num_workers > 0)
