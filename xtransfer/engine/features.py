"""Tokenize a task split once into the cache; every later job memory-maps it.

Cache key = data fingerprint + tokenizer fingerprint + family featurizer version + task
spec, so a new tokenizer, max_length or file content gets its own entry.
"""
from __future__ import annotations

import itertools
import logging
import os
import shutil
from pathlib import Path

import datasets

from xtransfer.data.sources import data_fingerprint, iter_rows
from xtransfer.cache.hashing import digest, tokenizer_fingerprint
from xtransfer.cache.locking import build_or_load
from xtransfer.config.schema import TaskSpec
from xtransfer.tasks import get_family

log = logging.getLogger(__name__)

MAP_BATCH = 1000          # rows per featurize call (MLM packs within one call)
CHUNK_ROWS = 100 * MAP_BATCH   # rows held in memory at once; a multiple of MAP_BATCH keeps packing unchanged
PARALLEL_ROWS = 50_000    # chunks at least this large are tokenized by several processes
MAX_PROCS = 4


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
    path = Path(cache_dir) / "features" / task.name / f"{split}-{language}-{feature_key(task, split, language, tokenizer)}"

    def build(tmp: Path) -> None:
        featurize(task, split, language, tokenizer, tmp / "chunks").save_to_disk(str(tmp / "data"))
        shutil.rmtree(tmp / "chunks")  # save_to_disk copied them

    # A reused entry is checked against its manifest; one that fails to load is moved aside and rebuilt.
    ds, reused = build_or_load(path, build, lambda p: datasets.load_from_disk(str(p / "data")))
    if not reused:
        log.info("tokenized %s/%s/%s into %s", task.name, split, language, path)
    return fixed_subset(ds, max_examples)


def featurize(task: TaskSpec, split: str, language: str, tokenizer, scratch: Path, chunk_rows: int = CHUNK_ROWS,
              num_proc: int | None = None) -> datasets.Dataset:
    """Rows streamed from the reader in chunks, each tokenized into an Arrow file under scratch: peak
    memory is one chunk's rows whatever the split's size (ANLI+ is 1.1M rows). A large chunk is
    tokenized by several processes when the family's featurize treats rows independently."""
    family = get_family(task.family)
    num_proc = min(len(os.sched_getaffinity(0)), MAX_PROCS) if num_proc is None else num_proc  # the job's CPUs, not the node's
    scratch.mkdir(parents=True, exist_ok=True)
    rows, chunks = iter_rows(task, split, language, family.normalize), []
    while chunk := list(itertools.islice(rows, chunk_rows)):
        ds = datasets.Dataset.from_list(chunk)
        del chunk
        procs = num_proc if num_proc > 1 and len(ds) >= PARALLEL_ROWS and not family.packs_rows else None
        first = len(chunks) * chunk_rows
        chunks.append(ds.map(
            family.featurize, batched=True, batch_size=MAP_BATCH, remove_columns=ds.column_names,
            fn_kwargs={"tokenizer": tokenizer, "task": task}, num_proc=procs,
            cache_file_name=str(scratch / f"chunk-{len(chunks)}.arrow"),
            desc=f"tokenize {task.name}/{split}/{language}" + (f" rows {first:,}+" if first else "")))
    return chunks[0] if len(chunks) == 1 else datasets.concatenate_datasets(chunks)


def fixed_subset(ds: datasets.Dataset, max_examples: int | None) -> datasets.Dataset:
    """At most max_examples rows: a random subset, the same for every job."""
    if max_examples is not None and len(ds) > max_examples:
        ds = ds.shuffle(seed=0).select(range(max_examples))
    return ds
