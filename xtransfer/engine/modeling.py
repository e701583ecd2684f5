"""Encoders and tokenizers: from the hub, from a local dir, or a tiny random-init XLM-R.

A stage checkpoint is a directory with the encoder (safetensors + config), its tokenizer,
and the stage's task heads (heads.safetensors); the next stage loads the encoder from it
and builds fresh heads.
"""
from __future__ import annotations

import glob
import logging
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from xtransfer.errors import ConfigError, XTransferError
from xtransfer.config.schema import TinySpec

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids 0..4


def train_tiny_tokenizer(spec: TinySpec):
    """A BPE tokenizer with XLM-R's special tokens and templates, trained on spec.tokenizer_files.

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
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[(t, tok.token_to_id(t)) for t in ("<s>", "</s>")])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   sep_token="</s>", pad_token="<pad>", cls_token="<s>", mask_token="<mask>",
                                   model_max_length=spec.max_position_embeddings - 2)


def build_tiny(spec: TinySpec, out_dir: Path) -> None:
    """Train the tokenizer, random-init an XLM-R-architecture encoder, save both to out_dir."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    tokenizer = train_tiny_tokenizer(spec)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads, intermediate_size=spec.intermediate_size,
        max_position_embeddings=spec.max_position_embeddings, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(spec.init_seed)
    encoder = XLMRobertaModel(config, add_pooling_layer=False)
    save_checkpoint(out_dir, encoder, tokenizer, {})


def load_encoder(source: str, revision: str | None = None):
    """(encoder, tokenizer) from a hub id (pinned revision) or a checkpoint directory."""
    from transformers import AutoModel, AutoTokenizer

    if Path(source).is_dir() and not (Path(source) / "config.json").is_file():
        raise XTransferError(f"model directory '{source}' has no config.json: set model.name_or_path to a "
                             "directory saved by transformers (config.json, weights, tokenizer files)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        encoder = AutoModel.from_pretrained(source, revision=revision, add_pooling_layer=False)
    except (OSError, ValueError, SafetensorError) as e:
        if Path(source).exists():  # a local dir (or a stage checkpoint): its files are damaged or unreadable
            raise XTransferError(
                f"could not load the model directory '{source}': {type(e).__name__}: {e}\n  Its weights or "
                "tokenizer files are damaged, truncated or unreadable: copy the model again (or save it with "
                "transformers' save_pretrained), or point model.name_or_path at another copy.") from None
        raise XTransferError(
            f"could not load hub model '{source}'" + (f" @ {revision}" if revision else "") + f": {e}\n"
            "  Offline? Download it where the hub is reachable (hf download "
            f"{source} --revision {revision}) into the HF cache, or set model.name_or_path=<local dir>.") from None
    if not tokenizer.is_fast:
        raise ConfigError(f"'{source}' has no fast tokenizer; xtransfer needs offsets and a fast tokenizer")
    return encoder, tokenizer


def save_checkpoint(out_dir: Path, encoder: nn.Module, tokenizer, heads: dict[str, nn.Module]) -> None:
    encoder.save_pretrained(out_dir / "model", safe_serialization=True)
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
