"""Stages that resume inside themselves (engine/resume.py): samplers that start mid-epoch, a stage
stopped by a signal that checkpoints and resumes to the same weights, and (slow) the CLI killed with
SIGKILL and SIGTERM mid-stage, then run again to the same metrics as an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.data import _set_sampler_epoch
from torch.utils.data import DataLoader

from xtransfer.config.schema import OptimSpec, RuntimeSpec, spec_from_conf
from xtransfer.engine.batching import LengthGroupedBatches, TokenBudgetBatches
from xtransfer.engine.callbacks import KeepBest
from xtransfer.engine.mixture import MixtureLoader
from xtransfer.engine.resume import Interrupts, StageCheckpoints
from xtransfer.engine.train import fit_and_select, make_trainer, validation_schedule
from xtransfer.errors import Interrupted

REPO = Path(__file__).resolve().parents[1]
LENGTHS = [int(x) for x in np.random.default_rng(0).integers(5, 60, size=203)]


def samplers():
    return [LengthGroupedBatches(LENGTHS, 8, group_size=3, seed=4), TokenBudgetBatches(LENGTHS, 200, 60, seed=4)]


@pytest.mark.parametrize("which", [0, 1])
def test_a_sampler_resumed_mid_epoch_draws_the_rest_of_that_epoch(which):
    sampler = samplers()[which]
    full = {}
    for epoch in range(3):
        _set_sampler_epoch(DataLoader(range(203), batch_sampler=sampler), epoch)  # as Lightning does, each epoch
        full[epoch] = list(sampler)
    assert full[0] != full[1] != full[2]  # Lightning reaches set_epoch (it once never did: one order for all)
    for epoch, done in [(0, 0), (1, 5), (2, len(full[2]) - 1)]:
        resumed = samplers()[which]
        resumed.resume_at(epoch, done)
        assert len(resumed) == len(full[epoch]) and list(resumed) == full[epoch][done:]
        assert list(resumed) == full[epoch]  # only the first pass skips
    over = samplers()[which]
    over.resume_at(1, len(full[1]))  # the checkpoint ended epoch 1: the next pass is epoch 2's
    assert list(over) == full[2]


def mixture(seed: int = 2) -> MixtureLoader:
    loaders = [DataLoader(range(n), batch_sampler=LengthGroupedBatches(LENGTHS[:n], 8, 2, seed=i),
                          collate_fn=lambda rows, i=i: (i, tuple(rows))) for i, n in enumerate((40, 17, 90))]
    return MixtureLoader(loaders, [0.3, 0.5, 0.2], steps=21, seed=seed)


def test_a_mixture_resumed_at_any_step_draws_what_an_uninterrupted_one_would():
    whole, full = mixture(), {}
    for epoch in range(3):
        _set_sampler_epoch(whole, epoch)
        full[epoch] = list(whole)
    assert full[0] != full[1]  # each epoch draws its own tasks (set_epoch reaches the mixture)
    for epoch in range(3):
        for done in range(0, 22):
            resumed = mixture()
            resumed.resume_at(epoch, done)
            _set_sampler_epoch(resumed, epoch)
            rest = full[epoch][done:] or full.get(epoch + 1)
            if rest is None:
                continue
            assert list(resumed) == rest, (epoch, done)


# ---- a stage stopped by a signal, resumed in process ------------------------------------------
class Noisy(pl.LightningModule):
    """Dropout (the RNG), AdamW and a linear schedule (their states) and a dev score to select on."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        x = torch.stack([torch.arange(4.0) * (i % 7) / 7 for i in batch])
        return ((self.net(x) - 1.0) ** 2).mean()

    def validation_step(self, batch, batch_idx):
        self.net.eval()
        self.log("t/val/score", -float(self.net(torch.ones(1, 4)).sum()), batch_size=1)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=0.01)
        schedule = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.1, total_iters=40)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class Data(pl.LightningDataModule):
    resume_position = None

    def train_dataloader(self):
        sampler = LengthGroupedBatches(LENGTHS[:100], 8, 2, seed=1)
        if self.resume_position is not None:
            sampler.resume_at(*self.resume_position)
        return DataLoader(range(100), batch_sampler=sampler, collate_fn=list)

    def val_dataloader(self):
        return DataLoader(range(1), batch_size=1, collate_fn=list)


class StopAt(pl.Callback):
    """Sends the signal the moment a step ends, as a scheduler would at any time."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def fit(scratch: Path, stop_at: int | None = None):
    spec = spec_from_conf(OptimSpec, "optim/finetune.yaml", epochs=3, val_every_n_steps=5, patience=4)
    runtime = spec_from_conf(RuntimeSpec, "trainer/default.yaml", accelerator="cpu", enable_progress_bar=False)
    pl.seed_everything(0, verbose=False)
    module, data, keep_best = Noisy(), Data(), KeepBest("t/val/score", patience=spec.patience)
    with Interrupts() as interrupts:
        checkpoints = StageCheckpoints(scratch, 4, interrupts, data, {"length_group_size": 2})
        extra = [StopAt(stop_at)] if stop_at else []
        trainer = make_trainer(runtime, None, str(scratch), max_epochs=spec.epochs, max_steps=spec.max_steps,
                               callbacks=[keep_best, checkpoints, *extra], **validation_schedule(spec))
        fit_and_select(trainer, module, data, keep_best, spec, checkpoints)
    return module, keep_best, checkpoints


# The signal comes as step `stop_at` ends: the checkpoint is taken at the next step boundary, after the
# step's validation if it has one (step 10; validations every 5 steps); 13 is the epoch's last step.
@pytest.mark.parametrize("stop_at,saved_at", [(7, 8), (10, 10), (13, 14)])
def test_a_stage_stopped_by_sigterm_checkpoints_and_resumes_to_the_same_weights(tmp_path, stop_at, saved_at):
    whole, whole_best, whole_checkpoints = fit(tmp_path / "whole")
    assert whole_checkpoints.resumed_from is None
    with pytest.raises(Interrupted) as stopped:
        fit(tmp_path / "stopped", stop_at=stop_at)
    assert stopped.value.signum == signal.SIGTERM
    assert str(stopped.value) == (f"stopped by SIGTERM at step {saved_at} of the stage built in {tmp_path / 'stopped'} "
                                  f"(checkpoint saved). Finished stages are kept; run the same command again and "
                                  f"this stage resumes from its checkpoint")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the stage's handlers are gone with it
    resumed, best, checkpoints = fit(tmp_path / "stopped")
    assert checkpoints.resumed_from == saved_at
    assert best.history == whole_best.history and best.best_step == whole_best.best_step
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


# ---- the CLI, killed mid-stage ------------------------------------------------------------
CELL = ["experiment=demo", "logger=none", "trainer.enable_progress_bar=false", "intermediate=none", "target=xnli",
        "target.optim.max_train_examples=1000", "target.optim.max_val_examples=100", "target.optim.epochs=2",
        "target.languages=[en,de]"]


def start(outputs: Path, job: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", "PYTHONPATH": str(REPO)}
    log = open(outputs.parent / f"{job}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "xtransfer.run", *CELL, *extra, f"paths.outputs_root={outputs}",
                             f"hydra.run.dir={outputs / job}"], cwd=REPO, env=env, stdout=log, stderr=log)


def wait_for(process: subprocess.Popen, found, what: str) -> None:
    deadline = time.time() + 600
    while not found():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.time() < deadline, f"no {what} in 10 minutes"
        time.sleep(0.02)


def finish(outputs: Path, job: str, *extra: str) -> dict:
    process = start(outputs, job, *extra)
    assert process.wait(timeout=900) == 0, (outputs.parent / f"{job}.log").read_text()[-3000:]
    return json.loads((outputs / job / "results.json").read_text())


@pytest.mark.slow
def test_a_run_killed_mid_stage_resumes_to_the_metrics_of_an_uninterrupted_run(tmp_path):
    outputs = tmp_path / "outputs"
    reference = finish(outputs, "whole")
    target = Path(next(s["path"] for s in reference["stages"] if s["kind"] == "target"))
    metrics = json.loads((target / "metrics.json").read_text())
    assert reference["stages"][1]["resumed_from_step"] is None and metrics["steps"] == 64
    for stage in reference["stages"][1:]:  # train it again, the same key
        subprocess.run(["rm", "-rf", stage["path"]], check=True)

    scratch = target.with_name(target.name + ".partial")
    killed = start(outputs, "killed", "trainer.checkpoint_every_n_steps=5")
    wait_for(killed, (scratch / ".resume" / "last.ckpt").is_file, "checkpoint")
    killed.kill()
    assert killed.wait() == -signal.SIGKILL

    log = outputs.parent / "stopped.log"
    stopped = start(outputs, "stopped", "trainer.checkpoint_every_n_steps=5")
    wait_for(stopped, lambda: "resuming the stage from step" in log.read_text(), "resume")
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=300) == 128 + signal.SIGTERM
    error = json.loads((outputs / "stopped" / "error.json").read_text())
    step = int(error["message"].split(" at step ")[1].split()[0])
    assert error["error"] == "Interrupted" and step >= 5
    assert error["message"] == (f"stopped by SIGTERM at step {step} of the stage built in {scratch} (checkpoint "
                                f"saved). Finished stages are kept; run the same command again and this stage "
                                f"resumes from its checkpoint")

    resumed = finish(outputs, "stopped")
    assert resumed["stages"][1]["resumed_from_step"] == step and resumed["metrics"] == reference["metrics"]
    again = json.loads((target / "metrics.json").read_text())
    assert again.pop("resumed_from_step") == step and metrics.pop("resumed_from_step") is None
    assert again == metrics  # the same losses, validations and best step, to the last digit
    assert not (outputs / "stopped" / "error.json").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no scratch, no lock file


def test_after_the_checkpoint_slurms_sigterm_stops_the_stage_and_submitits_usr2_handler_is_called():
    from submitit.core.job_environment import SignalHandler

    handler, called = SignalHandler(None, None, None), []
    handler.checkpoint_and_try_requeue = lambda signum, frame: called.append(signum)  # requeues, exits
    interrupts = Interrupts()
    interrupts.previous = {signal.SIGTERM: handler.bypass, signal.SIGUSR2: handler.checkpoint_and_try_requeue}
    interrupts.pending = signal.SIGTERM
    with pytest.raises(Interrupted) as stopped:
        interrupts.act("at step 8 of the stage built in /s")
    assert stopped.value.signum == signal.SIGTERM and str(stopped.value) == (
        "stopped by SIGTERM from SLURM at step 8 of the stage built in /s. A requeued or preempted job resumes this "
        "stage from its checkpoint when it starts again")
    interrupts.pending = signal.SIGUSR2
    interrupts.act("at step 9")
    assert called == [signal.SIGUSR2] and interrupts.pending is None
