"""Uncertainty, claims and cost in the grid report: statistics against hand-computed values, a planted
gain found significant and noise not, claims verdicts, and device-hours spent and saved."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import REPO
from xtransfer.report.build import Options, write_report
from xtransfer.report.examples import _bucc, _tagging
from xtransfer.report.stats import RowUnits, TargetBootstrap, holm, interval, paired_test

LANGS = ["en", "de"]
N = 300   # test examples per language


def row(correct: np.ndarray, seeds=(0,)) -> RowUnits:
    """One language, per-example 0/1 scores (seeds x examples)."""
    correct = np.atleast_2d(np.asarray(correct, dtype=float))
    return RowUnits(tuple(seeds), {"en": correct}, {"en": np.ones_like(correct)})


# -- the statistics, by hand ----------------------------------------------------------------------

def test_bootstrap_interval_of_an_accuracy_is_the_normal_approximation():
    # 300 of 400 right: 75%, standard error sqrt(.75 * .25 / 400) = 2.165 points, 95%: 75 -+ 4.24
    boot = TargetBootstrap({"none": row(np.r_[np.ones(300), np.zeros(100)])}, replicates=4000, seed=0)
    lo, hi = interval(boot.score("none"))
    assert lo == pytest.approx(70.76, abs=0.5) and hi == pytest.approx(79.24, abs=0.5)


def test_bootstrap_resamples_the_seeds_too():
    # seeds at 60% and 80% on 2000 examples: a replicate draws both seeds (70), or one twice (60 or 80)
    rng = np.random.default_rng(0)
    seeds = np.stack([rng.permutation(np.r_[np.ones(1200), np.zeros(800)]),
                      rng.permutation(np.r_[np.ones(1600), np.zeros(400)])])
    boot = TargetBootstrap({"none": row(seeds, seeds=(0, 1))}, replicates=2000, seed=0)
    lo, hi = interval(boot.score("none"))
    assert lo < 62 and hi > 78            # one seed's examples alone give about 70 -+ 2


def test_paired_test_is_exact_when_few_examples_differ():
    y = np.zeros(10)
    x = np.r_[np.ones(4), np.zeros(6)]
    # 4 differing examples, 16 swap patterns; |gain| >= 40 for none or all swapped: p = 2/16
    assert paired_test(row(x), row(y), replicates=100) == pytest.approx(0.125)
    # one example better, one worse: the gain is 0, every pattern is as extreme
    assert paired_test(row(np.r_[1, 0, np.zeros(8)]), row(np.r_[0, 1, np.zeros(8)]), replicates=100) == 1.0
    assert paired_test(row(x), row(x), replicates=100) == 1.0


def test_paired_test_p_value_has_the_monte_carlo_floor():
    y = np.zeros(200)
    x = np.r_[np.ones(60), np.zeros(140)]
    assert paired_test(row(x), row(y), replicates=999) == pytest.approx(1 / 1000)


def test_holm_adjusted_p_values_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_entity_f1_and_bucc_f1_decompose_into_per_unit_sums(tmp_path):
    gold = [["B-PER", "I-PER", "O"], ["B-LOC"], ["O", "B-ORG"]]
    predicted = tmp_path / "test-en.tsv"
    predicted.write_text("B-PER\nI-PER\nO\n\nB-ORG\n\nO\nB-ORG\n")
    units = _tagging(predicted, gold, "f1")
    # 3 gold entities, 3 predicted, 2 right: F1 = 2 * 2 / (3 + 3) = 66.67, per sentence 2/2, 0/2, 2/2
    assert units.a.tolist() == [2, 0, 2] and units.b.tolist() == [2, 2, 2]
    assert units.metric == pytest.approx(200 / 3)
    assert _tagging(predicted, gold, "acc").metric == pytest.approx(100 * 5 / 6)
    rows = [{"source_id": ["s1", "s2", "s3"], "gold": [["s1", "t1"], ["s2", "t2"]]}]
    bucc = _bucc(["s1\tt1", "s3\tt9"], rows)
    # 2 gold pairs, 2 predicted, 1 right: F1 = 50
    assert bucc.metric == pytest.approx(50.0) and bucc.a.tolist() == [2, 0, 0]


# -- a grid on disk: predictions, gold data, a planted gain ---------------------------------------

def write_job(job: Path, data: Path, intermediate: str, seed: int, correct: dict[str, np.ndarray],
              stages: list | None = None) -> None:
    """A classification cell: its saved config names the local gold data, its predictions score `correct`."""
    (job / ".hydra").mkdir(parents=True)
    (job / "predictions").mkdir()
    task = {"name": "toy", "family": "classification", "labels": ["a", "b"], "languages": LANGS, "max_length": 16,
            "source": "local", "local": {"format": "tsv", "root": str(data), "files": {"test": "{lang}.tsv"},
                                         "columns": {"text_a": "text", "label": "label"}}}
    OmegaConf.save(OmegaConf.create({"target": {"eval_task": task}}), job / ".hydra" / "config.yaml")
    metrics = {}
    for lang in LANGS:
        gold = gold_labels(lang)
        predicted = [g if right else ("b" if g == "a" else "a") for g, right in zip(gold, correct[lang])]
        (job / "predictions" / f"test-{lang}.tsv").write_text("".join(f"{p}\n" for p in predicted))
        metrics[lang] = {"acc": 100 * float(np.mean(correct[lang]))}
    score = float(np.mean([m["acc"] for m in metrics.values()]))
    (job / "results.json").write_text(json.dumps({
        "model": "m", "intermediate": intermediate, "target": "toy", "seed": seed, "setting": "zero-shot",
        "score": score, "score_split": "test", "main_metric": "acc", "languages": LANGS,
        "metrics": {"test": metrics}, "averages": {"test": {"acc": score}}, "stages": stages or [],
        "predictions": "predictions"}))


def gold_labels(lang: str) -> list[str]:
    return ["a" if (i * 7 + len(lang)) % 3 else "b" for i in range(N)]


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """none: 60% right; mnli: none plus 45 more right examples per language (+15 points, planted);
    qqp: none with 20 examples flipped each way per language (noise: no gain)."""
    root = tmp_path_factory.mktemp("planted")
    data = root / "data"
    data.mkdir()
    for lang in LANGS:
        (data / f"{lang}.tsv").write_text("text\tlabel\n" + "".join(f"s{i} {lang}\t{g}\n"
                                                                    for i, g in enumerate(gold_labels(lang))))
    rng = np.random.default_rng(7)
    for seed in (0, 1):
        base = {lang: rng.random(N) < 0.6 for lang in LANGS}
        planted_gain, noise = {}, {}
        for lang, right in base.items():
            wrong, good = np.flatnonzero(~right), np.flatnonzero(right)
            planted_gain[lang] = right.copy()
            planted_gain[lang][rng.choice(wrong, 45, replace=False)] = True
            noise[lang] = right.copy()
            noise[lang][rng.choice(wrong, 20, replace=False)] = True
            noise[lang][rng.choice(good, 20, replace=False)] = False
        for name, correct in (("none", base), ("mnli", planted_gain), ("qqp", noise)):
            write_job(root / "sweep" / f"{name}_s{seed}", data, name, seed, correct)
    return root / "sweep"


@pytest.fixture(scope="module")
def planted_report(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("planted-report")
    claims = out / "claims.yaml"
    claims.write_text("""source: a planted fixture
claims:
  - {id: mnli_helps, says: mnli improves the target by 10 points, gain: {intermediate: mnli, targets: all}, at_least: 10}
  - {id: qqp_big, says: qqp improves by 10, gain: {intermediate: qqp, target: toy}, at_least: 10}
  - {id: qqp_noise, says: qqp's gain is not significant, gain: {intermediate: qqp, target: toy}, significant: false}
  - {id: mnli_best, says: mnli is the best intermediate, best: {is: mnli, among: all, targets: all}}
  - {id: qqp_best, says: qqp is the best intermediate, best: {is: qqp, among: all, targets: all}}
  - {id: squad, says: squad helps, gain: {intermediate: squad, targets: all}, at_least: 0}
  - {id: each, says: every intermediate helps, gain: {intermediate: each, targets: all}, at_least: 0}
""")
    return write_report([planted], out, Options(claims=(claims,), bootstrap=1000, permutations=2000)), out


def test_planted_gain_is_significant_and_noise_is_not(planted_report):
    report, _ = planted_report
    tests = report.tables["tests"].set_index("label")
    assert tests.at["mnli", "gain"] == pytest.approx(15.0)          # 45 of 300 examples, every language and seed
    assert tests.at["mnli", "significant"] and tests.at["mnli", "p"] < 0.001
    assert not tests.at["qqp", "significant"] and tests.at["qqp", "p_holm"] > 0.05
    assert tests.at["qqp", "gain"] == pytest.approx(0.0)
    assert tests.at["mnli", "lo"] > 10 and tests.at["mnli", "hi"] < 20 and tests.at["qqp", "lo"] < 0 < tests.at["qqp", "hi"]


def test_report_shows_intervals_and_p_values(planted_report):
    report, out = planted_report
    md = (out / "report.md").read_text()
    intervals = report.tables["intervals"]
    none = intervals[(intervals.label == "none") & (intervals.language == "mean")].iloc[0]
    assert none.seeds == 2 and none.lo < none.estimate < none.hi
    assert f"| none | {none.estimate:.2f} [{none.lo:.2f}, {none.hi:.2f}] |" in md
    assert "| mnli | +15.00 [" in md and "p<0.001" in md and " *" in md
    assert "Holm's correction over the model's 2 comparisons" in md
    assert "#### toy: per-language 95% intervals" in md and "| intervals" not in md
    csv = (out / "intervals.csv").read_text().splitlines()
    assert csv[0] == "model,label,target,language,estimate,lo,hi,seeds,units" and len(csv) == 1 + 3 * 3
    assert report.figures["heatmap"].read_bytes()[:4] == b"\x89PNG"


def test_claims_get_a_verdict_each(planted_report):
    report, out = planted_report
    verdicts = {v.claim["id"]: v.verdict for v in report.verdicts}
    assert verdicts == {"mnli_helps": "supported", "qqp_big": "contradicted", "qqp_noise": "supported",
                        "mnli_best": "supported", "qqp_best": "contradicted", "squad": "not testable",
                        "each": "inconclusive"}   # qqp's gain interval straddles 0
    md = (out / "report.md").read_text()
    assert "## Claims: `" in md and "| `squad` | squad helps | m | — | **not testable** | targets" not in md
    assert "**not testable** | no gain of `squad` over none on toy |" in md


def test_cli_prints_verdicts_and_rejects_a_bad_claims_file(planted, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - {id: x, says: y, gain: {intermediate: mnli, target: toy}}\n")
    proc = subprocess.run([sys.executable, "-m", "xtransfer.report", str(planted), "--out", str(tmp_path / "r"),
                           "--claims", str(bad), "--bootstrap", "200", "--permutations", "200"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {bad}: claim 1 (x): needs exactly one of ['at_least', 'at_most', " \
                                  f"'significant']"
    good = tmp_path / "good.yaml"
    good.write_text("claims:\n  - {id: x, says: y, gain: {intermediate: mnli, target: toy}, at_least: 10}\n")
    proc = subprocess.run([sys.executable, "-m", "xtransfer.report", str(planted), "--out", str(tmp_path / "r"),
                           "--claims", str(good), "--bootstrap", "200", "--permutations", "200"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "claim x (m): supported: +15.00 [+" in proc.stdout


# -- cost --------------------------------------------------------------------------------------

def toy_data(root: Path) -> Path:
    data = root / "data"
    data.mkdir()
    for lang in LANGS:
        (data / f"{lang}.tsv").write_text("text\tlabel\n" + "".join(f"s{i}\t{g}\n" for i, g in enumerate(gold_labels(lang))))
    return data


def test_cost_counts_trained_stages_and_what_reuse_saved(tmp_path):
    data = toy_data(tmp_path)
    right = {lang: np.ones(N, dtype=bool) for lang in LANGS}
    inter = {"kind": "intermediate", "name": "mnli", "key": "k1"}
    write_job(tmp_path / "s" / "a", data, "mnli", 0, right,
              [{**inter, "reused": False, "seconds": 3600.0},
               {"kind": "target", "name": "toy", "key": "t1", "reused": False, "seconds": 1800.0}])
    write_job(tmp_path / "s" / "b", data, "mnli", 1, right,
              [{**inter, "reused": True, "seconds": 2.0},
               {"kind": "target", "name": "toy", "key": "t2", "reused": False, "seconds": 1800.0},
               {"kind": "pretrained", "name": "tiny", "key": "p0", "reused": True, "seconds": 0.1}])
    report = write_report([tmp_path / "s"], tmp_path / "out", Options(claims=(), bootstrap=100, permutations=100))
    md = (tmp_path / "out" / "report.md").read_text()
    # spent: 1 h + 0.5 h + 0.5 h; saved: the reused intermediate's hour; the pretrained stage was built elsewhere
    assert "spent training and evaluating: **2 h**; saved by reusing content-addressed stages: **1 h**" in md
    assert "1 stages were built before these sweeps" in md
    cells = report.tables["cost_cells"].set_index("seed")
    assert cells.at[1, "hours"] == pytest.approx(0.5) and cells.at[1, "saved_hours"] == pytest.approx(1.0)


def test_cost_of_a_multi_rank_stage_is_its_seconds_on_every_rank(tmp_path):
    data = toy_data(tmp_path)
    right = {lang: np.ones(N, dtype=bool) for lang in LANGS}
    inter = {"kind": "intermediate", "name": "mnli", "key": "k1"}
    write_job(tmp_path / "s" / "a", data, "mnli", 0, right,
              [{**inter, "reused": False, "seconds": 3600.0, "waited_s": 600.0, "ranks": 4},
               {"kind": "target", "name": "toy", "key": "t1", "reused": False, "seconds": 900.0, "ranks": 4}])
    write_job(tmp_path / "s" / "b", data, "mnli", 1, right,     # waited 20 min for a's lock, then reused
              [{**inter, "reused": True, "seconds": 1200.0, "waited_s": 1190.0, "ranks": 4},
               {"kind": "target", "name": "toy", "key": "t2", "reused": False, "seconds": 900.0}])  # older: 1 rank
    report = write_report([tmp_path / "s"], tmp_path / "out", Options(claims=(), bootstrap=100, permutations=100))
    md = (tmp_path / "out" / "report.md").read_text()
    # spent: 1 h x 4 ranks + 0.25 h x 4 + 0.25 h x 1 = 5.25; b's reuse saved the 4 device-hours a spent on k1
    assert ("Device-hours (a stage's wall time x its ranks: every device its cell held, a GPU or the CPU each) "
            "spent training and evaluating: **5.25 h**; saved by reusing content-addressed stages: **4 h** "
            "(without reuse the cells would have spent 9.25 h).\n") in md
    cells = report.tables["cost_cells"].set_index("seed")
    assert cells.hours.to_dict() == {0: 5.0, 1: 0.25} and cells.saved_hours.to_dict() == {0: 0.0, 1: 4.0}
    stages = report.tables["cost_stages"].set_index("key")
    assert stages.loc["k1", ["cells", "trained", "hours", "saved_hours"]].tolist() == [2, 1, 4.0, 4.0]
    assert "| intermediate/mnli-k1 | 2 | 1 | 4 | 4 |" in md


def write_upstream(sweep: Path, name: str, stages: list) -> None:
    """An upstream-first sweep's job that built stages for its cells: its upstream.json (and no results.json)."""
    job = sweep / "upstream" / name
    (job / ".hydra").mkdir(parents=True)
    (job / "upstream.json").write_text(json.dumps({"stages": stages, "waited_s": 0.0}))


def test_cost_counts_what_upstream_jobs_built_for_the_cells(tmp_path):
    data = toy_data(tmp_path)
    right = {lang: np.ones(N, dtype=bool) for lang in LANGS}
    sweep = tmp_path / "sweep"
    pretrained = {"kind": "pretrained", "name": "m", "key": "p0", "reused": True, "seconds": 0.5}
    inter = {"kind": "intermediate", "name": "mnli", "key": "k1"}
    # the upstream job trained k1 in 1 h on 2 ranks (2 device-hours); both cells found it finished
    write_upstream(sweep, "intermediate-mnli", [{**pretrained, "ranks": 2},
                                                {**inter, "reused": False, "seconds": 3600.0, "waited_s": 0.0,
                                                 "ranks": 2}])
    write_job(sweep / "0_m_mnli_toy_s0", data, "mnli", 0, right,
              [pretrained, {**inter, "reused": True, "seconds": 4.0, "waited_s": 3.0, "ranks": 2},
               {"kind": "target", "name": "toy", "key": "t1", "reused": False, "seconds": 1800.0, "ranks": 2}])
    write_job(sweep / "1_m_mnli_toy_s1", data, "mnli", 1, right,
              [pretrained, {**inter, "reused": True, "seconds": 2.0, "ranks": 1},
               {"kind": "target", "name": "toy", "key": "t2", "reused": False, "seconds": 900.0}])
    OmegaConf.save(OmegaConf.create({
        "hydra": {"sweeper": {"params": {"seed": "0,1"}}, "overrides": {"task": ["intermediate=mnli", "target=toy"]}},
        "model": {"name": "m"}, "intermediate": {"name": "mnli"}, "target": {"name": "toy"}, "seed": 0}),
        sweep / "multirun.yaml")
    for seed in (0, 1):
        OmegaConf.save(OmegaConf.create(["intermediate=mnli", "target=toy", f"seed={seed}"]),
                       sweep / f"{seed}_m_mnli_toy_s{seed}" / ".hydra" / "overrides.yaml")
    report = write_report([sweep], tmp_path / "out", Options(claims=(), bootstrap=100, permutations=100))
    md = (tmp_path / "out" / "report.md").read_text()
    assert "2 cells with results, 0 failed or missing." in md     # the upstream job is not a cell
    # spent: k1's 2 device-hours upstream + t1 0.5 h x 2 + t2 0.25 h x 1 = 3.25 h. Without reuse each cell
    # trains k1 itself: 2 + 1 + 2 + 0.25 = 5.25 h; saved 5.25 - 3.25 = 2 h (one build of k1 for two cells)
    assert ("spent training and evaluating: **3.25 h** (2 h of it in upstream jobs, building the stages cells "
            "share); saved by reusing content-addressed stages: **2 h** (without reuse the cells would have spent "
            "5.25 h). 1 stages were built before these sweeps: what reusing them saved is not known here.\n") in md
    cells = report.tables["cost_cells"].set_index("seed")
    assert cells.hours.to_dict() == {0: 1.0, 1: 0.25} and cells.saved_hours.to_dict() == {0: 2.0, 1: 2.0}
    assert cells.trained.to_dict() == {0: 1, 1: 1} and cells.reused.to_dict() == {0: 2, 1: 2}
    assert "they add up to the saving above plus the upstream jobs' 2 h." in md
    stages = report.tables["cost_stages"].set_index("key")
    assert stages.loc["k1", ["cells", "trained", "upstream", "hours", "saved_hours"]].tolist() == [2, 1, 1, 2.0, 2.0]
    assert bool(stages.at["p0", "built_elsewhere"]) and stages.at["p0", "trained"] == 0
    assert "| intermediate/mnli-k1 | 2 | 1 (1 in upstream jobs) | 2 | 2 |" in md
    assert "| intermediate | 1 | 1 | 2 | 2 | 2 |" in md       # kind, unique stages, trained, uses, hours, saved


def test_an_unreadable_upstream_json_is_a_problem_and_the_readable_ones_are_counted(tmp_path):
    from xtransfer.report import cost
    from xtransfer.report.build import md_table
    from xtransfer.report.collect import collect

    data = toy_data(tmp_path)
    sweep = tmp_path / "sweep"
    write_job(sweep / "0_m_mnli_toy_s0", data, "mnli", 0, {lang: np.ones(N, dtype=bool) for lang in LANGS}, [])
    OmegaConf.save(OmegaConf.create({"hydra": {"sweeper": {"params": {}}, "overrides": {"task": []}},
                                     "model": {"name": "m"}, "intermediate": {"name": "mnli"},
                                     "target": {"name": "toy"}, "seed": 0}), sweep / "multirun.yaml")
    OmegaConf.save(OmegaConf.create(["intermediate=mnli", "target=toy", "seed=0"]),
                   sweep / "0_m_mnli_toy_s0" / ".hydra" / "overrides.yaml")
    write_upstream(sweep, "good", [{"kind": "intermediate", "name": "mnli", "key": "k1", "reused": False,
                                    "seconds": 60.0, "ranks": 1}])
    write_upstream(sweep, "cut", [])
    (sweep / "upstream" / "cut" / "upstream.json").write_text('{"stages": [{"kind"')
    write_upstream(sweep, "not-records", [])
    (sweep / "upstream" / "not-records" / "upstream.json").write_text('{"stages": {"k1": 60}}')
    collection = collect([sweep])
    assert [s["key"] for s in collection.upstream_stages] == ["k1"]
    assert [(p.cell, p.where, p.reason) for p in collection.problems] == [
        (None, sweep / "upstream" / "cut" / "upstream.json",
         "unreadable upstream.json: Expecting ':' delimiter: line 1 column 20 (char 19)"),
        (None, sweep / "upstream" / "not-records" / "upstream.json",
         "unreadable upstream.json: its stages are not a list of stage records")]
    # the cell reused nothing: the minute the good upstream job spent was for no cell here
    assert ("spent training and evaluating: **0.0167 h** (0.0167 h of it in upstream jobs, building the stages "
            "cells share); saved by reusing content-addressed stages: **-0.0167 h** (without reuse the cells would "
            "have spent 0 h). 1 stages that upstream jobs built are used by no cell here (failed, or not in the "
            "given dirs): their hours are spent, and subtracted from the saving.\n") in cost.markdown(collection, md_table)


def test_refreshes_after_a_failure_leave_intervals_to_the_last_job(planted, tmp_path):
    from hydra.core.utils import JobReturn, JobStatus
    from xtransfer.report.callback import SweepSummary

    import shutil
    sweep = tmp_path / "sweep"
    shutil.copytree(planted, sweep)
    OmegaConf.save(OmegaConf.create({
        "hydra": {"sweeper": {"params": {"intermediate": "none,mnli,qqp", "seed": "0,1"}},
                  "overrides": {"task": ["target=toy"]}},
        "model": {"name": "m"}, "intermediate": {"name": "none"}, "target": {"name": "toy"}, "seed": 0}),
        sweep / "multirun.yaml")
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    for job in jobs[:-1]:
        name, seed = job.name.rsplit("_s", 1)
        OmegaConf.save(OmegaConf.create([f"intermediate={name}", "target=toy", f"seed={seed}"]),
                       job / ".hydra" / "overrides.yaml")
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}, "mode": "MULTIRUN"}, "logger": {"kind": "none"}})
    callback = SweepSummary()
    callback.on_job_end(config, JobReturn(status=JobStatus.FAILED))     # 5 of 6 jobs started
    md = (sweep / "report.md").read_text()
    assert "### Uncertainty" not in md and "computed when the sweep's last job ends" in md
    name, seed = jobs[-1].name.rsplit("_s", 1)
    OmegaConf.save(OmegaConf.create([f"intermediate={name}", "target=toy", f"seed={seed}"]),
                   jobs[-1] / ".hydra" / "overrides.yaml")
    callback.on_job_end(config, JobReturn(status=JobStatus.COMPLETED))  # the last one
    assert "### Uncertainty" in (sweep / "report.md").read_text()


@pytest.mark.slow
def test_phang2020_claims_on_a_two_seed_demo_grid(tmp_path):
    """The study's claims file against an offline corner of phang2020 with two seeds: the plan trains
    what the run trains, report.md shows intervals and p-values, and every claim gets a verdict."""
    from tests.test_cli import TINY_BUDGET, xtransfer

    grid = ["-m", "experiment=phang2020", "offline=demo", "intermediate=none,mnli,squad", "target=pawsx,tatoeba",
            "seed=0,1", "logger=none", *TINY_BUDGET[1:], f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    plan = subprocess.run([sys.executable, "-m", "xtransfer.plan", *grid, f"paths.outputs_root={tmp_path}",
                           "--json", str(tmp_path / "plan.json")], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert plan.returncode == 0, plan.stderr[-3000:]
    proc = xtransfer(*grid, outputs=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/results.json")]
    assert len(results) == 12
    to_train = {(s["kind"], s["name"], s["key"]) for s in json.loads((tmp_path / "plan.json").read_text())["stages"]
                if not s["cached"]}
    assert to_train == {(s["kind"], s["name"], s["key"]) for r in results for s in r["stages"] if not s["reused"]}
    md = (tmp_path / "sweep" / "report.md").read_text()     # written by the sweep's own callback
    assert "### Uncertainty" in md and "(n=2)" in md and "| none | " in md and " p" in md
    assert "Claims: `" in md and "phang2020.yaml" in md
    report = subprocess.run([sys.executable, "-m", "xtransfer.report", str(tmp_path / "sweep")], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    claims = [line for line in report.stdout.splitlines() if line.startswith("claim ")]
    ids = [c["id"] for c in __import__("yaml").safe_load((REPO / "conf/claims/phang2020.yaml").read_text())["claims"]]
    assert [line.split()[1] for line in claims] == ids
    verdicts = {line.split(": ")[1] for line in claims}
    assert verdicts <= {"supported", "contradicted", "inconclusive", "not testable"}
    assert any(line.startswith("claim squad_mean_gain (tiny): ") and "not testable" not in line for line in claims)
