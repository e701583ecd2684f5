"""The numeric precision a stage trains in (part of its key): `auto` resolved on the machine that runs it."""
from __future__ import annotations

import torch

from xtransfer.config.schema import RuntimeSpec


def resolve_precision(runtime: RuntimeSpec) -> str:
    """auto: bf16-mixed on a GPU that has it, else full precision."""
    if runtime.precision != "auto":
        return runtime.precision
    on_gpu = runtime.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"
