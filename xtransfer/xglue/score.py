"""XGLUE scoring: the figures of microsoft/XGLUE's `evaluation/xglue_evaluate.py`.

Reads a prediction folder (`<TASK>/<lang>.prediction`) and a ground-truth folder in the release
layout (`xglue_full_dataset/`, or what `python -m xtransfer.export --benchmark xglue --labels`
writes) as the evaluator does, and scores them with xtransfer's own metrics:

- NER: seqeval entity F1; POS: seqeval *precision* over the tag sequences (the evaluator's
  choice; see xtransfer/metrics/seqeval.py for how seqeval reads POS tags). A predicted sentence
  shorter than its label sentence is padded with "O", as the evaluator does.
- NC, XNLI, PAWS-X, QADSM, QAM: accuracy of the stripped prediction lines against the last
  tab-separated field of each label line (PAWS-X: after its header line).
- WPR: nDCG per query (a run of label lines with the same first field), the predicted grade
  as the score, mean over queries with 2 or more pages.
- MLQA: MLQA's F1; an unanswered question scores 0.

Output (JSON and printed), fractions as the evaluator prints them: per task `{lang: value, ...,
"avg": mean}`, then `average` (mean of the task averages, the evaluator's last line) and
`understanding` (the same, when all nine tasks are there). Where the evaluator would crash or
silently compare arrays of different lengths, this stops with one message naming the file (exit 2).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from xtransfer import metrics
from xtransfer.errors import DataError
from xtransfer.metrics import squad
from xtransfer.metrics.ranking import consecutive_groups, ndcg
from xtransfer.metrics.seqeval import entity_scores
from xtransfer.xglue.benchmark import LANGUAGES, UNDERSTANDING, label_file, prediction_file


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path} is missing: XGLUE's evaluator reads every language of each task it is given; "
                        f"add the file or leave the task's folder out")
    return path.read_text(encoding="utf-8").splitlines()


def _tag_sentences(path: Path, labels: bool) -> list[list[str]]:
    """The evaluator's NER/POS reading: labels end a sentence at a blank or -DOCSTART- line and take each
    line's last field; predictions end one at a blank line that follows a tag (another blank is a '' tag)."""
    sentences, current = [], []
    for line in _lines(path):
        if labels:
            if line.strip() and not line.startswith("-DOCSTART-"):
                current.append(line.split()[-1])
                continue
        elif not line.strip() and not current:
            current.append("")
            continue
        elif line.strip():
            current.append(line.strip())
            continue
        if current:
            sentences.append(current)
            current = []
    return sentences + [current] if current else sentences


def _tags(task: str, predictions: Path, labels: Path, lang: str) -> float:
    gold, predicted = _tag_sentences(labels, labels=True), _tag_sentences(predictions, labels=False)
    if len(predicted) != len(gold):
        raise DataError(f"{predictions}: {len(predicted)} sentences, but {labels} has {len(gold)}")
    for k, (g, p) in enumerate(zip(gold, predicted), start=1):
        if len(p) > len(g):
            raise DataError(f"{predictions}: sentence {k} has {len(p)} tags, its label sentence {len(g)}")
        p.extend(["O"] * (len(g) - len(p)))
    scores = entity_scores(gold, predicted)
    return (scores["f1"] if task == "NER" else scores["precision"]) / 100


def _label_lines(task: str, path: Path) -> list[str]:
    lines = _lines(path)
    return [line for line in lines[1:] if line.strip()] if task == "PAWSX" else lines


def _pairs(task: str, predictions: Path, labels: Path) -> tuple[list[str], list[str]]:
    predicted = [line.strip() for line in _lines(predictions)]
    gold_lines = _label_lines(task, labels)
    if len(predicted) != len(gold_lines):
        raise DataError(f"{predictions}: {len(predicted)} lines, but {labels} has {len(gold_lines)} labels; "
                        f"XGLUE needs one prediction per input line")
    return predicted, gold_lines


def _accuracy(task: str, predictions: Path, labels: Path, lang: str) -> float:
    predicted, gold_lines = _pairs(task, predictions, labels)
    return metrics.accuracy(predicted, [line.split("\t")[-1].strip() for line in gold_lines]) / 100


def _ndcg(task: str, predictions: Path, labels: Path, lang: str) -> float:
    predicted, gold_lines = _pairs(task, predictions, labels)
    try:
        scores = [float(p) for p in predicted]
        grades = [float(line.split("\t")[-1]) for line in gold_lines]
    except ValueError as e:
        raise DataError(f"{predictions} or {labels}: WPR grades are numbers 0-4 ({e})") from None
    groups = consecutive_groups([line.split("\t")[0] for line in gold_lines])
    return ndcg([([grades[i] for i in g], [scores[i] for i in g]) for g in groups]) / 100


def _json(path: Path) -> Any:
    try:
        return json.loads("\n".join(_lines(path)))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: malformed JSON at column {e.colno} ({e.msg})") from None


def _mlqa(task: str, predictions: Path, labels: Path, lang: str) -> float:
    answers, dataset = _json(predictions), _json(labels)
    if not isinstance(answers, dict):
        raise DataError(f"{predictions}: expected a JSON object {{question id: answer text}}")
    try:
        gold = {qa["id"]: [a["text"] for a in qa["answers"]]
                for article in dataset["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    except (KeyError, TypeError):
        raise DataError(f"{labels}: not a SQuAD/MLQA dataset") from None
    return squad.mlqa(answers, gold, lang, unanswered_zero=True)["f1"] / 100


METRICS: dict[str, Callable[[str, Path, Path, str], float]] = {
    "NER": _tags, "POS": _tags, "MLQA": _mlqa, "WPR": _ndcg,
    **{task: _accuracy for task in ("NC", "XNLI", "PAWSX", "QADSM", "QAM")},
}


def score_task(predictions: Path, labels: Path, task: str, split: str = "test") -> dict[str, float]:
    result = {lang: METRICS[task](task, prediction_file(predictions, task, lang), label_file(labels, task, lang, split),
                                  lang)
              for lang in LANGUAGES[task]}
    return {**result, "avg": sum(result.values()) / len(result)}


def evaluate(predictions: Path, labels: Path, split: str = "test", tasks: list[str] | None = None) -> dict[str, Any]:
    """Every XGLUE task whose folder is in the predictions (or `tasks`), then the averages."""
    if not predictions.is_dir():
        raise DataError(f"{predictions} is not a directory (expected <TASK>/<lang>.prediction inside)")
    if tasks is None:
        tasks = [task for task in LANGUAGES if (predictions / task).is_dir()]
    unknown = [task for task in tasks if task not in LANGUAGES]
    if unknown or not tasks:
        raise DataError(f"no XGLUE task to score ({unknown or 'no task folder'} in {predictions}); "
                        f"the understanding tasks are {', '.join(LANGUAGES)}")
    result: dict[str, Any] = {task: score_task(predictions, labels, task, split) for task in tasks}
    result["average"] = sum(result[task]["avg"] for task in tasks) / len(tasks)
    if set(UNDERSTANDING) <= set(tasks):
        result["understanding"] = sum(result[task]["avg"] for task in UNDERSTANDING) / len(UNDERSTANDING)
    return result
