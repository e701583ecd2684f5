"""The README's demo grid, end to end (slow: run with `pytest -m slow`)."""
import json

import pytest

from tests.test_cli import xtransfer


@pytest.mark.slow
def test_readme_demo_grid(tmp_path):
    grid = ["-m", "intermediate=none,mnli,qqp", "target=xnli,pawsx", "experiment=demo", "logger=csv",
            "trainer.enable_progress_bar=false"]
    proc = xtransfer(*grid, outputs=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in tmp_path.glob("multiruns/*/*/*/results.json")]
    assert len(results) == 6
    trained = [(s["kind"], s["name"]) for r in results for s in r["stages"] if not s["reused"]]
    assert sorted(n for k, n in trained if k == "intermediate") == ["mnli", "qqp"]
    for r in results:
        chance = 100 / 3 if r["target"] == "xnli" else 50
        assert r["metrics"]["test"]["en"]["acc"] > chance + 25, (r["intermediate"], r["target"])
