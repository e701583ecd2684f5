"""A stage records the ranks that ran it (the report's device-hours are its seconds x ranks): two real gloo
ranks run stages through RankedStageStore, as a cell with trainer.devices=2 does."""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from xtransfer.engine import ranks
from xtransfer.pipeline.ranked import RankedStageStore, _free_port


def run_stages(rank: int, root: Path, port: int) -> list[dict]:
    """On rank `rank` of 2: one stage built, then the same stage again (reused)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    ranks.join(ranks.World(rank, 2, rank, 2, "local"), on_gpu=False)
    try:
        store = RankedStageStore(root)
        return [store.run("eval", "toy", {"x": 1}, lambda tmp: {"acc": 50.0}).record() for _ in range(2)]
    finally:
        ranks.leave()


def other_rank(root: Path, port: int, records) -> None:
    records.put(run_stages(1, root, port))


def test_a_two_rank_cell_records_two_ranks_for_the_stages_it_built_and_reused(tmp_path):
    context = multiprocessing.get_context("spawn")
    records, port = context.Queue(), _free_port()
    process = context.Process(target=other_rank, args=(tmp_path, port, records))
    process.start()
    try:
        lead = run_stages(0, tmp_path, port)
        follow = records.get(timeout=120)
    finally:
        process.join(timeout=60)
    assert process.exitcode == 0
    assert [(r["reused"], r["ranks"]) for r in lead] == [(False, 2), (True, 2)]
    assert follow == lead, "the other rank gets rank 0's stage"


def test_a_one_rank_cell_records_one_rank(tmp_path):
    stage = RankedStageStore(tmp_path).run("eval", "toy", {"x": 1}, lambda tmp: {"acc": 50.0})
    assert stage.record()["ranks"] == 1 and not stage.reused
