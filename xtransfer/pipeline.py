"""One cell of the grid: [pretrained] -> [intermediate] -> target training -> zero-shot evaluation.

Every step is a content-addressed stage (stages.py): whatever a previous job already
built with the same key is reused, so an I x T grid trains each intermediate once and a
rerun of a finished grid trains nothing. The job dir gets results.json and predictions/.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xtransfer import loggers
from xtransfer.data.sources import data_fingerprint
from xtransfer.errors import DataError
from xtransfer.hashing import digest, file_digest
from xtransfer.locking import build_once, locked
from xtransfer.modeling import build_tiny, load_encoder
from xtransfer.retrieval import evaluate_retrieval
from xtransfer.specs import CellSpec, ModelSpec, OptimSpec, SamplingSpec, TrainPart, build_cell
from xtransfer.stages import Stage, StageStore
from xtransfer.train import Start, evaluate, fit_stage, resolve_precision

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Entry point for Hydra and for tests: build the cell from the config and run it."""
    cell = build_cell(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    tags = loggers.cell_tags(cell)
    logger = loggers.build_logger(cell, config, run_name="_".join(f"{v}" for v in tags.values()))
    try:
        return run_cell(cell, logger)
    finally:
        loggers.finish(logger)


def run_cell(cell: CellSpec, logger=None) -> dict[str, Any]:
    if cell.demo_data_root:
        ensure_demo_data(Path(cell.demo_data_root))
    store = StageStore(Path(cell.cache_dir) / "stages")
    stages: list[Stage] = []

    start, pretrained = pretrained_start(cell.model, store)
    if pretrained:
        stages.append(pretrained)

    for kind, name, parts, optim, sampling in training_chain(cell):
        stage = train_stage(store, cell, kind, name, start, parts, optim, sampling, logger)
        stages.append(stage)
        start = Start(str(stage.path / "model"), None, stage.key)

    target = cell.target
    if target.train_task is None:  # retrieval: embed with the encoder the chain has so far, no target stage
        eval_stage = retrieval_stage(store, cell, start)
    else:
        target_stage = train_stage(store, cell, "target", target.name, start, (target.part,), target.optim,
                                   SamplingSpec(), logger)
        stages.append(target_stage)
        eval_stage = evaluation_stage(store, cell, target_stage)
    stages.append(eval_stage)

    num_parameters = cell.model.num_parameters or (pretrained.metrics.get("num_parameters") if pretrained else None)
    results = write_results(cell, eval_stage, stages, num_parameters)
    summary = {f"eval/{target.name}/{split}/{lang}/{metric}": value
               for split, per_lang in results["metrics"].items()
               for lang, values in per_lang.items() for metric, value in values.items()}
    summary["score"] = results["score"]
    loggers.log_summary(logger, summary)
    log.info("score %.2f (%s, mean over %d languages); results in %s", results["score"], results["main_metric"],
             len(target.languages), Path(cell.output_dir) / "results.json")
    return results


def ensure_demo_data(root: Path) -> None:
    """Generate the demo datasets once (concurrent jobs wait), again when the generator changed."""
    from xtransfer import demo

    package = Path(demo.__file__).parent  # every module of the generator, in name order
    version = digest([p.read_bytes().hex() for p in sorted(package.glob("*.py"), key=lambda p: p.name)])
    stamp = root / "VERSION"
    if root.exists() and not (stamp.is_file() and stamp.read_text() == version):
        with locked(root):
            if root.exists() and not (stamp.is_file() and stamp.read_text() == version):
                log.info("the demo data generator changed: regenerating %s", root)
                shutil.rmtree(root)

    def build(tmp: Path) -> None:
        demo.generate_demo_data(tmp)
        (tmp / "VERSION").write_text(version)

    if not build_once(root, build):
        log.info("generated the demo datasets in %s", root)


def pretrained_start(model: ModelSpec, store: StageStore) -> tuple[Start, Stage | None]:
    """The encoder a cell starts from. A tiny model is itself a stage (trained tokenizer + random init)."""
    if model.tiny is not None:
        corpus = sorted(Path(p) for p in glob.glob(model.tiny.tokenizer_files))
        payload = {"tiny": dataclasses.asdict(model.tiny), "corpus": [file_digest(p) for p in corpus]}

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


def training_chain(cell: CellSpec) -> list[tuple[str, str, tuple[TrainPart, ...], OptimSpec, SamplingSpec]]:
    """The training stages before the target, in order: (kind, name, parts, optim, sampling).

    [mlm] -> the intermediate: one stage, one multi-task stage, or one stage per task of a
    sequential chain. Each stage starts from the previous one, so chains that share a prefix
    share its stages (their keys are equal). MLM mixed in is one more part of every stage.
    """
    chain = []
    mlm, inter = cell.mlm, cell.intermediate
    if mlm is not None and mlm.mode == "before":
        chain.append(("mlm", mlm.part.task.name, (mlm.part,), mlm.optim, SamplingSpec()))
    if inter is None:
        return chain
    extra = (mlm.part,) if mlm is not None and mlm.mode == "mixed" else ()
    if inter.mode == "sequential":
        for part in inter.parts:
            chain.append(("intermediate", part.task.name, (part, *extra), inter.optim, inter.sampling))
    elif inter.mode == "multitask":
        chain.append(("intermediate", "multitask", (*available(inter.parts), *extra), inter.optim, inter.sampling))
    else:
        chain.append(("intermediate", inter.parts[0].task.name, (*inter.parts, *extra), inter.optim, inter.sampling))
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
                  sampling: SamplingSpec) -> dict[str, Any]:
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
                optim: OptimSpec, sampling: SamplingSpec, logger) -> Stage:
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


def write_results(cell: CellSpec, eval_stage: Stage, stages: list[Stage], num_parameters: int | None) -> dict[str, Any]:
    """results.json (schema in the README) and a copy of the predictions in the job dir."""
    out = Path(cell.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ev = eval_stage.metrics
    score_split = "test" if "test" in ev["averages"] else cell.target.eval_splits[-1]
    results = {
        **loggers.cell_tags(cell),
        "num_parameters": num_parameters,
        "train_languages": cell.target.part.languages if cell.target.part else [],
        "score": round(ev["averages"][score_split][ev["main_metric"]], 4),
        "score_split": score_split,
        "main_metric": ev["main_metric"],
        "languages": cell.target.languages,
        "metrics": ev["metrics"],
        "averages": ev["averages"],
        "stages": [s.record() for s in stages],
        "predictions": "predictions",
    }
    shutil.copytree(eval_stage.path / "predictions", out / "predictions", dirs_exist_ok=True)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    os.replace(tmp, out / "results.json")  # readers never see a half-written file
    return results
