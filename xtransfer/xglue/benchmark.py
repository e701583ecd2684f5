"""XGLUE's names and layouts as microsoft/XGLUE's `evaluation/xglue_evaluate.py` reads them.

The ground-truth folder the evaluator reads is the release as it unpacks (`xglue_full_dataset/`),
so the label files here are in the release layout; a prediction file is `<TASK>/<lang>.prediction`.
"""
from __future__ import annotations

from pathlib import Path

# task -> languages, in the evaluator's order (task2lg; its averages sum in this order)
LANGUAGES: dict[str, list[str]] = {
    "NER": "de en es nl".split(),
    "POS": "pl ar ru bg de el en es fr hi it nl pt th tr ur vi zh".split(),
    "NC": "de en es fr ru".split(),
    "MLQA": "ar de en es hi vi zh".split(),
    "XNLI": "ar bg de el en es fr hi ru sw th tr ur vi zh".split(),
    "PAWSX": "de en es fr".split(),
    "QADSM": "de en fr".split(),
    "WPR": "de en es fr it pt zh".split(),
    "QAM": "de en fr".split(),
}
UNDERSTANDING = tuple(LANGUAGES)   # the leaderboard's Understanding score: the mean of these 9
SPLITS = {"test": "test", "dev": "validation"}   # the evaluator's --split -> our split name

# our target name -> XGLUE's task name
TARGET_TASKS = {f"xglue_{task.lower()}": task for task in LANGUAGES}


def prediction_file(root: Path, task: str, lang: str) -> Path:
    return root / task / f"{lang}.prediction"


def label_file(root: Path, task: str, lang: str, split: str) -> Path:
    """Where the evaluator reads a language's ground truth (split: test or dev)."""
    if task in ("NER", "POS", "XNLI"):
        return root / task / f"{lang}.{split}"
    if task == "PAWSX":
        return root / task / lang / f"{split}_2k.tsv"
    if task == "MLQA":
        return root / task / "MLQA_V1" / split / f"{split}-context-{lang}-question-{lang}.json"
    return root / task / f"xglue.{task.lower()}.{lang}.{split}"
