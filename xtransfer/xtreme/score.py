"""`python -m xtransfer.score --predictions DIR --labels DIR [--benchmark xtreme|xtreme-r|xglue] --output FILE`

Scores XTREME submission folders (`<task>/test-<lang>.<ext>`, predictions beside labels) and
writes the JSON that XTREME's official evaluator (google-research/xtreme `evaluate.py`) writes:
the group scores (`all_task` only when every task is there), then per task
`{metric: {lang: value}, avg_<metric>: ..., avg_metric: ...}`. It reads the files as the
evaluator does and scores them with xtransfer's own metrics, the ones the grid reports:

- pawsx, xnli, tatoeba, xcopa: accuracy of the stripped lines (xcopa: each jsonl row's `label`);
- panx, udpos: seqeval entity F1/precision/recall over blank-line separated sentences, POS too
  (the evaluator runs seqeval on POS tags: see xtransfer/metrics/seqeval.py for what that means);
- bucc2018: F1 of the `src<TAB>tgt` pair sets;
- xquad, tydiqa: SQuAD v1.1 EM/F1, English normalisation in every language (as the evaluator);
  mlqa: MLQA's language-aware normalisation; an unanswered question scores 0, extra ids are ignored;
- mewslix: `map@20`, the mean reciprocal rank of the gold entity among the first 20.

`--benchmark xglue` scores XGLUE instead, as its own evaluator does: see xtransfer/xglue/score.py.

Where the evaluator crashes (a missing file, a line-count mismatch, bad JSON) this stops with
one message naming the file (exit 2).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

from xtransfer import metrics
from xtransfer.errors import DataError, XTransferError
from xtransfer.metrics import squad
from xtransfer.metrics.ranking import mrr_at_k, pair_f1
from xtransfer.metrics.seqeval import entity_scores
from xtransfer.xtreme.benchmark import BENCHMARKS, GROUPS, LANGUAGES, suffix

MEWSLIX_K = 20
QA_TASKS = ("xquad", "mlqa", "tydiqa")
UNCOUNTED = ("bucc2018", "mewslix", *QA_TASKS)  # tasks whose files need not have equal lengths


# ---- readers: the evaluator's, with errors that name the file ----------------------------------
def _text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path} is missing: XTREME's evaluator reads every language of a task it finds "
                        f"in both folders; add the file or remove the task's folder")
    return path.read_text(encoding="utf-8")


def read_lines(path: Path) -> list[str]:
    """One item per line, stripped (a blank line is an item, as in the evaluator)."""
    return [line.strip() for line in _text(path).splitlines()]


def read_tags(path: Path) -> list[list[str]]:
    """Tag sentences separated by blank lines (each further blank line adds an empty sentence)."""
    sentences, current = [], []
    for line in read_lines(path):
        if line:
            current.append(line)
        else:
            sentences.append(current)
            current = []
    return sentences + [current] if current else sentences


def read_json(path: Path) -> Any:
    try:
        return json.loads(_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: malformed JSON at column {e.colno} ({e.msg})") from None


def read_squad(path: Path) -> Any:
    """A SQuAD dataset's `data` list, or the json itself (a {question id: answer} prediction file)."""
    data = read_json(path)
    return data["data"] if isinstance(data, dict) and "data" in data else data


def read_xcopa(path: Path) -> list[Any]:
    """The `label` of every jsonl row."""
    labels = []
    for lineno, line in enumerate(_text(path).splitlines(), start=1):
        try:
            labels.append(json.loads(line)["label"])
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: malformed JSON at column {e.colno} ({e.msg})") from None
        except (KeyError, TypeError):
            raise DataError(f"{path}:{lineno}: expected an object with a 'label', got {line.strip()[:80]!r}") from None
    return labels


READERS: dict[str, Callable[[Path], Any]] = {
    "pawsx": read_lines, "xnli": read_lines, "tatoeba": read_lines, "bucc2018": read_lines,
    "panx": read_tags, "udpos": read_tags, "xcopa": read_xcopa,
    "xquad": read_squad, "mlqa": read_squad, "tydiqa": read_squad, "mewslix": read_squad,
}


# ---- metrics: (labels, predictions, lang, prediction file, label file) -> {metric: value},
# in the evaluator's key order ------------------------------------------------------------------
def _accuracy(labels: list, predictions: list, lang: str, prediction_file: Path, label_file: Path) -> dict[str, float]:
    if not predictions:
        raise DataError(f"{prediction_file}: no predictions (accuracy of an empty set is undefined)")
    return {"accuracy": metrics.accuracy(predictions, labels)}


def _entities(labels: list, predictions: list, lang: str, prediction_file: Path, label_file: Path) -> dict[str, float]:
    for k, (gold, predicted) in enumerate(zip(labels, predictions), start=1):
        if len(gold) != len(predicted):
            raise DataError(f"{prediction_file}: sentence {k} has {len(predicted)} tags, its label sentence {len(gold)}")
    return entity_scores(labels, predictions)


def _pairs(labels: list, predictions: list, lang: str, prediction_file: Path, label_file: Path) -> dict[str, float]:
    return pair_f1({tuple(line.split("\t")) for line in labels}, {tuple(line.split("\t")) for line in predictions})


def _squad_gold(dataset: Any, where: Path) -> dict[str, list[str]]:
    try:
        return {qa["id"]: [a["text"] for a in qa["answers"]]
                for article in dataset for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    except (KeyError, TypeError):
        raise DataError(f"{where}: not a SQuAD dataset ({{'data': [{{'paragraphs': [{{'qas': "
                        f"[{{'id', 'answers': [{{'text'}}]}}]}}]}}]}})") from None


def _answers(predictions: Any, where: Path) -> dict[str, str]:
    if not isinstance(predictions, dict):
        raise DataError(f"{where}: expected a JSON object {{question id: answer text}}")
    return predictions


def _squad(labels: Any, predictions: Any, lang: str, prediction_file: Path, label_file: Path,
           score: Callable[..., dict[str, float]] = squad.squad_v1) -> dict[str, float]:
    gold = _squad_gold(labels, label_file)
    if not gold:
        raise DataError(f"{label_file}: no questions")
    result = score(_answers(predictions, prediction_file), gold, unanswered_zero=True)
    return {"exact_match": result["exact_match"], "f1": result["f1"]}


def _mlqa(labels: Any, predictions: Any, lang: str, prediction_file: Path, label_file: Path) -> dict[str, float]:
    return _squad(labels, predictions, lang, prediction_file, label_file, score=lambda p, g, **kw: squad.mlqa(p, g, lang, **kw))


def _mewslix(labels: Any, predictions: Any, lang: str, prediction_file: Path, label_file: Path) -> dict[str, float]:
    if not isinstance(labels, dict) or not isinstance(predictions, dict):
        raise DataError(f"{prediction_file} or {label_file}: Mewsli-X files are JSON objects {{example id: [entity ids]}}")
    gold = {example: entities[0].strip() for example, entities in labels.items()}
    return {f"map@{MEWSLIX_K}": mrr_at_k(gold, predictions, MEWSLIX_K) * 100}


METRICS: dict[str, Callable[..., dict[str, float]]] = {
    "pawsx": _accuracy, "xnli": _accuracy, "tatoeba": _accuracy, "xcopa": _accuracy,
    "panx": _entities, "udpos": _entities, "bucc2018": _pairs,
    "xquad": _squad, "tydiqa": _squad, "mlqa": _mlqa, "mewslix": _mewslix,
}


def score_language(prediction_file: Path, label_file: Path, task: str, lang: str) -> dict[str, float]:
    predictions, labels = READERS[task](prediction_file), READERS[task](label_file)
    if task not in UNCOUNTED and len(predictions) != len(labels):
        unit = "sentences" if task in ("panx", "udpos") else "lines"
        raise DataError(f"{prediction_file}: {len(predictions)} {unit}, but {label_file} has {len(labels)}; "
                        f"XTREME's evaluator needs one prediction per label")
    return METRICS[task](labels, predictions, lang, prediction_file, label_file)


def score_task(predictions: Path, labels: Path, task: str, benchmark: str) -> dict[str, Any]:
    """{metric: {lang: value}}, then avg_<metric> (mean over languages), then avg_metric."""
    ext = suffix(task, benchmark)
    per_metric: dict[str, dict[str, float]] = {}
    for lang in LANGUAGES[benchmark][task]:
        name = f"test-{lang}.{ext}"
        for metric, value in score_language(predictions / task / name, labels / task / name, task, lang).items():
            per_metric.setdefault(metric, {})[lang] = value
    result: dict[str, Any] = dict(per_metric)
    for metric, values in per_metric.items():
        result[f"avg_{metric}"] = sum(values.values()) / len(values)
    if task in GROUPS[benchmark]["qa"]:
        result["avg_metric"] = (result["avg_exact_match"] + result["avg_f1"]) / 2
    else:
        main = next((m for m in ("f1", "accuracy", f"map@{MEWSLIX_K}") if f"avg_{m}" in result), None)
        if main:  # LAReQA in XTREME-R has no languages, hence no metric at all (as in the evaluator)
            result["avg_metric"] = result[f"avg_{main}"]
    return result


def group_scores(detailed: dict[str, dict[str, Any]], benchmark: str) -> dict[str, float]:
    """`all_task` when every task is scored, then each group whose tasks all are: means of avg_metric.
    The evaluator sums all_task over a set, in an order that varies with the hash seed, so its
    last digit can too; math.fsum gives the exactly rounded sum, which most orders give. It
    raises where a task has no avg_metric (XTREME-R's LAReQA); all_task is left out then."""
    out: dict[str, float] = {}
    tasks = list(LANGUAGES[benchmark])
    if set(tasks) == set(detailed) and all("avg_metric" in detailed[t] for t in tasks):
        out["all_task"] = math.fsum(detailed[t]["avg_metric"] for t in tasks) / len(tasks)
    for group, members in GROUPS[benchmark].items():
        if set(members) <= set(detailed):
            out[group] = sum(detailed[t]["avg_metric"] for t in members) / len(members)
    return out


def _task_dirs(folder: Path) -> set[str]:
    if not folder.is_dir():
        raise DataError(f"{folder} is not a directory (expected <task>/test-<lang>.<ext> inside)")
    return {p.name for p in folder.iterdir() if p.is_dir()}


def evaluate(predictions: Path, labels: Path, benchmark: str = "xtreme") -> dict[str, Any]:
    """The evaluator's output: group scores, then every task present in both folders."""
    present = _task_dirs(predictions) & _task_dirs(labels)
    detailed = {task: score_task(predictions, labels, task, benchmark)
                for task in LANGUAGES[benchmark] if task in present}
    return {**group_scores(detailed, benchmark), **detailed}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m xtransfer.score", description=__doc__.split("\n\n")[1])
    parser.add_argument("--predictions", type=Path, required=True, help="folder of <task>/test-<lang>.<ext>")
    parser.add_argument("--labels", type=Path, required=True, help="the same layout with the gold labels")
    parser.add_argument("--benchmark", choices=(*BENCHMARKS, "xglue"), default="xtreme",
                        help="xglue: XGLUE's <TASK>/<lang>.prediction against the release layout (xtransfer/xglue/score.py)")
    parser.add_argument("--split", choices=("test", "dev"), default="test", help="xglue only: which labels to read")
    parser.add_argument("--output", type=Path, required=True, help="where to write the scores (JSON)")
    args = parser.parse_args(argv)
    try:
        if args.benchmark == "xglue":
            from xtransfer.xglue.score import evaluate as evaluate_xglue
            result = evaluate_xglue(args.predictions, args.labels, args.split)
        else:
            result = evaluate(args.predictions, args.labels, args.benchmark)
    except XTransferError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    for name, value in result.items():
        if isinstance(value, dict) and "avg" in value:  # XGLUE: fractions, as its evaluator prints them
            print(f"{name:10s} {value['avg']:8.4f}")
        elif isinstance(value, dict) and "avg_metric" in value:
            print(f"{name:10s} {value['avg_metric']:6.2f}")
        elif not isinstance(value, dict):
            print(f"{name:10s} {value:8.4f}  (mean over tasks)" if args.benchmark == "xglue" else
                  f"{name:10s} {value:6.2f}  (group)")
    print(f"scores written to {args.output}")

