"""The stage store's other paths: what it writes, a leftover half-built folder, a job that waits
for another job's build (real processes, the real file lock) and reuses it, and the content
hashes every key is made of. Light imports only: the spawned job re-imports this module."""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import multiprocessing as mp
import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from xtransfer.cache import hashing, locking
from xtransfer.cache.hashing import digest, file_digest
from xtransfer.cache.locking import MARKER, RESUME, build_once, build_or_load, locked
from xtransfer.cache.manifest import write_manifest
from xtransfer.cache.stages import Stage, StageStore, duration, stage_key
from xtransfer.errors import EnvironmentProblem


# ---- what a finished stage holds ---------------------------------------------------------
def test_finished_stage_holds_its_payload_metrics_and_record(tmp_path):
    payload = {"task": "xnli", "lr": 1e-5, "note": "Köln"}
    stage = StageStore(tmp_path).run("target", "xnli", payload, lambda out: {"acc": 91.5, "lang": "日本"})
    assert stage.key == stage_key("target", payload) == digest({"kind": "target", **payload})
    assert (stage.kind, stage.name, stage.reused) == ("target", "xnli", False)
    assert stage.path == tmp_path / "target" / f"xnli-{stage.key}"
    assert yaml.safe_load((stage.path / "stage.yaml").read_text()) == {
        "kind": "target", "name": "xnli", "key": stage.key, "payload": payload}
    # readable: in the order written, unicode as is
    assert (stage.path / "stage.yaml").read_text(encoding="utf-8") == (
        f"kind: target\nname: xnli\nkey: {stage.key}\npayload:\n  task: xnli\n  lr: 1.0e-05\n  note: Köln\n")
    assert json.loads((stage.path / "metrics.json").read_text()) == stage.metrics == {"acc": 91.5, "lang": "日本"}
    assert (stage.path / "metrics.json").read_text(encoding="utf-8") == '{\n "acc": 91.5,\n "lang": "日本"\n}'
    assert (stage.path / MARKER).read_text() == "ok\n"
    assert Stage("eval", "xnli", "k", Path("/p"), True, 1.23456, {}, 0.987).record() == {
        "kind": "eval", "name": "xnli", "key": "k", "reused": True, "seconds": 1.23, "waited_s": 0.99, "ranks": 1,
        "path": "/p"}


def test_reuse_is_logged_and_timed(tmp_path, caplog):
    store = StageStore(tmp_path)
    with caplog.at_level(logging.INFO, logger="xtransfer.cache"):
        built = store.run("target", "xnli", {"k": 1}, lambda out: time.sleep(0.2) or {"val_score_best": 71.234})
        reused = store.run("target", "xnli", {"k": 1}, lambda out: {})
        store.run("eval", "xnli", {"k": 1}, lambda out: {})
    records = [r for r in caplog.records if r.name == "xtransfer.cache.stages"]
    key, eval_key = built.key, stage_key("eval", {"k": 1})
    assert [r.getMessage() for r in records] == [
        f"stage target/xnli-{key}: building", f"built  target/xnli-{key} in 0 s, best dev score 71.23",
        f"reused target/xnli-{key}", f"stage eval/xnli-{eval_key}: building", f"built  eval/xnli-{eval_key} in 0 s"]
    # the quiet console shows one line per stage; an evaluation's is the cell's score line instead
    assert [getattr(r, "console", False) for r in records] == [False, True, True, False, False]
    assert built.seconds >= 0.2 > reused.seconds


# ---- leftovers ------------------------------------------------------------------------------
def test_a_half_built_leftover_folder_is_rebuilt_not_reused(tmp_path):
    store, payload = StageStore(tmp_path), {"lr": 1}
    path = store.path("target", "xnli", stage_key("target", payload))
    (path / "model").mkdir(parents=True)                  # a crash of an older version: no marker
    (path / "model" / "half.bin").write_bytes(b"half")
    stage = store.run("target", "xnli", payload, lambda out: (out / "weights.bin").write_bytes(b"w") and {"acc": 1})
    assert stage.path == path and not stage.reused
    assert sorted(p.name for p in path.iterdir()) == [MARKER, "MANIFEST.json", "metrics.json", "stage.yaml", "weights.bin"]


def test_leftover_scratch_of_dead_jobs_is_cleared_or_reused(tmp_path):
    path = tmp_path / "stage"
    old = [tmp_path / f"stage.tmp-{pid}" for pid in (os.getpid(), 999999)]  # older versions' per-pid scratch
    scratch = tmp_path / "stage.partial"                                     # a killed job's: half output, a checkpoint
    for folder in (*old, scratch / "model", scratch / RESUME):
        folder.mkdir(parents=True)
        (folder / "junk").write_text("x")
    seen = []

    def build(out: Path) -> None:
        seen.extend(sorted(str(p.relative_to(out)) for p in out.rglob("*")))
        (out / "new").write_text("y")

    assert build_once(path, build) is False
    assert seen == [RESUME, f"{RESUME}/junk"]   # the build sees only the checkpoint it may resume from
    assert sorted(p.name for p in path.iterdir()) == [MARKER, "MANIFEST.json", "new"]   # published without it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage"]   # nothing else is left, not even its lock file
    assert build_once(path, lambda out: pytest.fail("a complete folder is never rebuilt")) is True


# ---- two jobs, one build ------------------------------------------------------------------
def _hold_the_build(root: str, gate: str, result: str) -> None:
    """Job A: builds the stage and keeps the lock until `gate` exists."""
    def build(out: Path):
        Path(gate + ".started").write_text("")
        deadline = time.time() + 60
        while not Path(gate).exists():
            assert time.time() < deadline, "never released"
            time.sleep(0.02)
        return {"built_by": "A"}

    stage = StageStore(root).run("intermediate", "mnli", {"k": 1}, build)
    Path(result).write_text(json.dumps({"reused": stage.reused, "metrics": stage.metrics}))


def test_a_job_that_waited_for_another_jobs_build_reuses_it(tmp_path, caplog):
    root, gate, result = str(tmp_path / "s"), str(tmp_path / "gate"), str(tmp_path / "a.json")
    job_a = mp.get_context("spawn").Process(target=_hold_the_build, args=(root, gate, result))
    job_a.start()
    try:
        deadline = time.time() + 120
        while not Path(gate + ".started").exists():  # A holds the lock and is building
            assert time.time() < deadline and job_a.is_alive(), "job A did not start its build"
            time.sleep(0.05)
        waited = threading.Event()

        class Release(logging.Handler):  # A finishes only once B is waiting on the lock
            def emit(self, record):
                if "waiting for another job" in record.getMessage():
                    waited.set()
                    Path(gate).write_text("")

        handler = Release()
        logging.getLogger("xtransfer.cache.locking").addHandler(handler)
        try:
            with caplog.at_level(logging.INFO, logger="xtransfer.cache"):
                stage_b = StageStore(root).run("intermediate", "mnli", {"k": 1},
                                               lambda out: pytest.fail("job B must not build"))
        finally:
            logging.getLogger("xtransfer.cache.locking").removeHandler(handler)
        job_a.join(60)
    finally:
        Path(gate).write_text("")
        job_a.join(10)
    assert waited.is_set() and job_a.exitcode == 0
    assert json.loads(Path(result).read_text()) == {"reused": False, "metrics": {"built_by": "A"}}
    assert stage_b.reused is True and stage_b.metrics == {"built_by": "A"}
    # the wait is timed: results.json's waited_s for the stage, and one line that says how long
    assert 0 < stage_b.waited <= stage_b.seconds and stage_b.record()["waited_s"] == round(stage_b.waited, 2)
    assert [r.getMessage() for r in caplog.records if r.name == "xtransfer.cache.locking"] == [
        f"waiting for another job to finish {stage_b.path}",
        f"waited {stage_b.waited:.0f} s for another job to finish {stage_b.path}"]


# ---- content hashes -------------------------------------------------------------------------
def test_digest_is_the_sha256_of_canonical_json():
    payload = {"b": [1, "Köln"], "a": None, "p": Path("x/y")}
    canonical = '{"a": null, "b": [1, "Köln"], "p": "x/y"}'  # sorted keys, UTF-8 kept, paths as text
    assert digest(payload) == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert digest(payload, length=40) == hashlib.sha256(canonical.encode()).hexdigest()[:40]
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1}) != digest({"a": 1, "b": 3})


def test_file_digest_is_the_bytes_and_never_trusts_a_fresh_mtime(tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, "_file_digests", {})
    f = tmp_path / "data.tsv"
    f.write_bytes(b"abc")
    assert file_digest(f) == hashlib.sha256(b"abc").hexdigest()
    stat = f.stat()
    f.write_bytes(b"abd")  # same size, rewritten within the mtime granularity
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(f) == hashlib.sha256(b"abd").hexdigest()
    assert hashing._file_digests == {}  # a file younger than the granularity is not memoized


def test_file_digest_memoizes_a_settled_file_by_path_size_and_mtime(tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, "_file_digests", {})
    f = tmp_path / "data.tsv"
    f.write_bytes(b"abc")
    old = time.time_ns() - hashing._RACY_NS - 10**9   # settled: older than the granularity
    os.utime(f, ns=(old, old))
    first = file_digest(f)
    assert hashing._file_digests == {(str(f.resolve()), 3, old): first}
    hashing._file_digests[(str(f.resolve()), 3, old)] = "memo"
    assert file_digest(f) == "memo"                    # read from the memo, not the disk
    os.utime(f, ns=(old + 1, old + 1))                 # touched: a new memo entry, the bytes read again
    assert file_digest(f) == first
    young = time.time_ns() - hashing._RACY_NS + 10**9  # within the granularity of now: not memoized
    os.utime(f, ns=(young, young))
    file_digest(f)
    assert len(hashing._file_digests) == 2
    monkeypatch.setattr(hashing.time, "time_ns", lambda: young + hashing._RACY_NS)  # exactly the granularity
    file_digest(f)
    assert len(hashing._file_digests) == 2


# ---- what a stage reports -------------------------------------------------------------------
def test_a_training_stage_reports_the_step_it_resumed_from(tmp_path):
    stage = Stage("target", "xnli", "k", Path("/p"), False, 200.0, {"acc": 1, "resumed_from_step": 40}, 0.0, 2)
    assert stage.record() == {"kind": "target", "name": "xnli", "key": "k", "reused": False, "seconds": 200.0,
                              "waited_s": 0.0, "ranks": 2, "path": "/p", "resumed_from_step": 40}
    assert "resumed_from_step" not in Stage("eval", "xnli", "k", Path("/p"), False, 1.0, {"acc": 1}).record()


def test_a_build_of_two_minutes_or_more_is_said_in_minutes():
    assert [duration(s) for s in (0.4, 119.4, 120, 600)] == ["0 s", "119 s", "2.0 min", "10.0 min"]


def test_a_stage_reports_only_the_wait_for_its_own_lock(tmp_path, monkeypatch):
    store, payload = StageStore(tmp_path), {"k": 1}
    path = store.path("target", "xnli", stage_key("target", payload))
    monkeypatch.setattr(locking, "_waited", {path: 5.0, tmp_path / "other": 3.0})  # earlier stages of this job
    assert store.run("target", "xnli", payload, lambda out: {}).record()["waited_s"] == 0.0


# ---- an upstream that is not known, or rebuilt while we waited -------------------------------
def test_a_stage_built_from_an_upstream_this_job_has_not_run_is_reused(tmp_path):
    """An eval job given the checkpoint by key: nothing to compare the recorded upstream build with."""
    first = StageStore(tmp_path)
    target = first.run("target", "xnli", {"k": 1}, lambda out: (out / "w").write_bytes(b"w") and {})
    ev = first.run("eval", "xnli", {"upstream": target.key}, lambda out: {"acc": 1})
    assert "upstream_build" in yaml.safe_load((ev.path / "stage.yaml").read_text())
    again = StageStore(tmp_path).run("eval", "xnli", {"upstream": target.key}, lambda out: pytest.fail("rebuilt"))
    assert again.reused and sorted(p.name for p in (tmp_path / "eval").iterdir()) == [ev.path.name]


def _record_upstream_build(stage: Path, build: str) -> None:
    text = (stage / "stage.yaml").read_text()
    recorded = yaml.safe_load(text)["upstream_build"]
    (stage / "stage.yaml").write_text(text.replace(recorded, build))
    write_manifest(stage, skip=(MARKER,))  # intact: only which upstream it was built from differs


def test_a_stale_stage_that_another_job_rebuilt_while_we_waited_is_reused(tmp_path):
    store = StageStore(tmp_path)
    target = store.run("target", "xnli", {"k": 1}, lambda out: (out / "w").write_bytes(b"w") and {})
    ev = store.run("eval", "xnli", {"upstream": target.key}, lambda out: {"acc": 1})
    current = yaml.safe_load((ev.path / "stage.yaml").read_text())["upstream_build"]
    _record_upstream_build(ev.path, "f" * len(current))  # stale: built from an earlier build of the target
    holding, waiting = threading.Event(), threading.Event()

    class Waiting(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("waiting for another job"):
                waiting.set()

    def other_job() -> None:  # holds the lock, and rebuilds the eval from the current target meanwhile
        with locked(ev.path):
            holding.set()
            assert waiting.wait(30)
            _record_upstream_build(ev.path, current)

    handler = Waiting()
    logging.getLogger("xtransfer.cache.locking").addHandler(handler)
    logging.getLogger("xtransfer.cache.locking").setLevel(logging.INFO)
    job = threading.Thread(target=other_job)
    try:
        job.start()
        assert holding.wait(30)
        again = store.run("eval", "xnli", {"upstream": target.key}, lambda out: pytest.fail("rebuilt"))
    finally:
        waiting.set()
        job.join(30)
        logging.getLogger("xtransfer.cache.locking").removeHandler(handler)
        logging.getLogger("xtransfer.cache.locking").setLevel(logging.NOTSET)
    assert again.reused and sorted(p.name for p in (tmp_path / "eval").iterdir()) == [ev.path.name]


# ---- build_once: verify, load failures, the machine refusing ------------------------------------
def same_size_other_bytes(path: Path) -> None:
    path.write_bytes(bytes(b ^ 0xFF for b in path.read_bytes()))


def test_verify_checks_the_contents_once_per_process(tmp_path, monkeypatch):
    monkeypatch.setattr(locking, "_verified", set())
    path, calls = tmp_path / "stage", []

    def build(out: Path) -> None:
        calls.append(out)
        (out / "w").write_bytes(b"weights")

    assert build_once(path, build) is False
    same_size_other_bytes(path / "w")
    assert build_once(path, build) is True                 # sizes only: the default (cache.verify=false)
    assert build_once(path, build, verify=True) is False   # the contents: changed, so moved aside and rebuilt
    assert len(calls) == 2 and len(list(tmp_path.glob("stage.damaged-*"))) == 1
    assert build_once(path, build, verify=True) is True    # checked now ...
    same_size_other_bytes(path / "w")
    assert build_once(path, build, verify=True) is True and len(calls) == 2  # ... and not hashed again


def test_build_or_load_verifies_when_asked_and_rebuilds_what_fails_to_load(tmp_path, caplog):
    path, calls = tmp_path / "stage", []

    def build(out: Path) -> None:
        calls.append(out)
        (out / "w").write_bytes(b"weights")

    def load(found: Path) -> bytes:
        if len(calls) == 1:
            raise ValueError("written by another version")
        return (found / "w").read_bytes()

    with pytest.raises(ValueError, match="^written by another version$"):  # built just now: a bug, shown
        build_or_load(path, build, load)
    with caplog.at_level(logging.WARNING, logger="xtransfer.cache"):
        assert build_or_load(path, build, load) == (b"weights", False)     # reused, fails to load: rebuilt
    [aside] = tmp_path.glob("stage.damaged-*")
    assert f"{path} is damaged: it fails to load (ValueError: written by another version). " \
           f"Moved it aside to {aside.name}" in caplog.text
    same_size_other_bytes(path / "w")
    assert build_or_load(path, build, load, verify=True) == (b"weights", False) and len(calls) == 3


def test_a_full_disk_while_building_is_one_message_naming_the_folder(tmp_path):
    def build(out: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "w"))

    with pytest.raises(EnvironmentProblem) as error:
        build_once(tmp_path / "stage", build)
    assert str(error.value) == (
        f"building {tmp_path / 'stage'} failed: No space left on device: {tmp_path / 'stage.partial' / 'w'}.\n"
        f"  The disk is full. Free space on it, or write elsewhere: paths.outputs_root=<folder> moves everything, "
        f"paths.cache_dir=<folder> only the stage cache. Finished stages and results are kept; rerun to continue "
        f"from where this stopped.")

    def bug(out: Path) -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "nowhere")

    with pytest.raises(FileNotFoundError):  # not the machine's doing: shown as it is
        build_once(tmp_path / "stage", bug)


def test_a_leftover_that_cannot_be_removed_does_not_stop_the_build(tmp_path):
    (tmp_path / "stage.tmp-7").write_text("")  # not a folder: rmtree fails on it
    assert build_once(tmp_path / "stage", lambda out: (out / "w").write_text("w")) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage", "stage.tmp-7"]


def test_a_failed_build_raises_its_own_error_when_its_scratch_cannot_be_cleared(tmp_path):
    def build(out: Path) -> None:  # leaves its scratch as a link to a folder: rmdir fails on it
        out.rename(tmp_path / "elsewhere")
        out.symlink_to(tmp_path / "elsewhere")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="^boom$"):
        build_once(tmp_path / "stage", build)


# ---- the locale -----------------------------------------------------------------------------
def rebuilt_upstream(root: str) -> list:
    """A stage with a non-ASCII payload and metrics, reused, then redone once its upstream is rebuilt."""
    from xtransfer.cache.manifest import move_aside

    def run(store: StageStore, weights: bytes) -> Stage:
        upstream = store.run("target", "xnli", {"k": 1}, lambda out: (out / "w").write_bytes(weights) and {})
        return store.run("eval", "xnli", {"upstream": upstream.key, "note": "K\u00f6ln"},
                         lambda out: {"lang": "\u65e5\u672c"})

    first = run(StageStore(root), b"1")
    again = run(StageStore(root), b"1")
    move_aside(first.path.parent.parent / "target" / f"xnli-{stage_key('target', {'k': 1})}", "a test")
    redone = run(StageStore(root), b"2")
    return [(s.reused, s.metrics) for s in (first, again, redone)]


def test_a_cache_is_read_and_written_as_utf8_whatever_the_locale(tmp_path):
    """An ASCII locale (LANG=C without Python's coercion to C.UTF-8) writes and reads the same cache."""
    import subprocess
    import sys

    from tests.conftest import REPO

    expected = [(False, {"lang": "\u65e5\u672c"}), (True, {"lang": "\u65e5\u672c"}), (False, {"lang": "\u65e5\u672c"})]
    assert rebuilt_upstream(str(tmp_path / "utf8")) == expected
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", "import json, sys; from tests.test_cache_store import rebuilt_upstream; "
                           "print(json.dumps(rebuilt_upstream(sys.argv[1])))", str(tmp_path / "c")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [tuple(s) for s in json.loads(proc.stdout)] == expected
