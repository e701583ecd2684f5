"""Typed views of the Hydra config. Configs describe; the code builds from these dataclasses.

Every builder rejects unknown keys, so a typo in a YAML file or an override fails loudly
instead of being ignored.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from xtransfer.errors import ConfigError

log = logging.getLogger(__name__)


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
    max_tokens: int | None = None   # batches filled up to this many (padded) tokens instead of batch_size examples
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
class SamplingSpec:
    """How multi-task training picks the task of each step (see multitask.py)."""
    kind: str = "proportional"               # proportional | temperature | uniform
    temperature: float = 2.0                 # kind=temperature: p_i ~ n_i ** (1 / temperature)
    max_examples_per_task: int | None = None  # cap on each task's size in the rates and the epoch length


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
    sampling: SamplingSpec = SamplingSpec()


@dataclass(frozen=True)
class MlmSpec:
    """Continued masked-LM training: a stage before the intermediate, or a task mixed into it."""
    mode: str                       # before | mixed
    part: TrainPart
    optim: OptimSpec | None         # before: its stage's optim; mixed: the intermediate's trains the mixture


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
    train_languages: list[str] | str | None = None  # train on these languages' data; all: every eval language;
                                                    # None: [train_language] (zero-shot)
    translated_task: TaskSpec | None = None   # train data for languages train_task lacks (translate-train)
    part: TrainPart | None = None             # built from the above: what target training reads

    @property
    def setting(self) -> str:
        """zero-shot (English only), in-language (the task's own data in other languages) or translate-train."""
        if self.part is None or self.part.languages == [self.train_language]:
            return "zero-shot"
        translated = any(task is not self.train_task for task, _ in self.part.sources)
        return "translate-train" if translated else "in-language"


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
    mlm: MlmSpec | None = None          # continued masked-LM training (before, or mixed into, the intermediate)
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


# The study's multi-task intermediate: all nine tasks. A multitask run on exactly these is labelled `multitask`.
STUDY_INTERMEDIATES = ("anli_plus", "mnli", "qqp", "squad", "squad_v2", "hellaswag", "commonsenseqa", "cosmosqa", "ccg")


@dataclass(frozen=True)
class _IntermediateConfig:
    """The shape of conf/intermediate/*.yaml (raw nodes; build_intermediate builds the spec)."""
    name: str
    optim: Any
    mode: str = "single"                 # single | multitask | sequential
    task: Any = None                     # single: the task (None: no intermediate stage)
    train_languages: list[str] | None = None  # single: train on these languages (default: the task's first)
    translated_task: Any = None          # single: where languages the task lacks find (translated) train data
    tasks: list[str] | None = None       # multitask / sequential: names in `catalog`
    catalog: dict[str, Any] | None = None
    sampling: Any = None                 # multitask: SamplingSpec


def check_sampling(sampling: SamplingSpec, where: str = "intermediate.sampling") -> None:
    kinds = ("proportional", "temperature", "uniform")
    if sampling.kind not in kinds:
        raise ConfigError(f"{where}.kind must be one of {list(kinds)}, got '{sampling.kind}'")
    if sampling.kind == "temperature" and not sampling.temperature > 0:
        raise ConfigError(f"{where}.temperature must be > 0 (1 = proportional, larger = flatter), "
                          f"got {sampling.temperature}")
    if sampling.max_examples_per_task is not None and sampling.max_examples_per_task < 1:
        raise ConfigError(f"{where}.max_examples_per_task must be a positive number of examples or null, "
                          f"got {sampling.max_examples_per_task}")


def train_part(task: TaskSpec, languages: list[str], translated: TaskSpec | None, where: str,
               val_task: TaskSpec | None = None, val_language: str | None = None) -> TrainPart:
    """Train `task`'s head on each language's train split: the task's own where it has the
    language, else `translated`'s (machine-translated copies). Validation: the task's English dev
    split by default (its first language if it has no English)."""
    if not languages:
        raise ConfigError(f"{where}: train_languages is empty; name at least one language")
    if translated is not None and (translated.family, translated.labels) != (task.family, task.labels):
        raise ConfigError(f"{where}: translated task '{translated.name}' ({translated.family}, labels "
                          f"{translated.labels}) does not match task '{task.name}' ({task.family}, {task.labels})")
    sources = []
    for language in languages:
        if language in task.languages:
            sources.append((task, language))
        elif translated is not None and language in translated.languages:
            sources.append((translated, language))
        else:
            have = f"task '{task.name}' has {task.languages}" + (
                f" and '{translated.name}' has {translated.languages}" if translated else
                " and there is no translated_task to take it from")
            raise ConfigError(f"{where}: no training data in '{language}': {have}")
    english = "en" if "en" in task.languages else task.languages[0]
    return TrainPart(task, tuple(sources), val_task or task, val_language or english)


def _intermediate_label(raw: _IntermediateConfig) -> str:
    if raw.mode == "sequential":
        return ">".join(raw.tasks)
    if raw.mode == "multitask" and tuple(raw.tasks) != STUDY_INTERMEDIATES:
        return f"{raw.name}[{','.join(raw.tasks)}]"
    return raw.name


def build_intermediate(node: Any) -> IntermediateSpec | None:
    raw = _build(_IntermediateConfig, node, "intermediate")
    optim = build_optim(raw.optim, "intermediate.optim")
    if raw.mode == "single":
        if raw.task is None:
            return None
        task = build_task(raw.task, "intermediate.task")
        languages = [task.languages[0]] if raw.train_languages is None else raw.train_languages
        needs_translation = any(lang not in task.languages for lang in languages)
        translated = build_task(raw.translated_task, "intermediate.translated_task") \
            if raw.translated_task is not None and needs_translation else None
        part = train_part(task, languages, translated, f"intermediate '{raw.name}'")
        label = raw.name
        if raw.name == task.name and languages != [task.languages[0]]:  # e.g. mnli[en,de]: not plain English mnli
            label = f"{raw.name}[{','.join(languages)}]"
        return IntermediateSpec(label, "single", (part,), optim)
    if raw.mode not in ("multitask", "sequential"):
        raise ConfigError(f"intermediate.mode must be single, multitask or sequential, got '{raw.mode}'")
    catalog = raw.catalog or {}
    if not raw.tasks:
        raise ConfigError(f"intermediate '{raw.name}': intermediate.tasks is empty; name the tasks to "
                          f"{'chain' if raw.mode == 'sequential' else 'mix'}, e.g. intermediate.tasks=[mnli,squad]; "
                          f"available: {sorted(catalog)}")
    unknown = [t for t in raw.tasks if t not in catalog]
    if unknown:
        raise ConfigError(f"intermediate '{raw.name}': unknown task(s) {unknown} in intermediate.tasks; "
                          f"available: {sorted(catalog)} (conf/catalog/tasks.yaml lists them)")
    if raw.mode == "multitask" and len(set(raw.tasks)) != len(raw.tasks):
        raise ConfigError(f"intermediate '{raw.name}': a task appears twice in intermediate.tasks {raw.tasks}")
    sampling = _build(SamplingSpec, raw.sampling, "intermediate.sampling")
    check_sampling(sampling)
    parts = []
    for name in raw.tasks:
        try:
            task = build_task(catalog[name], f"intermediate.catalog.{name}")
        except ConfigError as e:
            if raw.mode == "sequential":
                raise
            log.warning("multitask: skipping task '%s': %s", name, e)  # its data is not available here
            continue
        parts.append(train_part(task, [task.languages[0]], None, f"intermediate task '{name}'"))
    if not parts:
        raise ConfigError(f"intermediate '{raw.name}': none of the tasks {raw.tasks} has data available")
    return IntermediateSpec(_intermediate_label(raw), raw.mode, tuple(parts), optim, sampling)


@dataclass(frozen=True)
class _MlmConfig:
    """The shape of conf/mlm/*.yaml (raw nodes; build_mlm builds the spec)."""
    mode: str                              # before | mixed
    task: Any
    languages: list[str] | None = None     # None: every language of the task
    max_train_examples: int | None = None  # caps the pooled corpus
    optim: Any = None                      # before only


def build_mlm(node: Any) -> MlmSpec | None:
    """`mlm=before|mixed`: the MLM task trains on every language in mlm.languages."""
    if node is None:
        return None
    raw = _build(_MlmConfig, node, "mlm")
    if raw.mode not in ("before", "mixed"):
        raise ConfigError(f"mlm.mode must be 'before' (a stage before the intermediate) or 'mixed' "
                          f"(an extra task in intermediate training), got {raw.mode!r}")
    if (raw.mode == "before") != (raw.optim is not None):
        raise ConfigError("mlm.optim is needed with mode=before, and unused with mode=mixed "
                          "(the intermediate's optim trains the mixture)")
    task = build_task(raw.task, "mlm.task")
    part = train_part(task, raw.languages or task.languages, None, "mlm")
    part = dataclasses.replace(part, max_train_examples=raw.max_train_examples)
    optim = build_optim(raw.optim, "mlm.optim") if raw.mode == "before" else None
    return MlmSpec(raw.mode, part, optim)


def build_target(node: Any) -> TargetSpec:
    data = dict(to_dict(node))
    translated_node = data.pop("translated_task", None)
    target = _build(TargetSpec, data, "target",
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
    if train is None:
        if target.embedding is None:
            raise ConfigError(f"target '{target.name}' has no train_task: it needs an `embedding:` block (retrieval)")
        if target.train_languages:
            raise ConfigError(f"target '{target.name}' trains nothing (retrieval), so train_languages does not apply")
        return target
    if train.labels != target.eval_task.labels:
        raise ConfigError(f"target '{target.name}': train task '{train.name}' labels {train.labels} "
                          f"differ from eval task '{target.eval_task.name}' labels {target.eval_task.labels}")
    languages = [target.train_language] if target.train_languages is None else target.train_languages
    if languages == "all":  # translate-train-all: every evaluation language
        languages = list(target.languages)
    translated = None
    if translated_node is not None and any(lang not in train.languages for lang in languages):
        translated = build_task(translated_node, "target.translated_task")  # only built when used (may be local-only)
    val_task = target.eval_task if target.select_on == "eval" else train
    part = train_part(train, languages, translated, f"target '{target.name}'", val_task, target.train_language)
    return dataclasses.replace(target, translated_task=translated, part=part)


def build_cell(cfg: DictConfig) -> CellSpec:
    model = _build(ModelSpec, cfg.model, "model", tiny=lambda d: _build(TinySpec, d, "model.tiny"))
    if model.name_or_path is None and model.tiny is None:
        raise ConfigError(f"model '{model.name}': set model.name_or_path (hub id or local dir) or model.tiny")
    data = to_dict(cfg.data)
    intermediate, mlm = build_intermediate(cfg.intermediate), build_mlm(cfg.get("mlm"))
    if mlm is not None and mlm.mode == "mixed" and intermediate is None:
        raise ConfigError("mlm=mixed mixes MLM into intermediate training, but intermediate=none; "
                          "use mlm=before for an MLM stage on its own, or choose an intermediate")
    return CellSpec(
        model=model,
        intermediate=intermediate,
        target=build_target(cfg.target),
        mlm=mlm,
        seed=int(cfg.seed),
        runtime=_build(RuntimeSpec, cfg.trainer, "trainer"),
        logger=_build(LoggerSpec, cfg.logger, "logger"),
        cache_dir=str(cfg.paths.cache_dir),
        output_dir=str(cfg.paths.output_dir),
        demo_data_root=data["root"] if data.get("generate_demo") else None,
        tags=list(cfg.get("tags") or []),
    )
