"""Where a stage's data is and how many rows it has, without reading the hub or tokenizing anything.

Local files: present or not, and their rows as the format's reader yields them (before rows
without a label are dropped). Hub datasets: whether the pinned revision is in the local Hugging Face
cache (what `datasets` downloads into), and the rows of its parquet files from their footers.
Otherwise the row counts stated in conf/plan/estimates.yaml, or unknown.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from xtransfer.config.schema import TaskSpec
from xtransfer.data.formats import reader_for
from xtransfer.data.sources import local_files, split_source
from xtransfer.errors import DataError


@dataclass(frozen=True)
class Availability:
    status: str          # local | missing | cached | download
    detail: str = ""     # the first missing file, or the hub id and revision


@dataclass(frozen=True)
class Rows:
    count: int | None
    source: str          # counted (local files) | cache (parquet footers) | stated (estimates.yaml) | slice | unknown


def leaves(task: TaskSpec) -> list[TaskSpec]:
    return [task] if not task.parts else [leaf for part in task.parts.values() for leaf in leaves(part)]


def hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def snapshot(repo: str, revision: str, kind: str = "datasets") -> Path | None:
    """The local snapshot of a hub repo at a revision (huggingface_hub's cache layout), if downloaded."""
    root = hub_cache_dir() / f"{kind}--{repo.replace('/', '--')}"
    commit = revision
    ref = root / "refs" / revision
    if ref.is_file():                    # a branch or tag name: its commit
        commit = ref.read_text().strip()
    path = root / "snapshots" / commit
    return path if path.is_dir() else None


def _hub_splits(task: TaskSpec, split: str, language: str) -> tuple[str | None, list[str]]:
    hub = task.hub
    config = hub.name.get(language) if isinstance(hub.name, dict) else \
        hub.name.format(lang=language) if hub.name else None
    names = (hub.splits or {}).get(split, [])   # raw-file hub sources (hub.files) have no splits
    return config, [s.format(lang=language) for s in ([names] if isinstance(names, str) else names)]


def _parquet_files(root: Path, config: str | None, split: str) -> list[Path]:
    """Parquet files of one config and split: `<config>/<split>-*.parquet` or `<config>/<split>/*.parquet`."""
    found = []
    for path in root.rglob("*.parquet"):
        parts = path.relative_to(root).parts
        if config is not None and config not in parts[:-1]:
            continue
        if path.name.startswith(f"{split}-") or path.name == f"{split}.parquet" or split in parts[:-1]:
            found.append(path)
    return found


SLICE = re.compile(r"^(?P<name>[^\[]+)\[(?P<start>-?\d*):(?P<stop>-?\d*)\]$")


def availability(task: TaskSpec, split: str, language: str) -> Availability:
    """Whether one (split, language) of a leaf task can be read here without the network."""
    if split_source(task, split) == "local":
        try:
            paths = local_files(task, split, language)
        except DataError as e:
            return Availability("missing", str(e))
        missing = [p for p in paths if not p.is_file()]
        return Availability("missing", str(missing[0])) if missing else Availability("local")
    if task.hub.path is None:   # e.g. UD-POS: no hub copy holds XTREME's rows
        return Availability("missing", f"task '{task.name}' has no hub source; use data=local")
    where = f"{task.hub.path}@{(task.hub.revision or 'unpinned')[:8]}"
    root = snapshot(task.hub.path, task.hub.revision)
    if root is None or task.hub.files is not None:   # raw files of a repo: read like local files once downloaded
        return Availability("download", where)
    config, names = _hub_splits(task, split, language)
    plain = [SLICE.match(n).group("name") if SLICE.match(n) else n for n in names]
    if all(_parquet_files(root, config, n) for n in plain):
        return Availability("cached", where)
    return Availability("download", f"{where} (in the cache without {config or ''} {split})")


_counts: dict[tuple[str, str | None], Counter] = {}


def _local_rows(task: TaskSpec, split: str, language: str) -> int:
    column, total = task.local.language_column, 0
    for path in local_files(task, split, language):
        key = (str(path), column)
        if key not in _counts:   # one pass per file, counting every language at once
            _counts[key] = Counter(record.get(column) if column else None
                                   for _, record in reader_for(task.local.format)(path))
        total += _counts[key][language if column else None]
    return total


def _hub_rows(task: TaskSpec, split: str, language: str) -> int | None:
    import pyarrow.parquet as pq

    root = snapshot(task.hub.path, task.hub.revision)
    if root is None or task.hub.language_column:   # several languages in one file: the footer cannot tell
        return None
    config, names = _hub_splits(task, split, language)
    total = 0
    for name in names:
        match = SLICE.match(name)
        files = _parquet_files(root, config, match.group("name") if match else name)
        if not files:
            return None
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        if match:   # a slice such as train[:20000] or train[-200:]
            start, stop = (int(x) if x else None for x in (match.group("start"), match.group("stop")))
            rows = len(range(rows)[slice(start, stop)])
        total += rows
    return total


def count_rows(task: TaskSpec, split: str, language: str, stated: dict) -> Rows:
    """Rows of one (split, language): counted where the data is here, else stated, else unknown."""
    counts = []
    for leaf in leaves(task):
        if availability(leaf, split, language).status == "local":
            counts.append(Rows(_local_rows(leaf, split, language), "counted"))
        elif split_source(leaf, split) == "hub" and leaf.hub.path is not None and leaf.hub.files is None and (n := _hub_rows(leaf, split, language)) is not None:
            counts.append(Rows(n, "cache"))
        elif leaf.source == "hub" and (n := _slice_rows(leaf, split, language)) is not None:
            counts.append(Rows(n, "slice"))
        else:
            counts.append(Rows(None, "unknown"))
    if all(c.count is not None for c in counts):
        return Rows(sum(c.count for c in counts), "+".join(sorted({c.source for c in counts})))
    value = stated.get(task.name, {}).get(split)
    value = value.get(language) if isinstance(value, dict) else value
    return Rows(int(value), "stated") if value is not None else Rows(None, "unknown")


def _slice_rows(task: TaskSpec, split: str, language: str) -> int | None:
    """`train[:20000]`: at most 20000 rows (the hub's mlm_wiki slices), without the data."""
    _, names = _hub_splits(task, split, language)
    matches = [SLICE.match(n) for n in names]
    if not names or not all(matches):
        return None
    sizes = [abs(int(m.group("stop") or 0) - int(m.group("start") or 0)) for m in matches]
    return sum(sizes) if all(sizes) else None
