"""What the grid cost and what content-addressed reuse saved, from results.json's stages.

A stage a cell trained (`reused: false`) cost its `seconds` on the cell's device (one device per
cell, trainer.devices=1: a GPU or the CPU). A reused stage cost the cell nothing but the wait; it saved
what training it cost the cell that built it, when that cell is in the report (else the stage was
built before these sweeps, and its cost is unknown here).
"""
from __future__ import annotations

import pandas as pd

from xtransfer.report.collect import Collection

KINDS = ["pretrained", "mlm", "intermediate", "target", "eval"]


def stage_frame(collection: Collection) -> pd.DataFrame:
    """One row per (cell, stage): the cell, kind, name, key, reused, seconds."""
    rows = [{"model": r.cell.model, "label": r.label, "target": r.cell.target, "seed": r.cell.seed,
             "kind": s.get("kind"), "name": s.get("name"), "key": s.get("key"), "reused": bool(s.get("reused")),
             "seconds": float(s.get("seconds") or 0.0)}
            for r in collection.results for s in r.results.get("stages", [])]
    return pd.DataFrame(rows, columns=["model", "label", "target", "seed", "kind", "name", "key", "reused", "seconds"])


def cost_tables(collection: Collection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(per stage, per cell, per kind) device-hours spent and saved."""
    stages = stage_frame(collection)
    if stages.empty:
        return (pd.DataFrame(columns=["kind", "name", "key", "cells", "trained", "hours", "saved_hours",
                                      "built_elsewhere"]),
                pd.DataFrame(columns=["model", "label", "target", "seed", "trained", "reused", "hours", "saved_hours"]),
                pd.DataFrame(columns=["kind", "stages", "trained", "uses", "hours", "saved_hours", "built_elsewhere"]))
    built = stages[~stages.reused].drop_duplicates("key").set_index("key").seconds
    stages["saved"] = stages.key.map(built).where(stages.reused)      # NaN: not reused, or built elsewhere
    stages["spent"] = stages.seconds.where(~stages.reused, 0.0)
    per_stage = stages.groupby(["kind", "name", "key"], sort=False).agg(
        cells=("reused", "size"), trained=("reused", lambda r: int((~r).sum())), hours=("spent", "sum"),
        saved_hours=("saved", "sum")).reset_index()
    per_stage[["hours", "saved_hours"]] /= 3600
    per_stage["built_elsewhere"] = ~per_stage.key.isin(built.index)
    cells = stages.groupby(["model", "label", "target", "seed"], sort=False).agg(
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
    elsewhere = int(per_stage.built_elsewhere.sum())
    lines = ["## Cost", "",
             f"Device-hours (each cell runs on one device, a GPU or the CPU) spent training and evaluating: "
             f"**{spent:.3g} h**; saved by reusing content-addressed stages: **{saved:.3g} h** (without reuse the "
             f"cells would have spent {spent + saved:.3g} h)."
             + (f" {elsewhere} stages were built before these sweeps: what reusing them saved is not known here."
                if elsewhere else ""), "",
             table(["kind", "unique stages", "trained here", "used by cells", "hours", "saved hours"],
                   [[k.kind, str(k.stages), str(int(k.trained)), str(int(k.uses)), f"{k.hours:.3g}",
                     f"{k.saved_hours:.3g}"] for k in kinds.itertuples()]), "",
             "### Per cell", "",
             table(["model", "intermediate", "target", "seed", "stages trained", "stages reused", "hours",
                    "saved hours"],
                   [[c.model, c.label, c.target, str(c.seed), str(c.trained), str(int(c.reused)), f"{c.hours:.3g}",
                     f"{c.saved_hours:.3g}"] for c in cells.itertuples()]), "",
             "### Per stage", "",
             table(["stage", "cells", "trained", "hours", "saved hours"],
                   [[f"{s.kind}/{s.name}-{s.key}", str(s.cells), "before these sweeps" if s.built_elsewhere else
                     str(s.trained), f"{s.hours:.3g}", f"{s.saved_hours:.3g}"] for s in per_stage.itertuples()])]
    return "\n".join(lines)
