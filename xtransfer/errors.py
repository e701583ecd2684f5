"""User-facing errors: one clear message, no traceback, non-zero exit (see run.py)."""


class XTransferError(Exception):
    """Something the user can fix: bad data, a missing file, an unreachable hub, a bad option."""


class DataError(XTransferError):
    """A data file or hub dataset that cannot be read as the task config says."""


class ConfigError(XTransferError):
    """A config value that cannot work."""
