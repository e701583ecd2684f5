"""The grid report on hand-made results.json files: arithmetic, seeds, missing and failed cells, merging."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from tests.conftest import REPO
from xtransfer.report.callback import write_sweep_report
from xtransfer.report.build import Options, main, write_report
from xtransfer.report.collect import CellId, expected_cells

# (intermediate, target) -> score per seed 0, 1. Hand-computed below.
GRID = {("none", "xnli"): [60, 62], ("none", "pawsx"): [80, 80],
        ("mnli", "xnli"): [65, 69], ("mnli", "pawsx"): [78, 80],
        ("qqp", "xnli"): [61, 61], ("qqp", "pawsx"): [84, 86]}


def write_cell(job: Path, intermediate: str, target: str, seed: int, score: float, model: str = "m",
               **extra) -> Path:
    """A results.json whose score is the mean of en (score + 10) and de (score - 10)."""
    job.mkdir(parents=True)
    results = {"model": model, "intermediate": intermediate, "target": target, "seed": seed,
               "score": score, "score_split": "test", "main_metric": "acc", "languages": ["en", "de"],
               "metrics": {"validation": {"en": {"acc": score, "f1": score}},
                           "test": {"en": {"acc": score + 10}, "de": {"acc": score - 10}}},
               "averages": {"test": {"acc": score}}, "stages": [], "predictions": "predictions", **extra}
    (job / "results.json").write_text(json.dumps(results))
    return job / "results.json"


def write_hydra_config(job: Path, intermediate: str, target: str, seed: int = 0, model: str = "tiny") -> None:
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"model": {"name": model}, "intermediate": {"name": intermediate},
                                     "target": {"name": target}, "seed": seed}), job / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create([f"intermediate={intermediate}", f"target={target}", "experiment=demo"]),
                   job / ".hydra" / "overrides.yaml")


def write_multirun_yaml(sweep: Path, task_overrides: list[str], params: dict | None = None) -> None:
    sweep.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create({
        "hydra": {"sweeper": {"params": params}, "overrides": {"task": task_overrides}},
        "model": {"name": "tiny"}, "intermediate": {"name": "none"}, "target": {"name": "xnli"}, "seed": 0}),
        sweep / "multirun.yaml")


@pytest.fixture
def grid_sweep(tmp_path) -> Path:
    sweep = tmp_path / "sweep"
    for n, ((intermediate, target), scores) in enumerate(GRID.items()):
        for seed, score in enumerate(scores):
            write_cell(sweep / f"{n}_m_{intermediate}_{target}_s{seed}", intermediate, target, seed, score)
    return sweep


def test_scores_deltas_and_best_per_task_match_hand_computed_figures(grid_sweep, tmp_path):
    report = write_report([grid_sweep], tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    # none: xnli 60, 62 -> 61 +- 1.41; pawsx 80, 80 -> 80 +- 0; avg (61 + 80) / 2 = 70.5
    assert "| none | 80.00 ± 0.00 (n=2) | 61.00 ± 1.41 (n=2) | 70.50 |" in md
    assert "| mnli | 79.00 ± 1.41 (n=2) | 67.00 ± 2.83 (n=2) | 73.00 |" in md
    # paired gains: mnli xnli +5, +7 -> +6; pawsx -2, 0 -> -1; avg +2.5. qqp: 0 and +5 -> +2.5
    assert "| mnli | -1.00 ± 1.41 (n=2) | +6.00 ± 1.41 (n=2) | +2.50 |" in md
    assert "| qqp | +5.00 ± 1.41 (n=2) | +0.00 ± 1.41 (n=2) | +2.50 |" in md
    # best: xnli mnli 67 (+6), pawsx qqp 85 (+5) -> best-per-task average 76, gain +5.5
    assert "| xnli | `mnli` | 67.00 ± 2.83 (n=2) | 61.00 ± 1.41 (n=2) | +6.00 ± 1.41 (n=2) |" in md
    assert "| pawsx | `qqp` | 85.00 ± 1.41 (n=2) | 80.00 ± 0.00 (n=2) | +5.00 ± 1.41 (n=2) |" in md
    assert "Best-per-task average (zero-shot): 76.00 over 2 targets; gain over none: +5.50" in md
    assert report.headlines["m"]["best_per_task_avg"] == pytest.approx(76.0)
    assert report.headlines["m"]["best_per_task_delta"] == pytest.approx(5.5)
    # per language (en = score + 10, de = score - 10), none on xnli
    assert "| none | 71.00 ± 1.41 (n=2) | 51.00 ± 1.41 (n=2) | 61.00 ± 1.41 (n=2) |" in md
    assert "None: every cell has a result." in md


def test_seed_statistics_are_mean_sample_std_and_count(tmp_path):
    sweep = tmp_path / "sweep"
    for seed, score in enumerate([60.0, 63.0, 66.0]):
        write_cell(sweep / f"{seed}_none", "none", "xnli", seed, score)
    scores = write_report([sweep], tmp_path / "out").tables["scores"]
    row = scores.iloc[0]
    assert (row["mean"], row["std"], row["n"]) == (63.0, 3.0, 3)   # sample std of 60, 63, 66
    assert "| none | 63.00 ± 3.00 (n=3) | 63.00 |" in (tmp_path / "out" / "report.md").read_text()


def test_results_csv_has_one_row_per_cell_split_language_metric(grid_sweep):
    write_report([grid_sweep], grid_sweep)
    csv = pd.read_csv(grid_sweep / "results.csv")
    assert len(csv) == 12 * 4      # 12 cells x (validation en acc, f1 + test en, de acc)
    assert list(csv.columns) == ["model", "intermediate", "setting", "target", "seed", "split", "language",
                                 "metric", "value"]
    row = csv[(csv.intermediate == "mnli") & (csv.target == "xnli") & (csv.seed == 1) & (csv.language == "de")]
    assert row.value.tolist() == [59.0] and row.setting.tolist() == ["zero-shot"]


def test_heatmap_is_a_png(grid_sweep):
    report = write_report([grid_sweep], grid_sweep)
    assert report.figures["heatmap"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "scaling" not in report.figures          # one model size only


def test_failed_unfinished_and_never_run_cells_are_listed(tmp_path):
    sweep = tmp_path / "sweep"
    write_multirun_yaml(sweep, ["intermediate=none,mnli,qqp,squad", "target=xnli", "experiment=demo"])
    write_cell(sweep / "0_tiny_none_xnli_s0", "none", "xnli", 0, 60.0, model="tiny")
    write_hydra_config(sweep / "0_tiny_none_xnli_s0", "none", "xnli")
    failed = sweep / "1_tiny_mnli_xnli_s0"
    write_hydra_config(failed, "mnli", "xnli")
    (failed / "error.json").write_text(json.dumps({"error": "DataError", "message": "missing file /d/train.tsv"}))
    write_hydra_config(sweep / "2_tiny_qqp_xnli_s0", "qqp", "xnli")     # crashed: neither file
    report = write_report([sweep], sweep)
    md = (sweep / "report.md").read_text()
    assert f"| tiny / mnli / xnli / seed 0 | `{failed}` | DataError: missing file /d/train.tsv |" in md
    assert f"| tiny / qqp / xnli / seed 0 | `{sweep / '2_tiny_qqp_xnli_s0'}` | no results.json |" in md
    assert f"| tiny / squad / xnli / seed 0 | `{sweep}` | never ran (expected from multirun.yaml) |" in md
    assert "| mnli | — | — |" in md and "| squad | — | — |" in md      # shown as missing in the tables
    assert report.n_problems == 3


def test_expected_grid_expands_sweeper_params_and_overrides_like_hydra(tmp_path):
    write_multirun_yaml(tmp_path, ["intermediate=none,mnli", "seed=range(0,2)", "target.optim.lr=1e-3"],
                        params={"target": "xnli,pawsx"})
    cells = expected_cells(tmp_path)
    assert len(cells) == 8
    assert CellId("tiny", "mnli", "pawsx", 1) in cells and CellId("tiny", "none", "xnli", 0) in cells


def test_two_sweeps_merge_and_the_newer_duplicate_wins(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_cell(a / "0_none", "none", "xnli", 0, 60.0)
    old = write_cell(a / "1_mnli", "mnli", "xnli", 0, 65.0)
    new = write_cell(b / "0_mnli", "mnli", "xnli", 0, 70.0)
    write_cell(b / "1_none", "none", "pawsx", 0, 80.0)
    os.utime(old, (1_000_000, 1_000_000))
    assert main([str(a), str(b), "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| mnli | — | +10.00 | — |" in md                           # 70 - 60, no pawsx for mnli
    assert f"kept {new} (newer), not {old}" in md
    assert "| m / mnli / pawsx | — | no result in the given dirs |" in md


def test_scaling_fit_across_model_sizes_and_settings(tmp_path):
    sweep = tmp_path / "sweep"
    for model, params, gain in [("small", 10**6, 1.0), ("large", 10**8, 5.0)]:
        write_cell(sweep / f"{model}_none", "none", "xnli", 0, 50.0, model=model, num_parameters=params)
        write_cell(sweep / f"{model}_mnli", "mnli", "xnli", 0, 50.0 + gain, model=model, num_parameters=params)
    write_cell(sweep / "tt", "mnli", "xnli", 0, 58.0, model="large", setting="translate-train",
               num_parameters=10**8)
    report = write_report([sweep], sweep)
    fits = report.tables["scaling"].set_index(["label", "target"])
    assert fits.loc[("mnli", "xnli"), "slope"] == pytest.approx(2.0)     # (5 - 1) / 2 decades
    assert report.figures["scaling"].read_bytes()[:4] == b"\x89PNG"
    md = (sweep / "report.md").read_text()
    assert "| mnli | +2.00 |" in md
    assert "| mnli [translate-train] | +8.00 | +8.00 |" in md            # gain over zero-shot none


def test_cli_exits_2_with_one_line_on_a_dir_without_results(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xtransfer.report", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: no results.json under {tmp_path}: nothing to report " \
                                  "(give a sweep dir such as outputs/multiruns/<date>/<time>)"


def test_callback_writes_the_report_and_survives_a_failing_one(grid_sweep, tmp_path, caplog):
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(grid_sweep)}}, "logger": {"kind": "none"}})
    with caplog.at_level(logging.INFO, logger="xtransfer"):
        write_sweep_report(config, quiet=False)
    assert {"report.md", "results.csv", "heatmap.png"} <= {p.name for p in grid_sweep.iterdir()}
    assert "task scores" in caplog.text and "| qqp | 85.00 ± 1.41 (n=2) | 61.00 ± 0.00 (n=2) | 73.00 |" in caplog.text
    empty = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "empty")}}, "logger": {"kind": "none"}})
    (tmp_path / "empty").mkdir()
    write_sweep_report(empty, quiet=False)                                  # logs, never raises
    assert "grid report failed (DataError: no results.json under" in caplog.text


def test_wandb_summary_run_logs_the_tables_offline_under_save_dir(grid_sweep, tmp_path, monkeypatch):
    import wandb
    from xtransfer.report.wandb_run import WandbSettings, log_report

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)
    report = write_report([grid_sweep], grid_sweep)
    run_dir = Path(log_report(report, WandbSettings("xtransfer", None, "2026-01-01_00-00-00",
                                                    tmp_path / "outputs", "offline")))
    assert run_dir.is_relative_to(tmp_path / "outputs" / "wandb")
    tables = {p.name.split("_")[0] for p in run_dir.glob("media/table/*.table.json")}
    assert {"scores", "deltas", "languages", "results"} <= tables
    scores = json.loads(next(run_dir.glob("media/table/scores_*.table.json")).read_text())
    assert scores["columns"][:3] == ["model", "label", "target"] and len(scores["data"]) == 6
    # offline runs keep their summary in the run's protobuf log (strings stored as is); the W&B
    # service may still be writing it after finish() returns, until it shuts down
    wandb.teardown()
    log = next(run_dir.parent.glob("run-*.wandb")).read_bytes()
    assert b"best_per_task_avg/m" in log and b"report-2026-01-01_00-00-00" in log and b"table-file" in log
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs", "sweep"]   # nothing in the cwd


def test_after_a_failed_job_the_report_is_refreshed_at_each_job_end(grid_sweep):
    from hydra.core.utils import JobReturn, JobStatus
    from xtransfer.report.callback import SweepSummary

    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(grid_sweep)}, "mode": "MULTIRUN"},
                               "logger": {"kind": "none"}})
    callback = SweepSummary()
    callback.on_job_end(config, JobReturn(status=JobStatus.COMPLETED))
    assert not (grid_sweep / "report.md").exists()          # the normal path: once, at the end
    callback.on_job_end(config, JobReturn(status=JobStatus.FAILED))
    assert (grid_sweep / "report.md").exists()              # Hydra will skip on_multirun_end


def test_a_malformed_results_json_is_listed_not_fatal(grid_sweep):
    bad = grid_sweep / "99_bad"
    write_hydra_config(bad, "squad", "xnli", model="m")
    (bad / "results.json").write_text(json.dumps({"model": "m", "score": 1.0}))
    report = write_report([grid_sweep], grid_sweep)
    assert report.n_cells == 12
    assert f"| m / squad / xnli / seed 0 | `{bad / 'results.json'}` | unreadable results.json: missing keys " \
           "['intermediate', 'target', 'seed', 'score_split', 'main_metric', 'metrics'] |" \
           in (grid_sweep / "report.md").read_text()


def test_split_dev_scores_every_cell_on_its_dev_split_and_lists_cells_without_one(tmp_path):
    sweep = tmp_path / "sweep"
    write_cell(sweep / "0_none", "none", "xnli", 0, 61.0, scores={"validation": 58.5, "test": 61.0})
    write_cell(sweep / "1_mnli", "mnli", "xnli", 0, 66.0, scores={"validation": 64.0, "test": 66.0})
    write_cell(sweep / "2_none", "none", "xquad", 0, 70.0, scores={"test": 70.0})   # scored on test only
    dev = write_report([sweep], tmp_path / "dev", Options(split="dev"))
    md = (tmp_path / "dev" / "report.md").read_text()
    assert "Scores on the **dev** split" in md and dev.n_cells == 2 and dev.n_problems == 1
    assert "| none | 58.50 | — | — |" in md and "| mnli | 64.00 | — | — |" in md   # dev, not test
    assert "| mnli | +5.50 | — | — |" in md and "#### xnli (validation, acc)" in md
    assert "no dev score (scored on ['test'])" in md
    test = write_report([sweep], tmp_path / "test")   # the default: test, every cell
    assert test.n_cells == 3 and "| none | 61.00 | 70.00 | 65.50 |" in (tmp_path / "test" / "report.md").read_text()
    assert main([str(sweep), "--out", str(tmp_path / "cli"), "--split", "dev"]) == 0
    assert "| none | 58.50 | — | — |" in (tmp_path / "cli" / "report.md").read_text()
