"""What a cell is called in results.json, reports and W&B: every label and tag comes from here."""
from __future__ import annotations

from typing import Any, Sequence


def intermediate_label(name: str, mode: str, tasks: Sequence[str], *, study_tasks: Sequence[str] | None = None,
                       languages: Sequence[str] | None = None, default_languages: Sequence[str] | None = None) -> str:
    """mnli; mnli[en,de] (other train languages); mnli>squad (sequential); multitask, or
    multitask[mnli,squad] when the tasks are not the study's set."""
    if mode == "sequential":
        return ">".join(tasks)
    if mode == "multitask":
        return name if study_tasks is not None and list(tasks) == list(study_tasks) else f"{name}[{','.join(tasks)}]"
    if languages is not None and list(languages) != list(default_languages or []) and name == tasks[0]:
        return f"{name}[{','.join(languages)}]"
    return name


def cell_label(intermediate: str | None, mlm_mode: str | None) -> str:
    """The cell's intermediate label: none, mnli, ...; with MLM: mlm>mnli (a stage before), mnli+mlm (mixed in)."""
    label = intermediate or "none"
    if mlm_mode is None:
        return label
    if mlm_mode == "mixed":
        return f"{label}+mlm"
    return "mlm" if label == "none" else f"mlm>{label}"


def cell_tags(cell) -> dict[str, Any]:
    """The keys results.json, the report and a dashboard group and pivot by."""
    return {"model": cell.model.name,
            "intermediate": cell_label(cell.intermediate.name if cell.intermediate else None,
                                       cell.mlm.mode if cell.mlm else None),
            "target": cell.target.name, "seed": cell.seed, "setting": cell.target.setting}
