"""Training one stage: the Lightning trainer, precision, and fit_stage (encoder + one head per part)."""
from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import Logger
from pytorch_lightning.plugins.environments import LightningEnvironment, SLURMEnvironment
from pytorch_lightning.strategies import DDPStrategy

from xtransfer.cache.locking import RESUME
from xtransfer.config.schema import ModelSpec, OptimSpec, RuntimeSpec, SamplingSpec, TrainPart
from xtransfer.engine.callbacks import KeepBest
from xtransfer.engine.datamodule import StageData
from xtransfer.engine import ranks, sharding
from xtransfer.engine.modeling import load_encoder, save_checkpoint
from xtransfer.engine.module import TransferModule
from xtransfer.engine.precision import resolve_precision
from xtransfer.engine.resume import Interrupts, StageCheckpoints
from xtransfer.tasks import get_family

log = logging.getLogger(__name__)

# Our evaluation batch samplers return every index (SortedBatches); Lightning cannot know that.
warnings.filterwarnings("ignore", message=".*custom batch sampler.*")


def make_trainer(runtime: RuntimeSpec, logger: Logger | None, root_dir: str, callbacks=(), world=None,
                 multi_head: bool = False, **kwargs) -> pl.Trainer:
    """A trainer on one device, or (world: the cell's ranks, engine/ranks.py) DDP over them."""
    # The progress bar reads the logged loss: refreshing it every step would sync the GPU every step.
    # Only on a terminal: in a log file or a SLURM job's output, a bar is noise.
    show_bar = runtime.enable_progress_bar and sys.stderr.isatty()
    bar = [TQDMProgressBar(refresh_rate=runtime.log_every_n_steps)] if show_bar else []
    # One requeue mechanism on SLURM: submitit's (hydra.launcher.max_num_timeout); Lightning's own would
    # requeue the job a second time on SIGUSR1.
    kwargs.setdefault("plugins", [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None)
    devices = 1
    if world is not None:  # the ranks exist already: DDP joins their process group, launches nothing
        devices = world.local_size
        kwargs["plugins"] = [world.environment()]
        # A multi-task step trains one head: the others have no gradient, which DDP must be told.
        kwargs["strategy"] = sharding.strategy(world.size) if runtime.strategy == "fsdp" else DDPStrategy(
            find_unused_parameters=multi_head, process_group_backend=(
                "nccl" if torch.cuda.is_available() and runtime.accelerator != "cpu" else "gloo"))
        kwargs["num_nodes"] = world.size // world.local_size
    elif ranks.current() is not None:  # rank 0 alone (evaluation): one device, not the ranks' environment
        kwargs["plugins"] = [LightningEnvironment()]
    return pl.Trainer(
        accelerator=runtime.accelerator, devices=devices, precision=resolve_precision(runtime),
        logger=logger if logger is not None else False, enable_checkpointing=False,
        enable_progress_bar=show_bar, enable_model_summary=False,
        num_sanity_val_steps=0, use_distributed_sampler=False, log_every_n_steps=runtime.log_every_n_steps,
        default_root_dir=root_dir, callbacks=[*callbacks, *bar], **kwargs)


@dataclass(frozen=True)
class Start:
    """Where a stage's encoder comes from: a hub id (+ revision) or a checkpoint dir; key names it."""
    source: str
    revision: str | None
    key: str


def fit_stage(out_dir: Path, *, start: Start, parts: tuple[TrainPart, ...], optim: OptimSpec, runtime: RuntimeSpec,
              seed: int, cache_dir: str, logger: Logger | None, log_prefix: str,
              sampling: SamplingSpec | None = None, model: ModelSpec | None = None) -> dict[str, Any]:
    """Fine-tune start's encoder with a fresh head per part (several parts: multi-task, mixed by
    `sampling`); keep the epoch with the best mean dev score; save encoder + heads to out_dir."""
    pl.seed_everything(seed, workers=True, verbose=False)
    encoder, tokenizer = load_encoder(start.source, start.revision, model, train=True)  # model: kind, pooling, LoRA
    on_gpu = torch.cuda.is_available() and runtime.accelerator != "cpu"
    data = StageData(parts, tokenizer, optim, runtime, sampling, seed, cache_dir, pin_memory=on_gpu)
    data.setup("fit")  # features before the heads: their sizes are logged, the module scores dev sets with them
    heads = {p.task.name: get_family(p.task.family).head_for(encoder, p.task) for p in parts}
    encoder.train()  # from_pretrained returns eval mode, and Lightning keeps the mode it finds (no dropout)
    sharded = runtime.strategy == "fsdp" and ranks.current() is not None   # engine/sharding.py
    extra = {"runtime": runtime, "bf16": on_gpu and resolve_precision(runtime) == "bf16-mixed"} if sharded else {}
    module = (sharding.ShardedModule if sharded else TransferModule)(
        encoder, heads, {p.task.name: p.task for p in parts}, optim, val_features=data.val_features,
        log_prefix=log_prefix, **extra)
    keep_best = KeepBest(f"{log_prefix}/val/score", patience=optim.patience, restore=optim.select_best)
    # The scratch is the stage's own (named by its key): its checkpoint outlives this job (engine/resume.py).
    # A sharded stage has no resume checkpoint (sharding.check refused checkpoint_every_n_steps).
    with contextlib.nullcontext() if sharded else Interrupts() as interrupts:
        checkpoints = None if sharded else StageCheckpoints(
            out_dir, runtime.checkpoint_every_n_steps, interrupts, data,
            {"length_group_size": runtime.length_group_size, "devices": runtime.devices})
        trainer = make_trainer(runtime, logger, str(out_dir / RESUME), world=ranks.current(),
                               multi_head=len(parts) > 1, max_epochs=optim.epochs,
                               max_steps=optim.max_steps, gradient_clip_val=optim.max_grad_norm or None,
                               accumulate_grad_batches=optim.grad_accum,
                               callbacks=[keep_best, *([checkpoints] if checkpoints else [])],
                               **validation_schedule(optim))
        fit_and_select(trainer, module, data, keep_best, optim, checkpoints)
    published = (module.encoder, dict(module.heads))
    if sharded:  # every rank gathers the shards; rank 0 publishes them as one unsharded checkpoint
        published = sharding.unsharded(module, lambda: fresh_model(start, model, parts))
    if trainer.is_global_zero:  # the other ranks of a multi-rank cell train with rank 0 but publish nothing
        save_checkpoint(out_dir, published[0], tokenizer, published[1])
    last = keep_best.history[-1][1] if keep_best.history else None
    return {
        "tasks": data.names, "train_examples": dict(zip(data.names, data.train_sizes)),
        "val_examples": {n: len(v) for n, v in data.val_features.items()}, "steps": trainer.global_step,
        "epochs": trainer.current_epoch, "train_loss_per_epoch": module.epoch_losses,
        "val_score_best": keep_best.best, "val_score_last": last, "best_step": keep_best.best_step,
        "validations": [[step, round(score, 4)] for step, score in keep_best.history],
        "stopped_early": keep_best.stopped_early, "resumed_from_step": checkpoints.resumed_from if checkpoints else None,
    }


def fresh_model(start: Start, model: ModelSpec | None, parts: tuple[TrainPart, ...]):
    """An unsharded (encoder, heads) as fit_stage builds them, for the gathered weights of a sharded stage."""
    encoder, _ = load_encoder(start.source, start.revision, model, train=True)
    return encoder, {p.task.name: get_family(p.task.family).head_for(encoder, p.task) for p in parts}


def validation_schedule(optim: OptimSpec) -> dict[str, Any]:
    """Trainer arguments for when to validate: once per epoch (Lightning's default), or every
    `val_every_n_steps` optimizer steps across epochs as jiant does (Lightning counts batches, so
    the interval is that many steps times grad_accum)."""
    if optim.val_every_n_steps is None:
        return {}
    return {"val_check_interval": optim.val_every_n_steps * optim.grad_accum, "check_val_every_n_epoch": None}


def fit_and_select(trainer: pl.Trainer, module: pl.LightningModule, data: pl.LightningDataModule,
                   keep_best: KeepBest, optim: OptimSpec, checkpoints: StageCheckpoints | None = None) -> None:
    """Train (from the stage's checkpoint, if a stopped job left one); with step-level validation, validate
    once more at the end unless the last step was just validated (jiant's metarunner evaluates when
    training ends); then keep the best weights."""
    # weights_only=False: the checkpoint is our own, written by this stage (it holds RNG states, not only tensors).
    trainer.fit(module, datamodule=data, ckpt_path=checkpoints.resume_path() if checkpoints else None,
                weights_only=False)
    if checkpoints is not None:
        checkpoints.settle(trainer)
    if optim.val_every_n_steps is not None and keep_best.last_step != trainer.global_step:
        trainer.validate(module, datamodule=data, verbose=False)
    keep_best.restore_best(module)
