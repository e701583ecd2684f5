"""Training one stage and evaluating a checkpoint: the two things a stage build does."""
from __future__ import annotations

import logging
import math
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import Logger

from xtransfer.batching import SortedBatches, loader, train_batches
from xtransfer.data.features import fixed_subset, load_features
from xtransfer.metrics import mean
from xtransfer.modeling import load_encoder, load_head, save_checkpoint
from xtransfer.module import KeepBest, TransferModule
from xtransfer.multitask import MixtureLoader, mixture_weights, steps_per_epoch
from xtransfer.specs import OptimSpec, RuntimeSpec, SamplingSpec, TaskSpec, TrainPart
from xtransfer.tasks import get_family
from xtransfer.tasks.base import main_metric

log = logging.getLogger(__name__)

# Our evaluation batch samplers return every index (SortedBatches); Lightning cannot know that.
warnings.filterwarnings("ignore", message=".*custom batch sampler.*")


def resolve_precision(runtime: RuntimeSpec) -> str:
    """auto: bf16-mixed on a GPU that has it, else full precision."""
    if runtime.precision != "auto":
        return runtime.precision
    on_gpu = runtime.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"


def make_trainer(runtime: RuntimeSpec, logger: Logger | None, root_dir: str, callbacks=(), **kwargs) -> pl.Trainer:
    # The progress bar reads the logged loss: refreshing it every step would sync the GPU every step.
    bar = [TQDMProgressBar(refresh_rate=runtime.log_every_n_steps)] if runtime.enable_progress_bar else []
    return pl.Trainer(
        accelerator=runtime.accelerator, devices=runtime.devices, precision=resolve_precision(runtime),
        logger=logger if logger is not None else False, enable_checkpointing=False,
        enable_progress_bar=runtime.enable_progress_bar, enable_model_summary=False,
        num_sanity_val_steps=0, use_distributed_sampler=False, log_every_n_steps=runtime.log_every_n_steps,
        default_root_dir=root_dir, callbacks=[*callbacks, *bar], **kwargs)


@dataclass(frozen=True)
class Start:
    """Where a stage's encoder comes from: a hub id (+ revision) or a checkpoint dir; key names it."""
    source: str
    revision: str | None
    key: str


def part_features(part: TrainPart, tokenizer, cache_dir: str, optim: OptimSpec):
    """A part's train set (its sources' train splits, concatenated) and its English dev set."""
    train = datasets.concatenate_datasets(
        [load_features(task, "train", language, tokenizer, cache_dir) for task, language in part.sources])
    train = fixed_subset(train, part.max_train_examples or optim.max_train_examples)
    val = load_features(part.val_task, "validation", part.val_language, tokenizer, cache_dir, optim.max_val_examples)
    return train, val


def fit_stage(out_dir: Path, *, start: Start, parts: tuple[TrainPart, ...], optim: OptimSpec, runtime: RuntimeSpec,
              seed: int, cache_dir: str, logger: Logger | None, log_prefix: str,
              sampling: SamplingSpec = SamplingSpec()) -> dict[str, Any]:
    """Fine-tune start's encoder with a fresh head per part (several parts: multi-task, mixed by
    `sampling`); keep the epoch with the best mean dev score; save encoder + heads to out_dir."""
    pl.seed_everything(seed, workers=True, verbose=False)
    encoder, tokenizer = load_encoder(start.source, start.revision)
    on_gpu = torch.cuda.is_available() and runtime.accelerator != "cpu"
    names = [part.task.name for part in parts]
    train_loaders, val_loaders, val_features, sizes = [], [], {}, []
    for part in parts:
        family = get_family(part.task.family)
        train, val = part_features(part, tokenizer, cache_dir, optim)
        sizes.append(len(train))
        val_features[part.task.name] = val
        sampler = train_batches(train["length"], optim.batch_size, optim.max_tokens, runtime.length_group_size, seed)
        train_loaders.append(loader(train, sampler, family, tokenizer.pad_token_id, part.task.name,
                                    runtime.num_workers, on_gpu))
        val_loaders.append(loader(val, SortedBatches(val["length"], runtime.eval_batch_size),
                                  family, tokenizer.pad_token_id, part.task.name, runtime.num_workers, on_gpu))
    if len(parts) == 1:
        train_loader, batches = train_loaders[0], len(train_loaders[0])  # a token budget makes fewer, larger batches
    else:
        batches = steps_per_epoch(sizes, [len(tl) for tl in train_loaders], sampling)
        weights = mixture_weights(sizes, sampling)
        log.info("multi-task mixture (%s): %s", sampling.kind,
                 ", ".join(f"{n} {w:.3f}" for n, w in zip(names, weights)))
        train_loader = MixtureLoader(train_loaders, weights, batches, seed)

    total_steps = math.ceil(batches / optim.grad_accum) * optim.epochs
    if optim.max_steps > 0:
        total_steps = min(total_steps, optim.max_steps)
    heads = {p.task.name: get_family(p.task.family).head_for(encoder, p.task) for p in parts}
    encoder.train()  # from_pretrained returns eval mode, and Lightning keeps the mode it finds (no dropout)
    module = TransferModule(encoder, heads, {p.task.name: p.task for p in parts}, optim, total_steps,
                            val_features=val_features, log_prefix=log_prefix)
    keep_best = KeepBest(f"{log_prefix}/val/score")
    with tempfile.TemporaryDirectory(prefix="xtransfer-fit-") as scratch:
        trainer = make_trainer(runtime, logger, scratch, max_epochs=optim.epochs, max_steps=optim.max_steps,
                               gradient_clip_val=optim.max_grad_norm or None,
                               accumulate_grad_batches=optim.grad_accum,
                               callbacks=[keep_best] if optim.select_best else [])
        trainer.fit(module, train_loader, val_loaders if len(val_loaders) > 1 else val_loaders[0])
    save_checkpoint(out_dir, module.encoder, tokenizer, dict(module.heads))
    last = trainer.callback_metrics.get(f"{log_prefix}/val/score")
    return {
        "tasks": names, "train_examples": dict(zip(names, sizes)),
        "val_examples": {n: len(v) for n, v in val_features.items()}, "steps": trainer.global_step,
        "epochs": trainer.current_epoch, "train_loss_per_epoch": module.epoch_losses,
        "val_score_best": keep_best.best, "val_score_last": None if last is None else float(last),
    }


def evaluate(checkpoint: Path, head_task: TaskSpec, eval_task: TaskSpec, splits: list[str], languages: list[str],
             runtime: RuntimeSpec, cache_dir: str, out_dir: Path) -> dict[str, Any]:
    """Score the checkpoint's encoder + head_task head on every (split, language); write predictions."""
    encoder, tokenizer = load_encoder(str(checkpoint / "model"))
    family = get_family(eval_task.family)
    head = load_head(checkpoint, head_task.name, family.head_for(encoder, head_task))
    module = TransferModule(encoder, {head_task.name: head}, {head_task.name: head_task})
    module.eval()

    cells = [(split, lang) for split in splits for lang in languages]
    features = {c: load_features(eval_task, c[0], c[1], tokenizer, cache_dir) for c in cells}
    loaders = [loader(features[c], SortedBatches(features[c]["length"], runtime.eval_batch_size), family,
                      tokenizer.pad_token_id, head_task.name, runtime.num_workers) for c in cells]
    with tempfile.TemporaryDirectory(prefix="xtransfer-eval-") as scratch:
        outputs = make_trainer(runtime, None, scratch).predict(module, loaders)
    if len(loaders) == 1:
        outputs = [outputs]

    metrics: dict[str, dict[str, dict[str, float]]] = {}
    (out_dir / "predictions").mkdir(parents=True, exist_ok=True)
    for (split, lang), batches in zip(cells, outputs):
        pairs = sorted((p for batch in batches for p in batch), key=lambda p: p[0])
        predictions = family.decode([out for _, out in pairs], features[(split, lang)], eval_task)
        metrics.setdefault(split, {})[lang] = family.score(predictions, features[(split, lang)], eval_task)
        family.write_predictions(predictions, out_dir / "predictions" / f"{split}-{lang}{family.prediction_suffix}")
    averages = {split: {m: mean([per_lang[l][m] for l in languages]) for m in next(iter(per_lang.values()))}
                for split, per_lang in metrics.items()}
    return {"main_metric": main_metric(eval_task), "metrics": metrics, "averages": averages,
            "prediction_suffix": family.prediction_suffix}
