"""The backbone every family runs on: an encoder (XLM-R, mBERT, mDeBERTa) or a decoder-only LM (Qwen2.5,
BLOOM, Llama 3) behind one interface, `Backbone`.

- kind: `encoder` or `decoder` (AutoModel gives the base model either way: token states, no LM head).
- pooling: the sentence vector of classification and multiple choice: `first` token, `mean` over real
  tokens, or `last` non-pad token (decoders: the only token that has read the whole input; batches are
  right-padded, so it sits at length - 1).
- BERT-style segment ids: when the tokenizer produces token_type_ids and the model has a segment
  embedding, they are rebuilt from the [SEP]s of each row (what the tokenizer makes for a pair), so the
  cached features stay tokenizer output without them.
- A tokenizer without a pad token (Llama 3) gets `<|pad|>`; the new embedding row is the mean of the
  others (deterministic; padding is masked and, in a causal model, after every real token anyway).

A stage checkpoint's `model/xtransfer.json` says what it is: kind, pooling, attention implementation,
and for a LoRA stage (adapters.py) the base and the adapters to merge in order.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

META = "xtransfer.json"
DECODER_PAD = "<|pad|>"
POOLER_TYPES = {"bert", "roberta", "xlm-roberta", "xlm-roberta-xl"}   # base models built with a pooler by default


def segment_ids(input_ids: torch.Tensor, attention_mask: torch.Tensor, sep_id: int) -> torch.Tensor:
    """BERT's token_type_ids of `[CLS] A [SEP] B [SEP]`: 0 up to and including the first [SEP], then 1."""
    is_sep = (input_ids == sep_id).long()
    before = is_sep.cumsum(1) - is_sep          # [SEP]s strictly before each position
    return (before > 0).long() * attention_mask.long()


class Backbone(nn.Module):
    """A transformers base model with what the families ask of it: forward -> last_hidden_state
    (and hidden_states), config, word embeddings, kind and pooling."""

    def __init__(self, model: nn.Module, kind: str, pooling: str, attn_implementation: str | None,
                 sep_id: int | None, origin: dict[str, Any]):
        super().__init__()
        self.model = model
        self.kind, self.pooling, self.attn_implementation = kind, pooling, attn_implementation
        self.sep_id = sep_id          # set when segment ids are passed (BERT)
        self.origin = origin          # {"base": ref, "adapters": [dirs]}: what the weights were built from

    @property
    def config(self):
        return self.model.config

    @property
    def name_or_path(self) -> str:
        return getattr(self.model, "name_or_path", "")

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
        if self.sep_id is not None:
            kwargs["token_type_ids"] = segment_ids(input_ids, attention_mask, self.sep_id)
        if self.kind == "decoder":
            kwargs.setdefault("use_cache", False)   # nothing is generated: no key/value cache to build
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "pooling": self.pooling, "attn_implementation": self.attn_implementation}


def read_meta(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_base(source: str, revision: str | None, attn_implementation: str | None, frozen: bool = False) -> nn.Module:
    """transformers' base model (no task head, no pooler) of a hub id or a directory. Weights that train
    load in fp32 (the optimizer's updates would round away in bf16; trainer.precision casts the compute);
    a frozen base (LoRA) keeps its checkpoint's dtype (bf16 for the decoders), half the memory."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(source, revision=revision)
    kwargs: dict[str, Any] = {"add_pooling_layer": False} if config.model_type in POOLER_TYPES else {}
    kwargs["dtype"] = "auto" if frozen else torch.float32
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    return AutoModel.from_pretrained(source, revision=revision, **kwargs)


def ensure_pad_token(model: nn.Module, tokenizer) -> None:
    """Give a tokenizer without a pad token `<|pad|>`, and the model its embedding row (the mean row)."""
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": DECODER_PAD})
    embeddings = model.get_input_embeddings().weight
    if len(tokenizer) > embeddings.shape[0]:
        old = embeddings.shape[0]
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            weight = model.get_input_embeddings().weight
            weight[old:] = weight[:old].mean(0)
    model.config.pad_token_id = tokenizer.pad_token_id


def wrap(model: nn.Module, tokenizer, meta: dict[str, Any], origin: dict[str, Any]) -> Backbone:
    kind = meta.get("kind") or "encoder"
    pooling = meta.get("pooling") or ("last" if kind == "decoder" else "first")
    ensure_pad_token(model, tokenizer)
    segments = "token_type_ids" in tokenizer.model_input_names and getattr(model.config, "type_vocab_size", 0) > 1
    return Backbone(model, kind, pooling, meta.get("attn_implementation"),
                    tokenizer.sep_token_id if segments else None, origin)
