"""What the grid cost and what content-addressed reuse saved, from results.json's stages.

A stage a job trained (`reused: false`) cost its `seconds` on each of its `ranks` (the devices its cell
held meanwhile, a GPU or the CPU each; a record without `ranks`, from an older version, ran on one).
A reused stage cost the cell nothing (its wait is not counted); it saved what training it cost the job
that built it, when that job is in the report: a cell, or an upstream job of an upstream-first sweep
(`upstream/<name>/upstream.json`, which builds the stages several cells share before the cells run).
Else the stage was built before these sweeps, and its cost is unknown here.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from xtransfer.report.collect import Collection

KINDS = ["pretrained", "mlm", "intermediate", "target", "eval"]
STAGE = ["kind", "name", "key"]
CELL = ["model", "label", "target", "seed"]
NUMBERS = {"reused": bool, "seconds": float, "ranks": int, "device_seconds": float}   # typed even when empty


def _stage_row(record: dict[str, Any]) -> dict[str, Any]:
    seconds, ranks = float(record.get("seconds") or 0.0), int(record.get("ranks") or 1)
    return {"kind": record.get("kind"), "name": record.get("name"), "key": record.get("key"),
            "reused": bool(record.get("reused")), "seconds": seconds, "ranks": ranks,
            "device_seconds": seconds * ranks}


def stage_frame(collection: Collection) -> pd.DataFrame:
    """One row per (cell, stage): the cell, kind, name, key, reused, seconds, ranks, device_seconds."""
    rows = [{"model": r.cell.model, "label": r.label, "target": r.cell.target, "seed": r.cell.seed, **_stage_row(s)}
            for r in collection.results for s in r.results.get("stages", [])]
    return pd.DataFrame(rows, columns=[*CELL, *STAGE, *NUMBERS]).astype(NUMBERS)


def upstream_frame(collection: Collection) -> pd.DataFrame:
    """One row per stage an upstream job trained (what they reused cost nothing, and is the cells' too)."""
    rows = [_stage_row(s) for s in collection.upstream_stages if not s.get("reused")]
    return pd.DataFrame(rows, columns=[*STAGE, *NUMBERS]).astype(NUMBERS)


def cost_tables(collection: Collection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(per stage, per cell, per kind) device-hours spent and saved.

    A stage's saved hours are what the cells that reused it would have spent training it, less what
    upstream jobs spent building it for them; a cell's are what it would have spent on the stages it reused."""
    stages, upstream = stage_frame(collection), upstream_frame(collection)
    if stages.empty and upstream.empty:
        return (pd.DataFrame(columns=[*STAGE, "cells", "trained", "upstream", "hours", "saved_hours",
                                      "built_elsewhere"]),
                pd.DataFrame(columns=[*CELL, "trained", "reused", "hours", "saved_hours"]),
                pd.DataFrame(columns=["kind", "stages", "trained", "uses", "hours", "saved_hours", "built_elsewhere"]))
    built: dict[str, float] = {}    # device-seconds of each stage trained here, by key: the first build
    for frame in (upstream, stages[~stages.reused]):
        for key, device_seconds in zip(frame.key, frame.device_seconds):
            built.setdefault(key, device_seconds)
    stages["saved"] = stages.key.map(built).where(stages.reused)      # NaN: not reused, or built elsewhere
    stages["spent"] = stages.device_seconds.where(~stages.reused, 0.0)
    upstream["spent"], upstream["saved"] = upstream.device_seconds, -upstream.device_seconds  # built for the cells
    jobs = pd.concat([f for f in (stages.assign(upstream=False), upstream.assign(upstream=True)) if not f.empty])
    per_stage = jobs.groupby(STAGE, sort=False).agg(
        cells=("upstream", lambda u: int((~u).sum())), trained=("reused", lambda r: int((~r).sum())),
        upstream=("upstream", "sum"), hours=("spent", "sum"), saved_hours=("saved", "sum")).reset_index()
    per_stage[["hours", "saved_hours"]] /= 3600
    per_stage["built_elsewhere"] = ~per_stage.key.isin(built)
    cells = stages.groupby(CELL, sort=False).agg(
        trained=("reused", lambda r: int((~r).sum())), reused=("reused", "sum"), hours=("spent", "sum"),
        saved_hours=("saved", "sum")).reset_index()
    cells[["hours", "saved_hours"]] /= 3600
    kinds = per_stage.groupby("kind").agg(stages=("key", "size"), trained=("trained", "sum"), uses=("cells", "sum"),
                                          hours=("hours", "sum"), saved_hours=("saved_hours", "sum"),
                                          built_elsewhere=("built_elsewhere", "sum")).reset_index()
    kinds = kinds.sort_values("kind", key=lambda k: k.map(lambda x: KINDS.index(x) if x in KINDS else 99))
    return per_stage, cells, kinds


def markdown(collection: Collection, table) -> str:
    per_stage, cells, kinds = cost_tables(collection)
    if per_stage.empty:
        return "## Cost\n\nNo stage records in results.json."
    spent, saved = per_stage.hours.sum(), per_stage.saved_hours.sum()
    upstream = spent - cells.hours.sum()                    # what upstream jobs spent on stages for the cells
    without_reuse = cells.hours.sum() + cells.saved_hours.sum()
    elsewhere = int(per_stage.built_elsewhere.sum())
    unused = int(((per_stage.upstream > 0) & (per_stage.cells == 0)).sum())   # their cells failed, or are elsewhere
    lines = ["## Cost", "",
             f"Device-hours (a stage's wall time x its ranks: every device its cell held, a GPU or the CPU each) "
             f"spent training and evaluating: **{spent:.3g} h**"
             + (f" ({upstream:.3g} h of it in upstream jobs, building the stages cells share)"
                if per_stage.upstream.any() else "")
             + f"; saved by reusing content-addressed stages: **{saved:.3g} h** (without reuse the cells would have "
             f"spent {without_reuse:.3g} h)."
             + (f" {elsewhere} stages were built before these sweeps: what reusing them saved is not known here."
                if elsewhere else "")
             + (f" {unused} stages that upstream jobs built are used by no cell here (failed, or not in the given "
                f"dirs): their hours are spent, and subtracted from the saving." if unused else ""), "",
             table(["kind", "unique stages", "trained here", "used by cells", "hours", "saved hours"],
                   [[k.kind, str(k.stages), str(int(k.trained)), str(int(k.uses)), f"{k.hours:.3g}",
                     f"{k.saved_hours:.3g}"] for k in kinds.itertuples()]), "",
             "### Per cell", "",
             *([f"A cell's saved hours are what it would have spent training the stages it reused: every cell "
                f"that reused a stage an upstream job built counts it, so they add up to the saving above plus "
                f"the upstream jobs' {upstream:.3g} h.", ""] if per_stage.upstream.any() else []),
             table(["model", "intermediate", "target", "seed", "stages trained", "stages reused", "hours",
                    "saved hours"],
                   [[c.model, c.label, c.target, str(c.seed), str(c.trained), str(int(c.reused)), f"{c.hours:.3g}",
                     f"{c.saved_hours:.3g}"] for c in cells.itertuples()]), "",
             "### Per stage", "",
             table(["stage", "cells", "trained", "hours", "saved hours"],
                   [[f"{s.kind}/{s.name}-{s.key}", str(s.cells), _trained(s), f"{s.hours:.3g}", f"{s.saved_hours:.3g}"]
                    for s in per_stage.itertuples()])]
    return "\n".join(lines)


def _trained(stage) -> str:
    if stage.built_elsewhere:
        return "before these sweeps"
    return f"{stage.trained} ({stage.upstream} in upstream jobs)" if stage.upstream else str(stage.trained)
