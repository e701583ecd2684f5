"""The schema: typed views of the Hydra config. Configs describe; the code builds from these dataclasses.

Where a default lives: a setting that a conf/ YAML file states (every optimizer, trainer,
sampling, embedding and tiny-model key) has no default here, so the YAML is its one home and
a missing key is an error; an optional key that the YAML files leave out (a task's labels,
options, ...) has its default here and the YAML only overrides it. `build_spec` rejects
unknown keys, so a typo in a YAML file or an override fails loudly instead of being ignored, and
checks every value against its field's type and `setting(...)` rule (config/checks.py).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from xtransfer.config.checks import check_fields, setting
from xtransfer.errors import ConfigError


def to_dict(node: Any) -> Any:
    """A resolved plain-python copy of a config node (or the value itself)."""
    if isinstance(node, DictConfig) or OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def build_spec(cls, data: Mapping[str, Any] | None, where: str, **nested):
    """cls(**data) after checking the keys against cls's fields and the values against their types
    and ranges; `nested` builds sub-objects."""
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
    check_fields(cls, data, where)
    return cls(**data)


def spec_from_conf(cls, conf_file: str, node: str | None = None, **overrides):
    """cls built from its YAML home in conf/ (e.g. `optim/finetune.yaml`), with overrides: code
    outside a Hydra run (the benchmark, tests) gets the same defaults as the configs."""
    from xtransfer.config import CONF_DIR

    data = OmegaConf.load(Path(CONF_DIR) / conf_file)
    data = OmegaConf.select(data, node) if node else data
    data = {k: v for k, v in OmegaConf.to_container(data).items() if k != "defaults"} | overrides
    return build_spec(cls, OmegaConf.to_container(OmegaConf.create(data), resolve=True), conf_file)


@dataclass(frozen=True, kw_only=True)
class Source:
    """How a source's records map onto the family's canonical columns."""
    columns: dict[str, str]                      # canonical column -> source column (dotted for nested)
    language_column: str | None = None           # keep only records whose column equals the language
    label_aliases: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class HubSource(Source):
    """A dataset on the Hugging Face Hub: rows through `datasets` (`splits`, `name`), or raw release
    files of a dataset repo read by a local format reader (`format`, `files`: split -> patterns in the
    repo, like LocalSource.files). `name`, split names and file patterns may contain {lang}."""
    path: str | None                     # None: no hub copy is pinned (the task's YAML says why)
    revision: str | None
    splits: dict[str, str | list[str]] | None = None
    name: str | dict[str, str] | None = None   # a {lang} template or a language -> config map
    data_files: str | None = None   # a parquet export's files of a split: a pattern with {split} (the hub split name)
    format: str | None = None
    files: dict[str, str | list[str]] | None = None


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
    max_length: int = setting(ge=8)
    source: str = setting(default="hub", choices=("hub", "local"))
    labels: list[str] | None = None      # class names, in the order of the label ids
    skip_labels: list[Any] = field(default_factory=list)  # rows with these raw labels are dropped
    hub: HubSource | None = None
    local: LocalSource | None = None
    parts: dict[str, "TaskSpec"] = field(default_factory=dict)  # a union task: every split concatenates its parts
    options: dict[str, Any] = field(default_factory=dict)  # family-specific settings (e.g. doc_stride)
    main_metric: str | None = None       # overrides the family's main metric (the score and epoch selection)
    local_splits: list[str] = field(default_factory=list)  # read from local files even when source=hub

    def describe(self) -> dict[str, Any]:
        """What determines this task's rows and features (stage keys hash this)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        # Only the active source matters; the other one is just an alternative.
        if self.source == "local":
            out.pop("hub")
        elif not self.local_splits:   # a hub task reads local files only for its local_splits
            out.pop("local")
        out.pop("languages")  # which languages a stage uses is recorded by the stage itself
        if out.get("local"):
            # Where the files are does not matter, their bytes do (data_fingerprint hashes them).
            out["local"] = {k: v for k, v in dataclasses.asdict(self.local).items() if k != "root"}
        if out.get("hub"):
            out["hub"] = {k: v for k, v in dataclasses.asdict(self.hub).items() if k != "data_files" or v}
        out["parts"] = {name: part.describe() for name, part in self.parts.items()}
        return out




@dataclass(frozen=True)
class OptimSpec:
    """How a stage learns (conf/optim/finetune.yaml). All of it is part of the stage key."""
    lr: float = setting(gt=0)
    weight_decay: float = setting(ge=0)
    warmup_ratio: float = setting(ge=0, le=1, hint="the fraction of the steps that warm up")
    max_grad_norm: float = setting(ge=0, hint="0 turns clipping off")
    batch_size: int = setting(ge=1)
    max_tokens: int | None = setting(ge=1)  # batches filled up to this many (padded) tokens instead of batch_size examples
    grad_accum: int = setting(ge=1)
    epochs: int = setting(ge=1, hint="whole passes over the training data; max_steps caps the steps")
    max_steps: int = setting(ge=1, also=(-1,), hint="-1: no cap")
    max_train_examples: int | None = setting(ge=1)
    max_val_examples: int | None = setting(ge=1)
    select_best: bool
    val_every_n_steps: int | None = setting(ge=1)  # validate every N optimizer steps (and once at the end); None: once per epoch
    patience: int | None = setting(ge=1)  # stop after this many validations without a better dev score; None: never


PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")  # auto: engine/train.py


@dataclass(frozen=True)
class RuntimeSpec:
    """How to run (conf/trainer/default.yaml); not part of stage keys, except the resolved precision."""
    accelerator: str = setting(choices=("auto", "cpu", "gpu", "cuda", "mps"))
    devices: int = setting(ge=1)
    strategy: str = setting(choices=("ddp", "fsdp"))  # N ranks: replicated or sharded (engine/sharding.py)
    activation_checkpointing: bool
    precision: str = setting(choices=PRECISIONS)
    num_workers: int = setting(ge=0)
    eval_batch_size: int = setting(ge=1)
    length_group_size: int = setting(ge=1)
    log_every_n_steps: int = setting(ge=1)
    enable_progress_bar: bool
    checkpoint_every_n_steps: int | None = setting(ge=1)  # a training stage's resume checkpoint (engine/resume.py)


@dataclass(frozen=True)
class TinySpec:
    """A random-init encoder with a tokenizer trained locally (conf/model/tiny.yaml)."""
    tokenizer_files: str
    vocab_size: int = setting(ge=8)
    hidden_size: int = setting(ge=1)
    num_hidden_layers: int = setting(ge=1)
    num_attention_heads: int = setting(ge=1)
    intermediate_size: int = setting(ge=1)
    max_position_embeddings: int = setting(ge=8)
    init_seed: int = setting(ge=0)
    architecture: str = setting(choices=("xlmr", "bert", "qwen2"))   # the transformers class it random-inits


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapters (peft) on the linear layers named by target_modules (conf/model/*.yaml `lora:`)."""
    rank: int = setting(ge=1)
    alpha: float = setting(gt=0)
    dropout: float = setting(ge=0, le=1)
    target_modules: list[str]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str                                      # model_family in results.json (the scaling fit's groups)
    kind: str = setting(choices=("encoder", "decoder"))
    pooling: str = setting(choices=("first", "mean", "last"), hint="last = the last non-pad token (decoders)")
    attn_implementation: str | None = setting(choices=("eager", "sdpa"))   # null: transformers' default
    peft: str | None = setting(choices=("lora",))                          # null: full fine-tuning
    lora: LoraSpec | None
    name_or_path: str | None = None
    revision: str | None = None
    num_parameters: int | None = setting(default=None, ge=1)
    tiny: TinySpec | None = None
    dual_encoder_pooling: str = setting(default="cls", choices=("cls", "mean"))  # how dual-encoder tasks (Mewsli-X) pool a text


@dataclass(frozen=True)
class SamplingSpec:
    """How multi-task training picks the task of each step (conf/sampling/default.yaml; engine/mixture.py)."""
    kind: str = setting(choices=("proportional", "temperature", "uniform"))
    temperature: float = setting(gt=0, hint="kind=temperature: p_i ~ n_i ** (1 / temperature); 1 = proportional, larger = flatter")
    max_examples_per_task: int | None = setting(ge=1)  # cap on each task's size in the rates and the epoch length


@dataclass(frozen=True)
class TrainPart:
    """One head's training in a stage: its task, the train splits it reads, the dev split that scores it."""
    task: TaskSpec                                   # names the head; gives family and labels
    sources: tuple[tuple[TaskSpec, str], ...]        # (task, language) train splits, concatenated
    val_task: TaskSpec
    val_language: str
    max_train_examples: int | None = None            # caps this part alone (else optim.max_train_examples)

    @property
    def languages(self) -> list[str]:
        return [language for _, language in self.sources]


@dataclass(frozen=True)
class IntermediateSpec:
    """What the encoder learns before the target: one task, a multi-task mixture, or a sequential chain."""
    name: str                       # the cell's label in results and reports (mnli, multitask, mnli>squad)
    mode: str                       # single | multitask | sequential
    parts: tuple[TrainPart, ...]    # single: one; multitask: trained together; sequential: one stage each, in order
    optim: OptimSpec
    sampling: SamplingSpec | None = None   # multitask: how steps draw tasks
    allow_missing: bool = False            # multitask: tasks whose data is missing are left out (else an error)


@dataclass(frozen=True)
class MlmSpec:
    """Continued masked-LM training: a stage before the intermediate, or a task mixed into it."""
    mode: str                       # before | mixed
    part: TrainPart
    optim: OptimSpec | None         # before: its stage's optim; mixed: the intermediate's trains the mixture
    sampling: SamplingSpec | None   # mixed: how MLM is drawn beside a single or sequential intermediate's task


@dataclass(frozen=True)
class EmbeddingSpec:
    """How a retrieval target turns the encoder into sentence vectors (part of its stage key; conf/target/tatoeba.yaml)."""
    layer: int | None = setting(ge=0)  # hidden state (0 = embeddings); None: 14 of 24 layers (XTREME), else the middle
    pooling: str = setting(choices=("mean", "cls"))  # mean over the attention mask (special tokens included) | cls
    similarity: str = setting(choices=("cosine",))


@dataclass(frozen=True)
class TargetSpec:
    name: str
    train_task: TaskSpec | None      # None: nothing to train (retrieval targets read the encoder)
    eval_task: TaskSpec
    optim: OptimSpec | None
    languages: list[str]
    eval_splits: list[str]
    train_language: str | None = None   # training targets: the zero-shot source language (conf/target/*.yaml)
    select_on: str | None = None        # training targets: eval_task | train_task, whose English dev split selects
    embedding: EmbeddingSpec | None = None   # retrieval targets (no train_task): how to embed sentences
    train_languages: list[str] | str | None = None  # train on these languages' data; all: every eval language;
                                                    # None: [train_language] (zero-shot)
    translated_task: TaskSpec | None = None   # train data for languages train_task lacks (translate-train)
    part: TrainPart | None = None             # built from the above: what target training reads
    oracle_threshold: bool = False            # bucc: tune the threshold on the scored (test) data itself
    prior_task: TaskSpec | None = None        # trained first (English, its own head), then train_task: XTREME-R's
    prior: TrainPart | None = None            # XCOPA trains SIQA then COPA; built from prior_task, target.optim

    @property
    def setting(self) -> str:
        """zero-shot (English only), in-language (the task's own data in other languages) or translate-train."""
        if self.part is None or self.part.languages == [self.train_language]:
            return "zero-shot"
        translated = any(task is not self.train_task for task, _ in self.part.sources)
        return "translate-train" if translated else "in-language"


@dataclass(frozen=True)
class LoggerSpec:
    kind: str = setting(choices=("wandb", "csv", "none"))   # conf/logger/*.yaml
    project: str | None = None
    entity: str | None = None
    mode: str | None = setting(default=None, choices=("auto", "online", "offline", "disabled"))  # wandb
    save_dir: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class CacheSpec:
    """How reused stages are checked (conf/config.yaml `cache:`); sizes are always checked."""
    verify: bool  # also the content hashes of every reused stage and feature file


@dataclass(frozen=True)
class CellSpec:
    """One job of the grid: (model, intermediate, target, seed) and how to run it."""
    model: ModelSpec
    intermediate: IntermediateSpec | None
    target: TargetSpec
    seed: int = setting(ge=0, le=2**32 - 1)  # checked by build_cell (Lightning's seed range)
    runtime: RuntimeSpec
    logger: LoggerSpec
    cache_dir: str
    output_dir: str
    cache: CacheSpec
    mlm: MlmSpec | None = None          # continued masked-LM training (before, or mixed into, the intermediate)
    demo_data_root: str | None = None   # generate the demo datasets here first
    upstream_stages: int | None = None  # an upstream-first job (plan/upstream_first.py): build the first N stages
    tags: list[str] = field(default_factory=list)

    def on_devices(self, devices: int) -> "CellSpec":
        """The cell as a job with `devices` ranks runs it (a multi-rank stage's key has them)."""
        return dataclasses.replace(self, runtime=dataclasses.replace(self.runtime, devices=devices))
