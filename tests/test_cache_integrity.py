"""The catalogue of bad inputs, part 3: a damaged cache. A finished stage or feature entry lists its
files (MANIFEST.json: size + blake2b); reuse checks the sizes, the contents when asked or when loading
fails; a damaged one is reported naming its folder, moved aside (not deleted) and rebuilt."""
import hashlib
import json
import logging
import time
from pathlib import Path

import pytest

from tests.conftest import cli
from xtransfer.cache import locking
from xtransfer.cache.locking import build_once
from xtransfer.cache.manifest import MANIFEST, build_id, move_aside, problem
from xtransfer.cache.stages import StageDamaged, StageStore
from xtransfer.config.build import build_task
from xtransfer.engine.features import load_features


class Builds:
    """A build that writes a weights file and counts its calls; `vary`: other weights each time (a GPU
    run is not bit-reproducible)."""

    def __init__(self, vary: bool = False):
        self.calls, self.vary = 0, vary

    def __call__(self, out: Path) -> dict:
        self.calls += 1
        (out / "model").mkdir()
        (out / "model" / "model.safetensors").write_bytes(b"w" * 63 + bytes([self.calls if self.vary else 0]))
        return {"acc": 91.5}


def aside(path: Path, state: str = "damaged") -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.{state}-*"))


def flip_a_byte(path: Path, at: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def store(tmp_path):
    return StageStore(tmp_path / "stages")


def test_a_finished_stage_lists_its_files_with_sizes_and_hashes(store):
    stage = store.run("target", "xnli", {"k": 1}, Builds())
    files = json.loads((stage.path / MANIFEST).read_text())["files"]
    assert sorted(files) == ["metrics.json", "model/model.safetensors", "stage.yaml"]
    assert files["model/model.safetensors"][0] == 64 and len(files["model/model.safetensors"][1]) == 32


def test_a_truncated_checkpoint_is_reported_moved_aside_and_rebuilt(store, caplog):
    build = Builds()
    first = store.run("target", "xnli", {"k": 1}, build)
    weights = first.path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:20])
    with caplog.at_level(logging.WARNING):
        again = StageStore(store.root).run("target", "xnli", {"k": 1}, build)
    assert build.calls == 2 and not again.reused and again.path == first.path
    assert problem(again.path, content=True) is None
    [moved] = aside(first.path)
    assert (moved / "model" / "model.safetensors").read_bytes() == b"w" * 20  # kept, not deleted
    assert (f"{first.path} is damaged: model/model.safetensors has 20 bytes, 64 when it was built "
            f"(truncated or overwritten). Moved it aside to {moved.name}") in caplog.text


def test_a_missing_file_is_damage_too(store):
    build = Builds()
    first = store.run("target", "xnli", {"k": 1}, build)
    (first.path / "model" / "model.safetensors").unlink()
    assert not StageStore(store.root).run("target", "xnli", {"k": 1}, build).reused and build.calls == 2


def test_a_corrupt_metrics_json_of_the_same_size_is_found_when_it_fails_to_load(store, caplog):
    build = Builds()
    first = store.run("target", "xnli", {"k": 1}, build)
    metrics = first.path / "metrics.json"
    metrics.write_text("#" * len(metrics.read_bytes()))
    with caplog.at_level(logging.WARNING):
        again = StageStore(store.root).run("target", "xnli", {"k": 1}, build)
    assert build.calls == 2 and again.metrics == {"acc": 91.5}
    assert "metrics.json has changed since it was built" in caplog.text and len(aside(first.path)) == 1


def test_changed_bytes_of_the_same_size_are_found_when_verifying(store, monkeypatch):
    build = Builds()
    first = store.run("target", "xnli", {"k": 1}, build)
    flip_a_byte(first.path / "model" / "model.safetensors")
    assert StageStore(store.root).run("target", "xnli", {"k": 1}, build).reused  # sizes only, by default
    monkeypatch.setattr(locking, "VERIFY_CONTENT", True)  # cache.verify=true
    assert not StageStore(store.root).run("target", "xnli", {"k": 1}, build).reused and build.calls == 2


def test_a_stage_from_before_manifests_is_reused(store):
    build = Builds()
    first = store.run("target", "xnli", {"k": 1}, build)
    (first.path / MANIFEST).unlink()
    assert StageStore(store.root).run("target", "xnli", {"k": 1}, build).reused and build.calls == 1


def test_a_reused_eval_never_hides_a_rebuilt_checkpoint(store, caplog):
    """The target checkpoint is truncated: it is rebuilt (other weights), and the evaluation of the old
    one is redone; a rebuild with the same bytes would keep it."""
    train, evaluate = Builds(vary=True), Builds()
    target = store.run("target", "xnli", {"k": 1}, train)
    ev = store.run("eval", "xnli", {"upstream": target.key}, evaluate)
    (target.path / "model" / "model.safetensors").write_bytes(b"")
    rerun = StageStore(store.root)
    target2 = rerun.run("target", "xnli", {"k": 1}, train)
    with caplog.at_level(logging.WARNING):
        ev2 = rerun.run("eval", "xnli", {"upstream": target2.key}, evaluate)
    assert (train.calls, evaluate.calls) == (2, 2) and not ev2.reused and ev2.path == ev.path
    assert f"{ev.path} is stale: it was built from an earlier build of {target.path}" in caplog.text
    again = StageStore(store.root)  # and from now on both are reused
    assert again.run("eval", "xnli", {"upstream": again.run("target", "xnli", {"k": 1}, train).key}, evaluate).reused


def test_a_build_that_fails_on_a_damaged_upstream_moves_it_aside(store, caplog):
    """Loading a reused checkpoint fails (same size, other bytes): the upstream is named and set aside."""
    target = store.run("target", "xnli", {"k": 1}, Builds())
    flip_a_byte(target.path / "model" / "model.safetensors")
    rerun = StageStore(store.root)
    assert rerun.run("target", "xnli", {"k": 1}, Builds()).reused

    def evaluate(out: Path) -> dict:
        raise ValueError("header too large")  # what safetensors says about a damaged file

    with caplog.at_level(logging.WARNING, logger="xtransfer.cache.manifest"):
        with pytest.raises(StageDamaged, match=rf"stage {target.path} is damaged \(model/model.safetensors has changed") as e:
            rerun.run("eval", "xnli", {"upstream": target.key}, evaluate)
    [moved] = aside(target.path)
    assert not target.path.exists() and str(e.value.__cause__) == "header too large"  # the failure it caused, kept
    assert caplog.messages == [f"{target.path} is damaged: model/model.safetensors has changed since it was built "
                               f"(its content hash differs). Moved it aside to {moved.name} (delete that when you "
                               f"no longer need it)"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from xtransfer.config.schema import TinySpec
    from xtransfer.engine.modeling import train_tiny_tokenizer

    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "en.txt").write_text("a man eats . someone eats . a dog runs .\n" * 30)
    return train_tiny_tokenizer(TinySpec(tokenizer_files=str(corpus / "*.txt"), vocab_size=60, hidden_size=8,
                                         num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
                                         max_position_embeddings=64, init_seed=0, architecture="xlmr"))


def nli_task(root: Path):
    (root / "train.tsv").write_text("gold_label\tsentence1\tsentence2\n" +
                                    "entailment\ta man eats .\tsomeone eats .\n" * 40)
    return build_task({"name": "nli", "family": "classification", "languages": ["en"], "max_length": 32,
                       "labels": ["entailment", "neutral", "contradiction"], "source": "local",
                       "local": {"format": "tsv", "root": str(root), "files": {"train": "train.tsv"},
                                 "columns": {"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"}}})


def test_truncated_cached_features_are_rebuilt(tmp_path, tokenizer, caplog):
    task = nli_task(tmp_path)
    first = [list(ids) for ids in load_features(task, "train", "en", tokenizer, tmp_path / "cache")["input_ids"]]
    [arrow] = (tmp_path / "cache" / "features").rglob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        again = load_features(task, "train", "en", tokenizer, tmp_path / "cache")
    assert [list(ids) for ids in again["input_ids"]] == first and len(first) == 40
    assert f"{arrow.parent.parent} is damaged: data/{arrow.name} has 100 bytes" in caplog.text


def test_verify_cli_lists_damage_and_repair_moves_it_aside(store):
    good = store.run("target", "xnli", {"k": 1}, Builds())
    bad = store.run("target", "xnli", {"k": 2}, Builds())
    flip_a_byte(bad.path / "model" / "model.safetensors")
    proc = cli("xtransfer.cache", "verify", str(store.root))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        f"damaged: {bad.path}: model/model.safetensors has changed since it was built (its content hash differs)",
        f"2 finished entries checked under {store.root}: 1 damaged",
        f"repair: python -m xtransfer.cache verify --repair {store.root}"]
    repair = cli("xtransfer.cache", "verify", "--repair", str(store.root))
    assert repair.returncode == 0 and "moved aside to" in repair.stdout
    assert not bad.path.exists() and len(aside(bad.path)) == 1 and problem(good.path, content=True) is None
    assert cli("xtransfer.cache", "verify", str(store.root)).returncode == 0
    assert cli("xtransfer.cache", "verify", str(store.root / "nowhere")).returncode == 2


# ---- the manifest and a dir moved aside, exactly ---------------------------------------------
def test_the_manifest_and_the_build_id_are_pinned(tmp_path):
    """Caches outlive versions: the manifest's text and the build id (stage.yaml's upstream_build) stay."""
    path = tmp_path / "stage"
    build_once(path, lambda out: ((out / "a").write_bytes(b"x"), (out / "m").mkdir(), (out / "m" / "b").write_bytes(b"yz")))
    a, b = (hashlib.blake2b(data, digest_size=16).hexdigest() for data in (b"x", b"yz"))
    assert (path / MANIFEST).read_text() == (
        f'{{\n"files": {{\n"a": [\n1,\n"{a}"\n],\n"m/b": [\n2,\n"{b}"\n]\n}},\n"hash": "blake2b-128"\n}}')
    assert build_id(path) == "4cd4bc3b2fca3048"


def test_dirs_moved_aside_in_the_same_second_get_numbered_names(tmp_path, monkeypatch, caplog):
    strftime = time.strftime
    monkeypatch.setattr(time, "strftime", lambda fmt: strftime(fmt, time.gmtime(86400 + 3661)))
    path = tmp_path / "stage"
    with caplog.at_level(logging.WARNING, logger="xtransfer.cache.manifest"):
        for n in range(3):
            path.mkdir()
            assert move_aside(path, f"reason {n}").name == ["stage.damaged-19700102-010101",
                                                            "stage.damaged-19700102-010101-2",
                                                            "stage.damaged-19700102-010101-3"][n]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stage.damaged-19700102-010101", "stage.damaged-19700102-010101-2", "stage.damaged-19700102-010101-3"]
    assert caplog.messages[0] == (f"{path} is damaged: reason 0. Moved it aside to stage.damaged-19700102-010101 "
                                  f"(delete that when you no longer need it)")


def test_a_failure_after_an_upstream_built_in_this_job_is_reported_as_it_is(store):
    """Only a reused upstream may have been damaged behind the job's back: one it built itself is not
    suspected (nor hashed) when a later build fails."""
    target = store.run("target", "xnli", {"k": 1}, Builds())
    flip_a_byte(target.path / "model" / "model.safetensors")

    def evaluate(out: Path) -> dict:
        raise ValueError("header too large")

    with pytest.raises(ValueError, match="^header too large$"):
        store.run("eval", "xnli", {"upstream": target.key}, evaluate)
    assert target.path.is_dir() and aside(target.path) == []


# ---- verify, in this process ----------------------------------------------------------------------
@pytest.fixture
def verify(capsys):
    """`python -m xtransfer.cache verify ...` in this process -> (exit code, stdout lines, stderr)."""
    from xtransfer.cache.__main__ import main

    level = logging.getLogger("xtransfer").level
    try:
        yield lambda *args: (main(["verify", *map(str, args)]), *capsys.readouterr())
    finally:
        logging.getLogger("xtransfer").setLevel(level)  # main quietens the package's logging


def test_verify_lists_finished_entries_only_and_repairs_in_place(store, verify):
    from xtransfer.cache.__main__ import finished_dirs

    good = store.run("target", "xnli", {"k": 1}, Builds())
    bad = store.run("target", "xnli", {"k": 2}, Builds())
    old = store.run("target", "xnli", {"k": 3}, Builds())
    (old.path / MANIFEST).unlink()  # built before manifests
    (good.path / "nested").mkdir()
    (good.path / "nested" / "COMPLETE").write_text("ok\n")  # inside a finished one: part of it
    for leftover in ("x.damaged-1", "x.stale-1", "x.tmp-1", "x.partial"):
        (store.root / "target" / leftover).mkdir()
        (store.root / "target" / leftover / "COMPLETE").write_text("ok\n")
    Path(f"{old.path}.lock").write_text("")
    assert list(finished_dirs(store.root)) == sorted([good.path, bad.path, old.path])
    flip_a_byte(bad.path / "model" / "model.safetensors")
    damage = "model/model.safetensors has changed since it was built (its content hash differs)"

    code, out, err = verify(store.root)
    assert (code, err) == (1, "") and out.splitlines() == [
        f"damaged: {bad.path}: {damage}",
        f"3 finished entries checked under {store.root}: 1 damaged, 1 without a manifest (built by an older "
        f"version; delete them to rebuild with one)",
        "removed 1 lock file(s) that an older version left beside finished entries",
        f"repair: python -m xtransfer.cache verify --repair {store.root}"]
    assert bad.path.is_dir() and not Path(f"{old.path}.lock").exists()

    code, out, err = verify("--repair", store.root)
    [moved] = aside(bad.path)
    assert (code, err) == (0, "") and out.splitlines() == [
        f"damaged: {bad.path}: {damage}; moved aside to {moved.name}, rebuilt when next needed",
        f"3 finished entries checked under {store.root}: 1 damaged (moved aside), 1 without a manifest (built by "
        f"an older version; delete them to rebuild with one)"]
    assert not bad.path.exists() and not Path(f"{moved}.lock").exists()

    (old.path / "COMPLETE").unlink()
    assert verify(good.path) == (0, f"1 finished entries checked under {good.path}: 0 damaged\n", "")
    assert verify(store.root / "nowhere") == (
        2, "", f"{store.root / 'nowhere'} is not a folder; give the stage cache, e.g. outputs/cache\n")


def test_verify_says_what_it_does_and_what_it_needs(verify, capsys, monkeypatch):
    from xtransfer.cache.__main__ import main

    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal
    with pytest.raises(SystemExit) as code:
        main(["--help"])
    assert code.value.code == 0 and capsys.readouterr().out.splitlines()[:7] == [
        "usage: python -m xtransfer.cache [-h] {verify} ...", "",
        "`python -m xtransfer.cache verify [--repair] DIR`: check every finished stage and feature entry",
        "under DIR (e.g. outputs/cache) against its manifest, file sizes and contents.", "",
        "positional arguments:", "  {verify}"]
    with pytest.raises(SystemExit) as code:
        main(["verify", "--help"])
    assert code.value.code == 0 and capsys.readouterr().out.splitlines() == [
        "usage: python -m xtransfer.cache verify [-h] [--repair] dir", "", "positional arguments:",
        "  dir         a cache folder (paths.cache_dir, e.g. outputs/cache) or a stage", "", "options:",
        "  -h, --help  show this help message and exit",
        "  --repair    move damaged entries aside so they are rebuilt"]
    with pytest.raises(SystemExit) as code:
        main(["--help"])
    assert "    verify    check sizes and contents against each manifest" in capsys.readouterr().out.splitlines()
    with pytest.raises(SystemExit) as code:
        main([])
    assert code.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == (
        "python -m xtransfer.cache: error: the following arguments are required: command")


def test_verify_counts_every_damaged_entry_and_prints_only_its_own_lines(tmp_path, verify):
    for name in ("a", "b", "c"):  # intact, then two damaged: in this order
        build_once(tmp_path / name, lambda out: (out / "w").write_bytes(b"weights"))
    for name in ("b", "c"):
        flip_a_byte(tmp_path / name / "w", at=0)
    (tmp_path / "a.lock").mkdir()  # cannot be opened as a lock file (as a read-only cache could not): left
    code, out, err = verify(tmp_path)
    assert (code, err) == (1, "") and out.splitlines() == [
        f"damaged: {tmp_path / 'b'}: w has changed since it was built (its content hash differs)",
        f"damaged: {tmp_path / 'c'}: w has changed since it was built (its content hash differs)",
        f"3 finished entries checked under {tmp_path}: 2 damaged",
        f"repair: python -m xtransfer.cache verify --repair {tmp_path}"]
    assert (tmp_path / "a.lock").is_dir()
    assert logging.getLogger("xtransfer").level == logging.ERROR  # the package's warnings would repeat its lines
