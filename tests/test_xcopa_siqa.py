"""XCOPA as XTREME-R trains it: SIQA, then COPA (google-research/xtreme scripts/train_xcopa.sh), and the
Social IQa reader on AI2's release layout (<split>.jsonl + <split>-labels.lst)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import compose_cfg
from xtransfer.config.build import build_cell
from xtransfer.data.formats import reader_for
from xtransfer.data.sources import load_rows
from xtransfer.errors import DataError
from xtransfer.pipeline.keys import training_chain
from xtransfer.tasks import get_family


def write_siqa(folder, rows, labels):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "dev-labels.lst").write_text("".join(f"{label}\n" for label in labels))


ROWS = [{"context": "Tracy gave Riley a gift.", "question": "How would Riley feel?",
         "answerA": "grateful", "answerB": "angry", "answerC": "bored"},
        {"context": "Jan ran home.", "question": "Why did Jan do this?",
         "answerA": "to sleep", "answerB": "to eat", "answerC": "to hide"}]


def test_reader_joins_rows_and_labels_and_the_task_maps_labels_1_to_3_onto_choices(tmp_path):
    write_siqa(tmp_path / "socialiqa-train-dev", ROWS, ["1", "3"])
    cfg = compose_cfg(["target=xcopa", "data=local", f"data.root={tmp_path}"], tmp_path)
    spec = build_cell(cfg).target.prior_task
    rows = load_rows(spec, "validation", "en", get_family("multiple_choice").normalize)
    assert [r["label"] for r in rows] == [0, 2]
    assert rows[0]["choices"] == ["grateful", "angry", "bored"]
    assert rows[1]["question"] == "Why did Jan do this?" and rows[1]["context"] == "Jan ran home."


def test_reader_names_missing_labels_and_count_mismatch(tmp_path):
    folder = tmp_path / "s"
    write_siqa(folder, ROWS, ["1"])
    read = reader_for("socialiqa")
    with pytest.raises(DataError, match=r"dev.jsonl: 2 rows but dev-labels.lst has 1 labels"):
        list(read(folder / "dev.jsonl"))
    (folder / "dev-labels.lst").unlink()
    with pytest.raises(DataError, match=r"its labels dev-labels.lst are missing beside it"):
        list(read(folder / "dev.jsonl"))
    write_siqa(folder, ROWS, ["1", "2"])
    assert list(read(folder / "dev-labels.lst")) == []   # the labels file is listed for its bytes, read beside


def test_xcopa_trains_siqa_then_copa_with_xtreme_r_settings(tmp_path):
    cell = build_cell(compose_cfg(["target=xcopa"], tmp_path))
    chain = training_chain(cell)
    assert [(kind, name) for kind, name, *_ in chain] == [("target", "siqa")]
    _, _, parts, optim, _ = chain[0]
    assert parts[0].task.name == "siqa" and parts[0].languages == ["en"] and parts[0].val_task.name == "siqa"
    # train_xcopa.sh: LR=2e-5, EPOCH=5, BATCH_SIZE 8 x GRAD_ACC 4, MAXL=128, for SIQA and COPA alike
    assert (optim.lr, optim.epochs, optim.batch_size) == (2e-5, 5, 32)
    assert optim is cell.target.optim
    assert cell.target.prior_task.max_length == 128 and cell.target.train_task.max_length == 128
    assert cell.target.prior_task.options["num_choices"] == 3


def test_prior_task_comes_after_the_intermediate_and_null_keeps_copa_only(tmp_path):
    chain = training_chain(build_cell(compose_cfg(["target=xcopa", "intermediate=mnli"], tmp_path)))
    assert [(kind, name) for kind, name, *_ in chain] == [("intermediate", "mnli"), ("target", "siqa")]
    assert training_chain(build_cell(compose_cfg(["target=xcopa", "target.prior_task=null"], tmp_path))) == []
    assert training_chain(build_cell(compose_cfg(["target=xnli"], tmp_path))) == []


def test_demo_writes_siqa_in_the_release_layout(tmp_path):
    from xtransfer.demo.generate import generate_demo_data

    root = generate_demo_data(tmp_path / "demo", train_size=12, eval_size=6)
    folder = root / "socialiqa-train-dev"
    assert sorted(p.name for p in folder.iterdir()) == ["dev-labels.lst", "dev.jsonl", "train-labels.lst",
                                                        "train.jsonl"]
    labels = (folder / "train-labels.lst").read_text().split()
    assert len(labels) == 12 and set(labels) <= {"1", "2", "3"}
    first = json.loads((folder / "train.jsonl").read_text().splitlines()[0])
    assert sorted(first) == ["answerA", "answerB", "answerC", "context", "question"]
