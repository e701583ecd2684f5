"""Hydra callbacks: what a multirun prints when it ends."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("xtransfer")


class SweepSummary(Callback):
    """After a multirun: a table of task scores (intermediate x target) and where results are."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        results = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
        if not results:
            return
        targets = sorted({r["target"] for r in results})
        rows: dict[tuple, dict[str, float]] = {}
        for r in results:
            rows.setdefault((r["model"], r["intermediate"], r["seed"]), {})[r["target"]] = r["score"]
        width = max(12, *(len(t) + 2 for t in targets))
        lines = ["model / intermediate / seed".ljust(36) + "".join(t.rjust(width) for t in targets)]
        for (model, inter, seed), scores in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] != "none", kv[0])):
            cells = "".join((f"{scores[t]:.2f}" if t in scores else "-").rjust(width) for t in targets)
            lines.append(f"{model} / {inter} / {seed}".ljust(36) + cells)
        trained = sum(not s["reused"] for r in results for s in r["stages"])
        log.info("task scores (test, mean over languages):\n%s\n%d cells, %d stages trained here; results: %s/*/results.json",
                 "\n".join(lines), len(results), trained, sweep)
