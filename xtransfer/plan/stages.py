"""Each cell's chain of stages with the keys the run will compute (pipeline/keys.py), their cache
status, and the data each stage reads; without loading a model or training anything."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xtransfer.cache.locking import is_complete
from xtransfer.cache.stages import StageStore, stage_key
from xtransfer.config.labels import cell_tags
from xtransfer.config.schema import CellSpec, OptimSpec, SamplingSpec, TaskSpec, TrainPart
from xtransfer.errors import XTransferError
from xtransfer.pipeline.keys import (checkpoint_key, evaluation_payload, pretrained_payload, retrieval_payload,
                                     train_payload, training_chain)

Read = tuple[TaskSpec, str, str]   # (task, split, language)


@dataclass(frozen=True)
class PlannedStage:
    kind: str                         # pretrained | mlm | intermediate | target | eval
    name: str
    key: str
    cache_dir: str
    parts: tuple[TrainPart, ...] = ()  # training stages: what they train on
    optim: OptimSpec | None = None
    sampling: SamplingSpec | None = None
    reads: tuple[Read, ...] = ()       # evaluation stages: every (split, language) they score
    corpus: str | None = None          # the tiny model's tokenizer files (a glob)

    @property
    def id(self) -> tuple[str, str, str]:
        return self.kind, self.name, self.key

    @property
    def cached(self) -> bool:
        return is_complete(StageStore(Path(self.cache_dir) / "stages").path(self.kind, self.name, self.key))

    @property
    def train_reads(self) -> tuple[Read, ...]:
        return _reads(self.parts)


@dataclass
class PlannedCell:
    overrides: list[str]
    tags: dict = field(default_factory=dict)        # model, intermediate, target, seed, setting (as results.json)
    cell: CellSpec | None = None
    stages: list[PlannedStage] = field(default_factory=list)
    blocked: str | None = None                      # why the cell would fail (config or data), at which stage
    blocked_reads: tuple[Read, ...] = ()            # what the stage it fails at would read

    @property
    def label(self) -> str:
        t = self.tags
        return " / ".join(str(t[k]) for k in ("model", "intermediate", "target")) + f" / seed {t['seed']}" \
            if t else " ".join(self.overrides)


def _reads(parts: tuple[TrainPart, ...]) -> tuple[Read, ...]:
    return tuple((task, "train", lang) for part in parts for task, lang in part.sources) + tuple(
        (part.val_task, "validation", part.val_language) for part in parts)


def plan_cell(cell: CellSpec, precision: str, planned: PlannedCell) -> PlannedCell:
    """The cell's stages in the order the run builds them (pipeline/cell.py), each with its key."""
    planned.cell, planned.tags = cell, cell_tags(cell)
    stages, kind, name = planned.stages, "pretrained", cell.model.name
    reads: tuple[Read, ...] = ()
    try:
        payload = pretrained_payload(cell.model)
        if payload is not None:
            stages.append(PlannedStage("pretrained", cell.model.name, stage_key("pretrained", payload),
                                       cell.cache_dir, corpus=cell.model.tiny.tokenizer_files))
            upstream = stages[-1].key
        else:
            upstream = checkpoint_key(cell.model)
        kind, name = "intermediate", cell.intermediate.name if cell.intermediate else "none"
        reads = _reads(cell.intermediate.parts) if cell.intermediate else ()
        for kind, name, parts, optim, sampling in training_chain(cell):
            reads = _reads(parts)
            key = stage_key(kind, train_payload(cell, upstream, parts, optim, sampling, precision))
            stages.append(PlannedStage(kind, name, key, cell.cache_dir, parts, optim, sampling))
            upstream = key
        target = cell.target
        evaluated = tuple((target.eval_task, split, lang) for split in target.eval_splits for lang in target.languages)
        if target.train_task is None:   # retrieval: scored from the encoder the chain has so far
            kind, name, reads = "eval", target.eval_task.name, evaluated
            payload = retrieval_payload(cell, upstream, precision)
        else:
            kind, name, reads = "target", target.name, _reads((target.part,))
            key = stage_key("target", train_payload(cell, upstream, (target.part,), target.optim, None, precision))
            stages.append(PlannedStage("target", target.name, key, cell.cache_dir, (target.part,), target.optim))
            kind, name, reads = "eval", target.eval_task.name, evaluated
            payload = evaluation_payload(cell, key)
        stages.append(PlannedStage("eval", name, stage_key("eval", payload), cell.cache_dir, reads=evaluated))
    except XTransferError as e:
        planned.blocked, planned.blocked_reads = f"{kind} '{name}': {e}", reads
    return planned


def unique_stages(cells: list[PlannedCell]) -> dict[tuple[str, str, str], tuple[PlannedStage, int]]:
    """Every distinct stage of the grid with the number of cells that use it, in first-use order."""
    seen: dict[tuple[str, str, str], tuple[PlannedStage, int]] = {}
    for cell in cells:
        for stage in cell.stages:
            first, count = seen.get(stage.id, (stage, 0))
            seen[stage.id] = (first, count + 1)
    return seen
