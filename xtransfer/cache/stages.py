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
from xtransfer.cache.locking import build_once

log = logging.getLogger(__name__)


@dataclass
class Stage:
    kind: str
    name: str
    key: str
    path: Path
    reused: bool
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "key": self.key, "reused": self.reused,
                "seconds": round(self.seconds, 2), "path": str(self.path)}


def stage_key(kind: str, payload: dict[str, Any]) -> str:
    return digest({"kind": kind, **payload})


class StageStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, kind: str, name: str, key: str) -> Path:
        return self.root / kind / f"{name}-{key}"

    def run(self, kind: str, name: str, payload: dict[str, Any], build: Callable[[Path], dict]) -> Stage:
        """Reuse the finished stage for this payload, or build(tmp_dir) -> metrics and publish it."""
        key = stage_key(kind, payload)
        path = self.path(kind, name, key)
        start = time.perf_counter()

        def build_and_describe(tmp: Path) -> None:
            log.info("stage %s/%s-%s: building", kind, name, key)
            metrics = build(tmp)
            (tmp / "stage.yaml").write_text(yaml.safe_dump(
                {"kind": kind, "name": name, "key": key, "payload": payload}, sort_keys=False, allow_unicode=True))
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False))

        reused = build_once(path, build_and_describe)
        if reused:
            log.info("stage %s/%s-%s: reused %s", kind, name, key, path)
        metrics = json.loads((path / "metrics.json").read_text())
        return Stage(kind, name, key, path, reused, time.perf_counter() - start, metrics)
