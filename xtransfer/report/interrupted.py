"""A sweep stopped by Ctrl-C: which cells finished, which did not, and the command that resumes it in
the same sweep folder (finished stages are reused, so finished cells cost seconds)."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from omegaconf import OmegaConf

from xtransfer.report.collect import CellId, expected_cells


def finished_cells(sweep: Path) -> list[CellId]:
    finished = []
    for path in sorted(sweep.glob("*/results.json")):
        try:
            r = json.loads(path.read_text())
            finished.append(CellId(str(r["model"]), str(r["intermediate"]), str(r["target"]), int(r["seed"])))
        except (OSError, ValueError, KeyError):
            continue
    return finished


def resume_command(sweep: Path) -> str:
    """The sweep's own command line (multirun.yaml), with its folder pinned by hydra.sweep.dir."""
    cfg = OmegaConf.load(sweep / "multirun.yaml")
    task = list(OmegaConf.select(cfg, "hydra.overrides.task") or [])
    hydra = [o for o in OmegaConf.select(cfg, "hydra.overrides.hydra") or []
             if not o.startswith(("hydra.sweep.dir=", "hydra.mode=", "hydra/help", "hydra.help"))]
    module = "xtransfer.run"
    args = ["-m", *task, *hydra, f"hydra.sweep.dir={sweep.resolve()}"]
    return f"{Path(sys.executable).name} -m {module} " + " ".join(shlex.quote(a) for a in args)


def summary(sweep: Path, report_written: bool) -> str:
    finished = finished_cells(sweep)
    try:
        expected = expected_cells(sweep)
    except Exception:   # an unusual sweeper: say what finished
        expected = finished
    missing = [c for c in expected if c not in set(finished)]
    lines = [f"interrupted (Ctrl-C): {len(finished)} of {len(expected)} cells finished, "
             f"{len(missing)} did not."]
    lines += [f"  finished:     {c}" for c in finished]
    lines += [f"  not finished: {c}" for c in missing]
    if report_written:
        lines.append(f"Report of the finished cells: {sweep / 'report.md'}")
    lines.append(f"Resume in the same folder (finished stages are reused):\n  {resume_command(sweep)}")
    return "\n".join(lines)
