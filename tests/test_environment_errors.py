"""The catalogue of bad inputs, part 4: the machine and the folders. A full disk, a read-only folder,
a file where a folder should be, a damaged model folder, two sweeps in one folder: one message naming
what failed and where, exit 2, and nothing finished lost."""
import errno
import json
import os
from pathlib import Path

import pytest

from tests.conftest import cli, compose_cfg
from xtransfer.cache import locking
from xtransfer.cache.manifest import problem
from xtransfer.cache.stages import Stage, StageStore, stage_key
from xtransfer.config.build import build_cell
from xtransfer.errors import EnvironmentProblem, XTransferError
from xtransfer.pipeline.cell import write_results
from xtransfer.pipeline.guard import failed_cells


def weights(out: Path) -> dict:
    (out / "weights.bin").write_bytes(b"w" * 32)
    return {"acc": 1.0}


def test_a_full_disk_during_a_build_is_one_message_and_keeps_finished_stages(tmp_path):
    store = StageStore(tmp_path / "stages")
    done = store.run("target", "xnli", {"k": 1}, weights)

    def full(out: Path) -> dict:
        (out / "half.bin").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "model.safetensors"))

    with pytest.raises(EnvironmentProblem) as error:
        store.run("target", "xnli", {"k": 2}, full)
    path = store.path("target", "xnli", stage_key("target", {"k": 2}))
    assert str(error.value) == (
        f"building {path} failed: No space left on device: {path.with_name(path.name + '.partial')}"
        f"/model.safetensors.\n  The disk is full. Free space on it, or write elsewhere: paths.outputs_root=<folder> "
        f"moves everything, paths.cache_dir=<folder> only the stage cache. Finished stages and results are kept; "
        f"rerun to continue from where this stopped.")
    assert sorted(p.name for p in (tmp_path / "stages" / "target").iterdir() if not p.name.endswith(".lock")) == [
        done.path.name]  # the half-built stage is gone, the finished one is whole
    assert problem(done.path, content=True) is None


def test_a_read_only_cache_at_publish_is_one_message(tmp_path, monkeypatch):
    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", str(src), None, str(dst))

    monkeypatch.setattr(locking.os, "rename", read_only)
    with pytest.raises(EnvironmentProblem, match=r"Read-only file system: .*\.partial -> .*\.\n  That file system is "
                                                 r"read-only\. Mount it writable, or write elsewhere"):
        StageStore(tmp_path / "stages").run("target", "xnli", {"k": 1}, weights)
    assert not any(p for p in (tmp_path / "stages" / "target").iterdir() if not p.name.endswith(".lock"))


def test_a_cache_dir_that_is_a_file_is_one_message(tmp_path):
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(EnvironmentProblem, match=rf"building {tmp_path}/cache/stages/target/xnli-\w+ failed: .*"
                                                 rf"\n  (A file stands where a folder is needed|A part of that path)"):
        StageStore(tmp_path / "cache" / "stages").run("target", "xnli", {"k": 1}, weights)


def test_a_full_disk_writing_results_keeps_the_old_results_and_names_the_folder(tmp_path, monkeypatch):
    cell = build_cell(compose_cfg(["experiment=demo", "target=pawsx", "target.languages=[en]"], tmp_path, "job"))
    stages = tmp_path / "cache" / "stages"
    (stages / "eval" / "pawsx-k" / "predictions").mkdir(parents=True)
    (stages / "eval" / "pawsx-k" / "predictions" / "test-en.tsv").write_text("1\n")
    ev = Stage("eval", "pawsx", "k", stages / "eval" / "pawsx-k", True, 0.0, {
        "main_metric": "acc", "metrics": {"test": {"en": {"acc": 50.0}}}, "averages": {"test": {"acc": 50.0}}})
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "results.json").write_text('{"score": 61.2}')

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(EnvironmentProblem, match=rf"could not write the results into {tmp_path / 'job'} \(the stages "
                                                 rf"are finished and cached in {stages}\): No space left on device"):
        write_results(cell, ev, [ev], None)
    monkeypatch.undo()
    assert json.loads((tmp_path / "job" / "results.json").read_text()) == {"score": 61.2}
    assert not (tmp_path / "job" / "results.json.tmp").exists()


def test_a_model_folder_with_damaged_weights_is_one_message(tmp_path):
    from xtransfer.config.schema import TinySpec
    from xtransfer.engine.modeling import build_tiny, load_encoder

    (tmp_path / "corpus.txt").write_text("a man eats .\n" * 30)
    build_tiny(TinySpec(tokenizer_files=str(tmp_path / "corpus.txt"), vocab_size=60, hidden_size=8, num_hidden_layers=1,
                        num_attention_heads=1, intermediate_size=8, max_position_embeddings=64, init_seed=0, architecture="xlmr"),
               tmp_path / "m")
    model = tmp_path / "m" / "model"
    (model / "model.safetensors").write_bytes((model / "model.safetensors").read_bytes()[:50])
    with pytest.raises(XTransferError, match=rf"could not load the model directory '{model}': SafetensorError: .*\n"
                                             rf"  Its weights or tokenizer files are damaged"):
        load_encoder(str(model))


def run_cli(*args: str, outputs: Path):
    proc = cli("xtransfer.run", *args, "experiment=demo", "logger=none", f"paths.outputs_root={outputs}")
    return proc, proc.stdout + proc.stderr


def test_cli_outputs_root_that_is_a_file(tmp_path):
    (tmp_path / "outputs").write_text("a file")
    proc, output = run_cli(outputs=tmp_path / "outputs")
    assert proc.returncode == 2 and "Traceback" not in output
    assert f"the job folder (paths.outputs_root): cannot write into {tmp_path / 'outputs'}/runs/" in output
    assert ": Not a directory: " in output and "  A part of that path is a file, not a folder." in output


def test_cli_cache_dir_that_is_a_file(tmp_path):
    (tmp_path / "cachefile").write_text("a file")
    proc, output = run_cli(f"paths.cache_dir={tmp_path / 'cachefile'}", outputs=tmp_path / "outputs")
    assert proc.returncode == 2 and "Traceback" not in output
    assert f"paths.cache_dir: cannot write into {tmp_path / 'cachefile'}: File exists: {tmp_path / 'cachefile'}." in output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_cli_read_only_outputs(tmp_path):
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs").chmod(0o555)
    try:
        proc, output = run_cli(outputs=tmp_path / "outputs")
    finally:
        (tmp_path / "outputs").chmod(0o755)
    assert proc.returncode == 2 and "Traceback" not in output and "Permission denied" in output


def test_cli_refuses_a_sweep_folder_that_holds_another_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    first, _ = run_cli("-m", f"hydra.sweep.dir={sweep}", "target.optim.lr=abc", outputs=tmp_path)
    assert first.returncode == 2 and json.loads((sweep / ".xtransfer-sweep.json").read_text())["overrides"]
    before = sorted(p.relative_to(sweep) for p in sweep.rglob("*"))
    other, output = run_cli("-m", f"hydra.sweep.dir={sweep}", "target.optim.lr=0,-1", outputs=tmp_path)
    assert other.returncode == 2 and "Traceback" not in output
    assert f"sweep folder {sweep} already holds the cells of another sweep" in output
    assert "hydra.sweep.dir=<folder>" in output
    assert sorted(p.relative_to(sweep) for p in sweep.rglob("*")) == before  # nothing overwritten
    same, output = run_cli("-m", f"hydra.sweep.dir={sweep}", "target.optim.lr=abc", outputs=tmp_path)
    assert same.returncode == 2 and "running the same sweep again" in output  # the same sweep may run again


def test_failed_cells_are_read_from_their_error_json(tmp_path):
    for job, message in (("0_tiny_none_xnli_s0", "bad\nsecond line"), ("1_tiny_none_pawsx_s0", None)):
        (tmp_path / job).mkdir()
        if message:
            (tmp_path / job / "error.json").write_text(json.dumps({"error": "DataError", "message": message}))
    (tmp_path / "2_x").mkdir()
    (tmp_path / "2_x" / "error.json").write_text("{broken")
    (first, message), (second, unreadable) = failed_cells(tmp_path)
    assert (first, message) == ("0_tiny_none_xnli_s0", "bad\nsecond line")
    assert second == "2_x" and unreadable.startswith("(unreadable error.json: Expecting property name")
