"""The stages of a cell, each content-addressed: how each is built, from the payload its key hashes (keys.py)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from xtransfer.cache.stages import Stage, StageStore
from xtransfer.config.schema import CellSpec, ModelSpec, OptimSpec, SamplingSpec, TrainPart
from xtransfer.engine.evaluate import evaluate
from xtransfer.engine.modeling import build_tiny, load_encoder
from xtransfer.engine.retrieval import evaluate_retrieval
from xtransfer.engine.train import Start, fit_stage, resolve_precision
from xtransfer.pipeline import keys
from xtransfer.pipeline.keys import checkpoint_key, pretrained_payload, training_chain  # noqa: F401

log = logging.getLogger(__name__)


def pretrained_start(model: ModelSpec, store: StageStore) -> tuple[Start, Stage | None]:
    """The encoder a cell starts from. A tiny model is itself a stage (trained tokenizer + random init)."""
    payload = pretrained_payload(model)
    if payload is not None:
        def build(out: Path) -> dict[str, Any]:
            build_tiny(model.tiny, out)
            encoder, _ = load_encoder(str(out / "model"))
            return {"num_parameters": sum(p.numel() for p in encoder.parameters())}  # for scaling plots

        stage = store.run("pretrained", model.name, payload, build)
        return Start(str(stage.path / "model"), None, stage.key), stage
    return Start(model.name_or_path, model.revision, checkpoint_key(model)), None


def train_payload(cell: CellSpec, start: Start, parts: tuple[TrainPart, ...], optim: OptimSpec,
                  sampling: SamplingSpec | None) -> dict[str, Any]:
    """Exactly what determines a trained stage's weights (keys.train_payload at this machine's precision)."""
    return keys.train_payload(cell, start.key, parts, optim, sampling, resolve_precision(cell.runtime))


def train_stage(store: StageStore, cell: CellSpec, kind: str, name: str, start: Start, parts: tuple[TrainPart, ...],
                optim: OptimSpec, sampling: SamplingSpec | None, logger) -> Stage:
    payload = train_payload(cell, start, parts, optim, sampling)

    def build(out: Path) -> dict[str, Any]:
        return fit_stage(out, start=start, parts=parts, optim=optim, sampling=sampling, runtime=cell.runtime,
                         seed=cell.seed, cache_dir=cell.cache_dir, logger=logger, log_prefix=kind, model=cell.model)

    return store.run(kind, name, payload, build, collective=True)


def evaluation_stage(store: StageStore, cell: CellSpec, trained: Stage) -> Stage:
    target = cell.target

    def build(out: Path) -> dict[str, Any]:
        return evaluate(trained.path, target.train_task, target.eval_task, target.eval_splits, target.languages,
                        cell.runtime, cell.cache_dir, out)

    return store.run("eval", target.eval_task.name, keys.evaluation_payload(cell, trained.key), build)


def retrieval_stage(store: StageStore, cell: CellSpec, start: Start) -> Stage:
    """Scores of a retrieval target from the upstream encoder (a checkpoint, or the pretrained model)."""
    target, precision = cell.target, resolve_precision(cell.runtime)

    def build(out: Path) -> dict[str, Any]:
        return evaluate_retrieval(start.source, start.revision, target, precision, cell.runtime, cell.cache_dir, out)

    return store.run("eval", target.eval_task.name, keys.retrieval_payload(cell, start.key, precision), build)
