"""The LightningModule: one encoder, one head per task, the family doing the task-specific parts."""
from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from xtransfer.config.schema import OptimSpec, TaskSpec
from xtransfer.tasks import get_family, main_metric


class TransferModule(pl.LightningModule):
    def __init__(self, encoder: nn.Module, heads: dict[str, nn.Module], tasks: dict[str, TaskSpec],
                 optim: OptimSpec | None = None, val_features: Any = None, log_prefix: str = "train"):
        super().__init__()
        self.log_prefix = log_prefix  # the stage kind: one W&B run holds every stage of a cell
        self.epoch_losses: list[float] = []  # mean training loss of each epoch
        self._loss_sum, self._loss_count = 0.0, 0
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads)
        self.tasks = tasks
        self.families = {name: get_family(t.family) for name, t in tasks.items()}
        self.optim = optim
        self.val_features = val_features  # {task: featurized dev split}, for model selection
        self._val_outputs: dict[str, list[tuple[int, Any]]] = {}

    def forward(self, batch: dict[str, Any]) -> Any:
        task = batch["task"]
        return self.families[task].forward(self.encoder, self.heads[task], batch)

    def training_step(self, batch, batch_idx):
        loss = self.families[batch["task"]].loss(self(batch), batch)
        self.log(f"{self.log_prefix}/train/loss", loss, prog_bar=True, batch_size=len(batch["row"]))
        self._loss_sum, self._loss_count = self._loss_sum + loss.detach(), self._loss_count + 1  # no host sync
        return loss

    def on_train_epoch_end(self):
        if self._loss_count:
            self.epoch_losses.append(round(float(self._loss_sum) / self._loss_count, 5))
        self._loss_sum, self._loss_count = 0.0, 0

    def on_save_checkpoint(self, checkpoint: dict) -> None:  # the epoch's running loss, for a resumed stage
        checkpoint["xtransfer_losses"] = (list(self.epoch_losses), self._loss_sum, self._loss_count)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        losses, self._loss_sum, self._loss_count = checkpoint["xtransfer_losses"]
        self.epoch_losses = list(losses)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        """(row, output) pairs on the CPU: evaluation batches are length-sorted, rows restore order."""
        outputs = self.families[batch["task"]].predict(self(batch), batch)
        return list(zip(batch["row"], outputs))

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self._val_outputs.setdefault(batch["task"], []).extend(self.predict_step(batch, batch_idx))

    def on_validation_epoch_end(self):
        scores = []
        for task, pairs in self._val_outputs.items():
            family, spec = self.families[task], self.tasks[task]
            outputs = [out for _, out in sorted(pairs, key=lambda p: p[0])]
            predictions = family.decode(outputs, self.val_features[task], spec)
            metrics = family.score(predictions, self.val_features[task], spec)
            self.log_dict({f"{self.log_prefix}/val/{task}/{k}": v for k, v in metrics.items()})
            scores.append(metrics[main_metric(spec)])
        self._val_outputs = {}
        if scores:
            self.log(f"{self.log_prefix}/val/score", sum(scores) / len(scores), prog_bar=True)

    def configure_optimizers(self):
        opt = self.optim
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
        groups = [
            {"params": [p for n, p in self.named_parameters() if p.requires_grad and not n.endswith(no_decay)],
             "weight_decay": opt.weight_decay},
            {"params": [p for n, p in self.named_parameters() if p.requires_grad and n.endswith(no_decay)],
             "weight_decay": 0.0},
        ]
        # The fused kernel is one launch for all parameters: it matters for XLM-R's 250k x d embedding.
        fused = self.device.type == "cuda"
        optimizer = torch.optim.AdamW(groups, lr=opt.lr, fused=fused)
        # Optimizer steps of the whole stage: epochs x the batches this rank draws, over grad_accum, capped by max_steps.
        total_steps = int(self.trainer.estimated_stepping_batches)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(opt.warmup_ratio * total_steps), max(total_steps, 1))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
