"""Stable content hashes for stage and cache keys."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any


def digest(payload: Any, length: int = 16) -> str:
    """sha256 of the canonical JSON of payload (sorted keys), truncated."""
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def tokenizer_fingerprint(tokenizer) -> str:
    """Identity of a fast tokenizer: its full serialized state (vocab, normalizer, templates), less the
    truncation and padding that transformers sets on every call (a checkpoint saved after training
    carries the last call's): they never change what a call returns."""
    cached = getattr(tokenizer, "_xtransfer_fingerprint", None)
    if cached is None:
        state = json.loads(tokenizer.backend_tokenizer.to_str())
        cached = digest({k: v for k, v in state.items() if k not in ("truncation", "padding")})
        tokenizer._xtransfer_fingerprint = cached
    return cached


_file_digests: dict[tuple[str, int, int], str] = {}
_RACY_NS = 2_000_000_000  # coarser than any filesystem's mtime granularity we expect (FAT: 2 s)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, memoized per (path, size, mtime) within the process."""
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo in _file_digests:
        return _file_digests[memo]
    with path.open("rb") as f:
        value = hashlib.file_digest(f, "sha256").hexdigest()
    # A file modified within the mtime granularity may be rewritten with the same size and mtime
    # ("racy git"): memoize only files that have been still for longer than that.
    if time.time_ns() - stat.st_mtime_ns > _RACY_NS:
        _file_digests[memo] = value
    return value
