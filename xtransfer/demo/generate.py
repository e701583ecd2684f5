"""``generate_demo_data(root)``: every demo dataset, written by one writer per task family."""

from __future__ import annotations

from pathlib import Path

from xtransfer.demo.classification import write_classification
from xtransfer.demo.corpus import write_corpus
from xtransfer.demo.mewslix import write_mewslix
from xtransfer.demo.multiple_choice import write_multiple_choice
from xtransfer.demo.retrieval import write_retrieval
from xtransfer.demo.span import write_span_data
from xtransfer.demo.tagging import write_tagging
from xtransfer.demo.xglue import write_xglue


def generate_demo_data(root: str | Path, *, seed: int = 0, train_size: int = 3000, eval_size: int = 200) -> Path:
    """Write every demo dataset under ``root`` (idempotent: same args -> byte-identical files). Returns root."""
    if train_size < 6 or eval_size < 2:
        raise ValueError(f"need train_size >= 6 and eval_size >= 2, got {train_size} and {eval_size}")
    root = Path(root)
    seen: set = set()  # abstract examples already used: no example appears in two datasets by accident
    write_classification(root, seed, train_size, eval_size, seen)
    write_multiple_choice(root, seed, train_size, eval_size, seen)
    write_span_data(root, seed, train_size, eval_size)
    write_retrieval(root, seed, eval_size)
    write_tagging(root, seed, train_size, eval_size)
    write_corpus(root, seed)
    write_mewslix(root, seed, train_size, eval_size)
    write_xglue(root, seed, train_size, eval_size)  # last: it repackages XNLI, PAWS-X, MLQA and SQuAD
    return root
