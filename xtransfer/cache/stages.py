"""Content-addressed stages: `<cache_dir>/stages/<kind>/<name>-<key>/`.

The key hashes exactly what determines a stage's output (its payload: upstream key, task
spec and data fingerprint, hyper-parameters, seed). A finished stage holds its outputs,
`stage.yaml` (the payload), `metrics.json` and a completion marker written last; any later
job that computes the same key reuses it instead of training again.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from xtransfer.cache.hashing import digest
from xtransfer.cache.locking import build_or_load, is_complete, locked, waited
from xtransfer.cache.manifest import build_id, move_aside, problem
from xtransfer.errors import XTransferError

log = logging.getLogger(__name__)


@dataclass
class Stage:
    kind: str
    name: str
    key: str
    path: Path
    reused: bool
    seconds: float                    # from asking for the stage to having it, waits included
    metrics: dict[str, Any] = field(default_factory=dict)
    waited: float = 0.0               # of those seconds, waiting for another job that held its lock
    ranks: int = 1                    # the processes (devices) of the cell that ran it: device-seconds = seconds x ranks

    def record(self) -> dict[str, Any]:
        record = {"kind": self.kind, "name": self.name, "key": self.key, "reused": self.reused,
                  "seconds": round(self.seconds, 2), "waited_s": round(self.waited, 2), "ranks": self.ranks,
                  "path": str(self.path)}
        if "resumed_from_step" in self.metrics:  # a training stage: the step it resumed from, or None
            record["resumed_from_step"] = self.metrics["resumed_from_step"]
        return record


class StageDamaged(XTransferError):
    """A reused stage turned out damaged while a later stage loaded it; it has been moved aside,
    so running the cell again rebuilds it (pipeline/cell.py does, once)."""

    def __init__(self, path: Path, damage: str):
        super().__init__(f"stage {path} is damaged ({damage}); it has been moved aside, and running the cell "
                         f"again rebuilds it")
        self.path, self.damage = path, damage


def stage_key(kind: str, payload: dict[str, Any]) -> str:
    return digest({"kind": kind, **payload})


def _load_metrics(path: Path) -> dict[str, Any]:
    return json.loads((path / "metrics.json").read_text(encoding="utf-8"))


def _upstream_build(path: Path) -> str | None:
    """The build of the upstream stage that `path` was built from (stage.yaml), if recorded."""
    try:
        return (yaml.safe_load((path / "stage.yaml").read_text(encoding="utf-8")) or {}).get("upstream_build")
    except (OSError, ValueError, yaml.YAMLError):
        return None


def duration(seconds: float) -> str:
    """Seconds as a console line says them: `41 s`, `2.5 min`."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _headline(metrics: dict[str, Any]) -> str:
    """A trained stage's best dev score (the mean over its tasks), for its console line."""
    best = metrics.get("val_score_best")
    return f", best dev score {best:.2f}" if isinstance(best, (int, float)) else ""


class StageStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.seen: dict[str, Stage] = {}  # the stages run through this store, by key: later stages' upstreams

    def path(self, kind: str, name: str, key: str) -> Path:
        return self.root / kind / f"{name}-{key}"

    def run(self, kind: str, name: str, payload: dict[str, Any], build: Callable[[Path], dict],
            collective: bool = False) -> Stage:
        """Reuse the finished stage for this payload, or build(tmp_dir) -> metrics and publish it.
        (collective: every rank of a multi-rank cell takes part in the build; pipeline/ranked.py.)

        A reused stage must be intact (its files as its manifest lists them) and built from the
        upstream stage as it is now: one built from an upstream that has been rebuilt since is
        moved aside and built again, so a reused evaluation never stands for a replaced checkpoint.
        """
        key = stage_key(kind, payload)
        path = self.path(kind, name, key)
        start, waited_before = time.perf_counter(), waited(path)
        upstream = self.seen.get(payload.get("upstream"))
        upstream_build = build_id(upstream.path) if upstream is not None else None

        def build_and_describe(tmp: Path) -> None:
            log.info("stage %s/%s-%s: building", kind, name, key)
            metrics = build(tmp)
            description = {"kind": kind, "name": name, "key": key, "payload": payload}
            if upstream_build:
                description["upstream_build"] = upstream_build
            (tmp / "stage.yaml").write_text(yaml.safe_dump(description, sort_keys=False, allow_unicode=True), encoding="utf-8")
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False), encoding="utf-8")

        if upstream_build and is_complete(path) and _upstream_build(path) not in (None, upstream_build):
            with locked(path):
                if is_complete(path) and _upstream_build(path) not in (None, upstream_build):
                    move_aside(path, f"it was built from an earlier build of {upstream.path}, which has been "
                                     f"rebuilt since", state="stale")
        try:
            metrics, reused = build_or_load(path, build_and_describe, _load_metrics)
        except Exception as e:
            self._check_upstream(upstream, e)
            raise
        stage = Stage(kind, name, key, path, reused, time.perf_counter() - start, metrics,
                      waited(path) - waited_before)
        # the quiet console's one line per stage; an evaluation's is the cell's score line (pipeline/cell.py)
        log.info("%s %s/%s-%s%s", "reused" if reused else "built ", kind, name, key,
                 "" if reused else f" in {duration(stage.seconds)}{_headline(metrics)}", extra={"console": kind != "eval"})
        self.seen[key] = stage
        return stage

    @staticmethod
    def _check_upstream(upstream: Stage | None, error: Exception) -> None:
        """A build failed: when it read a reused upstream stage whose contents changed, say so and move
        that stage aside (StageDamaged) instead of reporting the failure it caused."""
        if upstream is None or not upstream.reused or not is_complete(upstream.path):
            return
        damage = problem(upstream.path, content=True)
        if damage is not None:
            move_aside(upstream.path, damage)
            raise StageDamaged(upstream.path, damage) from error
