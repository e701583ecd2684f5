"""Backbones and tokenizers: from the hub, from a local dir, or a tiny random-init model (XLM-R, BERT
or Qwen2 architecture).

A stage checkpoint is a directory with the backbone (safetensors + config, or a LoRA adapter and the
identity of its base: adapters.py), its tokenizer and xtransfer.json (kind, pooling: backbone.py), and the
stage's task heads (heads.safetensors); the next stage loads the backbone from it and builds fresh heads.
"""
from __future__ import annotations

import glob
import json
import logging
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from xtransfer.errors import ConfigError, XTransferError
from xtransfer.config.schema import ModelSpec, TinySpec
from xtransfer.engine import adapters
from xtransfer.engine.backbone import META, Backbone, load_base, read_meta, wrap

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids 0..4


def train_tiny_tokenizer(spec: TinySpec):
    """A BPE tokenizer with XLM-R's special tokens and templates, trained on spec.tokenizer_files
    (architecture bert: BERT's pair template `<s> A </s> B </s>` with token_type_ids; qwen2: no pad token,
    as Llama 3 has none, so loading adds one).

    BPE rather than XLM-R's Unigram: the tokenizers library's Unigram trainer orders tied
    pieces differently from run to run, and the tiny model's stage key promises one tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    files = sorted(glob.glob(spec.tokenizer_files))
    if not files:
        raise ConfigError(f"model.tiny.tokenizer_files matches no file: {spec.tokenizer_files} "
                          f"(the demo writes them with data=demo; otherwise point it at plain-text files)")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=spec.vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tok.train(files, trainer)
    bert = spec.architecture == "bert"
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1" if bert else "<s> $A </s> </s> $B </s>",
        special_tokens=[(t, tok.token_to_id(t)) for t in ("<s>", "</s>")])
    inputs = ["input_ids", "token_type_ids", "attention_mask"] if bert else ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   sep_token="</s>", cls_token="<s>", mask_token="<mask>", model_input_names=inputs,
                                   pad_token=None if spec.architecture == "qwen2" else "<pad>",
                                   model_max_length=spec.max_position_embeddings - 2)


def build_tiny(spec: TinySpec, out_dir: Path) -> None:
    """Train the tokenizer, random-init a model of spec.architecture, save both to out_dir."""
    import transformers as tf

    tokenizer = train_tiny_tokenizer(spec)
    shape = dict(vocab_size=len(tokenizer), hidden_size=spec.hidden_size, num_hidden_layers=spec.num_hidden_layers,
                 num_attention_heads=spec.num_attention_heads, intermediate_size=spec.intermediate_size,
                 max_position_embeddings=spec.max_position_embeddings, bos_token_id=tokenizer.bos_token_id,
                 eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(spec.init_seed)
    if spec.architecture == "qwen2":
        model = tf.Qwen2Model(tf.Qwen2Config(**shape, num_key_value_heads=max(spec.num_attention_heads // 2, 1),
                                             tie_word_embeddings=True))
    elif spec.architecture == "bert":
        model = tf.BertModel(tf.BertConfig(**shape, type_vocab_size=2, pad_token_id=tokenizer.pad_token_id),
                             add_pooling_layer=False)
    else:
        model = tf.XLMRobertaModel(tf.XLMRobertaConfig(**shape, type_vocab_size=1, pad_token_id=tokenizer.pad_token_id),
                                   add_pooling_layer=False)
    kind = "decoder" if spec.architecture == "qwen2" else "encoder"
    save_checkpoint(out_dir, model, tokenizer, {})
    (out_dir / "model" / META).write_text(json.dumps({"kind": kind}) + "\n", encoding="utf-8")


def spec_settings(model: ModelSpec | None) -> dict:
    return {} if model is None else {"kind": model.kind, "pooling": model.pooling,
                                     "attn_implementation": model.attn_implementation}


def load_encoder(source: str, revision: str | None = None, model: ModelSpec | None = None, train: bool = False):
    """(backbone, tokenizer) from a hub id (pinned revision) or a checkpoint directory. `model` (the cell's
    settings) overrides what a checkpoint's xtransfer.json says; with train and model.peft=lora, the
    backbone gets fresh LoRA adapters."""
    from transformers import AutoTokenizer

    meta = read_meta(Path(source)) if Path(source).is_dir() else {}
    if Path(source).is_dir() and not (Path(source) / "config.json").is_file() and "adapters" not in meta:
        raise XTransferError(f"model directory '{source}' has no config.json: set model.name_or_path to a "
                             "directory saved by transformers (config.json, weights, tokenizer files)")
    settings = meta | spec_settings(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        if "adapters" in meta:
            base, origin = adapters.load_composed(Path(source), meta, settings.get("attn_implementation"), tokenizer)
        else:
            frozen = getattr(model, "peft", None) == "lora"   # LoRA: the base never trains
            base = load_base(source, revision, settings.get("attn_implementation"), frozen=frozen)
            ref = {"dir": str(Path(source).resolve())} if Path(source).is_dir() else {"hub": source, "revision": revision}
            origin = {"base": ref, "adapters": []}
    except (OSError, ValueError, SafetensorError) as e:
        if Path(source).exists():  # a local dir (or a stage checkpoint): its files are damaged or unreadable
            raise XTransferError(
                f"could not load the model directory '{source}': {type(e).__name__}: {e}\n  Its weights or "
                "tokenizer files are damaged, truncated or unreadable: copy the model again (or save it with "
                "transformers' save_pretrained), or point model.name_or_path at another copy.") from None
        gated = any(w in str(e).lower() for w in ("gated", "401", "restricted"))
        raise XTransferError(
            f"could not load hub model '{source}'" + (f" @ {revision}" if revision else "") + f": {e}\n"
            + ("  A gated model (Llama 3): accept its license on its hub page, then export HF_TOKEN=<a read token> "
               "(or `hf auth login`).\n" if gated else "") +
            "  Offline? Download it where the hub is reachable (hf download "
            f"{source} --revision {revision}) into the HF cache, or set model.name_or_path=<local dir>.") from None
    if not tokenizer.is_fast:
        raise ConfigError(f"'{source}' has no fast tokenizer; xtransfer needs offsets and a fast tokenizer")
    backbone = wrap(base, tokenizer, settings, origin)
    if train and model is not None and model.peft == "lora":
        adapters.add_lora(backbone, model.lora)
    return backbone, tokenizer


def save_checkpoint(out_dir: Path, encoder: nn.Module, tokenizer, heads: dict[str, nn.Module]) -> None:
    """Backbone (or its LoRA adapter), tokenizer, xtransfer.json and heads into out_dir."""
    if adapters.is_lora(encoder):
        adapters.save_lora(out_dir / "model", encoder)
    else:
        inner = encoder.model if isinstance(encoder, Backbone) else encoder
        inner.save_pretrained(out_dir / "model", safe_serialization=True)
        if isinstance(encoder, Backbone):
            (out_dir / "model" / META).write_text(json.dumps(encoder.meta()) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(out_dir / "model")
    if heads:
        state = {f"{task}.{k}": v.detach().cpu().contiguous()
                 for task, head in heads.items() for k, v in head.state_dict().items()}
        save_file(state, str(out_dir / "heads.safetensors"))


def load_head(checkpoint_dir: Path, task: str, head: nn.Module) -> nn.Module:
    try:
        state = load_file(str(checkpoint_dir / "heads.safetensors"))
    except (OSError, SafetensorError) as e:
        raise XTransferError(f"could not load {checkpoint_dir / 'heads.safetensors'}: {type(e).__name__}: {e} "
                             f"(a damaged stage: delete {checkpoint_dir} to train it again)") from None
    prefix = f"{task}."
    head.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    return head
