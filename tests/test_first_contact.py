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
