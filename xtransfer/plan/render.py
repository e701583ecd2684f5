"""The plan as text (what `python -m xtransfer.plan` prints) and as JSON (`--json FILE`)."""
from __future__ import annotations

from collections import Counter
from typing import Any

from xtransfer.plan.grid import Plan, wall_hours

KINDS = ["pretrained", "mlm", "intermediate", "target", "eval"]
STATUS = {"local": "local files present", "cached": "in the local HF cache",
          "download": "not in the local HF cache: downloaded on first use", "missing": "MISSING"}


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]


def _languages(langs: set[str]) -> str:
    return ",".join(sorted(langs)) if len(langs) <= 4 else f"{len(langs)} languages"


def render(plan: Plan) -> str:
    on = plan.assumptions.precision_on
    lines = [f"{len(plan.cells)} cell{'s' if len(plan.cells) != 1 else ''} ({plan.composed}); stage keys at precision "
             f"{', '.join(sorted(plan.precisions)) or '-'} (trainer.precision=auto resolved "
             f"{'on this machine' if on == 'here' else 'for a ' + on})", ""]
    lines += ["Cells:"] + table(["#", "cell", "stages (t = to train, c = in the cache; xN = shared by N cells)"],
                                [[i, cell.label, _cell_stages(plan, cell)] for i, cell in enumerate(plan.cells)])
    blocked: dict[str, list[int]] = {}
    for i, cell in enumerate(plan.cells):
        if cell.blocked:
            blocked.setdefault(cell.blocked, []).append(i)
    if blocked:
        lines += ["", f"Cells that would fail ({sum(map(len, blocked.values()))}):"]
        for message, numbers in blocked.items():
            lines += [f"  cells {', '.join(map(str, numbers))}: " + message.replace("\n", "\n    ")]
    lines += ["", *_stage_summary(plan), "", "Data the stages read:"]
    lines += table(["task", "source", "splits", "status"],
                   [[n.task, n.source, "; ".join(f"{s} {_languages(ls)}" for s, ls in sorted(n.reads.items())),
                     STATUS[n.status.status] + (f" ({n.status.detail})" if n.status.detail else "")]
                    for n in plan.data])
    return "\n".join(lines + ["", *_compute(plan)]) + "\n"


def _cell_stages(plan: Plan, cell) -> str:
    out = []
    for stage in cell.stages:
        uses = plan.stages[stage.id][1]
        out.append(f"{stage.kind}:{stage.name}[{'c' if stage.id in plan.cached else 't'}"
                   f"{f' x{uses}' if uses > 1 else ''}]")
    return " ".join(out) + (" BLOCKED" if cell.blocked else "")


def _stage_summary(plan: Plan) -> list[str]:
    uses = sum(count for _, count in plan.stages.values())
    lines = [f"Unique stages: {len(plan.stages)} ({len(plan.to_train)} to train, {len(plan.cached)} in the cache), "
             f"used {uses} times by the cells:"]
    rows = []
    for kind in KINDS:
        mine = [(s, n) for s, n in plan.stages.values() if s.kind == kind]
        if mine:
            rows.append([kind, len(mine), sum(s.id not in plan.cached for s, _ in mine),
                         sum(s.id in plan.cached for s, _ in mine), sum(n > 1 for _, n in mine),
                         max(n for _, n in mine)])
    lines += table(["kind", "unique", "to train", "in cache", "shared", "most cells per stage"], rows)
    shared = [(s, n) for s, n in plan.stages.values() if n > 1]
    if shared:
        lines += ["", "Shared stages:"] + table(["stage", "status", "cells"], [
            [f"{s.kind}/{s.name}-{s.key}", "in cache" if s.id in plan.cached else "to train", n]
            for s, n in sorted(shared, key=lambda sn: (KINDS.index(sn[0].kind), -sn[1], sn[0].name))])
    return lines


def _compute(plan: Plan) -> list[str]:
    est = plan.assumptions
    lines = [f"Compute to train the {len(plan.to_train)} stages not in the cache: FLOPs = 6·N·T training + 2·N·T "
             f"validation/evaluation; GPU-hours at {est.mfu:.0%} MFU of a {est.gpu} ({est.peak_tflops:g} TFLOPS bf16):"]
    for model, (n, source) in sorted(plan.parameters.items()):
        lines.append(f"  {model}: N = {n:,} non-embedding parameters ({source})" if n else
                     f"  {model}: size unknown ({source}); its stages are left out")
    rows, unknown = [], Counter()
    for kind in KINDS:
        todo = [s for s in plan.to_train if s.kind == kind]
        if not todo:
            continue
        costs = [plan.costs[s.id] for s in todo]
        hours = [plan.hours(s.id) for s in todo]
        for cost in costs:
            unknown.update(cost.unknown)
        flops = sum(c.flops(plan.parameters[plan.model_of[s.id]][0] or 0) for s, c in zip(todo, costs))
        rows.append([kind, len(todo), f"{sum(c.examples for c in costs):,.0f}",
                     f"{sum(c.train_tokens for c in costs):.3g}", f"{sum(c.forward_tokens for c in costs):.3g}",
                     f"{flops / 1e15:.3g}", f"{sum(h or 0 for h in hours):.3g}"])
    total, chain, wall = wall_hours(plan, est.gpus)
    lines += table(["kind", "stages", "train examples", "train tokens", "fwd tokens", "PFLOP", "GPU-hours"], rows)
    lines += [f"  total: {total:.3g} GPU-hours; wall time on {est.gpus} GPUs (one cell per GPU): at least "
              f"{wall:.3g} h (the larger of {total:.3g} / {est.gpus} and the longest chain of one cell, {chain:.3g} h)",
              "  Tokens: rows (counted in local files, read from cached parquet footers, else stated in "
              "conf/plan/estimates.yaml) x tokens per example (estimates.yaml; rough, +-30%)."]
    if unknown:
        lines.append(f"  Left out, rows unknown (hub data not cached, no stated size): "
                     f"{', '.join(sorted(unknown)[:8])}{f' and {len(unknown) - 8} more' if len(unknown) > 8 else ''}")
    return lines


def to_json(plan: Plan) -> dict[str, Any]:
    total, chain, wall = wall_hours(plan, plan.assumptions.gpus)
    return {
        "cells": [{"overrides": c.overrides, **c.tags, "blocked": c.blocked,
                   "stages": [{"kind": s.kind, "name": s.name, "key": s.key, "cached": s.id in plan.cached}
                              for s in c.stages]} for c in plan.cells],
        "stages": [{"kind": s.kind, "name": s.name, "key": s.key, "cells": n, "cached": s.id in plan.cached,
                    "gpu_hours": plan.hours(s.id) if s.id in plan.costs else None}
                   for s, n in plan.stages.values()],
        "data": [{"task": n.task, "source": n.source, "status": n.status.status, "detail": n.status.detail,
                  "reads": {s: sorted(ls) for s, ls in n.reads.items()}} for n in plan.data],
        "gpu_hours": total, "longest_chain_hours": chain, "wall_hours": wall, "gpus": plan.assumptions.gpus,
    }
