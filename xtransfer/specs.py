"""Typed views of the Hydra config. Configs describe; the code builds from these dataclasses.

Every builder rejects unknown keys, so a typo in a YAML file or an override fails loudly
instead of being ignored.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from xtransfer.errors import ConfigError


def to_dict(node: Any) -> Any:
    """A resolved plain-python copy of a config node (or the value itself)."""
    if isinstance(node, DictConfig) or OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _build(cls, data: Mapping[str, Any] | None, where: str, **nested):
    """cls(**data) after checking the keys against cls's fields; `nested` builds sub-objects."""
    data = dict(to_dict(data) or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(names)}")
    for key, builder in nested.items():
        if data.get(key) is not None:
            data[key] = builder(data[key])
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}")
    return cls(**data)


@dataclass(frozen=True, kw_only=True)
class Source:
    """How a source's records map onto the family's canonical columns."""
    columns: dict[str, str]                      # canonical column -> source column (dotted for nested)
    language_column: str | None = None           # keep only records whose column equals the language
    label_aliases: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class HubSource(Source):
    """A dataset on the Hugging Face Hub. `name` and split names may contain {lang}."""
    path: str
    revision: str
    splits: dict[str, str | list[str]]
    name: str | dict[str, str] | None = None   # a {lang} template or a language -> config map


@dataclass(frozen=True, kw_only=True)
class LocalSource(Source):
    """Raw files in their original layout: root/files[split] (may contain {lang}), read by `format`."""
    format: str
    root: str
    files: dict[str, str | list[str]]


@dataclass(frozen=True)
class TaskSpec:
    """One dataset: its family, languages, and where its rows come from."""
    name: str
    family: str
    languages: list[str]
    max_length: int
    source: str = "hub"                  # hub | local
    labels: list[str] | None = None      # class names, in the order of the label ids
    skip_labels: list[Any] = field(default_factory=list)  # rows with these raw labels are dropped
    hub: HubSource | None = None
    local: LocalSource | None = None
    parts: dict[str, "TaskSpec"] = field(default_factory=dict)  # a union task: every split concatenates its parts
    options: dict[str, Any] = field(default_factory=dict)  # family-specific settings (e.g. doc_stride)
    main_metric: str | None = None       # overrides the family's main metric (the score and epoch selection)

    def describe(self) -> dict[str, Any]:
        """What determines this task's rows and features (stage keys hash this)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        # Only the active source matters; the other one is just an alternative.
        out.pop("local" if self.source == "hub" else "hub")
        out.pop("languages")  # which languages a stage uses is recorded by the stage itself
        if out.get("local"):
            # Where the files are does not matter, their bytes do (data_fingerprint hashes them).
            out["local"] = {k: v for k, v in dataclasses.asdict(self.local).items() if k != "root"}
        if out.get("hub"):
            out["hub"] = dataclasses.asdict(self.hub)
        out["parts"] = {name: part.describe() for name, part in self.parts.items()}
        return out


def build_task(node: Any, where: str = "task") -> TaskSpec:
    data = dict(to_dict(node))
    name = data.get("name", where)
    spec = _build(
        TaskSpec, data, f"task '{name}'",
        hub=lambda d: _build(HubSource, d, f"task '{name}'.hub"),
        local=lambda d: _build(LocalSource, d, f"task '{name}'.local"),
        parts=lambda d: {k: build_task(v, f"{where}.parts.{k}") for k, v in d.items()},
    )
    if spec.source not in ("hub", "local"):
        raise ConfigError(f"task '{name}': source must be 'hub' or 'local', got '{spec.source}'")
    if not spec.parts and getattr(spec, spec.source) is None:
        raise ConfigError(f"task '{name}' has no '{spec.source}' source block; use the other source "
                          f"(data=hub or data=local) or add one to conf/task/{name}.yaml")
    return spec


@dataclass(frozen=True)
class OptimSpec:
    """How a stage learns. All of it is part of the stage key."""
    lr: float
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    batch_size: int = 32
    grad_accum: int = 1
    epochs: int = 1
    max_steps: int = -1
    max_train_examples: int | None = None
    max_val_examples: int | None = None
    select_best: bool = True


@dataclass(frozen=True)
class RuntimeSpec:
    """How to run (not part of stage keys, except the resolved precision)."""
    accelerator: str = "auto"
    devices: int = 1
    precision: str = "auto"
    num_workers: int = 0
    eval_batch_size: int = 128
    length_group_size: int = 50
    log_every_n_steps: int = 10
    enable_progress_bar: bool = True


@dataclass(frozen=True)
class TinySpec:
    tokenizer_files: str
    vocab_size: int = 4000
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 256
    max_position_embeddings: int = 514
    init_seed: int = 0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    name_or_path: str | None = None
    revision: str | None = None
    num_parameters: int | None = None
    tiny: TinySpec | None = None


@dataclass(frozen=True)
class IntermediateSpec:
    name: str
    task: TaskSpec
    optim: OptimSpec


@dataclass(frozen=True)
class EmbeddingSpec:
    """How a retrieval target turns the encoder into sentence vectors (part of its stage key)."""
    layer: int | None = None   # hidden state (0 = embeddings); None: 14 of 24 layers (XTREME), else the middle one
    pooling: str = "mean"      # mean over the attention mask (special tokens included) | cls
    similarity: str = "cosine"


@dataclass(frozen=True)
class TargetSpec:
    name: str
    train_task: TaskSpec | None      # None: nothing to train (retrieval targets read the encoder)
    eval_task: TaskSpec
    optim: OptimSpec | None
    languages: list[str]
    eval_splits: list[str]
    train_language: str = "en"
    select_on: str = "eval"   # whose English validation split picks the best epoch: the eval task's or the train task's
    embedding: EmbeddingSpec | None = None   # retrieval targets (no train_task): how to embed sentences


@dataclass(frozen=True)
class LoggerSpec:
    kind: str                     # wandb | csv | none
    project: str = "xtransfer"
    entity: str | None = None
    mode: str = "auto"
    save_dir: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class CellSpec:
    """One job of the grid: (model, intermediate, target, seed) and how to run it."""
    model: ModelSpec
    intermediate: IntermediateSpec | None
    target: TargetSpec
    seed: int
    runtime: RuntimeSpec
    logger: LoggerSpec
    cache_dir: str
    output_dir: str
    demo_data_root: str | None = None   # generate the demo datasets here first
    tags: list[str] = field(default_factory=list)


def build_optim(node: Any, where: str) -> OptimSpec:
    return _build(OptimSpec, node, where)


def build_embedding(node: Any, where: str) -> EmbeddingSpec:
    spec = _build(EmbeddingSpec, node, where)
    if spec.pooling not in ("mean", "cls") or spec.similarity != "cosine":
        raise ConfigError(f"{where}: pooling must be 'mean' or 'cls' and similarity 'cosine', "
                          f"got {spec.pooling!r} and {spec.similarity!r}")
    return spec


def build_cell(cfg: DictConfig) -> CellSpec:
    model = _build(ModelSpec, cfg.model, "model", tiny=lambda d: _build(TinySpec, d, "model.tiny"))
    if model.name_or_path is None and model.tiny is None:
        raise ConfigError(f"model '{model.name}': set model.name_or_path (hub id or local dir) or model.tiny")

    inter = to_dict(cfg.intermediate)
    intermediate = None
    if inter.get("task") is not None:
        intermediate = _build(IntermediateSpec, inter, "intermediate",
                              task=lambda d: build_task(d, "intermediate.task"),
                              optim=lambda d: build_optim(d, "intermediate.optim"))

    target = _build(TargetSpec, cfg.target, "target",
                    train_task=lambda d: build_task(d, "target.train_task"),
                    eval_task=lambda d: build_task(d, "target.eval_task"),
                    optim=lambda d: build_optim(d, "target.optim"),
                    embedding=lambda d: build_embedding(d, "target.embedding"))
    unknown = sorted(set(target.languages) - set(target.eval_task.languages))
    if unknown:
        raise ConfigError(f"target '{target.name}': languages {unknown} are not in task "
                          f"'{target.eval_task.name}' (it has {target.eval_task.languages})")
    if target.select_on not in ("eval", "train"):
        raise ConfigError(f"target '{target.name}': select_on must be 'eval' or 'train', got '{target.select_on}'")
    train = target.train_task
    if train is None and target.embedding is None:
        raise ConfigError(f"target '{target.name}' has no train_task: it needs an `embedding:` block (retrieval)")
    if train is not None and train.labels != target.eval_task.labels:
        raise ConfigError(f"target '{target.name}': train task '{train.name}' labels {train.labels} "
                          f"differ from eval task '{target.eval_task.name}' labels {target.eval_task.labels}")

    data = to_dict(cfg.data)
    return CellSpec(
        model=model,
        intermediate=intermediate,
        target=target,
        seed=int(cfg.seed),
        runtime=_build(RuntimeSpec, cfg.trainer, "trainer"),
        logger=_build(LoggerSpec, cfg.logger, "logger"),
        cache_dir=str(cfg.paths.cache_dir),
        output_dir=str(cfg.paths.output_dir),
        demo_data_root=data["root"] if data.get("generate_demo") else None,
        tags=list(cfg.get("tags") or []),
    )
