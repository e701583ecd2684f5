"""The plan of a grid: its cells, the unique stages they need (to train, in the cache, shared), the
data those read and whether it is here, and the compute the stages to train would cost."""
from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from xtransfer.config.build import build_cell
from xtransfer.config.schema import CellSpec, RuntimeSpec
from xtransfer.errors import XTransferError
from xtransfer.plan.compute import Assumptions, Cost, architecture, non_embedding_parameters, stage_cost
from xtransfer.plan.data import Availability, availability, leaves
from xtransfer.plan.stages import PlannedCell, PlannedStage, plan_cell, unique_stages
from xtransfer.plan.sweep import expand

SEVERITY = {"missing": 3, "download": 2, "cached": 1, "local": 0}


@dataclass
class DataNeed:
    task: str
    source: str
    reads: dict[str, set[str]] = field(default_factory=dict)   # split -> languages
    status: Availability = Availability("local")


@dataclass
class Plan:
    cells: list[PlannedCell]
    composed: str
    assumptions: Assumptions
    stages: dict[tuple[str, str, str], tuple[PlannedStage, int]]     # id -> (stage, cells using it)
    cached: set[tuple[str, str, str]]
    costs: dict[tuple[str, str, str], Cost]
    parameters: dict[str, tuple[int | None, str]]                    # model name -> (N, where from)
    data: list[DataNeed]
    precisions: set[str]
    model_of: dict[tuple[str, str, str], str] = field(default_factory=dict)   # stage id -> its cells' model

    @property
    def to_train(self) -> list[PlannedStage]:
        return [stage for sid, (stage, _) in self.stages.items() if sid not in self.cached]

    def hours(self, sid: tuple[str, str, str]) -> float | None:
        """GPU-hours of a stage to train; None when its model's size is unknown."""
        n = self.parameters[self.model_of[sid]][0]
        return None if n is None else self.costs[sid].flops(n) / self.assumptions.flops_per_hour


def precision_for(runtime: RuntimeSpec, on: str) -> str:
    """trainer.precision as the run resolves it: `auto` depends on the machine (here, a GPU or a CPU)."""
    if runtime.precision != "auto":
        return runtime.precision
    if on == "gpu":
        return "bf16-mixed"
    if on == "cpu":
        return "32-true"
    from xtransfer.engine.precision import resolve_precision
    return resolve_precision(runtime)


def with_ranks(cell: CellSpec, ranks: int) -> CellSpec:
    """The cell as its job runs it on `ranks` ranks from srun (pipeline/ranked.py sets trainer.devices to them)."""
    return cell.on_devices(ranks) if ranks > 1 and cell.runtime.devices == 1 else cell


def make_plan(overrides: list[str], multirun: bool, assumptions: Assumptions) -> Plan:
    jobs, composed = expand(overrides, multirun)
    cells, precisions, demo_roots = [], set(), set()
    for job in jobs:
        planned = PlannedCell(job.overrides)
        try:
            cell = with_ranks(build_cell(job.cfg), job.ranks)
        except XTransferError as e:
            planned.blocked = f"config: {e}"
            cells.append(planned)
            continue
        if cell.demo_data_root and cell.demo_data_root not in demo_roots:
            _demo_data(cell)    # as the run does first: the tiny model's key hashes the demo corpus
            demo_roots.add(cell.demo_data_root)
        precision = precision_for(cell.runtime, assumptions.precision_on)
        precisions.add(precision)
        cells.append(plan_cell(cell, precision, planned))
    stages = unique_stages(cells)
    cached = {sid for sid, (stage, _) in stages.items() if stage.cached}
    costs = {sid: stage_cost(stage, assumptions) for sid, (stage, _) in stages.items() if sid not in cached}
    models = {c.cell.model.name: c.cell.model for c in cells if c.cell is not None}
    parameters = {}
    for name, model in models.items():
        arch, source = architecture(model, assumptions)
        parameters[name] = (non_embedding_parameters(arch) if arch else None, source)
    model_of = {stage.id: c.cell.model.name for c in cells for stage in c.stages}
    return Plan(cells, composed, assumptions, stages, cached, costs, parameters, data_needs(stages, cells),
                precisions, model_of)


def _demo_data(cell: CellSpec) -> None:
    from xtransfer.pipeline.demo_data import ensure_demo_data
    ensure_demo_data(Path(cell.demo_data_root))


def data_needs(stages: dict[tuple[str, str, str], tuple[PlannedStage, int]],
               cells: list[PlannedCell]) -> list[DataNeed]:
    """What every stage reads (and the stage a failing cell stops at), per leaf task and source, with the
    worst availability among its reads."""
    needs: dict[tuple[str, str], DataNeed] = {}
    blocked = [read for cell in cells for read in cell.blocked_reads]
    for stage, _ in stages.values():
        if stage.corpus is not None:    # the tiny model's tokenizer corpus
            need = needs.setdefault(("model.tiny.tokenizer_files", "local"), DataNeed("model.tiny.tokenizer_files", "local"))
            need.reads.setdefault("files", set()).add(stage.corpus)
            if not glob.glob(stage.corpus):
                need.status = Availability("missing", f"no file matches {stage.corpus}")
    every = [read for stage, _ in stages.values() for read in (*stage.train_reads, *stage.reads)] + blocked
    reads = {(task.name, task.source, split, lang): (task, split, lang) for task, split, lang in every}
    for _, (task, split, language) in sorted(reads.items()):
        for leaf in leaves(task):
            need = needs.setdefault((leaf.name, leaf.source), DataNeed(leaf.name, leaf.source))
            need.reads.setdefault(split, set()).add(language)
            found = availability(leaf, split, language)
            if SEVERITY[found.status] > SEVERITY[need.status.status]:
                need.status = found
    return sorted(needs.values(), key=lambda n: (-SEVERITY[n.status.status], n.task))


def wall_hours(plan: Plan, gpus: int) -> tuple[float, float, float]:
    """(total GPU-hours to train, the longest chain of one cell, the wall time lower bound on `gpus` GPUs)."""
    todo = {stage.id for stage in plan.to_train}
    hours = {sid: plan.hours(sid) or 0.0 for sid in todo}
    total = sum(hours.values())
    chain = max((sum(hours.get(s.id, 0.0) for s in cell.stages) for cell in plan.cells), default=0.0)
    return total, chain, max(total / gpus, chain)
