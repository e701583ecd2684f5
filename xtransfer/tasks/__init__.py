"""Task families. Importing this package registers every family."""
from xtransfer.tasks import classification  # noqa: F401
from xtransfer.tasks import multiple_choice  # noqa: F401
from xtransfer.tasks import tagging  # noqa: F401
from xtransfer.tasks import retrieval  # noqa: F401
from xtransfer.tasks import span  # noqa: F401
from xtransfer.tasks import mlm  # noqa: F401
from xtransfer.tasks.base import FAMILIES, Family, get_family  # noqa: F401
