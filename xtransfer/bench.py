"""Training and evaluation throughput: xtransfer's training path against transformers.Trainer.

    python -m xtransfer.bench                                     # tiny model, MNLI-like pairs (CPU, ~1 min)
    python -m xtransfer.bench --model xlmr_large --workload squad --steps 50 --json bench.json   # on a GPU
    python -m xtransfer.bench --model xlmr_base --max-tokens 8192  # token-budget batches on our side

Both sides train the same architecture (random init: a step costs what it costs with
pretrained weights) on the same examples, batch size, learning rate, schedule, clipping and
precision, back to back in one process. Ours is what `train.fit_stage` runs: TransferModule,
the family's collate/forward/loss, `batching.train_batches` and `train.make_trainer`. Theirs
is `transformers.Trainer` with its best flags: group_by_length, dynamic padding
(DataCollatorWithPadding), bf16/fp16 and fused AdamW on a GPU, no per-step NaN check.
The first `--warmup` steps are not timed; the clock syncs the device only where it starts
and stops.

MFU (model FLOPs utilisation) counts the FLOPs of real (non-pad) tokens only:

    FLOPs = 6 * N * T  +  12 * L * H * sum_i s_i^2        (forward + backward)

N: non-embedding parameters (encoder layers + task head); T: real tokens trained; L: layers;
H: hidden size; s_i: real length of sequence i (attention scores and their weighted sum are
two s x s x H matmuls per layer: 4 s^2 H FLOPs forward, x3 with backward). MFU = FLOPs /
seconds / the device's dense bf16 peak (PEAK_TFLOPS, or --peak-tflops); n/a on a CPU.

Also: evaluation throughput (length-sorted batches vs padding every row to max_length) and
the tokenisation cache (first vs second `load_features` of the demo XNLI test split).
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xtransfer.errors import DataError, XTransferError
from xtransfer.specs import OptimSpec, RuntimeSpec, TaskSpec

PAD_ID, BOS_ID, EOS_ID = 1, 0, 2  # XLM-R's
NLI_LABELS = ["entailment", "neutral", "contradiction"]

SHAPES = {  # XLM-R's real sizes; tiny is the demo model's
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, vocab_size=4000),
    "xlmr_base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                      vocab_size=250002),
    "xlmr_large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                       vocab_size=250002),
}

# Dense (no sparsity) bf16 tensor-core peaks, TFLOPS, from the vendors' data sheets. First match wins.
PEAK_TFLOPS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0)]


@dataclass(frozen=True)
class Workload:
    name: str
    family: str
    max_length: int

    def task(self) -> TaskSpec:
        labels = NLI_LABELS if self.family == "classification" else None
        return TaskSpec(name=self.name, family=self.family, languages=["en"], max_length=self.max_length,
                        labels=labels, source="local")


WORKLOADS = {"mnli": Workload("mnli", "classification", 256), "squad": Workload("squad", "span", 384)}
FAMILY_COLUMNS = {"classification": ["input_ids", "length", "label"],
                  "span": ["input_ids", "length", "start_position", "end_position", "offset_start", "offset_end"]}


# ---------------------------------------------------------------- data

def sample_lengths(workload: Workload, n: int, rng: np.random.Generator) -> np.ndarray:
    """MNLI-like pairs: log-normal, median 40 tokens, 99th percentile ~115, cut at 256.
    SQuAD-like windows: three in four are full 384-token windows, the rest a short context's 160-384."""
    if workload.name == "mnli":
        return np.clip(np.round(np.exp(rng.normal(math.log(40), 0.45, n))), 8, workload.max_length).astype(int)
    full = rng.random(n) < 0.75
    return np.where(full, workload.max_length, rng.integers(160, workload.max_length, n))


def synthetic_features(workload: Workload, n: int, vocab_size: int, seed: int = 0):
    """Featurized rows in the family's columns, random token ids, from a seeded RNG."""
    import datasets

    rng = np.random.default_rng(seed)
    lengths = sample_lengths(workload, n, rng)
    ids = [[BOS_ID, *rng.integers(5, vocab_size, k - 2).tolist(), EOS_ID] for k in lengths]
    columns: dict[str, list] = {"input_ids": ids, "length": lengths.tolist()}
    if workload.family == "classification":
        columns["label"] = rng.integers(0, len(NLI_LABELS), n).tolist()
    else:
        question = 16  # tokens before the context: <s> question </s></s>
        starts = [int(rng.integers(question, k - 2)) for k in lengths]
        columns["start_position"] = starts
        columns["end_position"] = [min(s + int(rng.integers(0, 5)), k - 2) for s, k in zip(starts, lengths)]
        columns["offset_start"] = [[-1] * question + list(range(0, 5 * (k - question - 1), 5)) + [-1] for k in lengths]
        columns["offset_end"] = [[-1 if s < 0 else s + 4 for s in row] for row in columns["offset_start"]]
    return datasets.Dataset.from_dict(columns)


def local_features(path: str, workload: Workload, n: int, vocab_size: int):
    """A featurized split saved by the feature cache (<cache_dir>/features/<task>/<split>-<lang>-<key>/data)."""
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except (FileNotFoundError, ValueError) as e:
        raise DataError(f"--data {path}: not a dataset saved by datasets.save_to_disk ({e}); point it at "
                        "<cache_dir>/features/<task>/<split>-<lang>-<key>/data") from None
    missing = [c for c in FAMILY_COLUMNS[workload.family] if c not in ds.column_names]
    if missing:
        raise DataError(f"--data {path}: no column(s) {missing} for the {workload.name} workload "
                        f"({workload.family} features); it has {ds.column_names}")
    ds = ds.select(range(min(n, len(ds))))
    top = max(max(row) for row in ds["input_ids"])
    if top >= vocab_size:
        raise DataError(f"--data {path}: token id {top} is outside the model's vocabulary of {vocab_size}; "
                        "use --model xlmr_base or xlmr_large for XLM-R-tokenized features")
    return ds


def lengths_of(features) -> list[int]:
    return features["length"][:]  # one read (a datasets Column indexes row by row)


def pad_fraction(lengths: list[int], batches: list[list[int]]) -> float:
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return 1 - sum(lengths[i] for b in batches for i in b) / padded


# ---------------------------------------------------------------- models and FLOPs

def encoder_config(model: str, attn: str = "sdpa"):
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(**SHAPES[model], max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                            pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
                            attn_implementation=attn)


def non_embedding_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings." not in n)


def train_flops(n_params: int, layers: int, hidden: int, real_tokens: float, sum_sq_lengths: float) -> float:
    """6 N T + 12 L H sum_i s_i^2: see the module docstring."""
    return 6 * n_params * real_tokens + 12 * layers * hidden * sum_sq_lengths


def device_peak(device: torch.device, override: float | None) -> tuple[float | None, str]:
    """(peak FLOP/s, what it is): dense bf16 of the GPU, None on a CPU or an unknown GPU."""
    if override:
        return override * 1e12, f"{override:g} TFLOPS (--peak-tflops)"
    if device.type != "cuda":
        return None, "n/a on CPU"
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_TFLOPS:
        if key in name:
            return tflops * 1e12, f"{name}: {tflops:g} TFLOPS dense bf16"
    return None, f"{name}: peak unknown (pass --peak-tflops)"


# ---------------------------------------------------------------- timing

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock:
    """Times steps warmup+1 .. total, syncing the device only at the two ends; counts their tokens.

    Token counts stay on the device until the end (no per-step host sync).
    """

    def __init__(self, warmup: int, total: int, device: torch.device):
        self.warmup, self.total, self.device = warmup, total, device
        self.steps = 0
        self.examples = self.padded = 0
        self.real: Any = 0
        self.sum_sq: Any = 0
        self.start = self.stop = None

    def step_started(self, attention_mask: torch.Tensor) -> None:
        if self.steps == self.warmup:
            sync(self.device)
            self.start = time.perf_counter()
        if self.steps >= self.warmup:
            lengths = attention_mask.sum(1)
            self.examples += attention_mask.shape[0]
            self.padded += attention_mask.numel()
            self.real = self.real + lengths.sum()
            self.sum_sq = self.sum_sq + (lengths.double() ** 2).sum()
        self.steps += 1

    def step_ended(self) -> None:
        if self.steps == self.total:
            sync(self.device)
            self.stop = time.perf_counter()


@dataclass
class SideResult:
    name: str
    steps: int
    seconds: float
    examples: int
    real_tokens: int
    padded_tokens: int
    examples_per_s: float
    real_tokens_per_s: float
    padding_fraction: float
    peak_memory_mib: float | None
    mfu: float | None
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(name: str, clock: StepClock, flops_args: tuple[int, int, int], peak: float | None,
              memory: float | None) -> SideResult:
    if clock.start is None or clock.stop is None:
        raise XTransferError(f"{name}: trained {clock.steps} of {clock.total} steps; nothing was timed")
    seconds = clock.stop - clock.start
    real, sum_sq = int(clock.real), float(clock.sum_sq)
    flops = train_flops(*flops_args, real, sum_sq)
    return SideResult(name, clock.total - clock.warmup, seconds, clock.examples, real, clock.padded,
                      clock.examples / seconds, real / seconds, 1 - real / clock.padded, memory,
                      flops / seconds / peak if peak else None, {"tflops_achieved": flops / seconds / 1e12})


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float:
    """GPU: torch.cuda.max_memory_allocated since the side started. CPU: the process's peak RSS
    (cumulative over both sides, so only the first side's figure is its own)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- the two sides

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

    @property
    def total(self) -> int:
        return self.steps + self.warmup

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"


def run_xtransfer(setup: Setup, features) -> tuple[SideResult, Any]:
    """fit_stage's path: TransferModule + family + train_batches + make_trainer. Returns (result, module)."""
    import pytorch_lightning as pl
    from transformers import XLMRobertaModel

    from xtransfer.batching import loader, train_batches
    from xtransfer.module import TransferModule
    from xtransfer.tasks import get_family
    from xtransfer.train import make_trainer

    pl.seed_everything(0, verbose=False)
    config = encoder_config(setup.model, setup.attn)
    encoder = XLMRobertaModel(config, add_pooling_layer=False)
    task, family = setup.workload.task(), get_family(setup.workload.family)
    head = family.build_head(config.hidden_size, task)
    optim = OptimSpec(lr=setup.lr, batch_size=setup.batch_size, max_steps=setup.total)
    module = TransferModule(encoder, {task.name: head}, {task.name: task}, optim, setup.total)
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

    runtime = RuntimeSpec(accelerator="gpu" if setup.on_gpu else "cpu", precision=setup.precision,
                          num_workers=setup.num_workers, enable_progress_bar=False, log_every_n_steps=50)
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

    from xtransfer.modeling import SPECIAL_TOKENS

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
    from transformers import (DataCollatorWithPadding, PrinterCallback, Trainer, TrainerCallback, TrainingArguments,
                              XLMRobertaForQuestionAnswering, XLMRobertaForSequenceClassification)

    torch.manual_seed(0)
    config = encoder_config(setup.model, setup.attn)
    if setup.workload.family == "classification":
        config.num_labels = len(NLI_LABELS)
        model = XLMRobertaForSequenceClassification(config)
    else:
        model = XLMRobertaForQuestionAnswering(config)
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
    from xtransfer.train import resolve_precision

    accelerator = "gpu" if setup.on_gpu else "cpu"
    return resolve_precision(RuntimeSpec(accelerator=accelerator, precision=setup.precision))


# ---------------------------------------------------------------- evaluation and the feature cache

def eval_throughput(setup: Setup, module, features, batch_size: int) -> dict[str, Any]:
    """Inference over the same rows: length-sorted dynamic batches vs every row padded to max_length."""
    from xtransfer.batching import SortedBatches, loader
    from xtransfer.tasks import get_family

    family, task = get_family(setup.workload.family), setup.workload.task()
    lengths = lengths_of(features)
    max_length = setup.workload.max_length

    def to_max_length(batch: dict) -> dict:
        width = max_length - batch["input_ids"].shape[1]
        batch["input_ids"] = torch.nn.functional.pad(batch["input_ids"], (0, width), value=PAD_ID)
        batch["attention_mask"] = torch.nn.functional.pad(batch["attention_mask"], (0, width))
        return batch

    sorted_batches = list(SortedBatches(lengths, batch_size))
    fixed_batches = [list(range(i, min(i + batch_size, len(lengths)))) for i in range(0, len(lengths), batch_size)]
    runs = {"sorted": (sorted_batches, lambda b: b), "fixed max_length": (fixed_batches, to_max_length)}
    module = module.to(setup.device).eval()
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(resolve(setup))
    out: dict[str, Any] = {}
    for name, (batches, reshape) in runs.items():
        rows = loader(features, batches, family, PAD_ID, task.name, 0, setup.on_gpu)
        padded = 0
        with torch.inference_mode(), torch.autocast(setup.device.type, dtype=dtype, enabled=dtype is not None):
            for i, batch in enumerate(rows):
                batch = reshape(batch)
                if i == 1:  # the first batch (the longest, for sorted) warms up
                    sync(setup.device)
                    start = time.perf_counter()
                if i >= 1:
                    padded += batch["input_ids"].numel()
                module({k: v.to(setup.device) if torch.is_tensor(v) else v for k, v in batch.items()})
        sync(setup.device)
        seconds = time.perf_counter() - start
        timed = [j for b in batches[1:] for j in b]
        real = sum(lengths[j] for j in timed)
        out[name] = {"examples_per_s": len(timed) / seconds, "real_tokens_per_s": real / seconds,
                     "padding_fraction": 1 - real / padded, "seconds": seconds}
    out["ratio"] = out["sorted"]["examples_per_s"] / out["fixed max_length"]["examples_per_s"]
    return out


def xnli_demo_task(root: Path) -> TaskSpec:
    from omegaconf import OmegaConf

    from xtransfer.config import CONF_DIR
    from xtransfer.specs import build_task

    cfg = OmegaConf.create({"data": {"source": "local", "root": str(root)},
                            "task": OmegaConf.load(CONF_DIR / "task" / "xnli.yaml")})
    return build_task(OmegaConf.to_container(cfg, resolve=True)["task"])


def feature_cache(demo_root: str | None, eval_size: int) -> dict[str, Any]:
    """Seconds of the first (tokenize + save) and second (memory-map) load_features of XNLI test de."""
    from xtransfer.data.demo import generate_demo_data
    from xtransfer.data.features import load_features
    from xtransfer.modeling import train_tiny_tokenizer
    from xtransfer.specs import TinySpec

    with tempfile.TemporaryDirectory(prefix="xtransfer-bench-cache-") as scratch:
        root = Path(demo_root) if demo_root else generate_demo_data(Path(scratch) / "demo", train_size=6,
                                                                    eval_size=eval_size)
        if not (root / "XNLI-1.0" / "xnli.test.tsv").is_file():
            raise DataError(f"--demo-root {root}: no XNLI-1.0/xnli.test.tsv; point it at a demo data root "
                            "(<paths.outputs_root>/demo_data) or leave it out to generate one")
        tokenizer = train_tiny_tokenizer(TinySpec(tokenizer_files=str(root / "corpus" / "*.txt")))
        task = xnli_demo_task(root)
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            rows = len(load_features(task, "test", "de", tokenizer, Path(scratch) / "cache"))
            seconds.append(time.perf_counter() - start)
    return {"rows": rows, "first_s": seconds[0], "second_s": seconds[1], "ratio": seconds[0] / seconds[1]}


# ---------------------------------------------------------------- report

def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def table(setup: Setup, results: dict[str, Any], peak_name: str) -> str:
    ours, theirs = results["train"]["xtransfer"], results["train"]["transformers.Trainer"]
    budget = f"max {setup.max_tokens} tokens" if setup.max_tokens else f"{setup.batch_size} examples"
    lines = [
        f"model {setup.model} ({results['non_embedding_params'] / 1e6:.2f}M non-embedding params), "
        f"workload {setup.workload.name}, {results['examples']} examples, batches of {budget} (HF: "
        f"{setup.batch_size}), {setup.steps} timed steps after {setup.warmup} (best of {results['setup']['repeats']}), "
        f"precision {resolve(setup)}, "
        f"attention {setup.attn}{', compiled' if setup.compile else ''}",
        f"device {results['device']}; MFU peak: {peak_name}",
        "",
        f"{'training':<22}{'examples/s':>12}{'real tok/s':>12}{'padding':>9}{'epoch pad':>10}{'peak MiB':>10}"
        f"{'MFU':>8}",
    ]
    for r in (ours, theirs):
        lines.append(f"{r['name']:<22}{r['examples_per_s']:>12.1f}{r['real_tokens_per_s']:>12.0f}"
                     f"{r['padding_fraction']:>9.1%}{r['extra']['epoch_padding_fraction']:>10.1%}"
                     f"{fmt(r['peak_memory_mib'], '.0f'):>10}"
                     f"{fmt(r['mfu'], '.1%'):>8}")
    ratio = results["train"]["ratio"]
    lines.append(f"{'ratio xtransfer/HF':<22}{ratio['examples_per_s']:>11.2f}x{ratio['real_tokens_per_s']:>11.2f}x")
    if setup.device.type == "cpu":
        lines.append("(CPU peak memory is the process's peak RSS, cumulative: HF's figure includes ours)")
    ev = results.get("eval")
    if ev:
        lines += ["", f"{'evaluation':<22}{'examples/s':>12}{'real tok/s':>12}{'padding':>9}"]
        for name in ("sorted", "fixed max_length"):
            lines.append(f"{name:<22}{ev[name]['examples_per_s']:>12.1f}{ev[name]['real_tokens_per_s']:>12.0f}"
                         f"{ev[name]['padding_fraction']:>9.1%}")
        lines.append(f"{'ratio sorted/fixed':<22}{ev['ratio']:>11.2f}x")
    cache = results.get("feature_cache")
    if cache:
        lines += ["", f"tokenisation cache (xnli test de, {cache['rows']} rows): first load_features "
                      f"{cache['first_s']:.2f} s, second {cache['second_s']:.3f} s ({cache['ratio']:.0f}x)"]
    return "\n".join(lines)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "CPU") if Path("/proc/cpuinfo").exists() else "CPU"
    return f"{model}, {torch.get_num_threads()} threads"


def quiet() -> None:
    """The table is the output: no Lightning banners, HF log dicts or progress bars."""
    import logging
    import warnings

    import datasets
    import pytorch_lightning  # noqa: F401  (imported first: its loggers exist from then on)
    import transformers

    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("pytorch_lightning", "lightning")):
            logging.getLogger(name).setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message=".*(does not have many workers|val_dataloader|LeafSpec|litlogger).*")


def run(args: argparse.Namespace) -> dict[str, Any]:
    quiet()
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise XTransferError("--device cuda: no CUDA device is visible; use --device cpu")
    if args.attn == "flash_attention_2" and device.type != "cuda":
        raise XTransferError("--attn flash_attention_2 needs a CUDA device; use sdpa (the default) on a CPU")
    peak, peak_name = device_peak(device, args.peak_tflops)
    workload = WORKLOADS[args.workload]
    setup = Setup(args.model, workload, args.batch_size, args.max_tokens, args.steps, args.warmup, args.lr,
                  args.precision, device, args.num_workers, args.attn, args.compile, peak)
    # HF groups lengths in pools of min(rows // (4 x batch), 50) batches: 200 batches' rows make both pool 50.
    n = args.examples or max(setup.total, 200) * args.batch_size
    vocab = SHAPES[args.model]["vocab_size"]
    features = local_features(args.data, workload, n, vocab) if args.data else synthetic_features(workload, n, vocab)

    runs: dict[str, list[SideResult]] = {"xtransfer": [], "transformers.Trainer": []}
    for _ in range(args.repeats):  # alternating, so a burst of load on a shared machine hits both sides
        ours, module = run_xtransfer(setup, features)
        runs["xtransfer"].append(ours)
        runs["transformers.Trainer"].append(run_transformers(setup, features))
    ours, theirs = (max(r, key=lambda x: x.real_tokens_per_s) for r in runs.values())
    ratio = {k: getattr(ours, k) / getattr(theirs, k) for k in ("examples_per_s", "real_tokens_per_s")}
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"), "command": " ".join(["python -m xtransfer.bench", *sys.argv[1:]]),
        "device": device_name(device), "peak": peak_name, "setup": {**vars(args)},
        "examples": len(features), "non_embedding_params": ours.extra["non_embedding_params"],
        "train": {"xtransfer": asdict(ours), "transformers.Trainer": asdict(theirs), "ratio": ratio,
                  "real_tokens_per_s_of_each_repeat": {k: [x.real_tokens_per_s for x in r] for k, r in runs.items()}},
    }
    if not args.skip_eval:
        results["eval"] = eval_throughput(setup, module, features, args.eval_batch_size)
    if not args.skip_cache:
        results["feature_cache"] = feature_cache(args.demo_root, args.cache_rows)
    results["table"] = table(setup, results, peak_name)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m xtransfer.bench", description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(SHAPES), default="tiny")
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="mnli")
    p.add_argument("--data", help="a featurized split saved by the feature cache (default: generated rows)")
    p.add_argument("--examples", type=int, help="rows to draw batches from (default: max(steps + warmup, 200) "
                   "x batch size, so that HF's length grouping pools 50 batches as ours does)")
    p.add_argument("--steps", type=int, default=50, help="timed optimizer steps per side (50: HF walks one "
                   "whole length-sorted pool, longest to shortest, so its steps see every length)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-tokens", type=int, help="token-budget batches on xtransfer's side (padded tokens)")
    p.add_argument("--repeats", type=int, default=1, help="alternate the sides this many times, keep each "
                   "side's best run (steadier figures on a shared machine)")
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--precision", choices=["auto", "32-true", "bf16-mixed", "16-mixed"], default="auto",
                   help="auto: bf16-mixed on a GPU that has it, else 32-true (as the pipeline)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--num-workers", type=int, default=0, help="dataloader workers, both sides")
    p.add_argument("--attn", choices=["sdpa", "eager", "flash_attention_2"], default="sdpa",
                   help="attention implementation, both sides (flash_attention_2: CUDA and the flash-attn package; "
                   "it drops padding inside attention)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model, both sides")
    p.add_argument("--peak-tflops", type=float, help="the device's peak for MFU (default: the built-in table)")
    p.add_argument("--eval-batch-size", type=int, default=128)
    p.add_argument("--skip-eval", action="store_true")
    p.add_argument("--skip-cache", action="store_true")
    p.add_argument("--demo-root", help="an existing demo data root for the cache benchmark (default: generate one)")
    p.add_argument("--cache-rows", type=int, default=500, help="XNLI test rows per language when generating")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "eval_batch_size", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        results = run(args)
    except XTransferError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(results["table"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
