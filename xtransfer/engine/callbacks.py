"""Lightning callbacks of a training stage."""
from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn


class KeepBest(pl.Callback):
    """Model selection as the study does it (jiant's metarunner): after every validation, remember the
    weights if the dev score beat every earlier one; stop after `patience` validations in a row without
    a better score; restore the best weights when training is over (`restore`, else keep the last).

    `history` is every validation as (optimizer step, score); `best_step` the step whose weights are kept.
    """

    def __init__(self, monitor: str = "val/score", patience: int | None = None, restore: bool = True):
        self.monitor, self.patience, self.restore = monitor, patience, restore
        self.best, self.best_step, self.best_state = None, None, None
        self.history: list[tuple[int, float]] = []
        self.since_best = 0
        self.stopped_early = False

    @property
    def last_step(self) -> int | None:
        return self.history[-1][0] if self.history else None

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        self.history.append((trainer.global_step, score))
        if self.best is None or score > self.best:
            self.best, self.best_step, self.since_best = score, trainer.global_step, 0
            if self.restore:
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()}
            return
        self.since_best += 1
        if self.patience is not None and self.since_best >= self.patience \
                and trainer.state.fn == TrainerFn.FITTING:
            self.stopped_early = trainer.should_stop = True

    # In the stage's resume checkpoint (engine/resume.py): a resumed stage selects as an uninterrupted one.
    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step, "best_state": self.best_state,
                "history": list(self.history), "since_best": self.since_best, "stopped_early": self.stopped_early}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_step, self.best_state = state["best"], state["best_step"], state["best_state"]
        self.history = [tuple(h) for h in state["history"]]
        self.since_best, self.stopped_early = state["since_best"], state["stopped_early"]

    def restore_best(self, pl_module) -> None:
        if self.restore and self.best_state is not None:
            pl_module.load_state_dict(self.best_state)
