"""The cells of a command line: the jobs Hydra's BasicSweeper would launch, each composed by Hydra.

The jobs are exactly the sweeper's: the composed config's `hydra.sweeper.params` (a preset's grid)
followed by the command line's overrides, expanded by `BasicSweeper.split_arguments`. Composing
each job from scratch costs a Hydra composition per cell (a quarter of a second or more: half a
minute for phang2020's 99 cells), so the configs are put together from one composition per value
of each swept config group: a cell's `intermediate` node is the node Hydra composes for its
intermediate, and so on, then the cell's swept values (seed=..., target.optim.lr=...) are applied
as Hydra applies them, after composition. That is Hydra's own result when a group's option only
writes into its own package, which is checked for every option (a `_global_` option such as an
`experiment` is not: a grid sweeping one is composed cell by cell), and by composing the last
cell in full and comparing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra import initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from xtransfer.config import CONF_DIR
from xtransfer.errors import ConfigError

# Where a cell would write is decided when its job starts (hydra.runtime.output_dir); the plan writes nothing.
OUTPUT_DIR = "paths.output_dir=${paths.outputs_root}/plan"


@dataclass
class Job:
    overrides: list[str]      # the job's overrides, as the sweeper hands them to the launcher
    cfg: DictConfig
    ranks: int = 1            # the ranks srun starts for it (srun_ranks): a multi-rank stage's key has them


def srun_ranks(master: DictConfig) -> int:
    """The ranks of each job of a multirun on hydra/launcher=slurm (tasks_per_node x nodes); 1 elsewhere."""
    launcher = OmegaConf.select(master, "hydra.launcher")
    if launcher is None or "tasks_per_node" not in launcher:
        return 1
    return int(launcher.tasks_per_node or 1) * int(launcher.get("nodes") or 1)


def expand(overrides: list[str], multirun: bool) -> tuple[list[Job], str]:
    """The jobs of `python -m xtransfer.run [-m] <overrides>` and how they were composed."""
    try:
        return _expand(overrides, multirun)
    except ValueError as e:   # Hydra's word for some malformed overrides (e.g. a group set to null)
        raise ConfigError(f"{e} (in the overrides {' '.join(overrides)})") from None


def _expand(overrides: list[str], multirun: bool) -> tuple[list[Job], str]:
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        if not multirun:
            return [Job(overrides, _compose(loader, overrides))], "composed by Hydra"
        master = loader.load_configuration("config", overrides, run_mode=RunMode.MULTIRUN)
        params = master.hydra.sweeper.params
        params = OmegaConf.to_container(params, resolve=True) if params is not None else {}
        arguments = [f"{k}={v}" for k, v in params.items()] + list(master.hydra.overrides.task)
        parser = OverridesParser.create(config_loader=loader)
        jobs = [job for batch in BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
                for job in batch]
        hydra_overrides = list(master.hydra.overrides.hydra)
        composed, how = _compose_jobs(loader, parser, hydra_overrides, jobs)
        ranks = srun_ranks(master)
        for job in composed:
            job.ranks = ranks
        return composed, how


def _compose(loader, overrides: list[str]) -> DictConfig:
    return loader.load_configuration("config", [*overrides, OUTPUT_DIR], run_mode=RunMode.RUN)


def _compose_jobs(loader, parser, hydra_overrides: list[str], jobs: list[list[str]]) -> tuple[list[Job], str]:
    parsed = [parser.parse_overrides(job) for job in jobs]
    varying = {i for i in range(len(jobs[0])) if len({job[i] for job in jobs}) > 1}
    groups = {i for i in varying if _is_group(loader, parsed[0][i])}
    base_overrides = hydra_overrides + jobs[0]
    base = _compose(loader, base_overrides)
    values = [i for i in varying if i not in groups]
    if not all(_plain(parsed[0][i]) for i in values) or not all(_plain(parsed[0][i]) for i in groups):
        return _one_by_one(loader, hydra_overrides, jobs), "composed by Hydra, cell by cell"
    options: dict[tuple[int, str], Any] = {}        # (override position, option) -> the group's node, unresolved
    plain_base = _plain_container(base)
    for i in sorted(groups):
        key = parsed[0][i].key_or_group
        for job in jobs:
            if (i, job[i]) not in options:
                swapped = [*jobs[0][:i], job[i], *jobs[0][i + 1:]]
                plain = plain_base if job[i] == jobs[0][i] else _plain_container(_compose(loader, hydra_overrides + swapped))
                if not _local(plain, plain_base, key):
                    return _one_by_one(loader, hydra_overrides, jobs), "composed by Hydra, cell by cell"
                options[(i, job[i])] = plain.get(key, _ABSENT)
    cells = [Job(job, _assemble(plain_base, options, groups, [p[i] for i in values], job))
             for job, p in zip(jobs, parsed)]
    last = _plain_container(_compose(loader, hydra_overrides + jobs[-1]))
    if last != _plain_container(cells[-1].cfg):   # a group wrote outside its package after all
        return _one_by_one(loader, hydra_overrides, jobs), "composed by Hydra, cell by cell"
    if not options:
        return cells, "composed by Hydra"
    return cells, f"composed by Hydra once per option of each swept group ({len(options)} options)"


def _one_by_one(loader, hydra_overrides: list[str], jobs: list[list[str]]) -> list[Job]:
    return [Job(job, _compose(loader, hydra_overrides + job)) for job in jobs]


def _is_group(loader, override) -> bool:
    return loader.repository.group_exists(override.key_or_group)


def _plain(override) -> bool:
    """A `key=value` override (no package, no +, ++ or ~), into a top-level group or a dotted key."""
    return override.package is None and override.input_line.split("=", 1)[0] == override.key_or_group \
        and "/" not in override.key_or_group


def _plain_container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain containers, interpolations unresolved, without the hydra node (no cell reads it)."""
    out = OmegaConf.to_container(cfg, resolve=False)
    out.pop("hydra", None)
    return out


_ABSENT = object()   # a group whose option is null (e.g. mlm): no node


def _local(plain: dict[str, Any], base: dict[str, Any], group: str) -> bool:
    """True when the option chosen for `group` changed nothing outside the group's own node."""
    return {k: v for k, v in plain.items() if k != group} == {k: v for k, v in base.items() if k != group}


def _assemble(base: dict[str, Any], options: dict, groups: set[int], values: list, job: list[str]) -> DictConfig:
    """The base config with each swept group's node for this job's option, then its swept values applied."""
    plain = dict(base)
    for i in groups:
        key, node = job[i].split("=", 1)[0], options[(i, job[i])]
        if node is _ABSENT:
            plain.pop(key, None)
        else:
            plain[key] = node
    cfg = OmegaConf.create(plain)
    OmegaConf.set_struct(cfg, True)     # as Hydra's: an override of an unknown key is an error
    ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
    return cfg
