"""The stages of a cell, each content-addressed: what its key hashes (its payload) and how it is built."""
from __future__ import annotations

import dataclasses
import glob
import logging
from pathlib import Path
from typing import Any

from xtransfer.cache.hashing import digest, file_digest
from xtransfer.cache.stages import Stage, StageStore
from xtransfer.config.schema import CellSpec, ModelSpec, OptimSpec, SamplingSpec, TrainPart
from xtransfer.data.sources import data_fingerprint
from xtransfer.engine.evaluate import evaluate
from xtransfer.engine.modeling import build_tiny, load_encoder
from xtransfer.engine.retrieval import evaluate_retrieval
from xtransfer.engine.train import Start, fit_stage, resolve_precision
from xtransfer.errors import DataError

log = logging.getLogger(__name__)


def pretrained_start(model: ModelSpec, store: StageStore) -> tuple[Start, Stage | None]:
    """The encoder a cell starts from. A tiny model is itself a stage (trained tokenizer + random init)."""
    if model.tiny is not None:
        corpus = sorted(Path(p) for p in glob.glob(model.tiny.tokenizer_files))
        # the corpus by its bytes, not where it lies (tokenizer_files is a path)
        tiny = {k: v for k, v in dataclasses.asdict(model.tiny).items() if k != "tokenizer_files"}
        payload = {"tiny": tiny, "corpus": [file_digest(p) for p in corpus]}

        def build(out: Path) -> dict[str, Any]:
            build_tiny(model.tiny, out)
            encoder, _ = load_encoder(str(out / "model"))
            return {"num_parameters": sum(p.numel() for p in encoder.parameters())}  # for scaling plots

        stage = store.run("pretrained", model.name, payload, build)
        return Start(str(stage.path / "model"), None, stage.key), stage
    path = Path(model.name_or_path)
    if path.is_dir():  # a local checkpoint: its files name it
        identity = {"dir": sorted(file_digest(p) for p in path.rglob("*") if p.is_file())}
    else:
        identity = {"hub": model.name_or_path, "revision": model.revision}
    return Start(model.name_or_path, model.revision, digest(identity)), None


def training_chain(cell: CellSpec) -> list[tuple[str, str, tuple[TrainPart, ...], OptimSpec, SamplingSpec | None]]:
    """The training stages before the target, in order: (kind, name, parts, optim, sampling).

    [mlm] -> the intermediate: one stage, one multi-task stage, or one stage per task of a
    sequential chain. Each stage starts from the previous one, so chains that share a prefix
    share its stages (their keys are equal). MLM mixed in is one more part of every stage.
    """
    chain = []
    mlm, inter = cell.mlm, cell.intermediate
    if mlm is not None and mlm.mode == "before":
        chain.append(("mlm", mlm.part.task.name, (mlm.part,), mlm.optim, None))
    if inter is None:
        return chain
    extra = (mlm.part,) if mlm is not None and mlm.mode == "mixed" else ()
    sampling = inter.sampling or (mlm.sampling if extra else None)   # how a stage of several parts mixes them
    if inter.mode == "sequential":
        for part in inter.parts:
            chain.append(("intermediate", part.task.name, (part, *extra), inter.optim, sampling))
    elif inter.mode == "multitask":
        chain.append(("intermediate", "multitask", (*available(inter.parts), *extra), inter.optim, sampling))
    else:
        chain.append(("intermediate", inter.parts[0].task.name, (*inter.parts, *extra), inter.optim, sampling))
    return chain


def available(parts: tuple[TrainPart, ...]) -> tuple[TrainPart, ...]:
    """The multi-task parts whose local files are all here; the others are skipped with a warning."""
    kept = []
    for part in parts:
        try:
            for task, language in part.sources:
                data_fingerprint(task, "train", language)  # raises DataError naming a missing file
            data_fingerprint(part.val_task, "validation", part.val_language)
            kept.append(part)
        except DataError as e:
            log.warning("multitask: skipping task '%s', its data is not available: %s", part.task.name, e)
    if not kept:
        raise DataError(f"multitask: none of the tasks {[p.task.name for p in parts]} has its data here")
    return tuple(kept)


def train_payload(cell: CellSpec, start: Start, parts: tuple[TrainPart, ...], optim: OptimSpec,
                  sampling: SamplingSpec | None) -> dict[str, Any]:
    """Exactly what determines a trained stage's weights: its key is the hash of this."""
    return {
        "upstream": start.key,
        "parts": [{
            "task": part.task.describe(),
            "train": [{"task": task.name, "language": language, "data": data_fingerprint(task, "train", language),
                       **({"spec": task.describe()} if task is not part.task else {})}
                      for task, language in part.sources],
            "max_train_examples": part.max_train_examples,
            "validation": {"task": part.val_task.name, "language": part.val_language,
                           "data": data_fingerprint(part.val_task, "validation", part.val_language)},
        } for part in parts],
        "sampling": dataclasses.asdict(sampling) if len(parts) > 1 else None,
        "optim": dataclasses.asdict(optim),
        "seed": cell.seed,
        "precision": resolve_precision(cell.runtime),
    }


def train_stage(store: StageStore, cell: CellSpec, kind: str, name: str, start: Start, parts: tuple[TrainPart, ...],
                optim: OptimSpec, sampling: SamplingSpec | None, logger) -> Stage:
    payload = train_payload(cell, start, parts, optim, sampling)

    def build(out: Path) -> dict[str, Any]:
        return fit_stage(out, start=start, parts=parts, optim=optim, sampling=sampling, runtime=cell.runtime,
                         seed=cell.seed, cache_dir=cell.cache_dir, logger=logger, log_prefix=kind)

    return store.run(kind, name, payload, build)


def evaluation_stage(store: StageStore, cell: CellSpec, trained: Stage) -> Stage:
    target = cell.target
    payload = {
        "upstream": trained.key,
        "task": target.eval_task.describe(),
        "data": {f"{split}/{lang}": data_fingerprint(target.eval_task, split, lang)
                 for split in target.eval_splits for lang in target.languages},
        "head": target.train_task.name,
    }

    def build(out: Path) -> dict[str, Any]:
        return evaluate(trained.path, target.train_task, target.eval_task, target.eval_splits, target.languages,
                        cell.runtime, cell.cache_dir, out)

    return store.run("eval", target.eval_task.name, payload, build)


def retrieval_stage(store: StageStore, cell: CellSpec, start: Start) -> Stage:
    """Scores of a retrieval target from the upstream encoder (a checkpoint, or the pretrained model)."""
    target, precision = cell.target, resolve_precision(cell.runtime)
    payload = {
        "upstream": start.key,
        "task": target.eval_task.describe(),
        "data": {f"{split}/{lang}": data_fingerprint(target.eval_task, split, lang)
                 for split in target.eval_splits for lang in target.languages},
        "embedding": dataclasses.asdict(target.embedding),
        "precision": precision,
    }

    def build(out: Path) -> dict[str, Any]:
        return evaluate_retrieval(start.source, start.revision, target, precision, cell.runtime, cell.cache_dir, out)

    return store.run("eval", target.eval_task.name, payload, build)
