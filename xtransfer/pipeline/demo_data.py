"""The pipeline's hook into the demo package: generate its datasets before a demo cell reads them."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from xtransfer.cache.hashing import digest
from xtransfer.cache.locking import build_once, locked

log = logging.getLogger(__name__)


def ensure_demo_data(root: Path) -> None:
    """Generate the demo datasets once (concurrent jobs wait), again when the generator changed."""
    from xtransfer import demo  # a tool package: imported only when a demo cell runs

    package = Path(demo.__file__).parent  # every module of the generator, in name order
    version = digest([p.read_bytes().hex() for p in sorted(package.glob("*.py"), key=lambda p: p.name)])
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
        log.info("generated the demo datasets in %s", root)
