"""The GPUs of this machine as the configs see them (no torch import: resolvers run at composition)."""
from __future__ import annotations

import os
from pathlib import Path


def visible_gpus() -> list[str]:
    """CUDA_VISIBLE_DEVICES when set, else the NVIDIA driver's list."""
    chosen = os.environ.get("CUDA_VISIBLE_DEVICES")
    if chosen is not None:
        return [g.strip() for g in chosen.split(",") if g.strip()]
    driver = Path("/proc/driver/nvidia/gpus")
    return [str(i) for i in range(len(list(driver.iterdir())))] if driver.is_dir() else []


def parallel_jobs() -> int:
    """hydra/launcher=local_parallel's default n_jobs: one cell per GPU; CPU only: two cells at once."""
    return len(visible_gpus()) or 2
