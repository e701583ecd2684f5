"""Ctrl-C in a job: remember that SIGINT came, whatever turns it into an exception afterwards
(Lightning catches KeyboardInterrupt inside fit and exits with SystemExit(1))."""
from __future__ import annotations

import signal
import threading

_received = threading.Event()


def _on_sigint(signum, frame) -> None:
    _received.set()
    raise KeyboardInterrupt


def install() -> None:
    """Our SIGINT handler for this job (only the main thread may set one; elsewhere nothing changes)."""
    _received.clear()
    try:
        signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:
        pass


def received() -> bool:
    return _received.is_set()
