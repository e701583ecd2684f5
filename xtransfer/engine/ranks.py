"""The ranks of a multi-rank cell: who they are, their process group, and the messages rank 0 sends.

Ranks come from outside (srun's SLURM_PROCID/SLURM_NTASKS, or torchrun-style RANK/WORLD_SIZE/LOCAL_RANK)
or from pipeline/ranked.py, which starts `trainer.devices` processes itself for a local cell. Either way
every rank runs the whole cell; the process group is made here, once, before the first stage, so ranks
can wait for each other between stages (a collective, not a file lock) and Lightning's DDP finds it
already made (it then neither makes another nor re-launches sys.argv, which inside a Hydra multirun would
start the whole sweep again).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from pytorch_lightning.plugins.environments import LightningEnvironment, SLURMEnvironment

# Between stages the other ranks wait while rank 0 may wait for another job's stage (its file lock)
# or evaluate: hours on XLM-R large. Collectives must not time out meanwhile.
WAIT = timedelta(days=7)


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int
    local_size: int
    source: str  # "slurm" (srun made the ranks), "env" (torchrun-style) or "local" (pipeline/ranked.py)

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def environment(self):
        """The Lightning cluster environment that reads these ranks (never one that launches processes)."""
        return SLURMEnvironment(auto_requeue=False) if self.source == "slurm" else LightningEnvironment()


_current: World | None = None
_signals = None


def current() -> World | None:
    """The world this process is a rank of, once joined (None: a one-rank cell)."""
    return _current


def external_world() -> World | None:
    """Ranks someone else started for this job: srun with several tasks, or torchrun."""
    env = os.environ
    if int(env.get("SLURM_NTASKS", "1")) > 1 and SLURMEnvironment.detect():
        size = int(env["SLURM_NTASKS"])
        per_node = int(env.get("SLURM_NTASKS_PER_NODE", str(size)).split("(")[0])
        return World(int(env["SLURM_PROCID"]), size, int(env.get("SLURM_LOCALID", "0")), per_node, "slurm")
    if int(env.get("WORLD_SIZE", "1")) > 1 and "RANK" in env:
        size = int(env["WORLD_SIZE"])
        return World(int(env["RANK"]), size, int(env.get("LOCAL_RANK", env["RANK"])),
                     int(env.get("LOCAL_WORLD_SIZE", str(size))), "env")
    return None


def join(world: World, on_gpu: bool) -> None:
    """Make the process group (gloo on CPU, NCCL on GPUs) and set what Lightning's environment reads."""
    global _current
    if world.source == "slurm":
        env = SLURMEnvironment()
        address, port = env.main_address, env.main_port
    else:
        address, port = os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ["MASTER_PORT"])
    os.environ.update(MASTER_ADDR=address, MASTER_PORT=str(port), LOCAL_RANK=str(world.local_rank),
                      NODE_RANK=str(world.rank // world.local_size))
    if on_gpu:
        torch.cuda.set_device(world.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if on_gpu else "gloo", init_method=f"tcp://{address}:{port}",
                                rank=world.rank, world_size=world.size, timeout=WAIT)
    global _signals
    # Signals are shared on a group of their own (gloo, CPU): its calls cannot interleave with the order of
    # Lightning's and DDP's collectives on the main group.
    _signals = dist.new_group(backend="gloo", timeout=WAIT)
    _current = world


def signals_group():
    return _signals


def leave() -> None:
    global _current, _signals
    if dist.is_initialized():
        dist.destroy_process_group()
    _current = _signals = None


def broadcast(message: Any = None) -> Any:
    """Rank 0's message to every rank (the others pass None and get it): they wait here, in a collective."""
    box = [message]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
