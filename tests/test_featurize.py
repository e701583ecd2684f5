"""Streaming featurization: chunks (and processes) give exactly the features of one pass over all rows."""
from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from omegaconf import OmegaConf

from xtransfer.config import CONF_DIR
from xtransfer.config.build import build_task
from xtransfer.config.schema import TinySpec, spec_from_conf
from xtransfer.data.sources import load_rows
from xtransfer.demo import generate_demo_data
from xtransfer.engine import features as features_module
from xtransfer.engine.features import featurize
from xtransfer.engine.modeling import train_tiny_tokenizer
from xtransfer.tasks import get_family


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, object]:
    root = generate_demo_data(tmp_path_factory.mktemp("demo"), train_size=300, eval_size=20)
    tokenizer = train_tiny_tokenizer(spec_from_conf(TinySpec, "model/tiny.yaml", "tiny", vocab_size=500,
                                                    tokenizer_files=str(root / "corpus" / "*.txt")))
    return root, tokenizer


def task(name: str, root: Path):
    cfg = OmegaConf.create({"data": {"source": "local", "root": str(root)},
                            "task": OmegaConf.load(CONF_DIR / "task" / f"{name}.yaml")})
    return build_task(OmegaConf.to_container(cfg, resolve=True)["task"])


def one_pass(spec, split: str, tokenizer) -> datasets.Dataset:
    """What featurization did before it streamed: every row in a list, then one map."""
    family = get_family(spec.family)
    ds = datasets.Dataset.from_list(load_rows(spec, split, "en", family.normalize))
    return ds.map(family.featurize, batched=True, batch_size=1000, remove_columns=ds.column_names,
                  fn_kwargs={"tokenizer": tokenizer, "task": spec})


@pytest.mark.parametrize("name,split", [("mnli", "train"), ("squad", "train"), ("panx", "train")])
def test_chunks_and_processes_give_the_features_of_one_pass(demo, tmp_path, monkeypatch, name, split):
    root, tokenizer = demo
    spec = task(name, root)
    expected = one_pass(spec, split, tokenizer).to_dict()
    assert len(next(iter(expected.values()))) > 120   # several chunks below
    chunked = featurize(spec, split, "en", tokenizer, tmp_path / "a", chunk_rows=50, num_proc=1)
    assert chunked.to_dict() == expected
    monkeypatch.setattr(features_module, "PARALLEL_ROWS", 10)   # tokenize every chunk in 2 processes
    parallel = featurize(spec, split, "en", tokenizer, tmp_path / "b", chunk_rows=100, num_proc=2)
    assert parallel.to_dict() == expected
    assert len(list((tmp_path / "b").glob("chunk-0*.arrow"))) == 2   # the first chunk's two process shards


def test_packing_families_are_never_split_across_processes(demo, tmp_path, monkeypatch):
    root, tokenizer = demo
    spec = task("mlm_wiki", root)
    expected = one_pass(spec, "train", tokenizer).to_dict()
    monkeypatch.setattr(features_module, "PARALLEL_ROWS", 10)
    assert featurize(spec, "train", "en", tokenizer, tmp_path, num_proc=2).to_dict() == expected
    assert [p.name for p in tmp_path.glob("chunk-*.arrow")] == ["chunk-0.arrow"]
