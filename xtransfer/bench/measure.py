"""The step clock and what is derived from it: FLOPs and MFU, padding, peak memory, the device's peak."""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from xtransfer.errors import XTransferError

# Dense (no sparsity) bf16 tensor-core peaks, TFLOPS, from the vendors' data sheets. First match wins.
PEAK_TFLOPS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0)]


def pad_fraction(lengths: list[int], batches: list[list[int]]) -> float:
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return 1 - sum(lengths[i] for b in batches for i in b) / padded


def non_embedding_params(model: torch.nn.Module) -> int:
    # XLM-R's embeddings.*, a decoder's embed_tokens; LoRA's adapters count (frozen weights too: MFU's N)
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings." not in n and "embed_tokens" not in n)


def train_flops(n_params: int, layers: int, hidden: int, real_tokens: float, sum_sq_lengths: float) -> float:
    """6 N T + 12 L H sum_i s_i^2: see the docstring of xtransfer/bench/__main__.py."""
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


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "CPU") if Path("/proc/cpuinfo").exists() else "CPU"
    return f"{model}, {torch.get_num_threads()} threads"
