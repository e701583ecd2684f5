"""The catalogue of bad inputs, part 1: settings. Each is refused when the config is built, before
anything trains: one message naming the key, the value and what is allowed; exit 2 from the CLI."""
import json
from pathlib import Path

import pytest

from tests.conftest import cli, compose_cfg, run_main
from xtransfer.cache.manifest import problem
from xtransfer.cache.stages import StageStore
from xtransfer.config.build import build_cell
from xtransfer.config.schema import OptimSpec, spec_from_conf
from xtransfer.errors import ConfigError

PRECISIONS = "['auto', '32-true', 'bf16-mixed', '16-mixed', 'bf16-true', '16-true', '64-true']"

# (overrides, the exact message): every numeric setting has a range, every enumeration its choices.
CASES = [
    (["target.optim.epochs=-1"], "target.optim.epochs must be >= 1, got -1 (whole passes over the training data; "
                                 "max_steps caps the steps)"),
    (["target.optim.epochs=2.5"], "target.optim.epochs must be an integer >= 1, got 2.5 (whole passes over the "
                                  "training data; max_steps caps the steps)"),
    (["target.optim.batch_size=0"], "target.optim.batch_size must be >= 1, got 0"),
    (["intermediate=mnli", "intermediate.optim.lr=abc"], "intermediate.optim.lr must be a number > 0, got 'abc'"),
    (["target.optim.lr=0"], "target.optim.lr must be > 0, got 0"),
    (["target.optim.warmup_ratio=1.5"], "target.optim.warmup_ratio must be >= 0 and <= 1, got 1.5 "
                                        "(the fraction of the steps that warm up)"),
    (["target.optim.max_grad_norm=-1"], "target.optim.max_grad_norm must be >= 0, got -1 (0 turns clipping off)"),
    (["target.optim.grad_accum=0"], "target.optim.grad_accum must be >= 1, got 0"),
    (["target.optim.max_steps=0"], "target.optim.max_steps must be >= 1 (or -1), got 0 (-1: no cap)"),
    (["target.optim.max_tokens=0"], "target.optim.max_tokens must be >= 1 or null, got 0"),
    (["target.optim.max_val_examples=-5"], "target.optim.max_val_examples must be >= 1 or null, got -5"),
    (["target.optim.weight_decay=-0.1"], "target.optim.weight_decay must be >= 0, got -0.1"),
    (["target.optim.select_best=maybe"], "target.optim.select_best must be true or false, got 'maybe'"),
    (["seed=abc"], "seed must be an integer >= 0 and <= 4294967295, got 'abc'"),
    (["seed=-1"], "seed must be >= 0 and <= 4294967295, got -1"),
    (["trainer.precision=bogus"], f"trainer.precision must be one of {PRECISIONS}, got 'bogus'"),
    (["trainer.precision=32"], f"trainer.precision must be one of {PRECISIONS}, got 32"),
    (["trainer.accelerator=tpuu"], "trainer.accelerator must be one of ['auto', 'cpu', 'gpu', 'cuda', 'mps'], "
                                   "got 'tpuu'"),
    (["trainer.eval_batch_size=0"], "trainer.eval_batch_size must be >= 1, got 0"),
    (["trainer.num_workers=-1"], "trainer.num_workers must be >= 0, got -1"),
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps must be >= 1, got 0"),
    (["logger.mode=sometimes"], "logger.mode must be one of ['auto', 'online', 'offline', 'disabled'] or null, "
                                "got 'sometimes'"),
    (["target=tatoeba", "target.embedding.pooling=max"], "target.embedding.pooling must be 'mean' or 'cls', "
                                                         "got 'max'"),
    (["target=tatoeba", "target.embedding.layer=-2"], "target.embedding.layer must be >= 0 or null, got -2"),
    (["target.select_on=dev"], "target 'xnli': select_on must be one of eval_task (the eval task's English dev "
                               "split), train_task (the train task's English dev split); got 'dev'"),
    (["target.eval_task.source=web"], "task 'xnli': source must be 'hub' or 'local', got 'web'"),
    (["target.eval_task.max_length=2"], "task 'xnli': max_length must be >= 8, got 2"),
    (["target.languages=en"], "target.languages must be a list of strings, got 'en'"),
    (["intermediate=multitask", "intermediate.sampling.max_examples_per_task=0"],
     "intermediate.sampling.max_examples_per_task must be >= 1 or null, got 0"),
    (["mlm=before", "mlm.mode=after"], "mlm.mode must be 'before' or 'mixed', got 'after' (before: a stage before "
                                       "the intermediate; mixed: an extra task in intermediate training)"),
    (["model=tiny", "model.tiny.hidden_size=0"], "model.tiny.hidden_size must be >= 1, got 0"),
    (["model=tiny", "model.tiny.num_attention_heads=3"],
     "model.tiny.hidden_size=128 must be a multiple of model.tiny.num_attention_heads=3"),
    (["cache.verify=yes"], "cache.verify must be true or false, got 'yes'"),
]


@pytest.mark.parametrize("overrides,message", CASES, ids=[" ".join(o) for o, _ in CASES])
def test_bad_setting_is_one_message_naming_key_value_and_what_is_allowed(overrides, message, tmp_path):
    with pytest.raises(ConfigError) as error:
        build_cell(compose_cfg(["experiment=demo", *overrides], tmp_path))
    assert str(error.value) == message


@pytest.mark.parametrize("overrides,message", CASES, ids=[" ".join(o) for o, _ in CASES])
def test_the_cli_refuses_it_with_exit_2_no_traceback_and_nothing_lost(overrides, message, finished, capfd,
                                                                       monkeypatch):
    """Through Hydra's entry point (in process): exit 2, the message once, error.json, no traceback; the
    finished stage and results.json already in the outputs folder are untouched."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    outputs, stage, results = finished
    quiet = [] if any(o.startswith("logger") for o in overrides) else ["logger=none"]
    code, output = run_main(["experiment=demo", *quiet, *overrides, f"paths.outputs_root={outputs}"], capfd)
    assert code == 2, output[-2000:]
    assert output.count(message) == 1 and "Traceback" not in output
    [error] = outputs.glob("runs/*/*/error.json")
    assert json.loads(error.read_text()) == {"error": "ConfigError", "message": message}
    assert_intact(stage, results)


def test_good_edge_values_pass(tmp_path):
    cell = build_cell(compose_cfg(["experiment=demo", "target.optim.max_steps=-1", "target.optim.warmup_ratio=0",
                                   "target.optim.max_grad_norm=0", "trainer.num_workers=0", "seed=4294967295",
                                   "target.optim.lr=1", "trainer.precision=bf16-mixed"], tmp_path))
    assert (cell.target.optim.max_steps, cell.seed, cell.runtime.precision) == (-1, 4294967295, "bf16-mixed")


def test_specs_built_in_code_are_checked_the_same_way():
    with pytest.raises(ConfigError, match=r"^optim/finetune.yaml: epochs must be >= 1, got 0 \("):
        spec_from_conf(OptimSpec, "optim/finetune.yaml", epochs=0)


@pytest.fixture
def finished(tmp_path):
    """An outputs root holding a finished stage and a results.json, to show a failed run leaves them be."""
    stage = StageStore(tmp_path / "cache" / "stages").run("target", "xnli", {"k": 1}, lambda out: {"acc": 1.0})
    results = tmp_path / "runs" / "old" / "results.json"
    results.parent.mkdir(parents=True)
    results.write_text('{"score": 61.2}')
    return tmp_path, stage.path, results


def assert_intact(stage: Path, results: Path) -> None:
    assert problem(stage, content=True) is None and (stage / "COMPLETE").is_file()
    assert json.loads(results.read_text()) == {"score": 61.2}


@pytest.mark.parametrize("override,message", [
    ("target.optim.epochs=-1", "target.optim.epochs must be >= 1, got -1"),
    ("seed=abc", "seed must be an integer >= 0 and <= 4294967295, got 'abc'"),
    ("trainer.precision=bogus", "trainer.precision must be one of ['auto', "),
])
def test_cli_refuses_a_bad_setting_in_one_line_with_exit_2(override, message, finished):
    outputs, stage, results = finished
    proc = cli("xtransfer.run", "experiment=demo", "logger=none", override, f"paths.outputs_root={outputs}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-2000:]
    assert message in output and "Traceback" not in output and output.count(message) == 1
    error = json.loads(next(outputs.glob("runs/*/*/error.json")).read_text())
    assert error["error"] == "ConfigError" and message in error["message"]
    assert_intact(stage, results)


def test_a_sweep_of_bad_values_reports_every_cell_in_one_line_and_exits_2(finished):
    """The same message as a single run per cell, no traceback, every cell tried, exit 2, a summary."""
    outputs, stage, results = finished
    proc = cli("xtransfer.run", "-m", "experiment=demo", "logger=none", "target.optim.lr=abc,0",
               "preflight=false", f"paths.outputs_root={outputs}")   # the cells themselves, not the grid check
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "Error executing job" not in output
    for value, message in (("abc", "target.optim.lr must be a number > 0, got 'abc'"),
                           ("0", "target.optim.lr must be > 0, got 0")):
        assert output.count(message) == 2  # when the cell fails, and in the sweep's list of failed cells
    assert "2 cell(s) of the sweep failed" in output
    errors = sorted(outputs.glob("multiruns/*/*/*/error.json"))
    assert [p.parent.name.split("_")[0] for p in errors] == ["0", "1"]
    assert_intact(stage, results)
