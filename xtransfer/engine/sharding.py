"""Sharded full fine-tuning (trainer.strategy=fsdp): torch FSDP2 (`fully_shard`) through Lightning's
ModelParallelStrategy, which, unlike its FSDPStrategy, also runs on the CPU over gloo (the tests).

Each transformer layer of the backbone (the classes transformers lists in the model's
`_no_split_modules`) is one FSDP unit; the rest (embeddings, heads) is the root unit. Weights, gradients
and AdamW's state are split over the ranks; a layer's weights are gathered only while it runs. On a GPU
with bf16-mixed, gathered weights are bf16 and gradients are reduced in fp32.

Not in the stage key: the ranks still train the full batch of every rank with averaged gradients, as DDP
does (the ranks count is in the key); only the order of floating-point sums differs.
The published stage is one ordinary checkpoint: the full state dict is gathered on rank 0, loaded into an
unsharded copy of the model and saved as DDP's would be, so the next stage loads it unchanged.
Resume checkpoints are not built for this path (refused while trainer.checkpoint_every_n_steps is set).
"""
from __future__ import annotations

import logging
from typing import Callable

import torch
from torch import nn

from xtransfer.config.schema import CellSpec, RuntimeSpec
from xtransfer.engine.module import TransferModule
from xtransfer.errors import ConfigError, XTransferError

log = logging.getLogger(__name__)


def check(cell: CellSpec, ranked: bool) -> None:
    """Refuse the settings this path cannot honour, before any rank starts (ranked: the cell has > 1 rank)."""
    runtime = cell.runtime
    if runtime.strategy != "fsdp":
        if runtime.activation_checkpointing:
            raise ConfigError("trainer.activation_checkpointing=true is built for sharded training only: "
                              "set trainer.strategy=fsdp (with trainer.devices>=2), or leave it false")
        return
    if not ranked:
        raise ConfigError("trainer.strategy=fsdp shards the model over the cell's ranks, but it has one: "
                          "set trainer.devices>=2 (or run it on several srun tasks), or trainer.strategy=ddp")
    if cell.model.peft == "lora":
        raise ConfigError("trainer.strategy=fsdp is for full fine-tuning; model.peft=lora trains adapters "
                          "that fit one device: set trainer.strategy=ddp (or model.peft=none)")
    mixed = cell.mlm is not None and cell.mlm.mode == "mixed"
    if (cell.intermediate is not None and cell.intermediate.mode == "multitask") or mixed:
        raise ConfigError("trainer.strategy=fsdp trains one task per stage: a multi-task step trains one head, "
                          "and ranks holding different heads cannot reduce their shards together; use "
                          "trainer.strategy=ddp for " + ("mlm=mixed" if mixed else "intermediate=multitask"))
    if runtime.checkpoint_every_n_steps is not None:
        raise ConfigError("trainer.strategy=fsdp has no resume checkpoints (a stopped job trains the stage "
                          "again from its start): set trainer.checkpoint_every_n_steps=null")


def strategy(size: int):
    from pytorch_lightning.strategies import ModelParallelStrategy

    # save_distributed_checkpoint=False: any state dict Lightning takes is the full one, on rank 0.
    return ModelParallelStrategy(data_parallel_size=size, tensor_parallel_size=1, save_distributed_checkpoint=False)


def layers(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's transformer layers: instances of the classes its transformers model declares unsplittable."""
    inner = next((m for m in backbone.modules() if getattr(m, "_no_split_modules", None)), None)
    names = set(inner._no_split_modules) if inner is not None else set()
    found = [m for m in backbone.modules() if type(m).__name__ in names]
    if not found:
        raise XTransferError(f"trainer.strategy=fsdp: found no layer class to shard in {type(backbone).__name__} "
                             "(its transformers model lists none in _no_split_modules): use trainer.strategy=ddp")
    return found


class ShardedModule(TransferModule):
    """TransferModule whose weights Lightning's ModelParallelStrategy shards (configure_model)."""

    def __init__(self, *args, runtime: RuntimeSpec, bf16: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.activation_checkpointing, self.bf16 = runtime.activation_checkpointing, bf16

    def configure_model(self) -> None:
        from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

        if isinstance(self, FSDPModule):  # called again by a later trainer.validate
            return
        units = layers(self.encoder)
        name = type(units[0]).__name__  # before fully_shard renames the class
        if self.activation_checkpointing:
            inner = next(m for m in self.encoder.modules() if hasattr(m, "gradient_checkpointing_enable"))
            # non-reentrant: the recomputed forward gathers the layer's shards again, as FSDP2 expects
            inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
            if self.bf16 else MixedPrecisionPolicy()
        mesh = self.device_mesh
        for unit in units:
            fully_shard(unit, mesh=mesh, mp_policy=policy)
        fully_shard(self, mesh=mesh, mp_policy=policy)
        log.info("FSDP: %d %s units sharded over %d ranks%s", len(units), name, mesh.size(),
                 ", activation checkpointing" if self.activation_checkpointing else "")


def unsharded(module: nn.Module, fresh: Callable[[], tuple[nn.Module, dict[str, nn.Module]]]):
    """Every rank: gather the full weights. Rank 0 gets (encoder, heads) from fresh() (an unsharded copy
    of the model) holding them; the others None."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.get_rank() != 0:
        return None
    encoder, heads = fresh()
    nn.ModuleDict({"encoder": encoder, "heads": nn.ModuleDict(heads)}).load_state_dict(state, strict=True)
    return encoder, heads
