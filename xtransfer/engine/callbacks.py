"""Lightning callbacks of a training stage."""
from __future__ import annotations

import pytorch_lightning as pl


class KeepBest(pl.Callback):
    """Early stopping as the study does it: keep the weights of the best dev epoch, restore them at the end."""

    def __init__(self, monitor: str = "val/score"):
        self.monitor, self.best, self.best_state = monitor, None, None

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        if self.best is None or score > self.best:
            self.best = score
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()}

    def on_fit_end(self, trainer, pl_module):
        if self.best_state is not None:
            pl_module.load_state_dict(self.best_state)
