"""The pipeline's hook into the demo package: generate its datasets before a demo cell reads them."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from xtransfer.cache.hashing import digest
from xtransfer.cache.locking import build_once, is_complete, locked

log = logging.getLogger(__name__)


def _generator_version() -> str:
    from xtransfer import demo  # a tool package: imported only when a demo cell runs

    package = Path(demo.__file__).parent  # every module of the generator, in name order
    return digest([p.read_bytes().hex() for p in sorted(package.glob("*.py"), key=lambda p: p.name)])


def demo_data_current(root: Path) -> bool:
    """True when `root` holds complete demo data of this generator (a job will not regenerate it)."""
    stamp = root / "VERSION"
    return is_complete(root) and stamp.is_file() and stamp.read_text() == _generator_version()


def ensure_demo_data(root: Path) -> None:
    """Generate the demo datasets once (concurrent jobs wait), again when the generator changed."""
    from xtransfer import demo

    version = _generator_version()
    stamp = root / "VERSION"
    if root.exists() and not (stamp.is_file() and stamp.read_text() == version):
        with locked(root):
            if root.exists() and not (stamp.is_file() and stamp.read_text() == version):
                log.info("the demo data generator changed: regenerating %s", root)
                shutil.rmtree(root)

    def build(tmp: Path) -> None:
        demo.generate_demo_data(tmp)
        (tmp / "VERSION").write_text(version)

    if not build_once(root, build):
        log.info("generated the demo datasets in %s", root, extra={"console": True})
