"""`python -m xtransfer.cache verify [--repair] DIR`: check every finished stage and feature
entry under DIR (e.g. outputs/cache) against its manifest, file sizes and contents.

Damaged ones are listed; with --repair they are moved aside (`<name>.damaged-<time>`) and the
next run that needs them builds them again. The `<name>.lock` files that older versions left beside
finished entries go (those no job holds). Exit 0: nothing damaged (or all repaired);
1: damage found and left as it is; 2: DIR is not a folder.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Iterator

from xtransfer.cache.locking import MARKER, locked, remove_unheld_lock
from xtransfer.cache.manifest import MANIFEST, move_aside, problem

_ASIDE = (".damaged-", ".stale-", ".tmp-", ".partial")


def finished_dirs(root: Path) -> Iterator[Path]:
    """Every complete build-once dir under root (not inside another one, not one set aside)."""
    for folder, dirs, files in os.walk(root):
        if MARKER in files:
            dirs.clear()
            yield Path(folder)
        dirs[:] = sorted(d for d in dirs if not any(mark in d for mark in _ASIDE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xtransfer.cache", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check sizes and contents against each manifest")
    verify.add_argument("dir", type=Path, help="a cache folder (paths.cache_dir, e.g. outputs/cache) or a stage")
    verify.add_argument("--repair", action="store_true", help="move damaged entries aside so they are rebuilt")
    args = parser.parse_args(argv)
    logging.getLogger("xtransfer").setLevel(logging.ERROR)  # this command prints what it finds itself

    if not args.dir.is_dir():
        print(f"{args.dir} is not a folder; give the stage cache, e.g. outputs/cache", file=sys.stderr)
        return 2
    checked, damaged, unchecked, unlocked = 0, 0, [], 0
    for folder in finished_dirs(args.dir):
        checked += 1
        with contextlib.suppress(OSError):  # a cache this user may only read keeps them
            unlocked += remove_unheld_lock(folder)
        if not (folder / MANIFEST).is_file():
            unchecked.append(folder)
            continue
        damage = problem(folder, content=True)
        if damage is None:
            continue
        damaged += 1
        if args.repair:
            with locked(folder):
                aside = move_aside(folder, damage)
            print(f"damaged: {folder}: {damage}; moved aside to {aside.name}, rebuilt when next needed")
        else:
            print(f"damaged: {folder}: {damage}")
    print(f"{checked} finished entries checked under {args.dir}: {damaged} damaged"
          + (" (moved aside)" if args.repair and damaged else "")
          + (f", {len(unchecked)} without a manifest (built by an older version; delete them to rebuild "
             f"with one)" if unchecked else ""))
    if unlocked:
        print(f"removed {unlocked} lock file(s) that an older version left beside finished entries")
    if damaged and not args.repair:
        print(f"repair: python -m xtransfer.cache verify --repair {args.dir}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
