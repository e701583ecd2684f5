"""What each stage of a cell is keyed by, without building anything: the chain of training stages
and the payload each stage's key hashes (cache/stages.py: key = hash of kind + payload).

chain.py builds stages from these payloads; `python -m xtransfer.plan` computes the same keys to
say what a grid will train before it runs. Nothing here loads a model, a tokenizer or torch.
"""
from __future__ import annotations

import dataclasses
import glob
import logging
from pathlib import Path
from typing import Any

from xtransfer.cache.hashing import digest, file_digest
from xtransfer.config.schema import CellSpec, ModelSpec, OptimSpec, SamplingSpec, TrainPart
from xtransfer.data.sources import data_fingerprint

log = logging.getLogger(__name__)

Link = tuple[str, str, tuple[TrainPart, ...], OptimSpec, SamplingSpec | None]   # (kind, name, parts, optim, sampling)


def pretrained_payload(model: ModelSpec) -> dict[str, Any] | None:
    """A tiny model is itself a stage (a tokenizer trained on its corpus files + random init): its
    payload. None for a hub or local checkpoint, which is no stage."""
    if model.tiny is None:
        return None
    corpus = sorted(Path(p) for p in glob.glob(model.tiny.tokenizer_files))
    # the corpus by content (in file-name order), never by where it is: tokenizer_files is a location
    tiny = {k: v for k, v in dataclasses.asdict(model.tiny).items() if k != "tokenizer_files"}
    return {"tiny": tiny, "corpus": [file_digest(p) for p in corpus]}


def backbone_payload(model: ModelSpec) -> dict[str, Any]:
    """How a stage runs its backbone, as far as it changes the weights it trains: kind, pooling, attention
    implementation and the LoRA settings. {} for an encoder with first-token pooling, default attention and
    full fine-tuning, so the keys of stages built before these settings existed stay the same."""
    part = {"kind": model.kind, "pooling": model.pooling, "attn_implementation": model.attn_implementation,
            "peft": model.peft, **({"lora": dataclasses.asdict(model.lora)} if model.peft == "lora" else {})}
    if part == {"kind": "encoder", "pooling": "first", "attn_implementation": None, "peft": None}:
        return {}
    return {"backbone": part}


def checkpoint_key(model: ModelSpec) -> str:
    """The identity of a hub or local (not tiny) model: hub id and revision, or the bytes of a local dir."""
    path = Path(model.name_or_path)
    if path.is_dir():  # a local checkpoint: its files name it
        identity = {"dir": sorted(file_digest(p) for p in path.rglob("*") if p.is_file())}
    else:
        identity = {"hub": model.name_or_path, "revision": model.revision}
    return digest(identity)


def training_chain(cell: CellSpec) -> list[Link]:
    """The training stages before the target, in order: (kind, name, parts, optim, sampling).

    [mlm] -> the intermediate: one stage, one multi-task stage, or one stage per task of a
    sequential chain -> the target's prior task (target.prior_task, XCOPA's SIQA). Each stage starts from
    the previous one, so chains that share a prefix share its stages (their keys are equal). MLM mixed in
    is one more part of every intermediate stage.
    """
    chain: list[Link] = []
    mlm, inter, prior = cell.mlm, cell.intermediate, cell.target.prior
    if mlm is not None and mlm.mode == "before":
        chain.append(("mlm", mlm.part.task.name, (mlm.part,), mlm.optim, None))
    # the target's own first stage (XCOPA: SIQA), with the target's budget, after any intermediate
    last = [("target", prior.task.name, (prior,), cell.target.optim, None)] if prior is not None else []
    if inter is None:
        return chain + last
    extra = (mlm.part,) if mlm is not None and mlm.mode == "mixed" else ()
    sampling = inter.sampling or (mlm.sampling if extra else None)   # how a stage of several parts mixes them
    if inter.mode == "sequential":
        for part in inter.parts:
            chain.append(("intermediate", part.task.name, (part, *extra), inter.optim, sampling))
    elif inter.mode == "multitask":
        chain.append(("intermediate", "multitask", (*inter.parts, *extra), inter.optim, sampling))
    else:
        chain.append(("intermediate", inter.parts[0].task.name, (*inter.parts, *extra), inter.optim, sampling))
    return chain + last


# Bumped when a fix changes what the same settings train, so that a cache built before it is rebuilt, not
# reused. 2: every epoch draws its own batch order and multi-task draws (before, each replayed epoch 0's).
TRAINING_REVISION = 2


def train_payload(cell: CellSpec, upstream: str, parts: tuple[TrainPart, ...], optim: OptimSpec,
                  sampling: SamplingSpec | None, precision: str) -> dict[str, Any]:
    """Exactly what determines a trained stage's weights: its key is the hash of this."""
    return {
        "training": TRAINING_REVISION,
        "upstream": upstream,
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
        "precision": precision,
        **backbone_payload(cell.model),
        # Ranks draw disjoint batches, so N ranks train with N times the batch: another stage (absent for 1).
        **({"ranks": cell.runtime.devices} if cell.runtime.devices > 1 else {}),
    }


def _eval_data(cell: CellSpec) -> dict[str, str]:
    target = cell.target
    return {f"{split}/{lang}": data_fingerprint(target.eval_task, split, lang)
            for split in target.eval_splits for lang in target.languages}


def evaluation_payload(cell: CellSpec, trained: str) -> dict[str, Any]:
    """A trained target's evaluation: the target stage's key, the eval task and its data."""
    target = cell.target
    return {"upstream": trained, "task": target.eval_task.describe(), "data": _eval_data(cell),
            "head": target.train_task.name}


def retrieval_payload(cell: CellSpec, upstream: str, precision: str) -> dict[str, Any]:
    """A retrieval target's scores from the upstream encoder (a checkpoint, or the pretrained model)."""
    target = cell.target
    return {"upstream": upstream, "task": target.eval_task.describe(), "data": _eval_data(cell),
            "embedding": dataclasses.asdict(target.embedding), "precision": precision,
            **({"attn_implementation": cell.model.attn_implementation} if cell.model.attn_implementation else {}),
            **({"oracle_threshold": True} if target.oracle_threshold else {})}
