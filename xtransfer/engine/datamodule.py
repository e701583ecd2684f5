"""The data of one training stage as a LightningDataModule: every part's train and dev features,
tokenized once (the feature cache), and the batches that each rank draws."""
from __future__ import annotations

import logging

import datasets
import pytorch_lightning as pl

from xtransfer.config.schema import OptimSpec, RuntimeSpec, SamplingSpec, TrainPart
from xtransfer.engine.batching import SortedBatches, loader, train_batches
from xtransfer.engine.features import fixed_subset, load_features
from xtransfer.engine.mixture import MixtureLoader, mixture_weights, steps_per_epoch
from xtransfer.tasks import get_family

log = logging.getLogger(__name__)


class StageData(pl.LightningDataModule):
    """Parts are trained together: one part is plain training, several are a multi-task mixture
    drawn by `sampling`. Each rank takes its own share of every epoch's batches (the samplers
    know trainer.global_rank and trainer.world_size); dev sets are scored whole."""

    def __init__(self, parts: tuple[TrainPart, ...], tokenizer, optim: OptimSpec, runtime: RuntimeSpec,
                 sampling: SamplingSpec | None, seed: int, cache_dir: str, pin_memory: bool = False):
        super().__init__()
        if len(parts) > 1 and sampling is None:
            raise ValueError("a stage of several parts needs a sampling spec to mix them")
        self.parts, self.tokenizer, self.optim, self.runtime = parts, tokenizer, optim, runtime
        self.sampling, self.seed, self.cache_dir, self.pin_memory = sampling, seed, cache_dir, pin_memory
        self.train_sets: list[datasets.Dataset] = []
        self.val_sets: list[datasets.Dataset] = []
        self.resume_position: tuple[int, int] | None = None  # (epoch, batches done) of a resumed stage

    def setup(self, stage: str | None = None) -> None:
        """Load (or tokenize into the cache) every part's features; once, however often Lightning calls it."""
        if self.train_sets:
            return
        for part in self.parts:
            train = datasets.concatenate_datasets([
                load_features(task, "train", language, self.tokenizer, self.cache_dir)
                for task, language in part.sources])
            self.train_sets.append(fixed_subset(train, part.max_train_examples or self.optim.max_train_examples))
            self.val_sets.append(load_features(part.val_task, "validation", part.val_language, self.tokenizer,
                                               self.cache_dir, self.optim.max_val_examples))

    @property
    def names(self) -> list[str]:
        return [part.task.name for part in self.parts]

    @property
    def train_sizes(self) -> list[int]:
        return [len(ds) for ds in self.train_sets]

    @property
    def val_features(self) -> dict[str, datasets.Dataset]:
        return dict(zip(self.names, self.val_sets))

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, part: TrainPart, features: datasets.Dataset, batch_sampler):
        family = get_family(part.task.family)
        return loader(features, batch_sampler, family, self.tokenizer.pad_token_id, part.task.name,
                      self.runtime.num_workers, self.pin_memory)

    def train_dataloader(self):
        rank, world_size = self._rank()
        loaders = [self._loader(part, train, train_batches(train["length"], self.optim.batch_size, self.optim.max_tokens,
                                                           self.runtime.length_group_size, self.seed, rank, world_size))
                   for part, train in zip(self.parts, self.train_sets)]
        if len(loaders) == 1:
            train = loaders[0]
            resumable = train.batch_sampler
        else:
            weights = mixture_weights(self.train_sizes, self.sampling)
            log.info("multi-task mixture (%s): %s", self.sampling.kind,
                     ", ".join(f"{n} {w:.3f}" for n, w in zip(self.names, weights)))
            steps = steps_per_epoch(self.train_sizes, [len(tl) for tl in loaders], self.sampling)
            train = resumable = MixtureLoader(loaders, weights, steps, self.seed)
        if self.resume_position is not None:  # engine/resume.py: go on where the checkpoint was taken
            resumable.resume_at(*self.resume_position)
        return train

    def val_dataloader(self):
        loaders = [self._loader(part, val, SortedBatches(val["length"], self.runtime.eval_batch_size))
                   for part, val in zip(self.parts, self.val_sets)]
        return loaders if len(loaders) > 1 else loaders[0]
