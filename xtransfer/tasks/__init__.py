"""Task families: one module per kind of head. Importing this package registers every family."""
from xtransfer.config.schema import TaskSpec
from xtransfer.errors import ConfigError
from xtransfer.tasks import classification, entity, mlm, multiple_choice, retrieval, span, tagging  # noqa: F401  (register)
from xtransfer.tasks.base import FAMILIES, Family  # noqa: F401


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(f"unknown task family '{name}'; known families: {sorted(FAMILIES)}") from None


def main_metric(task: TaskSpec) -> str:
    """The metric that scores a task: its own choice, else its family's."""
    return task.main_metric or get_family(task.family).main_metric
