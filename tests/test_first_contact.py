"""First contact: the mission's command without the Hub, the quiet demo grid, Ctrl-C, --help."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from xtransfer.pipeline.hub_probe import WAYS_FORWARD


def test_mission_command_offline_with_an_empty_cache_fails_fast_naming_the_demo(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_CACHE", None), env.pop("HF_DATASETS_CACHE", None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "xtransfer.run", "-m", "intermediate=squad,mnli,hellaswag",
                           f"paths.outputs_root={tmp_path / 'out'}"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and seconds < 15, (proc.returncode, seconds)
    assert output.startswith("preflight: 3 of 3 cells lack data, so nothing was trained.")
    assert "hub model FacebookAI/xlm-roberta-base @ " in output and "needed by 3 cells" in output
    assert output.rstrip().endswith(WAYS_FORWARD) and "add offline=demo" in output
    assert "Traceback" not in output and not list((tmp_path / "out").rglob("*/results.json"))
    assert not list((tmp_path / "out").rglob("error.json")) and not list((tmp_path / "out" / "cache").iterdir())


def test_help_lists_the_axes_with_every_choice_five_examples_and_where_results_go():
    proc = subprocess.run([sys.executable, "-m", "xtransfer.run", "--help"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("xtransfer: does training a multilingual encoder")
    axes, section = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("  ") and "=" in line.split()[0] and section in ("Grid axes", "Settings"):
            key = line.split()[0].rstrip("=")
            axes[key] = line.split()[1:]
        elif line.startswith("                 ") and section == "Grid axes":
            axes[key] += line.split()
        else:
            section = line.split(" (")[0].rstrip(":") if line and not line.startswith(" ") else section
    for group in ("model", "intermediate", "target", "mlm", "experiment", "benchmark", "offline", "data", "logger"):
        options = {p.stem for p in (REPO / "conf" / group).glob("*.yaml")}
        assert options <= set(axes[group]), (group, options - set(axes[group]))
    assert set(axes) == {"model", "intermediate", "target", "seed", "mlm", "experiment", "benchmark", "offline", "data",
                         "logger"}
    for internal in ("catalog", "optim", "task", "paths", "sampling", "plan", "claims"):
        assert f"{internal}:" not in proc.stdout and f"\n  {internal}=" not in proc.stdout
    examples = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("python -m xtransfer.run")]
    assert len(examples) == 5 and any("experiment=demo" in e for e in examples)
    assert any("hydra/launcher=slurm" in e for e in examples) and any("data=local" in e for e in examples)
    assert "outputs/multiruns/<date>/<time>/ (report.md" in proc.stdout and "--hydra-help" in proc.stdout


@pytest.mark.slow
def test_ctrl_c_in_a_sweep_reports_the_finished_cell_and_resumes_in_the_same_folder(tmp_path):
    budget = ["experiment=demo", "logger=none", "target.languages=[en,de]", "target.optim.max_train_examples=300",
              "target.optim.epochs=1", "intermediate.optim.max_train_examples=20000", "intermediate.optim.epochs=5"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "xtransfer.run", "-m", "intermediate=none,mnli", "target=xnli",
                             *budget, f"paths.outputs_root={tmp_path}"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    for line in proc.stdout:   # the first cell's score, then the second cell trains its intermediate
        lines.append(line)
        if "reused pretrained" in line and any("#1 :" in seen for seen in lines):
            break
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    output = "".join(lines) + proc.stdout.read()
    assert proc.wait(timeout=300) == 130, output
    sweep = next(tmp_path.glob("multiruns/*/*"))
    assert "interrupted (Ctrl-C): 1 of 2 cells finished, 1 did not." in output
    assert "  finished:     tiny / none / xnli / seed 0" in output
    assert "  not finished: tiny / mnli / xnli / seed 0" in output
    assert f"Report of the finished cells: {sweep / 'report.md'}" in output
    assert "| none |" in (sweep / "report.md").read_text() and "Traceback" not in output
    resume = output.split("Resume in the same folder (finished stages are reused):\n  ")[1].splitlines()[0]
    assert resume.endswith(f"hydra.sweep.dir={sweep}") and " -m xtransfer.run -m " in resume
    assert not (sweep / "1_tiny_mnli_xnli_s0" / "results.json").exists()

    args = shlex.split(resume)[1:]
    again = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert list(tmp_path.glob("multiruns/*/*")) == [sweep]   # no new sweep folder
    assert (sweep / "0_tiny_none_xnli_s0" / "results.json").is_file()
    assert (sweep / "1_tiny_mnli_xnli_s0" / "results.json").is_file()
    assert "reused target/xnli" in again.stdout and "2 cells, 0 failed or missing" in again.stdout


def _job(root: Path, name: str, intermediate: str, target: str = "xnli", lr: float = 1e-3) -> Path:
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / "results.json").write_text(json.dumps({"model": "tiny", "intermediate": intermediate, "target": target,
                                                  "seed": 0, "setting": "zero-shot"}))
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({
        "model": {"name": "tiny"}, "target": {"name": target, "optim": {"lr": lr}}, "data": {"kind": "demo"},
        "seed": 0, "mlm": None, "trainer": {"precision": "auto"}}))
    return job


def test_a_grid_without_none_borrows_the_same_settings_baseline_or_says_how_to_add_it(tmp_path):
    from xtransfer.report import baseline
    outputs = tmp_path / "outputs"
    sweep = outputs / "multiruns" / "2026-12-02" / "10-00-00"
    _job(sweep, "0_tiny_mnli_xnli_s0", "mnli")
    _job(sweep, "1_tiny_mnli_pawsx_s0", "mnli", target="pawsx")
    (sweep / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": [
        "intermediate=mnli", "target=xnli,pawsx", "experiment=demo"]}}}))
    older = outputs / "multiruns" / "2026-12-01" / "09-00-00"
    same = _job(older, "0_tiny_none_xnli_s0", "none")
    _job(older, "1_tiny_none_pawsx_s0", "none", target="pawsx", lr=5e-4)   # other settings: not a baseline
    _job(older, "2_tiny_mnli_xnli_s0", "mnli")
    assert set(baseline.lacking(sweep)) == {("tiny", "xnli", 0, "zero-shot"), ("tiny", "pawsx", 0, "zero-shot")}
    assert baseline.borrowed(sweep, outputs) == [same]
    assert baseline.still_lacking(sweep, [same]) == {("tiny", "pawsx", 0, "zero-shot")}
    what, command = baseline.add_baseline_hint(sweep, {("tiny", "pawsx", 0, "zero-shot")})
    assert what.startswith("no `none` (zero-shot) result for tiny/pawsx/seed 0, so the tables show absolute scores")
    assert command == "python -m xtransfer.run -m intermediate=none target=pawsx experiment=demo"


def test_a_sweep_where_every_cell_failed_still_writes_a_report_with_each_reason(tmp_path, caplog):
    from xtransfer.report.callback import write_failure_report
    for job, message in [("0_tiny_none_xnli_s0", "this cell lacks data; nothing was trained:\n  - missing file /x"),
                         ("1_tiny_mnli_xnli_s0", "model.tiny.tokenizer_files matches no file: /y")]:
        (tmp_path / job).mkdir()
        (tmp_path / job / "error.json").write_text(json.dumps({"error": "DataError", "message": message}))
    with caplog.at_level("INFO"):
        write_failure_report(tmp_path)
    assert (tmp_path / "report.md").read_text() == (
        "# Grid report\n\nNo cell of the sweep finished, so there are no scores.\n\n"
        "| cell | why it failed (its error.json has the whole message) |\n|---|---|\n"
        "| 0_tiny_none_xnli_s0 | this cell lacks data; nothing was trained: |\n"
        "| 1_tiny_mnli_xnli_s0 | model.tiny.tokenizer_files matches no file: /y |\n")
    assert f"no cell of the sweep finished; report of the failures: {tmp_path / 'report.md'}" in caplog.text


def test_a_single_run_offline_with_an_empty_cache_fails_fast_too(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_CACHE", None), env.pop("HF_DATASETS_CACHE", None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "xtransfer.run", "target=pawsx", f"paths.outputs_root={tmp_path / 'out'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and time.monotonic() - started < 15
    assert output.startswith("preflight: 1 of 1 cell lacks data, so nothing was trained.")
    assert "hub dataset google-research-datasets/paws-x @ " in output and "needed by 1 cell: this run" in output
    assert output.rstrip().endswith(WAYS_FORWARD) and "Traceback" not in output


def test_heatmap_colours_have_one_scale_per_metric_and_report_md_shows_its_figures(tmp_path):
    import pandas as pd
    from tests.test_report import write_cell
    from xtransfer.report.build import Options, write_report
    from xtransfer.report.plots import colour_scale
    base = pd.DataFrame({"xnli": [2.5, -0.5], "pawsx": [-6.6, float("nan")], "xquad": [9.0, 1.0]}, index=["mnli", "qqp"])
    large = pd.DataFrame({"xnli": [4.0], "xquad": [-14.4]}, index=["mnli"])
    metrics = {"xnli": "acc", "pawsx": "acc", "xquad": "f1"}
    assert colour_scale({"base": base, "large": large}, metrics) == {"xnli": 6.6, "pawsx": 6.6, "xquad": 14.4}
    assert colour_scale({"base": base}, {}) == {"xnli": 5.0, "pawsx": 6.6, "xquad": 9.0}   # per target; 5 at least
    for model, params in [("small", 10**6), ("large", 10**8)]:
        for intermediate, score in [("none", 50.0), ("mnli", 53.0)]:
            write_cell(tmp_path / f"{model}_{intermediate}", intermediate, "xnli", 0, score, model=model,
                       num_parameters=params)
    write_report([tmp_path], tmp_path, Options(uncertainty=False))
    assert "\n## Figures\n\n![heatmap](heatmap.png)\n\n![scaling](scaling.png)\n" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "heatmap.png").read_bytes()[:4] == (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"


def test_the_sweep_report_of_a_grid_without_none_says_how_to_add_the_baseline(tmp_path, caplog):
    from omegaconf import OmegaConf
    from tests.test_report import write_cell
    from xtransfer.report.callback import write_sweep_report
    sweep = tmp_path / "outputs" / "multiruns" / "2026-12-02" / "10-00-00"
    write_cell(sweep / "0_m_mnli_xnli_s0", "mnli", "xnli", 0, 61.0)
    (sweep / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": ["intermediate=mnli"]}}}))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}, "paths": {"outputs_root": str(tmp_path / "outputs")},
                               "logger": {"kind": "none"}, "report": {"split": "test"}})
    with caplog.at_level("INFO"):
        assert write_sweep_report(config, quiet=False, uncertainty=False) is True
    command = "python -m xtransfer.run -m intermediate=none target=xnli"
    assert f"this sweep run again (its stages are cached) takes the gains from it:\n  {command}\n" in caplog.text
    assert "| mnli | 61.00 | 61.00 |" in caplog.text
    assert (sweep / "report.md").read_text().endswith(
        f"## No baseline\n\nno `none` (zero-shot) result for m/xnli/seed 0, so the tables show absolute scores only; "
        f"add the baseline with the command below; then the report of this sweep run again (its stages are cached) "
        f"takes the gains from it:\n\n    {command}\n")


def test_the_quiet_console_shows_marked_lines_sweep_messages_and_problems_only():
    import logging
    from xtransfer.pipeline.quiet import ConsoleFilter, ConsoleFormatter

    def record(name: str, level: int, console: bool = False) -> logging.LogRecord:
        r = logging.LogRecord(name, level, __file__, 1, "the message", None, None)
        if console:
            r.console = True
        return r

    quiet, verbose = ConsoleFilter(verbose=False), ConsoleFilter(verbose=True)
    shown = [record("xtransfer.cache.stages", logging.INFO, console=True), record("xtransfer", logging.INFO),
             record("hydra.core.utils", logging.INFO), record("xtransfer.engine.features", logging.WARNING),
             record("py.warnings", logging.ERROR)]
    hidden = [record("xtransfer.engine.features", logging.INFO), record("lightning.pytorch.utilities.rank_zero", 20),
              record("py.warnings", logging.WARNING), record("transformers.modeling_utils", logging.WARNING)]
    assert [quiet.filter(r) for r in shown] == [True] * 5 and [quiet.filter(r) for r in hidden] == [False] * 4
    assert all(verbose.filter(r) for r in shown + hidden)
    warning = record("xtransfer.engine.features", logging.WARNING)
    text = ConsoleFormatter(verbose=False).format(warning)
    assert text[0] == "[" and text[9:] == "] WARNING: the message" and len(text) == len("[12:34:56] WARNING: the message")
    assert ConsoleFormatter(verbose=False).format(record("xtransfer", logging.INFO))[10:] == " the message"
    assert ConsoleFormatter(verbose=True).format(warning).endswith("[xtransfer.engine.features][WARNING] - the message")
