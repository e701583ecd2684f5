"""The benchmark's models, random init from architecture only: XLM-R shapes (encoders) and Qwen2.5 shapes
(decoders), each side's own class, optionally with LoRA (`--lora`: the settings of conf/model/<model>.yaml).

xtransfer's side is what fit_stage trains: the base model in a Backbone (last-token pooling for a decoder)
with peft adapters; the transformers.Trainer side is the task model class (…ForSequenceClassification /
…ForQuestionAnswering) under peft with the same adapters, its head trainable (peft's task types).
"""
from __future__ import annotations

from torch import nn

from xtransfer.bench.workloads import BOS_ID, EOS_ID, NLI_LABELS, PAD_ID, SHAPES, encoder_config
from xtransfer.config.schema import LoraSpec, spec_from_conf

DECODERS = {"tiny_decoder", "qwen_0_5b"}


def is_decoder(model: str) -> bool:
    return model in DECODERS


def model_config(model: str, attn: str = "sdpa"):
    if not is_decoder(model):
        return encoder_config(model, attn)
    from transformers import Qwen2Config

    return Qwen2Config(**SHAPES[model], max_position_embeddings=32768, tie_word_embeddings=True, pad_token_id=PAD_ID,
                       bos_token_id=BOS_ID, eos_token_id=EOS_ID, attn_implementation=attn)


def lora_spec(model: str) -> LoraSpec:
    return spec_from_conf(LoraSpec, f"model/{model}.yaml", "lora")


def our_model(model: str, config, lora: bool) -> nn.Module:
    """The base model as fit_stage trains it (a bare XLM-R encoder without LoRA, as before)."""
    from transformers import Qwen2Model, XLMRobertaModel

    from xtransfer.engine.adapters import add_lora
    from xtransfer.engine.backbone import Backbone

    decoder = is_decoder(model)
    base = Qwen2Model(config) if decoder else XLMRobertaModel(config, add_pooling_layer=False)
    if not (decoder or lora):
        return base
    backbone = Backbone(base, "decoder" if decoder else "encoder", "last" if decoder else "first", None, None,
                        {"base": {}, "adapters": []})
    if lora:
        add_lora(backbone, lora_spec(model))
    return backbone


def hf_model(model: str, config, family: str, lora: bool) -> nn.Module:
    import transformers as tf

    prefix = "Qwen2" if is_decoder(model) else "XLMRoberta"
    if family == "classification":
        config.num_labels = len(NLI_LABELS)
        out = getattr(tf, f"{prefix}ForSequenceClassification")(config)
    else:
        out = getattr(tf, f"{prefix}ForQuestionAnswering")(config)
    if lora:
        from peft import LoraConfig, get_peft_model

        spec = lora_spec(model)
        out = get_peft_model(out, LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                                             target_modules=list(spec.target_modules), bias="none",
                                             task_type="SEQ_CLS" if family == "classification" else "QUESTION_ANS"))
    return out
