"""Stage locks (cache/locking.py) leave no `<stage>.lock` behind and stay exclusive: real processes
(spawned), the real flock. Light imports only: the spawned processes re-import this module."""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest

from xtransfer.cache import locking
from xtransfer.cache.locking import MARKER, build_once, locked, remove_unheld_lock, waited
from xtransfer.cache.stages import StageStore

SPAWN = mp.get_context("spawn")


def wait_until(found, what: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not found():
        assert time.time() < deadline, f"no {what} in {seconds:.0f} s"
        time.sleep(0.01)


def exclusively(root: Path, who: str, seconds: float) -> None:
    """A critical section that fails if another process is in it: an O_EXCL marker, held `seconds`."""
    marker = root / "inside"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise AssertionError(f"{who} holds the lock while {marker.read_text()} is inside") from None
    os.write(fd, who.encode())
    os.close(fd)
    with open(root / "entered", "a") as f:
        f.write(who + "\n")
    time.sleep(seconds)
    marker.unlink()


# ---- no lock file is left -------------------------------------------------------------------
def test_a_built_stage_leaves_no_lock_file_and_a_failed_build_leaves_its_lock_file(tmp_path):
    stage = StageStore(tmp_path).run("target", "xnli", {"k": 1}, lambda out: {"acc": 1})
    assert sorted(p.name for p in stage.path.parent.iterdir()) == [stage.path.name]

    def fails(out: Path):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="^boom$"):
        build_once(tmp_path / "broken", fails)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.lock", "target"]  # the next build takes it
    assert build_once(tmp_path / "broken", lambda out: (out / "x").write_text("x")) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "target"]


def test_an_unheld_lock_file_of_an_older_version_is_removed_and_a_held_one_is_not(tmp_path):
    path = tmp_path / "stage"
    assert remove_unheld_lock(path) is False and not (tmp_path / "stage.lock").exists()  # none there: none made
    (tmp_path / "stage.lock").write_text("")
    assert remove_unheld_lock(path) is True and list(tmp_path.iterdir()) == []
    with locked(path):
        assert remove_unheld_lock(path) is False and (tmp_path / "stage.lock").is_file()


# ---- several processes at once -------------------------------------------------------------------
def _hammer(root: str, who: str, rounds: int, barrier) -> None:
    results = []
    for r in range(rounds):
        barrier.wait(60)

        def build(out: Path) -> None:
            exclusively(Path(root), f"{who} round {r}", 0.05)
            with open(Path(root) / "builds", "a") as f:
                f.write(f"{r}\n")
            (out / "data").write_text(who)

        results.append(build_once(Path(root) / f"stage{r}", build))
    Path(root, f"{who}.json").write_text(json.dumps(results))


def test_processes_hammering_the_same_stages_build_each_once_and_leave_no_lock_file(tmp_path):
    jobs, rounds = 4, 12
    barrier = SPAWN.Barrier(jobs)
    processes = [SPAWN.Process(target=_hammer, args=(str(tmp_path), f"job{j}", rounds, barrier)) for j in range(jobs)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(300)
    assert [p.exitcode for p in processes] == [0] * jobs
    assert sorted((tmp_path / "builds").read_text().split()) == sorted(str(r) for r in range(rounds))  # once each
    reused = [json.loads((tmp_path / f"job{j}.json").read_text()) for j in range(jobs)]
    assert [sum(not job[r] for job in reused) for r in range(rounds)] == [1] * rounds   # one builder a round
    assert sorted(p.name for p in tmp_path.glob("stage*")) == sorted(f"stage{r}" for r in range(rounds))
    assert not list(tmp_path.glob("*.lock")) and not (tmp_path / "inside").exists()


# ---- the lock file unlinked under a waiting process --------------------------------------------------
def _hold_and_publish(root: str, may_leave: str) -> None:
    """A: holds the lock, completes the dir and, once told, leaves (the lock file goes with it)."""
    path = Path(root) / "stage"
    with locked(path):
        exclusively(Path(root), "A", 0)
        path.mkdir()
        (path / MARKER).write_text("ok\n")
        Path(root, "A.holds").write_text("")
        wait_until(Path(may_leave).exists, "word to leave")
    Path(root, "A.left").write_text("")  # the lock file unlinked, then let go


def _enter(root: str, who: str, after_a: bool = False) -> None:
    """B (it waits for A's lock) and C (it comes once A has left): the critical section."""
    class Said(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("waiting for another job"):
                Path(root, f"{who}.waits").write_text("")

    logging.getLogger("xtransfer.cache.locking").addHandler(Said())
    logging.getLogger("xtransfer.cache.locking").setLevel(logging.INFO)
    if after_a:
        Path(root, f"{who}.ready").write_text("")
        wait_until(Path(root, "A.left").exists, "A gone")
    with locked(Path(root) / "stage"):
        exclusively(Path(root), who, 1.0)


def blocked_on_a_flock(pid: int) -> bool:
    """/proc/locks lists a process waiting for a lock as `N: -> FLOCK ADVISORY WRITE <pid> ...`."""
    return any(line.split()[1:6:4] == ["->", str(pid)] for line in Path("/proc/locks").read_text().splitlines())


def test_a_process_that_waited_on_an_unlinked_lock_file_does_not_hold_the_lock_beside_a_newcomer(tmp_path):
    may_leave = tmp_path / "A.may-leave"
    a = SPAWN.Process(target=_hold_and_publish, args=(str(tmp_path), str(may_leave)))
    a.start()
    wait_until((tmp_path / "A.holds").exists, "A holding the lock")
    b = SPAWN.Process(target=_enter, args=(str(tmp_path), "B"))
    b.start()
    wait_until(lambda: blocked_on_a_flock(b.pid), "B blocked on A's lock file")
    # C comes the moment A has unlinked the lock file that B holds open and waits on: without the inode
    # check B would go on with that file, and C make a new one and lock it too
    c = SPAWN.Process(target=_enter, args=(str(tmp_path), "C", True))
    c.start()
    wait_until((tmp_path / "C.ready").exists, "C ready")
    may_leave.write_text("")
    for process in (a, b, c):
        process.join(60)
    assert [a.exitcode, b.exitcode, c.exitcode] == [0, 0, 0], "two processes held the lock at once (their stderr)"
    entered = (tmp_path / "entered").read_text().split()
    assert entered[0] == "A" and sorted(entered[1:]) == ["B", "C"]
    assert (tmp_path / "B.waits").exists() and (tmp_path / f"{entered[2]}.waits").exists()  # the last one waited
    assert not list(tmp_path.glob("*.lock"))  # the stage is complete: its lock file went with the last holder


def test_verify_removes_the_unheld_lock_files_an_older_version_left(tmp_path):
    from tests.conftest import cli

    store = StageStore(tmp_path)
    old, held = (store.run("target", "xnli", {"k": k}, lambda out: {"acc": 1}).path for k in (1, 2))
    for path in (old, held):
        Path(f"{path}.lock").write_text("")  # as every build of an older version left it
    with locked(held):  # a job holds this one now
        proc = cli("xtransfer.cache", "verify", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"2 finished entries checked under {tmp_path}: 0 damaged",
                                        "removed 1 lock file(s) that an older version left beside finished entries"]
    assert sorted(p.name for p in (tmp_path / "target").iterdir()) == sorted([old.name, held.name])
    assert cli("xtransfer.cache", "verify", str(tmp_path)).stdout.splitlines() == [
        f"2 finished entries checked under {tmp_path}: 0 damaged"]


# ---- in one process: the fd, the file, the time waited --------------------------------------------
def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_lock_file_is_readable_and_writable_by_whom_the_umask_lets(tmp_path):
    old = os.umask(0o002)  # a group-shared cache: the group's jobs must be able to open it too
    try:
        with locked(tmp_path / "stage"):
            mode = os.stat(tmp_path / "stage.lock").st_mode
    finally:
        os.umask(old)
    assert stat.S_IMODE(mode) == 0o664


def test_a_wait_that_is_interrupted_raises_its_own_error_and_leaks_no_fd(tmp_path):
    def interrupt(signum, frame):
        raise TimeoutError("told to stop while waiting")

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with locked(tmp_path / "stage"):  # another open file description: its flock blocks this process too
            before = open_fds()
            signal.setitimer(signal.ITIMER_REAL, 0.5)  # while it waits in flock
            with pytest.raises(TimeoutError, match="^told to stop while waiting$"):
                with locked(tmp_path / "stage"):
                    pass
            assert open_fds() == before
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_lock_file_deleted_under_its_holder_is_no_error(tmp_path):
    path = tmp_path / "stage"
    with locked(path):
        path.mkdir()
        (path / MARKER).write_text("ok\n")
        (tmp_path / "stage.lock").unlink()  # someone cleaned up the cache by hand meanwhile
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage"]


def test_the_seconds_waited_are_kept_per_dir_and_summed(tmp_path, monkeypatch):
    monkeypatch.setattr(locking, "_waited", {})
    assert repr(waited()) == "0.0" and waited(tmp_path / "a") == 0.0  # a float in results.json, as every time
    a, b = tmp_path / "a", tmp_path / "b"
    for path, seconds in ((a, 0.3), (b, 0.2), (a, 0.1)):
        holding = threading.Event()

        def hold(path=path, seconds=seconds):
            with locked(path):
                holding.set()
                time.sleep(seconds)

        holder = threading.Thread(target=hold)
        holder.start()
        holding.wait(10)
        with locked(path):
            pass
        holder.join()
    assert waited(a) > 0 and waited(b) > 0 and waited(tmp_path / "c") == 0.0  # (how long depends on the load)
    assert waited() == pytest.approx(waited(a) + waited(b), abs=1e-12)
