"""Tokenize a task split once into the cache; every later job memory-maps it.

Cache key = data fingerprint + tokenizer fingerprint + family featurizer version + task
spec, so a new tokenizer, max_length or file content gets its own entry.
"""
from __future__ import annotations

import logging
from pathlib import Path

import datasets

from xtransfer.data.sources import data_fingerprint, load_rows
from xtransfer.cache.hashing import digest, tokenizer_fingerprint
from xtransfer.cache.locking import build_or_load
from xtransfer.config.schema import TaskSpec
from xtransfer.tasks import get_family

log = logging.getLogger(__name__)


def feature_key(task: TaskSpec, split: str, language: str, tokenizer) -> str:
    family = get_family(task.family)
    return digest({
        "data": data_fingerprint(task, split, language),
        "labels_from": data_fingerprint(task, "train", task.languages[0]) if family.labels_from_train(task) else None,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "family": [family.name, family.version],
        "task": task.describe(),
    })


def load_features(task: TaskSpec, split: str, language: str, tokenizer, cache_dir: str | Path,
                  max_examples: int | None = None) -> datasets.Dataset:
    """The featurized split (cached), optionally a fixed random subset of max_examples rows."""
    family = get_family(task.family)
    path = Path(cache_dir) / "features" / task.name / f"{split}-{language}-{feature_key(task, split, language, tokenizer)}"

    def build(tmp: Path) -> None:
        rows = load_rows(task, split, language, family.normalize)
        ds = datasets.Dataset.from_list(rows)
        ds = ds.map(family.featurize, batched=True, batch_size=1000, remove_columns=ds.column_names,
                    fn_kwargs={"tokenizer": tokenizer, "task": task},
                    desc=f"tokenize {task.name}/{split}/{language}")
        ds.save_to_disk(str(tmp / "data"))

    # A reused entry is checked against its manifest; one that fails to load is moved aside and rebuilt.
    ds, reused = build_or_load(path, build, lambda p: datasets.load_from_disk(str(p / "data")))
    if not reused:
        log.info("tokenized %s/%s/%s into %s", task.name, split, language, path)
    return fixed_subset(ds, max_examples)


def fixed_subset(ds: datasets.Dataset, max_examples: int | None) -> datasets.Dataset:
    """At most max_examples rows: a random subset, the same for every job."""
    if max_examples is not None and len(ds) > max_examples:
        ds = ds.shuffle(seed=0).select(range(max_examples))
    return ds
