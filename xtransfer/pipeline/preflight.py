"""Before anything trains: is every piece of data a cell needs there?

`check_cell` lists what a cell lacks, as (what, how to fix) pairs: local files that are not there,
hub tasks without a pinned repository, and, given a `hub_status` probe (the grid check), hub datasets
neither in the local cache nor reachable. It builds no model and tokenizes nothing. A multi-task
intermediate with `allow_missing` leaves out the tasks that lack data (the cell's label then names
the tasks trained); without it, their gaps are errors like any other. `checked` raises one DataError
listing everything a cell lacks; each job runs it (without the hub probe) before its first stage.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Callable, Iterator

from xtransfer.config.build import without_hint
from xtransfer.config.labels import intermediate_label
from xtransfer.config.schema import CellSpec, TaskSpec, TrainPart
from xtransfer.data.sources import local_files, missing_file, no_hub_repo_fix, split_source
from xtransfer.errors import DataError
from xtransfer.pipeline.keys import training_chain   # not chain: the grid check must not import torch

log = logging.getLogger(__name__)

# (path, revision) -> None when the dataset is in the local cache or reachable, else why not
HubStatus = Callable[[str, str | None], "str | None"]
BUCC_RELEASE = "https://comparable.limsi.fr/bucc2018/ (bucc2018-<xx>-en.sample-gold.tar.bz2)"


@dataclass(frozen=True)
class Missing:
    what: str    # the file or dataset that is missing, and who needs it
    fix: str     # how to provide it, or to do without it


def _leaves(task: TaskSpec) -> Iterator[TaskSpec]:
    if not task.parts:
        yield task
    for part in task.parts.values():
        yield from _leaves(part)


def split_gaps(task: TaskSpec, split: str, language: str, hub_status: HubStatus | None) -> list[Missing]:
    """What one (task, split, language) lacks: missing local files, an unpinned or unavailable hub dataset."""
    gaps = []
    for leaf in _leaves(task):
        if split_source(leaf, split) == "local":
            if split not in leaf.local.files:
                gaps.append(Missing(f"task '{leaf.name}' has no local '{split}' split",
                                    f"add it to conf/task/{leaf.name}.yaml (it has {sorted(leaf.local.files)})"))
                continue
            for path in local_files(leaf, split, language):
                if not path.is_file():
                    what, fix = missing_file(leaf, split, language, path).split("\n", 1)
                    gaps.append(Missing(what, fix.strip()))
        elif leaf.hub.path is None:
            gaps.append(Missing(f"task '{leaf.name}': no Hub repository is pinned for its data (hub.path is null; "
                                f"conf/task/{leaf.name}.yaml says why)", no_hub_repo_fix(leaf)))
        elif hub_status is not None and (why := hub_status(leaf.hub.path, leaf.hub.revision)):
            gaps.append(Missing(f"hub dataset {leaf.hub.path} @ {leaf.hub.revision} (task '{leaf.name}'): {why}",
                                "connect to the Hub (unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE), load it once where "
                                "the Hub is reachable to fill the cache, or read local files: data=local data.root=<folder>"))
    return gaps


def part_gaps(part: TrainPart, hub_status: HubStatus | None) -> list[Missing]:
    needs = [(task, "train", language) for task, language in part.sources]
    needs.append((part.val_task, "validation", part.val_language))
    return [gap for task, split, language in needs for gap in split_gaps(task, split, language, hub_status)]


def check_cell(cell: CellSpec, hub_status: HubStatus | None = None) -> tuple[CellSpec, list[Missing]]:
    """The cell to run (a multi-task intermediate may lose its tasks without data) and what it lacks."""
    gaps: list[Missing] = []
    inter = cell.intermediate
    if inter is not None and inter.mode == "multitask":
        lacking = {part.task.name: part_gaps(part, hub_status) for part in inter.parts}
        kept = [part for part in inter.parts if not lacking[part.task.name]]
        if inter.allow_missing and kept and len(kept) < len(inter.parts):
            names = [part.task.name for part in kept]
            log.warning("multitask: training without %s, whose data is missing (intermediate.allow_missing=true)",
                        sorted(set(lacking) - set(names)))
            label = intermediate_label(inter.name.split("[")[0], "multitask", names)
            cell = dataclasses.replace(cell, intermediate=dataclasses.replace(inter, name=label, parts=tuple(kept)))
        else:
            tasks = [part.task.name for part in inter.parts]
            gaps += [Missing(gap.what, f"{gap.fix}\n    {without_hint(inter.name.split('[')[0], name, tasks)}")
                     for name, task_gaps in lacking.items() for gap in task_gaps]
    for kind, name, parts, _, _ in training_chain(cell):
        if kind == "intermediate" and name == "multitask":
            parts = parts[len(cell.intermediate.parts):]   # the mixed-in MLM part, if any
        gaps += [gap for part in parts for gap in part_gaps(part, hub_status)]
    target = cell.target
    if target.part is not None:
        gaps += part_gaps(target.part, hub_status)
    for split in target.eval_splits:
        for language in target.languages:
            gaps += [_threshold_hint(target, split, gap) for gap in split_gaps(target.eval_task, split, language,
                                                                                hub_status)]
    return cell, list(dict.fromkeys(gaps))   # each gap once, in order


def _threshold_hint(target, split: str, gap: Missing) -> Missing:
    """BUCC tunes its threshold on its dev (`sample`) set: say where it is published, and the opt-in."""
    if target.eval_task.options.get("scorer") != "bucc" or split != target.eval_task.options.get("threshold_split"):
        return gap
    return Missing(gap.what, f"{gap.fix} BUCC's threshold is tuned on the `sample` set (no hub copy has it): "
                             f"{BUCC_RELEASE}; or tune it on the test data itself, labelled oracle-threshold "
                             f"(not BUCC F1 as XTREME reports it): target.oracle_threshold=true")


def describe(gaps: list[Missing]) -> str:
    """One line per missing thing, its fix indented below it."""
    return "\n".join(f"  - {gap.what}\n    {gap.fix}" for gap in gaps)


def checked(cell: CellSpec) -> CellSpec:
    """The cell, once every local file it needs is there (no network): else one DataError listing them all."""
    cell, gaps = check_cell(cell)
    if gaps:
        raise DataError(f"this cell lacks data; nothing was trained:\n{describe(gaps)}")
    return cell
