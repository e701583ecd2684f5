"""Rows of a task split in one language, from the hub or from local raw files.

Both sources go through the same column mapping and the family's `normalize`, so they
yield identical canonical rows and one featurizer serves both.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from xtransfer.errors import DataError
from xtransfer.config.schema import HubSource, LocalSource, TaskSpec
from xtransfer.data.formats import Record, reader_for
from xtransfer.cache.hashing import file_digest

log = logging.getLogger(__name__)

# family.normalize: a mapped record -> a canonical row, or None to drop it (raises ValueError if bad)
Normalize = Callable[[dict[str, Any], TaskSpec, dict[str, str]], "dict[str, Any] | None"]


def _listify(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _lookup(record: dict[str, Any], dotted: str) -> Any:
    """record['a']['b'] for 'a.b' (hub rows nest, e.g. answers.text)."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def local_files(task: TaskSpec, split: str, language: str) -> list[Path]:
    src = task.local
    if split not in src.files:
        raise DataError(f"task '{task.name}' has no local '{split}' split (it has {sorted(src.files)})")
    return [path for f in _listify(src.files[split]) for path in _glob(Path(src.root) / f.format(lang=language))]


def _glob(pattern: Path) -> list[Path]:
    """A file name pattern (UD: every treebank of a language) -> its files, sorted; no match -> the
    pattern itself, so that reading it reports the missing file."""
    if not any(c in str(pattern) for c in "*?["):
        return [pattern]
    # by file name, then path: XTREME concatenates a language's UD treebanks in file-name order
    matches = Path(pattern.anchor).glob(str(pattern.relative_to(pattern.anchor)))
    return sorted(matches, key=lambda p: (p.name, str(p))) or [pattern]


def split_source(task: TaskSpec, split: str) -> str:
    """Where a split's rows come from: the task's source, or local files for its `local_splits`
    (data no hub copy has, e.g. BUCC's `sample` dev set)."""
    return "local" if task.source == "local" or split in task.local_splits else "hub"


def missing_file(task: TaskSpec, split: str, language: str, path: Path) -> str:
    """What is missing, and how to provide it: one line each."""
    why = " (read from local files even with data=hub: no hub copy has it)" if task.source == "hub" else ""
    hub = ", or use data=hub where the hub is reachable" if task.hub is not None and not why else ""
    return (f"missing file {path} (task '{task.name}', split '{split}', language '{language}'){why}.\n"
            f"  task.local expects {task.local.files[split]} under {task.local.root}; point data.root "
            f"at the folder that holds it{hub}.")


def _local_records(task: TaskSpec, split: str, language: str) -> Iterator[Record]:
    for path in local_files(task, split, language):
        if not path.is_file():
            raise DataError(missing_file(task, split, language, path))
        yield from reader_for(task.local.format)(path)


def hub_file_patterns(task: TaskSpec, split: str, language: str) -> list[str]:
    """A raw-file hub source's file patterns for one split and language (paths inside the repo)."""
    if split not in task.hub.files:
        raise DataError(f"task '{task.name}' has no '{split}' split on the hub (it has {sorted(task.hub.files)})")
    return [f.format(lang=language) for f in _listify(task.hub.files[split])]


def no_hub_repo_fix(task: TaskSpec) -> str:
    local = (f"or read local files: source=local on those nodes (e.g. target.eval_task.source=local), with "
             f"{task.local.files} under {task.local.root}" if task.local else
             f"or add a local block to conf/task/{task.name}.yaml")
    return (f"Name a Hub dataset repo that holds its files on every node that uses the task (e.g. "
            f"target.train_task.hub.path=<repo> target.train_task.hub.revision=<commit>, and target.eval_task.hub.*), "
            f"{local}")


def no_hub_repo(task: TaskSpec) -> DataError:
    return DataError(f"task '{task.name}': no Hub repository is pinned for its data (hub.path is null; "
                     f"conf/task/{task.name}.yaml says why). {no_hub_repo_fix(task)}")


def _hub_file_records(task: TaskSpec, split: str, language: str) -> Iterator[Record]:
    """Raw release files of a Hub dataset repo, fetched at the pinned revision and read by the same
    reader as local files: the rows are those of the same files read locally."""
    from huggingface_hub import snapshot_download

    hub, patterns = task.hub, hub_file_patterns(task, split, language)
    try:
        root = Path(snapshot_download(hub.path, repo_type="dataset", revision=hub.revision, allow_patterns=patterns))
    except Exception as e:  # offline, missing revision: all end the same way
        raise DataError(f"could not fetch {patterns} from the Hugging Face Hub dataset {hub.path} @ {hub.revision} "
                        f"({type(e).__name__}: {e}). Offline? Copy the files to a folder and run with data=local "
                        f"data.root=<folder>") from None
    for pattern in patterns:
        for path in _glob(root / pattern):
            if not path.is_file():
                raise DataError(f"{hub.path} @ {hub.revision} has no file {pattern} (task '{task.name}', split "
                                f"'{split}', language '{language}')")
            yield from reader_for(hub.format)(path)


def _hub_records(task: TaskSpec, split: str, language: str) -> Iterator[Record]:
    import datasets

    hub = task.hub
    if hub.path is None:
        raise no_hub_repo(task)
    if hub.format is not None:
        yield from _hub_file_records(task, split, language)
        return
    if split not in hub.splits:
        raise DataError(f"task '{task.name}' has no '{split}' split on the hub (it has {sorted(hub.splits)})")
    # name: a {lang} template, or a language -> config map (google/xtreme's udpos.<EnglishName>)
    config = hub.name.get(language) if isinstance(hub.name, dict) else hub.name.format(lang=language) if hub.name else None
    for hub_split in _listify(hub.splits[split]):
        hub_split = hub_split.format(lang=language)
        where = f"{hub.path}" + (f"/{config}" if config else "") + f" split '{hub_split}' @ {hub.revision}"
        try:
            if hub.data_files:  # a parquet export ({config}/{split}/*.parquet): the split's files, by pattern
                ds = datasets.load_dataset(hub.path, data_files={hub_split: hub.data_files.format(split=hub_split)},
                                           split=hub_split, revision=hub.revision)
            else:
                ds = datasets.load_dataset(hub.path, config, split=hub_split, revision=hub.revision)
        except Exception as e:  # offline, missing revision, renamed config: all end the same way
            local_hint = (f"task '{task.name}' then reads {task.local.files.get(split)} under {task.local.root}"
                          if task.local else f"add a local block to conf/task/{task.name}.yaml")
            raise DataError(
                f"could not load {where} from the Hugging Face Hub ({type(e).__name__}: {e}).\n"
                f"  Offline? Copy the raw files to a folder and run with data=local data.root=<folder>; "
                f"{local_hint}.") from None
        for i, record in enumerate(ds):
            yield f"{where} row {i}", record


def load_rows(task: TaskSpec, split: str, language: str, normalize: Normalize) -> list[dict[str, Any]]:
    """Canonical rows of one split in one language; a union task concatenates its parts."""
    return list(iter_rows(task, split, language, normalize))


def iter_rows(task: TaskSpec, split: str, language: str, normalize: Normalize) -> Iterator[dict[str, Any]]:
    """load_rows one row at a time, so that a large split never has to fit in memory as a list."""
    if task.parts:
        for part in task.parts.values():
            yield from iter_rows(part, split, language, normalize)
        return
    source = split_source(task, split)
    src: HubSource | LocalSource = getattr(task, source)
    records = _hub_records(task, split, language) if source == "hub" else _local_records(task, split, language)
    kept, dropped = 0, 0
    for location, record in records:
        if src.language_column and record.get(src.language_column) != language:
            continue
        try:
            # a column mapped from "{lang}" is the language being loaded (span: MLQA's normalisation);
            # a list of columns gathers several into one (multiple choice: choice1, choice2 -> choices)
            mapped = {canon: language if col == "{lang}" else
                      [_lookup(record, c) for c in col] if isinstance(col, list) else _lookup(record, col)
                      for canon, col in src.columns.items()}
        except KeyError as e:
            hint = "; a short row: a lost tab or a line break inside a field?" if source == "local" else ""
            raise DataError(f"{location}: no column {e.args[0]!r} (task '{task.name}' maps {src.columns}; "
                            f"the row has {sorted(record)}{hint})") from None
        try:
            row = normalize(mapped, task, src.label_aliases)
        except ValueError as e:
            raise DataError(f"{location}: {e}") from None
        if row is None:
            dropped += 1
        else:
            kept += 1
            yield row
    if dropped:
        log.info("%s/%s/%s: dropped %d rows without a usable label", task.name, split, language, dropped)
    if not kept:
        raise DataError(f"task '{task.name}' split '{split}' language '{language}' has no rows "
                        f"(source {source}: {describe_source(task, split, language)})")


def describe_source(task: TaskSpec, split: str, language: str) -> str:
    """Where a split's rows come from, in words (errors, results.json)."""
    if split_source(task, split) == "local":
        return "local files " + ", ".join(str(p) for p in local_files(task, split, language))
    hub = task.hub
    which = hub_file_patterns(task, split, language) if hub.format else \
        f"{hub.name.get(language) if isinstance(hub.name, dict) else (hub.name or '').format(lang=language)} " \
        f"split {hub.splits.get(split)}"
    return f"hub {hub.path} @ {hub.revision}: {which}"


def data_fingerprint(task: TaskSpec, split: str, language: str) -> str:
    """Hash of what determines the rows: the task spec and, for local files, their bytes.

    Hub data is pinned by its revision, so its description is enough (nothing is downloaded).
    """
    h = hashlib.sha256(json.dumps(task.describe(), sort_keys=True, default=str).encode())
    h.update(f"{split}/{language}".encode())
    for part in _leaf_tasks(task):
        if split_source(part, split) == "local":
            for path in local_files(part, split, language):
                if not path.is_file():
                    list(_local_records(part, split, language))  # raises the missing-file message
                h.update(file_digest(path).encode())
    return h.hexdigest()[:16]


def _leaf_tasks(task: TaskSpec) -> Iterable[TaskSpec]:
    if not task.parts:
        yield task
    for part in task.parts.values():
        yield from _leaf_tasks(part)
