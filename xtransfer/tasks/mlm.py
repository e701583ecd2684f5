"""Masked language modelling (continued multilingual MLM, alone or mixed into intermediate training).

Canonical row: text. Features: token sequences packed to task.max_length, plus the few
tokenizer facts that masking needs (mask id, vocabulary size, special ids), because a
family's collate only receives the pad id.

Masking is BERT's: 15% of the non-special, non-pad tokens are selected; of those 80% become
<mask>, 10% a random token, 10% stay. It happens in `forward`, not in `collate`, because only
forward knows whether the model is training (encoder.training):
  - training: a fresh mask every time a batch is seen, drawn from the device's global RNG,
    which Lightning's seed_everything seeds, so a run is reproducible;
  - evaluation: a fixed mask per example, from a generator seeded by its row index and
    drawn over its own length, so the mask does not depend on batching or on training.

The head is XLM-R's LM head (dense -> gelu -> LayerNorm -> decoder tied to the input word
embeddings, + bias). Logits are computed only at the selected positions: with a 250k
vocabulary, full-sequence logits would dominate the cost of a step.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from xtransfer.errors import ConfigError
from xtransfer.config.schema import TaskSpec
from xtransfer.tasks.base import Family, pad, register

log = logging.getLogger(__name__)

MASK_PROB = 0.15       # share of the maskable tokens that are predicted
MASK_TOKEN_PROB = 0.8  # of those: replaced by <mask>
RANDOM_TOKEN_PROB = 0.1  # of those: replaced by a random token (the remaining 10% stay unchanged)
IGNORE = -100


class LMHead(nn.Module):
    """XLM-R's lm_head without its decoder weight, which is the encoder's word embedding matrix.

    Parameter names match the hub checkpoint's lm_head.{dense,layer_norm,bias}, so those load as is.
    """

    def __init__(self, hidden_size: int, vocab_size: int, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden_states: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(F.gelu(self.dense(hidden_states)))
        return F.linear(x, word_embeddings, self.bias)


@dataclass
class MaskedLMOutputs:
    logits: torch.Tensor    # (masked tokens, vocab): only the selected positions
    targets: torch.Tensor   # (masked tokens,) original token ids
    rows: torch.Tensor      # (masked tokens,) batch position of each masked token


def pack(pieces: Iterable[list[int]], budget: int) -> Iterator[list[int]]:
    """Greedy packing of consecutive lines into sequences of at most `budget` tokens.

    As RoBERTa's FULL-SENTENCES: whole lines are packed one after the other (short demo or
    Tatoeba-like lines fill a sequence instead of wasting it on padding); a line longer than
    the budget (a Wikipedia article) is cut into budget-sized chunks, its tail packed on.
    Packing runs within one featurize batch (1000 rows), so it is deterministic.
    """
    current: list[int] = []
    for line in pieces:
        for start in range(0, len(line), budget):
            chunk = line[start:start + budget]
            if len(current) + len(chunk) > budget:
                yield current
                current = []
            current += chunk
    if current:
        yield current


def mask_tokens(input_ids: torch.Tensor, maskable: torch.Tensor, mask_id: int, select_u: torch.Tensor,
                action_u: torch.Tensor, random_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking given the random draws (uniforms in [0, 1) and random token ids, one per position).

    Returns the corrupted input ids and the boolean mask of the selected (to be predicted) positions.
    """
    selected = maskable & (select_u < MASK_PROB)
    to_mask = selected & (action_u < MASK_TOKEN_PROB)
    to_random = selected & (action_u >= MASK_TOKEN_PROB) & (action_u < MASK_TOKEN_PROB + RANDOM_TOKEN_PROB)
    corrupted = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    return torch.where(to_random, random_ids, corrupted), selected


def training_draws(shape: torch.Size, vocab_size: int, device) -> tuple[torch.Tensor, ...]:
    """Fresh draws from the device's global RNG (seeded by seed_everything): a new mask each time."""
    return (torch.rand(shape, device=device), torch.rand(shape, device=device),
            torch.randint(vocab_size, shape, device=device))


def fixed_draws(rows: list[int], lengths: list[int], width: int, vocab_size: int, device) -> tuple[torch.Tensor, ...]:
    """Evaluation draws: each example's own generator (seeded by its row) over its own length."""
    select = torch.ones(len(rows), width)  # 1.0: never selected (padding)
    action = torch.ones(len(rows), width)
    random_ids = torch.zeros(len(rows), width, dtype=torch.long)
    for i, (row, length) in enumerate(zip(rows, lengths)):
        g = torch.Generator().manual_seed(int(row))
        select[i, :length] = torch.rand(length, generator=g)
        action[i, :length] = torch.rand(length, generator=g)
        random_ids[i, :length] = torch.randint(vocab_size, (length,), generator=g)
    return select.to(device), action.to(device), random_ids.to(device)


def causal_lm(encoder: nn.Module, head: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor):
    """A decoder's MLM stage is causal LM: each real token but the first is predicted from the tokens
    before it (no corruption); scored like MLM (accuracy, perplexity over the predicted tokens)."""
    hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    selected = attention_mask[:, 1:].bool()
    logits = head(hidden[:, :-1][selected], encoder.get_input_embeddings().weight)
    return MaskedLMOutputs(logits=logits, targets=input_ids[:, 1:][selected], rows=selected.nonzero()[:, 0])


def pretrained_lm_head(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """lm_head.{dense,layer_norm,bias} from the safetensors the encoder was loaded from, or {}.

    AutoModel drops the LM head of a hub XLM-R; continued MLM should start from it rather
    than from a random head. Stage checkpoints hold the bare encoder (heads do not flow
    between stages), so an MLM stage started from one gets a fresh head.
    """
    from safetensors import safe_open
    from transformers.utils import cached_file

    source = getattr(encoder, "name_or_path", "") or ""
    if not source:
        return {}
    revision = getattr(encoder.config, "_commit_hash", None)
    try:
        path = cached_file(source, "model.safetensors", revision=revision,
                           _raise_exceptions_for_missing_entries=False)
    except OSError:  # offline with nothing cached, or a sharded checkpoint: not worth failing the stage
        path = None
    if path is None:
        return {}
    # the vocabulary bias is saved as lm_head.bias, or only as its tied alias lm_head.decoder.bias
    wanted = {"dense.weight": ("dense.weight",), "dense.bias": ("dense.bias",),
              "layer_norm.weight": ("layer_norm.weight",), "layer_norm.bias": ("layer_norm.bias",),
              "bias": ("bias", "decoder.bias")}
    with safe_open(path, framework="pt") as f:
        keys = set(f.keys())
        found = {name: next((f"lm_head.{k}" for k in aliases if f"lm_head.{k}" in keys), None)
                 for name, aliases in wanted.items()}
        if None in found.values():
            return {}
        return {name: f.get_tensor(key) for name, key in found.items()}


@register
class MaskedLM(Family):
    name = "mlm"
    main_metric = "acc"
    prediction_suffix = ".tsv"
    packs_rows = True   # consecutive lines share a sequence

    def normalize(self, record, task: TaskSpec, aliases):
        text = record["text"]
        if not isinstance(text, str):
            raise ValueError(f"text is {type(text).__name__}, expected a string")
        return {"text": text} if text.strip() else None

    def featurize(self, rows, tokenizer, task: TaskSpec):
        budget = task.max_length - 2  # <s> ... </s>
        if budget < 1:
            raise ConfigError(f"task '{task.name}': max_length {task.max_length} leaves no room between <s> and </s>")
        pieces = tokenizer(rows["text"], add_special_tokens=False)["input_ids"]
        # decoders' tokenizers (Qwen2.5, BLOOM, Llama) have no cls/sep: their bos/eos, or nothing, frame a chunk
        first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        ids = [[t for t in (first, *chunk, last) if t is not None] for chunk in pack(pieces, budget)]
        n = len(ids)
        # Constant columns: the tokenizer facts masking needs (collate only gets the pad id).
        return {"input_ids": ids, "length": [len(x) for x in ids], "mask_id": [tokenizer.mask_token_id] * n,
                "vocab_size": [len(tokenizer)] * n, "special_ids": [sorted(tokenizer.all_special_ids)] * n}

    def collate(self, features, pad_id):
        input_ids = pad([f["input_ids"] for f in features], pad_id)
        special = torch.tensor(features[0]["special_ids"] + [pad_id], dtype=torch.long)
        return {
            "input_ids": input_ids,
            "attention_mask": (input_ids != pad_id).long(),
            "maskable": ~torch.isin(input_ids, special),
            "lengths": [len(f["input_ids"]) for f in features],
            "mask_id": features[0]["mask_id"],
            "vocab_size": features[0]["vocab_size"],
        }

    def build_head(self, hidden_size, task):
        raise ConfigError("the mlm head is tied to the encoder's word embeddings and sized by its vocabulary: "
                          "build it with head_for(encoder, task)")

    def head_for(self, encoder: nn.Module, task: TaskSpec) -> LMHead:
        """A head for this encoder: XLM-R's pretrained LM head when the start checkpoint has one."""
        config = encoder.config
        vocab = encoder.get_input_embeddings().weight.shape[0]   # a decoder's may have grown a pad token
        head = LMHead(config.hidden_size, vocab, getattr(config, "layer_norm_eps", 1e-5))
        state, source = pretrained_lm_head(encoder), getattr(encoder, "name_or_path", "") or "the encoder"
        if state and state["bias"].shape == head.bias.shape:
            head.load_state_dict(state)
            log.info("mlm: LM head initialised from the pretrained lm_head of %s", source)
        else:
            log.info("mlm: no pretrained lm_head in %s; a fresh LM head", source)
        return head

    def forward(self, encoder, head, batch):
        input_ids = batch["input_ids"]
        if getattr(encoder, "kind", "encoder") == "decoder":  # continued causal-LM training: next-token prediction
            return causal_lm(encoder, head, input_ids, batch["attention_mask"])
        if encoder.training:
            draws = training_draws(input_ids.shape, batch["vocab_size"], input_ids.device)
        else:
            draws = fixed_draws(batch["row"], batch["lengths"], input_ids.shape[1], batch["vocab_size"],
                                input_ids.device)
        corrupted, selected = mask_tokens(input_ids, batch["maskable"], batch["mask_id"], *draws)
        hidden = encoder(input_ids=corrupted, attention_mask=batch["attention_mask"]).last_hidden_state
        logits = head(hidden[selected], encoder.get_input_embeddings().weight)  # gather, then project
        return MaskedLMOutputs(logits=logits, targets=input_ids[selected], rows=selected.nonzero()[:, 0])

    def loss(self, outputs, batch):
        # Mean over the batch's masked tokens; a batch with none (short lines) contributes 0, not NaN.
        total = F.cross_entropy(outputs.logits.float(), outputs.targets, reduction="sum")
        return total / max(outputs.targets.numel(), 1)

    def predict(self, outputs, batch):
        """Per example: (masked tokens, correctly predicted, summed negative log-likelihood)."""
        nll = F.cross_entropy(outputs.logits.float(), outputs.targets, reduction="none")
        correct = (outputs.logits.argmax(-1) == outputs.targets).float()
        size = len(batch["row"])
        counts = torch.bincount(outputs.rows, minlength=size)
        hits = torch.bincount(outputs.rows, weights=correct, minlength=size)
        losses = torch.bincount(outputs.rows, weights=nll, minlength=size)
        return [(int(n), int(c), float(s)) for n, c, s in zip(counts.tolist(), hits.tolist(), losses.tolist())]

    def decode(self, outputs, features, task):
        return list(outputs)

    def score(self, predictions, features, task):
        masked = sum(p[0] for p in predictions)
        if not masked:
            raise ValueError("no masked token in the evaluation split: it is too small to score")
        correct, nll = sum(p[1] for p in predictions), sum(p[2] for p in predictions)
        return {"acc": 100.0 * correct / masked, "perplexity": math.exp(nll / masked)}

    def write_predictions(self, predictions, path: Path) -> None:
        """One line per packed sequence: masked tokens, correct predictions, summed NLL (tab-separated)."""
        path.write_text("".join(f"{n}\t{c}\t{s:.4f}\n" for n, c, s in predictions), encoding="utf-8")
