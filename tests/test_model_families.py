"""Every model family's tiny version (XLM-R, BERT, Qwen2 architectures), offline: each task family's head
runs on it; decoders pool the last real token; LoRA stages store adapters only and compose in a chain;
the stage key covers the backbone settings."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import compose_cfg
from xtransfer.cache.hashing import digest
from xtransfer.cache.stages import StageStore
from xtransfer.config.build import build_cell
from xtransfer.config.schema import LoraSpec
from xtransfer.engine.adapters import add_lora
from xtransfer.engine.backbone import segment_ids
from xtransfer.engine.features import load_features
from xtransfer.engine.modeling import load_encoder, save_checkpoint
from xtransfer.errors import ConfigError
from xtransfer.pipeline import keys
from xtransfer.pipeline.chain import pretrained_start
from xtransfer.pipeline.demo_data import ensure_demo_data
from xtransfer.tasks import get_family
from xtransfer.tasks.base import sentence_vector

TINY = ["tiny", "tiny_bert", "tiny_decoder"]
# (target or mlm override, family): one task of each family the demo has
TASKS = [("target=xnli", "classification"), ("target=xcopa", "multiple_choice"), ("target=xquad", "span"),
         ("target=udpos", "tagging"), ("target=tatoeba", "retrieval"), ("mlm=before", "mlm")]


def cell_for(workspace: Path, *overrides: str):
    return build_cell(compose_cfg(["experiment=demo", "logger=none", *overrides], workspace))


@pytest.fixture(scope="module")
def tiny_start(workspace):
    """model name -> (start dir, cell): the tiny models built as a run builds them, on the demo corpus."""
    out = {}
    for name in TINY:
        cell = cell_for(workspace, f"model={name}")
        ensure_demo_data(Path(cell.demo_data_root))
        start, _ = pretrained_start(cell.model, StageStore(Path(cell.cache_dir) / "stages"))
        out[name] = (start.source, cell)
    return out


@pytest.mark.parametrize("model", TINY)
def test_every_task_family_runs_on_every_tiny_family(workspace, tiny_start, model):
    source, _ = tiny_start[model]
    for override, family_name in TASKS:
        cell = cell_for(workspace, f"model={model}", override)
        encoder, tokenizer = load_encoder(source, None, cell.model, train=True)
        task = cell.mlm.part.task if family_name == "mlm" else cell.target.eval_task
        split, lang = ("train", "en") if family_name == "mlm" else (cell.target.eval_splits[-1], cell.target.languages[0])
        features = load_features(task, split, lang, tokenizer, cell.cache_dir)
        family = get_family(task.family)
        assert family.name == family_name
        rows = [dict(features[i], row=i) for i in range(4)]
        batch = family.collate(rows, tokenizer.pad_token_id) | {"row": list(range(4)), "task": task.name}
        if family_name == "retrieval":   # no head: mean-pooled hidden states of a middle layer
            states = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             output_hidden_states=True).hidden_states
            assert len(states) == 3 and torch.isfinite(states[1]).all()
            continue
        head = family.head_for(encoder, task)
        loss = family.loss(family.forward(encoder, head, batch), batch)
        loss.backward()
        assert torch.isfinite(loss) and loss.item() > 0, (model, family_name)
        grads = [p.grad for p in encoder.parameters() if p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), (model, family_name)


def test_decoder_pools_the_last_real_token_of_a_padded_batch(tiny_start):
    source, cell = tiny_start["tiny_decoder"]
    encoder, tokenizer = load_encoder(source, None, cell.model)
    assert encoder.kind == "decoder" and encoder.pooling == "last"
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.pad_token_id == len(tokenizer) - 1   # added, not in the base
    short, long = tokenizer("a cat")["input_ids"], tokenizer("the dog runs in the big park today")["input_ids"]
    batch = get_family("classification").collate([{"input_ids": short, "label": 0}, {"input_ids": long, "label": 0}],
                                                 tokenizer.pad_token_id)
    encoder.eval()
    with torch.no_grad():
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        pooled = sentence_vector(encoder, hidden, batch["attention_mask"])[:, 0]
        alone = encoder(input_ids=torch.tensor([short]), attention_mask=torch.ones(1, len(short))).last_hidden_state
    assert batch["attention_mask"][0].sum() == len(short) < len(long)
    assert torch.equal(pooled[0], hidden[0, len(short) - 1]) and torch.equal(pooled[1], hidden[1, len(long) - 1])
    assert torch.allclose(pooled[0], alone[0, -1], atol=1e-5)   # the padding after it changes nothing
    # hand-made states: last real token of [1 1 0] is position 1, mean of [1 1 0] averages 0 and 1
    states, mask = torch.arange(6.0).view(1, 3, 2), torch.tensor([[1, 1, 0]])
    for pooling, expected in [("last", [2.0, 3.0]), ("first", [0.0, 1.0]), ("mean", [1.0, 2.0])]:
        encoder.pooling = pooling
        assert sentence_vector(encoder, states, mask)[0, 0].tolist() == expected


def test_bert_segment_ids_are_what_the_tokenizer_makes(tiny_start):
    source, cell = tiny_start["tiny_bert"]
    encoder, tokenizer = load_encoder(source, None, cell.model)
    assert encoder.sep_id == tokenizer.sep_token_id
    enc = tokenizer(["the cat", "a dog runs"], ["sleeps on the mat", "fast"], padding=True, return_tensors="pt")
    assert enc["token_type_ids"].sum() > 0
    assert torch.equal(segment_ids(enc["input_ids"], enc["attention_mask"], tokenizer.sep_token_id),
                       enc["token_type_ids"])
    xlmr, _ = load_encoder(tiny_start["tiny"][0], None, tiny_start["tiny"][1].model)
    assert xlmr.sep_id is None   # XLM-R's tokenizer makes no token_type_ids


def _delta(adapter_dir: Path, module: str, scale: float) -> torch.Tensor:
    state = load_file(str(adapter_dir / "adapter_model.safetensors"))
    a = next(v for k, v in state.items() if module in k and "lora_A" in k)
    b = next(v for k, v in state.items() if module in k and "lora_B" in k)
    return scale * b @ a


def _lora_stage(root: Path, kind: str, source: str, model, seed: int) -> Path:
    """A LoRA stage as fit_stage saves one, with random (nonzero) adapter weights instead of training."""
    encoder, tokenizer = load_encoder(source, None, model, train=True)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.1)
    out = root / kind / f"x-{seed}"
    save_checkpoint(out, encoder, tokenizer, {})
    return out / "model"


def test_lora_chain_composes_and_stores_adapters_only(tiny_start, tmp_path):
    source, cell = tiny_start["tiny_decoder"]
    model = dataclasses.replace(cell.model, peft="lora")
    scale = model.lora.alpha / model.lora.rank
    name = "layers.0.self_attn.q_proj"
    base = load_encoder(source)[0].model.get_submodule(name).weight.detach().clone()

    inter = _lora_stage(tmp_path, "intermediate", source, model, seed=1)
    target = _lora_stage(tmp_path, "target", str(inter), model, seed=2)
    meta = json.loads((target / "xtransfer.json").read_text())
    assert meta["adapters"] == [f"intermediate/x-1/model", "."] and meta["kind"] == "decoder"
    d_inter, d_target = _delta(inter, name, scale), _delta(target, name, scale)
    assert d_inter.abs().sum() > 0 and d_target.abs().sum() > 0

    merged_inter = load_encoder(str(inter))[0].model.get_submodule(name).weight
    assert torch.allclose(merged_inter, base + d_inter, atol=1e-6)
    # a target stage trains its own adapter on the base with the intermediate's merged in
    training = load_encoder(str(inter), None, model, train=True)[0].model
    assert torch.allclose(training.get_submodule(f"base_model.model.{name}").base_layer.weight, base + d_inter, atol=1e-6)
    merged_target = load_encoder(str(target))[0].model.get_submodule(name).weight
    assert torch.allclose(merged_target, base + d_inter + d_target, atol=1e-6)

    size = lambda d: sum(p.stat().st_size for p in Path(d).iterdir() if "safetensors" in p.name)  # noqa: E731
    assert size(target) < size(source) / 10   # adapters only, not the base weights


def test_wrong_lora_target_modules_name_the_setting(tiny_start):
    source, cell = tiny_start["tiny_decoder"]
    encoder, _ = load_encoder(source, None, cell.model)
    with pytest.raises(ConfigError) as e:
        add_lora(encoder, LoraSpec(rank=4, alpha=8, dropout=0.0, target_modules=["query", "value"]))
    assert "model.lora.target_modules=['query', 'value']" in str(e.value) and "q_proj" in str(e.value)


def test_stage_key_covers_the_backbone_settings(workspace):
    def key(*overrides):
        cell = cell_for(workspace, "intermediate=mnli", *overrides)
        kind, name, parts, optim, sampling = keys.training_chain(cell)[0]
        return digest(keys.train_payload(cell, "start", parts, optim, sampling, "32-true"))

    plain = cell_for(workspace, "intermediate=mnli")
    assert keys.backbone_payload(plain.model) == {}   # keys of stages built before these settings stay the same
    variants = [key(), key("model.peft=lora"), key("model.peft=lora", "model.lora.rank=16"),
                key("model.peft=lora", "model.lora.target_modules=[query]"), key("model.lora.rank=16"),
                key("model.attn_implementation=eager"), key("model.pooling=mean")]
    assert variants[0] == variants[4]   # LoRA settings without LoRA change nothing
    assert len(set(variants)) == len(variants) - 1


def test_report_fits_gain_on_log_params_per_model_family(tmp_path):
    from tests.test_report import write_cell
    from xtransfer.report.build import write_report

    sweep = tmp_path / "sweep"
    # encoders gain 1 -> 5 points over two decades (slope 2); decoders 4 -> 1 over one decade (slope -3)
    for model, family, params, gain in [("enc_s", "xlmr", 10**6, 1.0), ("enc_l", "xlmr", 10**8, 5.0),
                                        ("dec_s", "qwen2.5", 10**7, 4.0), ("dec_l", "qwen2.5", 10**8, 1.0)]:
        for label, score in [("none", 50.0), ("mnli", 50.0 + gain)]:
            write_cell(sweep / f"{model}_{label}", label, "xnli", 0, score, model=model, num_parameters=params,
                       model_family=family)
    report = write_report([sweep], sweep)
    fits = report.tables["scaling"].set_index(["family", "label", "target"])
    assert fits.loc[("xlmr", "mnli", "xnli"), "slope"] == pytest.approx(2.0)
    assert fits.loc[("qwen2.5", "mnli", "xnli"), "slope"] == pytest.approx(-3.0)
    md = (sweep / "report.md").read_text()
    assert "| qwen2.5 / mnli | -3.00 |" in md and "| xlmr / mnli | +2.00 |" in md
    assert report.figures["scaling"].read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_scaling_xtremer_offline_corner_fits_each_family(tmp_path):
    from tests.test_cli import TINY_BUDGET, sweep_results, xtransfer

    proc = xtransfer("-m", "experiment=scaling_xtremer", "offline=demo", "logger=csv", "intermediate=none,mnli",
                     "target=xnli", "target.languages=[en,de]", *TINY_BUDGET[1:], outputs=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sweep_results(tmp_path)
    models = ("tiny", "tiny_large", "tiny_decoder", "tiny_decoder_large")
    assert {(r["model"], r["intermediate"]) for r in results} == {(m, i) for m in models for i in ("none", "mnli")}
    assert {r["model"]: r["model_family"] for r in results} == {
        "tiny": "tiny-xlmr", "tiny_large": "tiny-xlmr", "tiny_decoder": "tiny-qwen2", "tiny_decoder_large": "tiny-qwen2"}
    sizes = {r["model"]: r["num_parameters"] for r in results}
    assert sizes["tiny_decoder"] < sizes["tiny_decoder_large"] and sizes["tiny"] < sizes["tiny_large"]
    lora = [r for r in results if r["intermediate"] == "mnli"]
    assert all(s["kind"] != "intermediate" or Path(s["path"], "model", "adapter_model.safetensors").is_file()
               for r in lora for s in r["stages"])
    sweep = next(tmp_path.glob("multiruns/*/*"))
    md = (sweep / "report.md").read_text()
    assert "| tiny-qwen2 / mnli |" in md and "| tiny-xlmr / mnli |" in md and (sweep / "scaling.png").is_file()


@pytest.mark.parametrize("model", TINY)
def test_retrieval_drops_the_layers_above_the_pooled_state_of_every_family(tiny_start, model):
    from xtransfer.tasks.retrieval import drop_layers_above

    source, cell = tiny_start[model]
    encoder, tokenizer = load_encoder(source, None, cell.model)
    encoder.eval()
    ids = tokenizer(["the cat sleeps"], return_tensors="pt")
    with torch.no_grad():
        full = encoder(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], output_hidden_states=True)
        drop_layers_above(encoder, 1)
        cut = encoder(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], output_hidden_states=True)
    assert len(full.hidden_states) == 3 and len(cut.hidden_states) == (3 if model == "tiny_decoder" else 2)
    assert torch.allclose(cut.hidden_states[1], full.hidden_states[1], atol=1e-6)


def test_a_gated_hub_model_says_how_to_give_the_token(monkeypatch):
    import transformers

    from xtransfer.errors import XTransferError

    def refuse(*args, **kwargs):
        raise OSError("You are trying to access a gated repo. 401 Client Error")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    with pytest.raises(XTransferError) as e:
        load_encoder("meta-llama/Llama-3.1-8B")
    assert "export HF_TOKEN=<a read token>" in str(e.value) and "meta-llama/Llama-3.1-8B" in str(e.value)


def test_trained_weights_load_in_fp32_and_a_frozen_lora_base_keeps_its_dtype(tmp_path):
    """A bf16 checkpoint (as the decoders ship) trains fp32 weights under full fine-tuning: AdamW's updates
    would round away in bf16. A LoRA base is frozen and stays bf16 (half the memory)."""
    from transformers import Qwen2Config, Qwen2Model

    from xtransfer.engine.backbone import load_base

    config = Qwen2Config(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, intermediate_size=32)
    Qwen2Model(config).to(torch.bfloat16).save_pretrained(tmp_path)
    assert {p.dtype for p in load_base(str(tmp_path), None, None).parameters()} == {torch.float32}
    assert {p.dtype for p in load_base(str(tmp_path), None, None, frozen=True).parameters()} == {torch.bfloat16}
