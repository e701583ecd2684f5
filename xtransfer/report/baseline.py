"""A grid without `none`: gains need the zero-shot baseline of the same model, target and seed. Take it
from another sweep or run under the same outputs root when one ran with the same settings (its job
config's model, target, data, seed, mlm and precision are identical); else say how to add it."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from omegaconf import OmegaConf

from xtransfer.report.collect import BASELINE

SAME = ("model", "target", "data", "seed", "mlm", "trainer.precision")   # what a borrowed `none` must share


def _results(pattern_root: Path, pattern: str) -> list[tuple[dict, Path]]:
    found = []
    for path in pattern_root.glob(pattern):
        try:
            found.append((json.loads(path.read_text()), path.parent))
        except (OSError, ValueError):
            continue
    return found


def _settings(job: Path) -> dict | None:
    try:
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
    except (OSError, ValueError):
        return None
    return {key: OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
            for key in SAME for node in [OmegaConf.select(cfg, key, default=None)]}


def _key(r: dict) -> tuple:
    return r["model"], r["target"], r["seed"], r.get("setting", "zero-shot")


def lacking(sweep: Path) -> dict[tuple, Path]:
    """(model, target, seed, setting) of the sweep's cells that have no `none` of their own -> one such job."""
    own = _results(sweep, "*/results.json")
    have = {_key(r) for r, _ in own if r["intermediate"] == BASELINE}
    return {_key(r): job for r, job in own if r["intermediate"] != BASELINE and _key(r) not in have}


def borrowed(sweep: Path, outputs_root: Path) -> list[Path]:
    """Job dirs of `none` cells from elsewhere under outputs_root for what the sweep lacks (the newest each)."""
    wanted = lacking(sweep)
    if not wanted:
        return []
    found: dict[tuple, Path] = {}
    candidates = _results(outputs_root, "multiruns/*/*/*/results.json") + _results(outputs_root, "runs/*/*/results.json")
    for r, job in sorted(candidates, key=lambda c: c[1].stat().st_mtime):
        key = _key(r)
        if r["intermediate"] == BASELINE and key in wanted and job.parent != sweep.resolve() and job.parent != sweep:
            settings = _settings(job)
            if settings is not None and settings == _settings(wanted[key]):
                found[key] = job
    return list(found.values())


def still_lacking(sweep: Path, borrowed_jobs: list[Path]) -> set[tuple]:
    """What the sweep lacks once the borrowed `none` jobs are counted."""
    found = {_key(r) for job in borrowed_jobs for r, _ in _results(job, "results.json")}
    return set(lacking(sweep)) - found


def add_baseline_hint(sweep: Path, still_lacking: set[tuple]) -> tuple[str, str]:
    """(what is missing, the command that adds it: the sweep's own with intermediate=none)."""
    targets = sorted({key[1] for key in still_lacking})
    try:
        task = [o for o in OmegaConf.load(sweep / "multirun.yaml").hydra.overrides.task
                if not o.startswith(("intermediate=", "target="))]
    except (OSError, ValueError, AttributeError):
        task = []
    command = " ".join(["python -m xtransfer.run -m intermediate=none", f"target={','.join(targets)}",
                        *(shlex.quote(o) for o in task)])
    return (f"no `none` (zero-shot) result for {', '.join(f'{m}/{t}/seed {s}' for m, t, s, _ in sorted(still_lacking))}"
            f", so the tables show absolute scores only; add the baseline with the command below; then the report of "
            f"this sweep run again (its stages are cached) takes the gains from it", command)
