"""The two training sides on one Setup: xtransfer's fit_stage path and transformers.Trainer."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import torch

from xtransfer.bench.measure import (SideResult, StepClock, non_embedding_params, pad_fraction, peak_memory_mib,
                                     reset_memory, summarize)
from xtransfer.bench.models import hf_model, model_config, our_model
from xtransfer.bench.workloads import PAD_ID, Workload, lengths_of
from xtransfer.config.schema import OptimSpec, RuntimeSpec, spec_from_conf


@dataclass(frozen=True)
class Setup:
    model: str
    workload: Workload
    batch_size: int
    max_tokens: int | None
    steps: int
    warmup: int
    lr: float
    precision: str
    device: torch.device
    num_workers: int
    attn: str
    compile: bool
    peak: float | None
    lora: bool = False   # --lora: both sides train LoRA adapters (conf/model/<model>.yaml) and the head

    @property
    def total(self) -> int:
        return self.steps + self.warmup

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"


def run_xtransfer(setup: Setup, features) -> tuple[SideResult, Any]:
    """fit_stage's path: TransferModule + family + train_batches + make_trainer. Returns (result, module)."""
    import pytorch_lightning as pl

    from xtransfer.engine.batching import loader, train_batches
    from xtransfer.engine.module import TransferModule
    from xtransfer.tasks import get_family
    from xtransfer.engine.train import make_trainer

    pl.seed_everything(0, verbose=False)
    config = model_config(setup.model, setup.attn)
    encoder = our_model(setup.model, config, setup.lora)
    task, family = setup.workload.task(), get_family(setup.workload.family)
    head = family.build_head(config.hidden_size, task)
    optim = spec_from_conf(OptimSpec, "optim/finetune.yaml", lr=setup.lr, batch_size=setup.batch_size,
                           max_steps=setup.total)
    module = TransferModule(encoder, {task.name: head}, {task.name: task}, optim)
    n_params = non_embedding_params(module)
    if setup.compile:
        module.encoder = torch.compile(encoder, dynamic=True)
    sampler = train_batches(lengths_of(features), setup.batch_size, setup.max_tokens, 50, seed=0)
    batches = list(sampler)
    train_loader = loader(features, sampler, family, PAD_ID, task.name, setup.num_workers, setup.on_gpu)
    clock = StepClock(setup.warmup, setup.total, setup.device)

    class Clock(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            clock.step_started(batch["attention_mask"])

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            clock.step_ended()

    runtime = spec_from_conf(RuntimeSpec, "trainer/default.yaml", accelerator="gpu" if setup.on_gpu else "cpu",
                             precision=setup.precision, num_workers=setup.num_workers, enable_progress_bar=False,
                             log_every_n_steps=50)
    reset_memory(setup.device)
    with tempfile.TemporaryDirectory(prefix="xtransfer-bench-") as scratch:
        trainer = make_trainer(runtime, None, scratch, max_steps=setup.total, gradient_clip_val=optim.max_grad_norm,
                               callbacks=[Clock()], limit_val_batches=0)
        trainer.fit(module, train_loader)
    result = summarize("xtransfer", clock, (n_params, config.num_hidden_layers, config.hidden_size), setup.peak,
                       peak_memory_mib(setup.device))
    result.extra["non_embedding_params"] = n_params
    result.extra["batches_per_epoch"] = len(batches)
    result.extra["epoch_padding_fraction"] = pad_fraction(lengths_of(features), batches)
    return result, module


def pad_tokenizer():
    """A tokenizer that only knows XLM-R's special tokens: DataCollatorWithPadding needs one to pad ids."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from xtransfer.engine.modeling import SPECIAL_TOKENS

    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                   bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def hf_dataset(features, family: str):
    if family == "classification":
        return features.select_columns(["input_ids", "length", "label"])
    return features.select_columns(["input_ids", "length", "start_position", "end_position"]).rename_columns(
        {"start_position": "start_positions", "end_position": "end_positions"})


def run_transformers(setup: Setup, features) -> SideResult:
    """transformers.Trainer with its best flags on the same model, data, batch size and schedule."""
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    torch.manual_seed(0)
    config = model_config(setup.model, setup.attn)
    model = hf_model(setup.model, config, setup.workload.family, setup.lora)
    n_params = non_embedding_params(model)
    clock = StepClock(setup.warmup, setup.total, setup.device)

    class ClockedTrainer(Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            clock.step_started(inputs["attention_mask"])
            return super().training_step(model, inputs, num_items_in_batch)

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock.step_ended()

    precision = resolve(setup)
    with tempfile.TemporaryDirectory(prefix="hf-bench-") as scratch:
        args = TrainingArguments(
            output_dir=scratch, max_steps=setup.total, per_device_train_batch_size=setup.batch_size,
            learning_rate=setup.lr, weight_decay=0.01, warmup_steps=0.1, max_grad_norm=1.0,
            lr_scheduler_type="linear", train_sampling_strategy="group_by_length",
            bf16=precision == "bf16-mixed", fp16=precision == "16-mixed",
            # HF's default on torch >= 2.8 is the fused kernel; on a CPU ours is the foreach one: match it there.
            optim="adamw_torch_fused" if setup.on_gpu else "adamw_torch", use_cpu=not setup.on_gpu,
            torch_compile=setup.compile,
            dataloader_num_workers=setup.num_workers, dataloader_pin_memory=setup.on_gpu,
            logging_steps=50, logging_nan_inf_filter=False,  # the NaN filter syncs the host every step
            report_to="none", save_strategy="no", eval_strategy="no", disable_tqdm=True, seed=0)
        reset_memory(setup.device)
        trainer = ClockedTrainer(model=model, args=args, train_dataset=hf_dataset(features, setup.workload.family),
                                 data_collator=DataCollatorWithPadding(pad_tokenizer()), callbacks=[Clock()])
        trainer.remove_callback(PrinterCallback)  # it prints the final log dict
        trainer.train()
    result = summarize("transformers.Trainer", clock, (n_params, config.num_hidden_layers, config.hidden_size),
                       setup.peak, peak_memory_mib(setup.device))
    result.extra["epoch_padding_fraction"] = hf_epoch_padding(lengths_of(features), setup.batch_size)
    return result


def hf_epoch_padding(lengths: list[int], batch_size: int) -> float:
    """The padding of one epoch of HF's group_by_length order (a fresh draw of it)."""
    from transformers.trainer_pt_utils import get_length_grouped_indices

    order = get_length_grouped_indices(lengths, batch_size)
    return pad_fraction(lengths, [order[i:i + batch_size] for i in range(0, len(order), batch_size)])


def resolve(setup: Setup) -> str:
    from xtransfer.engine.train import resolve_precision

    accelerator = "gpu" if setup.on_gpu else "cpu"
    return resolve_precision(spec_from_conf(RuntimeSpec, "trainer/default.yaml", accelerator=accelerator,
                                            precision=setup.precision))
