"""One cell of the grid: [pretrained] -> [mlm] -> [intermediate] -> target training -> zero-shot evaluation.

Every step is a content-addressed stage (cache/stages.py, built in chain.py): whatever a previous
job already built with the same key is reused, so an I x T grid trains each intermediate once and
a rerun of a finished grid trains nothing. The job dir gets results.json and predictions/.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xtransfer.cache import locking
from xtransfer.cache.stages import Stage, StageDamaged
from xtransfer.config.build import build_cell
from xtransfer.config.labels import cell_tags
from xtransfer.config.schema import CellSpec
from xtransfer.engine.retrieval import threshold_provenance
from xtransfer.engine import ranks
from xtransfer.engine.train import Start
from xtransfer.errors import environment_error
from xtransfer.pipeline import gpu_slots, preflight, ranked, tracking
from xtransfer.pipeline.chain import (evaluation_stage, pretrained_start, retrieval_stage, train_stage,
                                      training_chain)
from xtransfer.pipeline.demo_data import ensure_demo_data
from xtransfer.pipeline.ranked import RankedStageStore

log = logging.getLogger(__name__)


def run(cfg: DictConfig, cell: CellSpec | None = None) -> dict[str, Any]:
    """Entry point for Hydra and for tests: build the cell from the config (unless given) and run it, on
    one rank or on several (pipeline/ranked.py: srun's tasks, torchrun's, or trainer.devices=N)."""
    cell = cell or build_cell(cfg)
    if gpu_slots.uses_local_parallel():  # before anything initialises CUDA
        gpu_slots.claim(cell.runtime.devices)
    return ranked.run_ranks(cell, lambda c: _lead(cfg, c), follow)


def follow(cell: CellSpec) -> dict[str, Any]:
    """A rank other than 0: the cell as rank 0 checked it, its stages as rank 0 says, rank 0's results."""
    cell = ranked.leader_says(None)
    run_cell(cell)
    return ranked.leader_says(None)


def _lead(cfg: DictConfig, cell: CellSpec) -> dict[str, Any]:
    if cell.demo_data_root:
        ensure_demo_data(Path(cell.demo_data_root))
    cell = ranked.leader_says(preflight.checked(cell))   # every local file it needs, before anything trains
    config = OmegaConf.to_container(cfg, resolve=True)
    tags = cell_tags(cell)
    logger = tracking.build_logger(cell, config, run_name="_".join(f"{v}" for v in tags.values()))
    try:
        return ranked.leader_says(run_cell(cell, logger))
    finally:
        tracking.finish(logger)


def run_cell(cell: CellSpec, logger=None) -> dict[str, Any]:
    """Run the chain; a reused stage found damaged on the way was moved aside, so once more rebuilds it."""
    verify, locking.VERIFY_CONTENT = locking.VERIFY_CONTENT, cell.cache.verify
    try:
        try:
            return _run_chain(cell, logger)
        except StageDamaged as e:
            log.warning("%s: running it again now", e)
            return _run_chain(cell, logger)
    finally:
        locking.VERIFY_CONTENT = verify


def _run_chain(cell: CellSpec, logger) -> dict[str, Any]:
    if cell.demo_data_root:
        ensure_demo_data(Path(cell.demo_data_root))
    store = RankedStageStore(Path(cell.cache_dir) / "stages")
    stages: list[Stage] = []
    waited_before = locking.waited()   # a joblib worker runs several cells in one process

    start, pretrained = pretrained_start(cell.model, store)
    if pretrained:
        stages.append(pretrained)

    target = cell.target
    trained = list(training_chain(cell))
    if target.train_task is not None:   # retrieval targets have no target stage
        trained.append(("target", target.name, (target.part,), target.optim, None))
    for kind, name, parts, optim, sampling in trained:
        if cell.upstream_stages is not None and len(stages) >= cell.upstream_stages:
            break   # an upstream-first job (plan/upstream_first.py): its first N stages are built
        stage = train_stage(store, cell, kind, name, start, parts, optim, sampling, logger)
        stages.append(stage)
        start = Start(str(stage.path / "model"), None, stage.key)
    if cell.upstream_stages is not None:
        return _upstream_done(cell, stages, locking.waited() - waited_before)

    if target.train_task is None:  # retrieval: embed with the encoder the chain has so far
        eval_stage = retrieval_stage(store, cell, start)
    else:
        eval_stage = evaluation_stage(store, cell, stages[-1])
    stages.append(eval_stage)
    if ranks.current() is not None and not ranks.current().leader:
        return {}  # rank 0 writes the results

    num_parameters = cell.model.num_parameters or (pretrained.metrics.get("num_parameters") if pretrained else None)
    results = write_results(cell, eval_stage, stages, num_parameters, locking.waited() - waited_before)
    summary = {f"eval/{target.name}/{split}/{lang}/{metric}": value
               for split, per_lang in results["metrics"].items()
               for lang, values in per_lang.items() for metric, value in values.items()}
    summary["score"] = results["score"]
    summary["stages"] = results["stages"]   # where each stage came from (kind, key, path, reused): its lineage
    tracking.log_summary(logger, summary)
    evaluated = f"reused {eval_stage.kind}" if eval_stage.reused else f"evaluated in {eval_stage.seconds:.0f} s"
    log.info("score %.2f (%s on %s, mean over %d languages; %s); results in %s", results["score"],
             results["main_metric"], results["score_split"], len(target.languages), evaluated,
             Path(cell.output_dir) / "results.json", extra={"console": True})
    return results


def _upstream_done(cell: CellSpec, stages: list[Stage], waited: float) -> dict[str, Any]:
    """What an upstream-first job leaves: upstream.json (its stage records; the cost report reads them)."""
    if ranks.current() is not None and not ranks.current().leader:
        return {}
    record = {"stages": [s.record() for s in stages], "waited_s": round(waited, 2)}
    last = stages[-1]
    _write_job_file(Path(cell.output_dir), "upstream.json", record, last.path.parent.parent)
    log.info("upstream job: %s/%s-%s %s", last.kind, last.name, last.key, "reused" if last.reused else "built",
             extra={"console": True})
    return {"score": None, **record}


def write_results(cell: CellSpec, eval_stage: Stage, stages: list[Stage], num_parameters: int | None,
                  waited: float = 0.0) -> dict[str, Any]:
    """results.json (schema in the README) and a copy of the predictions in the job dir."""
    out = Path(cell.output_dir)
    ev = eval_stage.metrics
    score_split = "test" if "test" in ev["averages"] else cell.target.eval_splits[-1]
    results = {
        **cell_tags(cell),
        "model_family": cell.model.family,   # the report's scaling fit is per family
        "num_parameters": num_parameters,
        "train_languages": cell.target.part.languages if cell.target.part else [],
        "score": round(ev["averages"][score_split][ev["main_metric"]], 4),
        "score_split": score_split,
        "scores": {split: round(values[ev["main_metric"]], 4) for split, values in ev["averages"].items()},
        "main_metric": ev["main_metric"],
        "languages": cell.target.languages,
        "metrics": ev["metrics"],
        "averages": ev["averages"],
        "stages": [s.record() for s in stages],
        "waited_s": round(waited, 2),   # all this job's waits for other jobs' locks (stages, features)
        "predictions": "predictions",
    }
    threshold = threshold_provenance(cell.target)
    if threshold is not None:   # BUCC: where the mining threshold came from, always
        results["threshold"] = threshold
        results["oracle_threshold"] = threshold["oracle"]
    _write_job_file(out, "results.json", results, eval_stage.path.parent.parent,
                    before=lambda: shutil.copytree(eval_stage.path / "predictions", out / "predictions",
                                                   dirs_exist_ok=True))
    return results


def _write_job_file(out: Path, name: str, record: dict[str, Any], stages_dir: Path, before=None) -> None:
    """`out/name` as JSON, whole or not at all (readers never see a half-written file), after `before()`; a
    full disk or a folder that cannot be written is one message (the stages stay cached)."""
    tmp = out / f"{name}.tmp"
    try:
        out.mkdir(parents=True, exist_ok=True)
        if before is not None:
            before()
        tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False))
        os.replace(tmp, out / name)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        error = environment_error(e, f"could not write the results into {out} (the stages are finished and "
                                     f"cached in {stages_dir})")
        if error is None:
            raise
        raise error from None
