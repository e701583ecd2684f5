"""Training stages that resume inside themselves.

A stage builds in a scratch dir named by its key (cache/locking.py); its checkpoint lives in
`<scratch>/.resume/last.ckpt`: every `trainer.checkpoint_every_n_steps` optimizer steps, and at the
next step boundary after SIGTERM, SIGUSR1 or SIGUSR2. The next job that builds the stage (it holds
the stage's lock) goes on from there: weights, optimizer, LR schedule, Lightning's loop counters,
model selection (KeepBest), the epoch's running loss, the batch sampler's place in the epoch and the
RNG states, so the finished stage equals an uninterrupted one (on CPU to the last digit).

A checkpoint is taken after a step's validation, never before it: Lightning does not repeat a
validation that a checkpoint skipped. On a signal the previous handler decides what follows: the
default (or run.py's) stops the job with Interrupted, and so does submitit's SIGTERM "bypass" (SLURM
requeues the job itself); submitit's USR2 handler (requeue at a time limit) is called.
"""
from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn

from xtransfer.cache.locking import RESUME
from xtransfer.engine import ranks
from xtransfer.errors import Interrupted, raise_interrupted

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def rng_states() -> dict[str, Any]:
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class Interrupts:
    """While a stage trains: SIGTERM/SIGUSR1/SIGUSR2 only note the signal; the checkpoint callback saves
    at the next step boundary and then calls `act`. Only the main thread can install handlers."""

    def __init__(self):
        self.pending: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self.previous[signum] = signal.signal(signum, self._note)
        return self

    def claim(self) -> None:
        """Take the signals back from Lightning, which installs its own when training starts (its SIGTERM
        handler would end the fit before our checkpoint; its teardown puts ours back)."""
        for signum in self.previous:
            signal.signal(signum, self._note)

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _note(self, signum: int, frame) -> None:
        log.warning("%s received: checkpointing the stage at the next step", signal.Signals(signum).name)
        self.pending = signum

    def act(self, where: str) -> None:
        """After the checkpoint: stop (Interrupted), ignore, or hand over to the scheduler's handler."""
        signum, self.pending = self.pending, None
        previous = self.previous.get(signum, signal.SIG_DFL)
        if _ignores(previous):  # SLURM's SIGTERM: it requeues (or cancels) the job itself and kills it soon
            raise Interrupted(f"stopped by {signal.Signals(signum).name} from SLURM {where}. A requeued or "
                              f"preempted job resumes this stage from its checkpoint when it starts again", signum)
        if previous in (signal.SIG_DFL, None, raise_interrupted):
            raise Interrupted(f"stopped by {signal.Signals(signum).name} {where}. Finished stages are kept; run the "
                              f"same command again and this stage resumes from its checkpoint", signum)
        if callable(previous):  # e.g. submitit's: requeue the job and exit, now that the stage is saved
            previous(signum, None)


def _ignores(handler: Any) -> bool:
    """submitit's SIGTERM handler only logs ("bypass"): SLURM sends SIGTERM when it requeues, preempts or
    cancels the job (it requeues by itself) and SIGKILL after KillWait; steps trained on would be lost."""
    owner = getattr(handler, "__self__", None)
    return getattr(handler, "__name__", "") == "bypass" and type(owner).__module__.startswith("submitit")


class StageCheckpoints(pl.Callback):
    """Save and restore the stage's resume state (list it after KeepBest: it saves KeepBest's state)."""

    def __init__(self, scratch: Path, every_n_steps: int | None, interrupts: Interrupts, data: Any,
                 fingerprint: dict[str, Any]):
        self.folder = scratch / RESUME
        self.path = self.folder / "last.ckpt"
        self.every, self.interrupts, self.data, self.fingerprint = every_n_steps, interrupts, data, fingerprint
        self.resumed_from: int | None = None
        self._position = (0, 0)          # (epoch, batches of it done) at the last step
        self._restore: dict[str, Any] | None = None
        self._saved_step: int | None = None

    @property
    def state_key(self) -> str:
        return "xtransfer-resume"

    def resume_path(self) -> str | None:
        """The checkpoint to resume from, if one was left by a job with the same batch-shaping settings;
        its place in the data goes to the data module now: Lightning draws the first batch before it
        restores a checkpoint."""
        settings = self.folder / "settings.json"
        if not self.path.is_file():
            return None
        if not settings.is_file() or json.loads(settings.read_text()) != self.fingerprint:
            log.warning("%s was taken with other runtime settings; training the stage from the start", self.path)
            return None
        state = torch.load(self.path, map_location="cpu", mmap=True, weights_only=False)["callbacks"][self.state_key]
        self.data.resume_position = tuple(state["position"])
        return str(self.path)

    def on_train_start(self, trainer, pl_module) -> None:
        self.interrupts.claim()

    # -- saving --------------------------------------------------------------------------
    def _share_signal(self, trainer: pl.Trainer) -> None:
        """Ranks of a multi-rank cell see a signal at different steps (or, spawned, not at all): all stop at
        the same step, or the checkpoint's barrier would meet another rank's gradient all-reduce."""
        group = ranks.signals_group()
        if trainer.world_size > 1 and group is not None:
            flag = torch.tensor([self.interrupts.pending or 0])
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX, group=group)
            self.interrupts.pending = int(flag.item()) or None

    def _due(self, trainer: pl.Trainer) -> bool:
        if trainer.global_step == self._saved_step:
            return False
        self._share_signal(trainer)
        return self.interrupts.pending is not None or bool(self.every and trainer.global_step % self.every == 0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._position = (trainer.current_epoch, batch_idx + 1)
        loop = trainer.fit_loop.epoch_loop
        if loop._should_accumulate() or not self._due(trainer):
            return
        if loop._should_check_val_fx(trainer.fit_loop._data_fetcher):
            return  # this step validates next: save after it (on_validation_end)
        self._save(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING or not self._due(trainer):
            return
        self._save(trainer)

    def settle(self, trainer: pl.Trainer) -> None:
        """After fit: a signal that came during the last step is answered now."""
        self._share_signal(trainer)
        if self.interrupts.pending is not None:
            self._save(trainer)

    def _save(self, trainer: pl.Trainer) -> None:
        # Every rank of a multi-rank cell calls save_checkpoint (it ends in a barrier); rank 0 alone writes.
        if trainer.is_global_zero:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / "settings.json").write_text(json.dumps(self.fingerprint))
        tmp = self.path.with_name("last.ckpt.tmp")
        self._saved_step = trainer.global_step  # state_dict() records it
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)  # a kill while saving leaves the previous checkpoint whole
        log.info("stage checkpoint at step %d: %s", trainer.global_step, self.path)
        if self.interrupts.pending is not None:
            self.interrupts.act(f"at step {trainer.global_step} of the stage built in {self.folder.parent} "
                                f"(checkpoint saved)")

    def state_dict(self) -> dict[str, Any]:
        state = {"step": self._saved_step, "position": self._position, "rng": rng_states()}
        group = ranks.signals_group()
        if group is not None:
            # Every rank dumps the checkpoint (rank 0 writes it): each rank's RNG goes in, for its dropout.
            per_rank: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(per_rank, state["rng"], group=group)
            state["rng_ranks"] = per_rank
        return state

    # -- restoring -----------------------------------------------------------------------
    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._restore = state
        self.resumed_from = self._saved_step = state["step"]
        self._position = tuple(state["position"])
        log.info("resuming the stage from step %d (%s)", state["step"], self.path, extra={"console": True})

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._restore is not None:  # the RNG as it was at the checkpoint, for the first step after it
            per_rank = self._restore.get("rng_ranks")
            set_rng_states(per_rank[trainer.global_rank] if per_rank and len(per_rank) == trainer.world_size
                           else self._restore["rng"])
            self._restore = None
