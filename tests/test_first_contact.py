"""First contact: the mission's command without the Hub, the quiet demo grid, Ctrl-C, --help."""
import os
import subprocess
import sys
import time

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
    for group in ("model", "intermediate", "target", "mlm", "experiment", "offline", "data", "logger"):
        options = {p.stem for p in (REPO / "conf" / group).glob("*.yaml")}
        assert options <= set(axes[group]), (group, options - set(axes[group]))
    assert set(axes) == {"model", "intermediate", "target", "seed", "mlm", "experiment", "offline", "data", "logger"}
    for internal in ("catalog", "optim", "task", "paths", "sampling", "plan", "claims"):
        assert f"{internal}:" not in proc.stdout and f"\n  {internal}=" not in proc.stdout
    examples = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("python -m xtransfer.run")]
    assert len(examples) == 5 and any("experiment=demo" in e for e in examples)
    assert any("hydra/launcher=slurm" in e for e in examples) and any("data=local" in e for e in examples)
    assert "outputs/multiruns/<date>/<time>/ (report.md" in proc.stdout and "--hydra-help" in proc.stdout
