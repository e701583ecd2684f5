"""Task families. Importing this package registers every family."""
from xtransfer.tasks import classification  # noqa: F401
from xtransfer.tasks.base import FAMILIES, Family, get_family  # noqa: F401
