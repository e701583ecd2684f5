"""Stable content hashes for stage and cache keys."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(payload: Any, length: int = 16) -> str:
    """sha256 of the canonical JSON of payload (sorted keys), truncated."""
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def tokenizer_fingerprint(tokenizer) -> str:
    """Identity of a fast tokenizer: its full serialized state (vocab, normalizer, templates)."""
    cached = getattr(tokenizer, "_xtransfer_fingerprint", None)
    if cached is None:
        cached = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()[:16]
        tokenizer._xtransfer_fingerprint = cached
    return cached
