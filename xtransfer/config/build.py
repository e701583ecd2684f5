"""Builders: from composed config nodes to the typed specs of schema.py, with the cross-field
checks that give one actionable message (ConfigError) instead of a failure deep in a run."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from xtransfer.config.checks import check_fields, setting
from xtransfer.config.labels import intermediate_label
from xtransfer.config.schema import (CacheSpec, CellSpec, EmbeddingSpec, HubSource, IntermediateSpec, LocalSource, LoggerSpec,
                                     MlmSpec, ModelSpec, OptimSpec, RuntimeSpec, SamplingSpec, TargetSpec, TaskSpec,
                                     LoraSpec, TinySpec, TrainPart, build_spec, to_dict)
from xtransfer.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def build_task(node: Any, where: str = "task") -> TaskSpec:
    data = dict(to_dict(node))
    name = data.get("name", where)
    spec = build_spec(
        TaskSpec, data, f"task '{name}'",
        hub=lambda d: build_spec(HubSource, d, f"task '{name}'.hub"),
        local=lambda d: build_spec(LocalSource, d, f"task '{name}'.local"),
        parts=lambda d: {k: build_task(v, f"{where}.parts.{k}") for k, v in d.items()},
    )
    hub = spec.hub
    if hub is not None and ((hub.splits is not None) == (hub.files is not None) or (hub.format is None) != (hub.files is None)):
        raise ConfigError(f"task '{name}'.hub: give either `splits` (rows through datasets) or `format` and "
                          f"`files` (raw files of the repo, read like local files)")
    if spec.local_splits and spec.local is None:
        raise ConfigError(f"task '{name}': local_splits {spec.local_splits} are read from local files, but the "
                          f"task has no local block")
    if not spec.parts and getattr(spec, spec.source) is None:
        raise ConfigError(f"task '{name}' has no '{spec.source}' source block; use the other source "
                          f"(data=hub or data=local) or add one to conf/task/{name}.yaml")
    return spec



def build_optim(node: Any, where: str) -> OptimSpec:
    return build_spec(OptimSpec, node, where)


def build_embedding(node: Any, where: str) -> EmbeddingSpec:
    return build_spec(EmbeddingSpec, node, where)



@dataclass(frozen=True)
class _IntermediateConfig:
    """The shape of conf/intermediate/*.yaml (raw nodes; build_intermediate builds the spec)."""
    name: str
    optim: Any
    mode: str = setting(default="single", choices=("single", "multitask", "sequential"))
    task: Any = None                     # single: the task (None: no intermediate stage)
    train_languages: list[str] | None = None  # single: train on these languages (default: the task's first)
    translated_task: Any = None          # single: where languages the task lacks find (translated) train data
    tasks: list[str] | None = None       # multitask / sequential: names in `catalog`
    study_tasks: list[str] | None = None # multitask: the study's task set (labelled plain `multitask`)
    catalog: dict[str, Any] | None = None
    sampling: Any = None                 # multitask: SamplingSpec (conf/sampling/default.yaml)
    allow_missing: bool = False          # multitask: train without the tasks whose data is missing


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



def build_intermediate(node: Any) -> IntermediateSpec | None:
    raw = build_spec(_IntermediateConfig, node, "intermediate")
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
        label = intermediate_label(raw.name, "single", [task.name], languages=languages,
                                   default_languages=[task.languages[0]])
        return IntermediateSpec(label, "single", (part,), optim)
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
    sampling = None
    if raw.mode == "multitask":
        sampling = build_spec(SamplingSpec, raw.sampling, "intermediate.sampling")
    parts = []
    for name in raw.tasks:
        try:
            task = build_task(catalog[name], f"intermediate.catalog.{name}")
        except ConfigError as e:
            if raw.mode != "multitask":
                raise
            if not raw.allow_missing:
                raise DataError(f"{e}\n  {without_hint(raw.name, name, raw.tasks)}") from None
            log.warning("multitask: training without task '%s' (intermediate.allow_missing=true): %s", name, e)
            continue
        parts.append(train_part(task, [task.languages[0]], None, f"intermediate task '{name}'"))
    if not parts:
        raise DataError(f"intermediate '{raw.name}': none of the tasks {raw.tasks} has data available")
    trained = [part.task.name for part in parts]   # with allow_missing, the label names the tasks trained
    label = intermediate_label(raw.name, raw.mode, trained, study_tasks=raw.study_tasks)
    return IntermediateSpec(label, raw.mode, tuple(parts), optim, sampling, allow_missing=raw.allow_missing)


def without_hint(name: str, task: str, tasks: list[str]) -> str:
    """How to run a multi-task intermediate without one of its tasks."""
    others = ",".join(t for t in tasks if t != task)
    return (f"Provide task '{task}'s data, or train {name} without it: intermediate.allow_missing=true "
            f"(the label then names the tasks trained), or intermediate.tasks=[{others}]")


@dataclass(frozen=True)
class _MlmConfig:
    """The shape of conf/mlm/*.yaml (raw nodes; build_mlm builds the spec)."""
    mode: str = setting(choices=("before", "mixed"), hint="before: a stage before the intermediate; "
                                                          "mixed: an extra task in intermediate training")
    task: Any
    languages: list[str] | None = None     # None: every language of the task
    max_train_examples: int | None = setting(default=None, ge=1)  # caps the pooled corpus
    optim: Any = None                      # before only
    sampling: Any = None                   # mixed only: SamplingSpec beside a single or sequential intermediate


def build_mlm(node: Any) -> MlmSpec | None:
    """`mlm=before|mixed`: the MLM task trains on every language in mlm.languages."""
    if node is None:
        return None
    raw = build_spec(_MlmConfig, node, "mlm")
    if (raw.mode == "before") != (raw.optim is not None):
        raise ConfigError("mlm.optim is needed with mode=before, and unused with mode=mixed "
                          "(the intermediate's optim trains the mixture)")
    task = build_task(raw.task, "mlm.task")
    part = train_part(task, raw.languages or task.languages, None, "mlm")
    part = dataclasses.replace(part, max_train_examples=raw.max_train_examples)
    optim = build_optim(raw.optim, "mlm.optim") if raw.mode == "before" else None
    sampling = None
    if raw.mode == "mixed":
        sampling = build_spec(SamplingSpec, raw.sampling, "mlm.sampling")
    return MlmSpec(raw.mode, part, optim, sampling)


SELECT_ON = {"eval_task": "the eval task's English dev split", "train_task": "the train task's English dev split"}


def check_select_on(target: TargetSpec) -> None:
    """select_on names whose dev split selects; the old values eval|train are refused with their new names."""
    renamed = {"eval": "eval_task", "train": "train_task"}
    if target.select_on in renamed:
        raise ConfigError(f"target '{target.name}': select_on: {target.select_on} was renamed; use "
                          f"target.select_on={renamed[target.select_on]} ({SELECT_ON[renamed[target.select_on]]})")
    if target.select_on not in SELECT_ON:
        raise ConfigError(f"target '{target.name}': select_on must be one of "
                          f"{', '.join(f'{k} ({v})' for k, v in SELECT_ON.items())}; got {target.select_on!r}")


def build_target(node: Any) -> TargetSpec:
    data = dict(to_dict(node))
    translated_node = data.pop("translated_task", None)
    target = build_spec(TargetSpec, data, "target",
                    train_task=lambda d: build_task(d, "target.train_task"),
                    eval_task=lambda d: build_task(d, "target.eval_task"),
                    prior_task=lambda d: build_task(d, "target.prior_task"),
                    optim=lambda d: build_optim(d, "target.optim"),
                    embedding=lambda d: build_embedding(d, "target.embedding"))
    unknown = sorted(set(target.languages) - set(target.eval_task.languages))
    if unknown:
        raise ConfigError(f"target '{target.name}': languages {unknown} are not in task "
                          f"'{target.eval_task.name}' (it has {target.eval_task.languages})")
    train = target.train_task
    if train is not None:
        check_select_on(target)
    if train is not None and not target.train_language:
        raise ConfigError(f"target '{target.name}': train_language is missing; the language whose training data "
                          f"the target trains on zero-shot (en)")
    if target.oracle_threshold:
        tune = target.eval_task.options.get("threshold_split")
        if target.eval_task.options.get("scorer") != "bucc":
            raise ConfigError(f"target '{target.name}': oracle_threshold applies to bucc only (a tuned threshold)")
        # the threshold comes from the data it scores, so the dev set it would come from is not read
        target = dataclasses.replace(target, eval_splits=[s for s in target.eval_splits if s != tune])
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
    val_task = target.eval_task if target.select_on == "eval_task" else train
    part = train_part(train, languages, translated, f"target '{target.name}'", val_task, target.train_language)
    prior = None
    if target.prior_task is not None:   # its English train split, its English dev picks its best epoch
        prior = train_part(target.prior_task, [target.prior_task.languages[0]], None,
                           f"target '{target.name}' prior_task")
    return dataclasses.replace(target, translated_task=translated, part=part, prior=prior)


def build_cell(cfg: DictConfig) -> CellSpec:
    check_fields(CellSpec, {"seed": to_dict(cfg.seed)}, "")
    model = build_spec(ModelSpec, cfg.model, "model", tiny=lambda d: build_spec(TinySpec, d, "model.tiny"),
                       lora=lambda d: build_spec(LoraSpec, d, "model.lora"))
    if model.peft == "lora" and model.lora is None:
        raise ConfigError(f"model.peft=lora but model '{model.name}' has no model.lora block (rank, alpha, dropout, "
                          f"target_modules): add one to conf/model/{model.name}.yaml")
    runtime = build_spec(RuntimeSpec, cfg.trainer, "trainer")
    if model.tiny is not None and model.tiny.hidden_size % model.tiny.num_attention_heads:
        raise ConfigError(f"model.tiny.hidden_size={model.tiny.hidden_size} must be a multiple of "
                          f"model.tiny.num_attention_heads={model.tiny.num_attention_heads}")
    if model.name_or_path is None and model.tiny is None:
        raise ConfigError(f"model '{model.name}': set model.name_or_path (hub id or local dir) or model.tiny")
    upstream_stages = cfg.get("upstream_stages")
    if upstream_stages is not None and (type(upstream_stages) is not int or upstream_stages < 1):
        raise ConfigError(f"upstream_stages must be a positive whole number (the first N stages of the cell to "
                          f"build), got {upstream_stages}")
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
        seed=cfg.seed,
        runtime=runtime,
        logger=build_spec(LoggerSpec, cfg.logger, "logger"),
        cache_dir=str(cfg.paths.cache_dir),
        cache=build_spec(CacheSpec, cfg.cache, "cache"),
        output_dir=str(cfg.paths.output_dir),
        demo_data_root=data["root"] if data.get("generate_demo") else None,
        tags=list(cfg.get("tags") or []),
        upstream_stages=upstream_stages,
    )
