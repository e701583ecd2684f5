"""LoRA (peft) stages: a stage stores its adapter, its heads and the identity of what it builds on, never a
copy of the base weights (a 7B stage is megabytes).

`model/xtransfer.json` of a LoRA stage names its base (a hub id and revision, a stage of this cache, or a
directory) and the adapters to merge into it, in order, the stage's own last ("."). Stage paths are
relative to the stage store's root (a stage's model dir is <root>/<kind>/<name>-<key>/model), so a cache
moved elsewhere still loads. Loading merges every adapter into the base; training a later stage puts a
fresh adapter on that merged model, so a target stage trains its own adapter on the base with the
intermediate's adapter merged in, and lists both.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from xtransfer.config.schema import LoraSpec
from xtransfer.engine.backbone import META, Backbone, load_base
from xtransfer.errors import ConfigError

SELF = "."


def store_root(model_dir: Path) -> Path:
    return Path(model_dir).resolve().parents[2]


def add_lora(backbone: Backbone, lora: LoraSpec, where: str = "model.lora.target_modules") -> None:
    """Freeze the backbone and train LoRA adapters on its `target_modules` linear layers."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules), bias="none")
    try:
        backbone.model = get_peft_model(backbone.model, config)
    except ValueError as e:
        names = sorted({n.rsplit(".", 1)[-1] for n, m in backbone.model.named_modules() if isinstance(m, nn.Linear)})
        raise ConfigError(f"{where}={list(lora.target_modules)}: {e}\n  The linear layers of this model are named "
                          f"{names}: set {where} to some of them") from None


def is_lora(backbone: nn.Module) -> bool:
    from peft import PeftModel

    return isinstance(getattr(backbone, "model", None), PeftModel)


def _stored_ref(base: dict[str, Any], root: Path) -> dict[str, Any]:
    if "dir" in base:
        path = Path(base["dir"]).resolve()
        if path.is_relative_to(root):
            return {"stage": str(path.relative_to(root))}
    return base


def _resolved_ref(base: dict[str, Any], root: Path) -> dict[str, Any]:
    return {"dir": str(root / base["stage"])} if "stage" in base else base


def save_lora(model_dir: Path, backbone: Backbone) -> None:
    """The adapter alone (peft's adapter_model.safetensors + adapter_config.json) and xtransfer.json."""
    # not the embeddings: peft would save the whole matrix when the vocabulary grew a pad token, and
    # loading rebuilds that row the same way (backbone.ensure_pad_token)
    backbone.model.save_pretrained(model_dir, save_embedding_layers=False)
    root = store_root(model_dir)
    upstream = [str(Path(a).resolve().relative_to(root)) for a in backbone.origin["adapters"]]
    meta = {**backbone.meta(), "base": _stored_ref(backbone.origin["base"], root), "adapters": [*upstream, SELF]}
    (Path(model_dir) / META).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def load_composed(model_dir: Path, meta: dict[str, Any], attn_implementation: str | None, tokenizer):
    """(base model with every adapter of the chain merged in order, origin)."""
    from peft import PeftModel

    from xtransfer.engine.backbone import ensure_pad_token

    root = store_root(model_dir)
    base = _resolved_ref(meta["base"], root)
    model = load_base(base.get("dir") or base["hub"], base.get("revision"), attn_implementation, frozen=True)
    ensure_pad_token(model, tokenizer)   # the stage's tokenizer has the pad token the base lacked
    adapters = [Path(model_dir).resolve() if a == SELF else root / a for a in meta["adapters"]]
    for adapter in adapters:
        if not (adapter / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{model_dir} builds on the adapter {adapter}, which is missing: delete "
                                    f"{Path(model_dir).parent} to train the chain again")
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model, {"base": base, "adapters": [str(a) for a in adapters]}
