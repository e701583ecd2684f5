"""Model selection (engine/train.py + engine/callbacks.py) on a scripted dev-score curve.

A one-parameter module whose weight counts the optimizer steps taken (SGD, lr 1, loss -w), so
the weight that training ends with says which step's state was kept; its dev score at the k-th
validation is curve[k]. The trainer is the real one (`make_trainer`, `validation_schedule`,
`fit_and_select`, `KeepBest`), with the optimizer settings of conf/optim/finetune.yaml.
"""
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from xtransfer.config.schema import OptimSpec, RuntimeSpec, spec_from_conf
from xtransfer.engine.callbacks import KeepBest
from xtransfer.engine.train import fit_and_select, make_trainer, validation_schedule

BATCHES_PER_EPOCH = 10


class Scripted(pl.LightningModule):
    def __init__(self, curve: list[float]):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.curve, self.validations = curve, 0

    def training_step(self, batch, batch_idx):
        return -self.w * 1.0

    def validation_step(self, batch, batch_idx):
        pass

    def on_validation_epoch_end(self):
        self.log("t/val/score", self.curve[min(self.validations, len(self.curve) - 1)])
        self.validations += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1.0)


class Data(pl.LightningDataModule):
    def train_dataloader(self):
        return DataLoader(torch.zeros(BATCHES_PER_EPOCH, 1), batch_size=1)

    def val_dataloader(self):
        return DataLoader(torch.zeros(1, 1), batch_size=1)


def run(tmp_path, curve, **optim):
    spec = spec_from_conf(OptimSpec, "optim/finetune.yaml", **optim)
    runtime = spec_from_conf(RuntimeSpec, "trainer/default.yaml", accelerator="cpu", enable_progress_bar=False)
    module, keep_best = Scripted(curve), KeepBest("t/val/score", patience=spec.patience, restore=spec.select_best)
    trainer = make_trainer(runtime, None, str(tmp_path), max_epochs=spec.epochs, max_steps=spec.max_steps,
                           accumulate_grad_batches=spec.grad_accum, callbacks=[keep_best],
                           **validation_schedule(spec))
    fit_and_select(trainer, module, Data(), keep_best, spec)
    return keep_best, module, trainer


def test_validates_every_n_steps_stops_on_a_plateau_and_keeps_the_best_step(tmp_path):
    keep_best, module, trainer = run(tmp_path, [1.0, 3.0, 2.0, 2.5, 2.75, 9.0], epochs=5,
                                     val_every_n_steps=4, patience=3)
    # validations after steps 4, 8, 12, 16, 20 (across the epoch boundary at 10); the best is step 8,
    # then three without improvement: training stops at step 20 and never sees the 9.0 at step 24
    assert keep_best.history == [(4, 1.0), (8, 3.0), (12, 2.0), (16, 2.5), (20, 2.75)]
    assert keep_best.stopped_early and trainer.global_step == 20
    assert keep_best.best_step == 8 and keep_best.best == 3.0
    assert module.w.item() == 8.0  # the weights of step 8, restored


def test_without_a_plateau_training_runs_out_and_validates_once_more_at_the_end(tmp_path):
    keep_best, module, trainer = run(tmp_path, [float(k) for k in range(20)], epochs=3,
                                     val_every_n_steps=4, patience=3)
    steps = [step for step, _ in keep_best.history]
    assert steps == [4, 8, 12, 16, 20, 24, 28, 30]  # 30 steps in all: the last is validated too (jiant)
    assert not keep_best.stopped_early and keep_best.best_step == 30 and module.w.item() == 30.0


def test_interval_counts_optimizer_steps_not_batches(tmp_path):
    keep_best, module, trainer = run(tmp_path, [1.0, 2.0, 3.0], epochs=2, grad_accum=2, val_every_n_steps=2)
    # 20 batches, 10 optimizer steps: validations after steps 2, 4, 6, 8, 10
    assert [step for step, _ in keep_best.history] == [2, 4, 6, 8, 10] and trainer.global_step == 10


def test_epoch_level_selection_is_the_default(tmp_path):
    keep_best, module, trainer = run(tmp_path, [2.0, 5.0, 1.0], epochs=3)
    assert keep_best.history == [(10, 2.0), (20, 5.0), (30, 1.0)]
    assert keep_best.best_step == 20 and module.w.item() == 20.0 and not keep_best.stopped_early


def test_select_best_false_keeps_the_last_weights_but_still_stops(tmp_path):
    keep_best, module, trainer = run(tmp_path, [5.0, 1.0, 1.0], epochs=4, patience=2, select_best=False)
    assert keep_best.history == [(10, 5.0), (20, 1.0), (30, 1.0)] and keep_best.stopped_early
    assert module.w.item() == 30.0


@pytest.mark.parametrize("old,new", [("eval", "eval_task"), ("train", "train_task")])
def test_old_select_on_values_are_refused_with_their_new_names(tmp_path, old, new):
    from tests.conftest import compose_cfg
    from xtransfer.config.build import build_target
    from xtransfer.errors import ConfigError
    cfg = compose_cfg(["target=xnli", f"target.select_on={old}"], tmp_path)
    with pytest.raises(ConfigError, match=rf"select_on: {old} was renamed; use target.select_on={new}"):
        build_target(cfg.target)


# ------------------------------------------------------------------ the phang2020 preset is jiant's
# d_write_configs.sh: --epochs and --train_batch_size x --gradient_accumulation_steps per XTREME task
JIANT_BUDGETS = {"xnli": (2, 32), "pawsx": (5, 32), "udpos": (10, 32), "panx": (10, 32),
                 "xquad": (2, 16), "mlqa": (2, 16), "tydiqa": (2, 16)}
# e_run_models.sh (--learning_rate, --eval_every_steps, --no_improvements_for_n_evals),
# xtreme_runconfig_writer.py (eval_subset_num, warmup_steps_proportion), model_setup.py, runscript.py
JIANT_SELECTION = {"lr": 1e-5, "val_every_n_steps": 1000, "patience": 30, "max_val_examples": 500,
                   "select_best": True, "warmup_ratio": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0}


@pytest.mark.parametrize("target", sorted(JIANT_BUDGETS))
def test_phang2020_targets_select_as_jiant_does(tmp_path, target):
    import dataclasses
    from tests.conftest import compose_cfg
    from xtransfer.config.build import build_target
    spec = build_target(compose_cfg(["experiment=phang2020", f"target={target}"], tmp_path).target)
    optim = dataclasses.asdict(spec.optim)
    assert {k: optim[k] for k in JIANT_SELECTION} == JIANT_SELECTION
    assert (optim["epochs"], optim["batch_size"] * optim["grad_accum"]) == JIANT_BUDGETS[target]
    assert spec.select_on == "train_task" and spec.part.val_task is spec.train_task and spec.part.val_language == "en"


@pytest.mark.parametrize("intermediate", ["anli_plus", "mnli", "qqp", "squad", "squad_v2", "hellaswag",
                                          "commonsenseqa", "cosmosqa", "ccg", "multitask"])
def test_phang2020_intermediates_select_as_jiant_does(tmp_path, intermediate):
    import dataclasses
    from tests.conftest import compose_cfg
    cfg = compose_cfg(["experiment=phang2020", f"intermediate={intermediate}"], tmp_path)
    optim = dataclasses.asdict(cfg_optim(cfg.intermediate.optim))
    assert {k: optim[k] for k in JIANT_SELECTION} == JIANT_SELECTION


def cfg_optim(node):
    from xtransfer.config.build import build_optim
    return build_optim(node, "intermediate.optim")


def test_cfg_job_shows_the_preset_selection(tmp_path):
    from tests.test_cli import xtransfer
    proc = xtransfer("--cfg", "job", "experiment=phang2020", "target=xnli", outputs=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import yaml
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["target"]["select_on"] == "train_task"
    assert {k: cfg["target"]["optim"][k] for k in ("val_every_n_steps", "patience", "max_val_examples")} == \
        {"val_every_n_steps": 1000, "patience": 30, "max_val_examples": 500}


def test_epoch_level_selection_stays_the_default_elsewhere(tmp_path):
    from tests.conftest import compose_cfg
    from xtransfer.config.build import build_target
    spec = build_target(compose_cfg(["target=xnli"], tmp_path).target)
    assert (spec.optim.val_every_n_steps, spec.optim.patience, spec.select_on) == (None, None, "eval_task")
