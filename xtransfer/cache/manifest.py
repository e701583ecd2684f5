"""What a finished build-once dir holds: MANIFEST.json lists every file with its size and a
blake2b hash of its bytes, written just before the completion marker.

Reuse checks the sizes (a stat per file) every time, and the contents when asked
(`cache.verify=true`, `python -m xtransfer.cache verify`) or when loading a reused dir
fails. A dir that fails its check is moved aside, never deleted, and built again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
_CHUNK = 1 << 20


def content_hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path, skip: set[str]) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() not in skip)


def write_manifest(root: Path, skip: tuple[str, ...] = ()) -> None:
    """List every file under root (except `skip` and the manifest itself): size and content hash."""
    files = {p.relative_to(root).as_posix(): [p.stat().st_size, content_hash(p)]
             for p in _files(root, {MANIFEST, *skip})}
    (root / MANIFEST).write_text(json.dumps({"hash": "blake2b-128", "files": files}, indent=0, sort_keys=True))


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest, or None when the dir has none (built before manifests existed)."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def problem(root: Path, content: bool = False) -> str | None:
    """What is wrong with a finished dir, or None: a listed file missing or of another size, and
    with content=True one whose bytes changed. A dir without a manifest cannot be checked (None)."""
    try:
        manifest = read_manifest(root)
    except (ValueError, OSError) as e:
        return f"its {MANIFEST} is unreadable ({e})"
    if manifest is None:
        return None
    for name, (size, digest) in sorted(manifest["files"].items()):
        path = root / name
        if not path.is_file():
            return f"{name} is missing"
        actual = path.stat().st_size
        if actual != size:
            return f"{name} has {actual} bytes, {size} when it was built (truncated or overwritten)"
        if content and content_hash(path) != digest:
            return f"{name} has changed since it was built (its content hash differs)"
    return None


def build_id(root: Path) -> str | None:
    """Names one build of a dir (its manifest's hashes): a stage records its upstream's, so a
    rebuilt upstream is noticed by the stages built from the old one."""
    try:
        manifest = read_manifest(root)
    except (ValueError, OSError):
        return None
    if manifest is None:
        return None
    text = json.dumps(manifest["files"], sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def move_aside(root: Path, why: str, state: str = "damaged") -> Path:
    """Rename a damaged (or stale) dir to `<name>.<state>-<time>` beside it, and say so."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = root.with_name(f"{root.name}.{state}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = root.with_name(f"{root.name}.{state}-{stamp}-{n}")
    os.rename(root, target)
    log.warning("%s is %s: %s. Moved it aside to %s (delete that when you no longer need it)",
                root, state, why, target.name)
    return target
