"""Each study preset offline (`experiment=<preset> offline=demo`), in a subprocess (slow).

A full preset is up to 99 cells, hours on a 2-core CPU even on the demo, so each test narrows
the preset's own sweep to a corner that still holds its comparison, with tiny budgets. That the
presets define the full grids is checked in test_grid_variants (default suite).
"""
import pytest

from tests.test_cli import TINY_BUDGET, sweep_results, xtransfer

CORNERS = {
    "phang2020": ["intermediate=none,multitask", "target=xnli,tatoeba"],
    "scale": ["intermediate=none,mnli", "target=pawsx"],
    "sequential": ["intermediate=mnli,sequential,multitask", "target=pawsx"],
    "direct": ["intermediate=none", "target=xnli,mlqa"],
}
EXPECTED = {  # (model, intermediate, setting, target) of every cell
    "phang2020": {("tiny", i, "zero-shot", t) for i in ("none", "multitask") for t in ("xnli", "tatoeba")},
    "scale": {(m, i, "zero-shot", "pawsx") for m in ("tiny", "tiny_large") for i in ("none", "mnli")},
    "sequential": {("tiny", i, "zero-shot", "pawsx") for i in ("mnli", "mnli>squad>hellaswag",
                                                              "multitask[mnli,squad,hellaswag]")},
    "direct": {("tiny", "none", s, t) for s in ("zero-shot", "translate-train") for t in ("xnli", "mlqa")},
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(CORNERS))
def test_preset_runs_offline_with_one_extra_override(preset, tmp_path):
    budget = TINY_BUDGET[1:]  # TINY_BUDGET[0] is experiment=demo
    proc = xtransfer("-m", f"experiment={preset}", "offline=demo", "logger=csv", *CORNERS[preset], *budget,
                     outputs=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sweep_results(tmp_path)
    assert {(r["model"], r["intermediate"], r["setting"], r["target"]) for r in results} == EXPECTED[preset]
    sweep = next(tmp_path.glob("multiruns/*/*"))
    assert (sweep / "report.md").is_file() and (sweep / "heatmap.png").is_file()
    if preset == "scale":
        sizes = {r["model"]: r["num_parameters"] for r in results}
        assert sizes["tiny"] < sizes["tiny_large"] and (sweep / "scaling.png").is_file()
    if preset == "sequential":
        stages = {(s["kind"], s["name"]): s["key"] for r in results for s in r["stages"]}
        single = next(r for r in results if r["intermediate"] == "mnli")
        chain = next(r for r in results if r["intermediate"] == "mnli>squad>hellaswag")
        assert single["stages"][1]["key"] == chain["stages"][1]["key"]  # the chain's first link is single mnli
        assert ("intermediate", "multitask") in stages
