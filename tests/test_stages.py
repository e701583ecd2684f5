import multiprocessing as mp
import time
from pathlib import Path

import pytest

from xtransfer.cache.locking import MARKER
from xtransfer.cache.stages import StageStore, stage_key


def test_key_depends_on_payload_only():
    a = stage_key("target", {"lr": 1e-5, "seed": 0, "nested": {"x": [1, 2]}})
    assert a == stage_key("target", {"seed": 0, "nested": {"x": [1, 2]}, "lr": 1e-5})  # key order is irrelevant
    assert a != stage_key("target", {"lr": 2e-5, "seed": 0, "nested": {"x": [1, 2]}})
    assert a != stage_key("intermediate", {"lr": 1e-5, "seed": 0, "nested": {"x": [1, 2]}})


def test_store_builds_once_then_reuses(tmp_path):
    store, calls = StageStore(tmp_path), []

    def build(out: Path):
        calls.append(out)
        (out / "weights.bin").write_bytes(b"w")
        return {"acc": 91.5}

    first = store.run("target", "xnli", {"lr": 1}, build)
    second = store.run("target", "xnli", {"lr": 1}, build)
    assert len(calls) == 1 and not first.reused and second.reused
    assert first.path == second.path == tmp_path / "target" / f"xnli-{first.key}"
    assert second.metrics == {"acc": 91.5}
    assert (first.path / MARKER).is_file() and (first.path / "stage.yaml").is_file()
    assert "lr: 1" in (first.path / "stage.yaml").read_text()


def test_failed_build_leaves_nothing_and_keeps_finished_stages(tmp_path):
    store = StageStore(tmp_path)
    done = store.run("target", "xnli", {"lr": 1}, lambda out: {"acc": 1.0})

    def crash(out: Path):
        (out / "partial.bin").write_bytes(b"half")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        store.run("target", "xnli", {"lr": 2}, crash)
    assert sorted(p.name for p in (tmp_path / "target").iterdir() if not p.name.endswith(".lock")) == [done.path.name]
    assert store.run("target", "xnli", {"lr": 1}, crash).reused  # the finished stage is intact


def _slow_build(store_root: str, log_file: str) -> str:
    def build(out: Path):
        with open(log_file, "a") as f:
            f.write("built\n")
        time.sleep(1.0)
        return {}
    return str(StageStore(store_root).run("intermediate", "mnli", {"k": 1}, build).path)


def test_lock_lets_one_of_two_concurrent_jobs_build(tmp_path):
    log_file = tmp_path / "builds.log"
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        paths = pool.starmap(_slow_build, [(str(tmp_path / "s"), str(log_file))] * 2)
    assert paths[0] == paths[1]
    assert log_file.read_text() == "built\n"
