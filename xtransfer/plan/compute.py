"""The compute a stage costs: tokens from row counts x tokens per example, FLOPs = 6·N·T to train
(2·N·T for validation and evaluation passes), GPU-hours at an assumed utilisation of a GPU's peak.

N is the encoder's non-embedding parameter count, from its architecture (layers L, hidden size H,
feed-forward size I): L·(4H² + 2HI + 9H + I) (attention and feed-forward weights and biases, two
layer norms). The figures the estimate assumes live in conf/plan/estimates.yaml.
"""
from __future__ import annotations

import math

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from xtransfer.config import CONF_DIR
from xtransfer.config.schema import ModelSpec, TaskSpec, TrainPart
from xtransfer.engine.mixture import capped_sizes, mixture_weights
from xtransfer.plan.data import count_rows, snapshot
from xtransfer.plan.stages import PlannedStage

ESTIMATES = CONF_DIR / "plan" / "estimates.yaml"


@dataclass(frozen=True)
class Assumptions:
    gpu: str
    peak_tflops: float
    mfu: float
    gpus: int
    precision_on: str
    tokens_per_example: dict[str, float]
    task_tokens: dict[str, Any]
    rows: dict[str, dict[str, int]]
    models: dict[str, dict[str, int]]

    @property
    def flops_per_hour(self) -> float:
        return self.peak_tflops * 1e12 * self.mfu * 3600


def load_assumptions(path: Path = ESTIMATES, **overrides: Any) -> Assumptions:
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    return replace(Assumptions(**data), **{k: v for k, v in overrides.items() if v is not None})


def architecture(model: ModelSpec, est: Assumptions) -> tuple[dict[str, int] | None, str]:
    """(layers, hidden, feed-forward sizes) and where they come from."""
    keys = ("num_hidden_layers", "hidden_size", "intermediate_size")
    if model.tiny is not None:
        return {k: getattr(model.tiny, k) for k in keys}, "model.tiny"
    local = Path(model.name_or_path)
    config = local / "config.json" if local.is_dir() else None
    if config is None and (snap := snapshot(model.name_or_path, model.revision or "main", "models")) is not None:
        config = snap / "config.json"
    if config is not None and config.is_file():
        data = json.loads(config.read_text())
        return {k: int(data[k]) for k in keys}, str(config)
    if model.name_or_path in est.models:
        return dict(est.models[model.name_or_path]), "conf/plan/estimates.yaml"
    return None, f"no config.json for {model.name_or_path} here and none in conf/plan/estimates.yaml"


def non_embedding_parameters(arch: dict[str, int]) -> int:
    layers, h, i = arch["num_hidden_layers"], arch["hidden_size"], arch["intermediate_size"]
    return layers * (4 * h * h + 2 * h * i + 9 * h + i)


def tokens_per_example(task: TaskSpec, est: Assumptions) -> float:
    value = est.task_tokens.get(task.name, est.tokens_per_example[task.family])
    return float(value[task.source] if isinstance(value, dict) else value)


@dataclass
class Cost:
    train_tokens: float = 0.0
    forward_tokens: float = 0.0        # validation and evaluation passes (forward only)
    examples: float = 0.0              # training examples seen (epochs included)
    unknown: list[str] = field(default_factory=list)   # the (task, split) whose rows nobody knows

    def flops(self, parameters: int) -> float:
        return 6 * parameters * self.train_tokens + 2 * parameters * self.forward_tokens


def _rows(task: TaskSpec, split: str, language: str, est: Assumptions, cost: Cost) -> int:
    rows = count_rows(task, split, language, est.rows)
    if rows.count is None:
        cost.unknown.append(f"{task.name} {split} {language}")
        return 0
    return rows.count


def _part_sizes(part: TrainPart, stage: PlannedStage, est: Assumptions, cost: Cost) -> tuple[int, int]:
    rows = sum(_rows(task, "train", lang, est, cost) for task, lang in part.sources)
    cap = part.max_train_examples or stage.optim.max_train_examples
    val = _rows(part.val_task, "validation", part.val_language, est, cost)
    val_cap = stage.optim.max_val_examples
    return (min(rows, cap) if cap else rows), (min(val, val_cap) if val_cap else val)


def stage_cost(stage: PlannedStage, est: Assumptions) -> Cost:
    cost = Cost()
    if stage.parts:
        optim, sizes, vals = stage.optim, [], []
        for part in stage.parts:
            n, v = _part_sizes(part, stage, est, cost)
            sizes.append(n), vals.append(v)
        tokens = [tokens_per_example(part.task, est) for part in stage.parts]
        if len(stage.parts) > 1 and stage.sampling is not None and sum(sizes):
            weights = mixture_weights(sizes, stage.sampling)
            per_epoch = float(capped_sizes(sizes, stage.sampling).sum())
            mean_tokens = float(sum(w * t for w, t in zip(weights, tokens)))
        else:
            per_epoch, mean_tokens = float(sum(sizes)), (tokens[0] if tokens else 0.0)
        examples = per_epoch * optim.epochs
        if optim.max_steps and optim.max_steps > 0:
            examples = min(examples, optim.max_steps * optim.batch_size * optim.grad_accum)
        cost.examples = examples
        cost.train_tokens = examples * mean_tokens
        # validations: once per epoch, or every val_every_n_steps optimizer steps and once at the end
        # (an upper bound: patience may stop a stage sooner)
        validations = optim.epochs
        if optim.val_every_n_steps:
            steps = math.ceil(examples / (optim.batch_size * optim.grad_accum))
            validations = steps // optim.val_every_n_steps + 1
        cost.forward_tokens = validations * sum(v * t for v, t in zip(vals, tokens))
    for task, split, lang in stage.reads:
        cost.forward_tokens += _rows(task, split, lang, est, cost) * tokens_per_example(task, est)
    return cost
