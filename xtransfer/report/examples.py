"""Per-example scores of a cell, from the predictions it wrote and the gold labels of its data.

Every main metric of the families is a ratio of sums over units: metric = 100 · Σa / Σb.
accuracy (classification, multiple choice, Tatoeba): one unit per example, a = 1 if right, b = 1;
SQuAD/MLQA F1 and EM: one unit per question, a = its F1 (or EM) in [0, 1], b = 1; entity F1
(seqeval): one unit per sentence, a = 2·correct entities, b = predicted + gold entities (so Σa/Σb is
the corpus F1, 2PR/(P+R)); token accuracy: a = right tags, b = tags; BUCC F1: one unit per source
sentence, a = 2·right pairs, b = predicted + gold pairs. Resampling units and recomputing the ratio is
the bootstrap of the corpus metric. Nothing is retrained: the gold labels are read from the cell's
data (its saved Hydra config names it) with the same readers the run used.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

import xtransfer.config  # noqa: F401  (registers the resolvers the saved configs use)
from xtransfer.cache.hashing import digest
from xtransfer.config.build import build_task
from xtransfer.config.schema import TaskSpec
from xtransfer.errors import XTransferError
from xtransfer.report.collect import CellResult

TOLERANCE = 1e-3   # recomputed vs results.json metric, in points


@dataclass(frozen=True)
class Units:
    a: np.ndarray
    b: np.ndarray

    @property
    def metric(self) -> float:
        return 100.0 * float(self.a.sum()) / float(self.b.sum()) if self.b.sum() else 0.0


class Unsupported(Exception):
    """A cell whose per-example scores cannot be recomputed here (said in the report, not fatal)."""


_gold: dict[tuple[str, str, str], list[dict]] = {}


def gold_rows(task: TaskSpec, split: str, lang: str) -> list[dict]:
    from xtransfer.data.sources import load_rows
    from xtransfer.tasks import get_family

    key = (digest(task.describe()), split, lang)
    if key not in _gold:
        _gold[key] = load_rows(task, split, lang, get_family(task.family).normalize)
    return _gold[key]


def eval_task(job: Path) -> TaskSpec:
    path = job / ".hydra" / "config.yaml"
    if not path.is_file():
        raise Unsupported(f"{path} is missing (the gold labels are read from the cell's data)")
    try:
        return build_task(OmegaConf.load(path).target.eval_task, "target.eval_task")
    except Exception as e:   # an unreadable or foreign config: say so, never fail the report
        raise Unsupported(f"{path}: no readable target.eval_task ({type(e).__name__}: {e})") from None


def cell_units(result: CellResult) -> dict[str, Units]:
    """Per language of the score split: the units of the cell's main metric, checked against results.json."""
    r, job = result.results, result.path.parent
    split, metric = r["score_split"], r["main_metric"]
    try:
        task = eval_task(job)
        out = {}
        for lang in r["languages"]:
            files = sorted((job / r.get("predictions", "predictions")).glob(f"{split}-{lang}.*"))
            if not files:
                raise Unsupported(f"no predictions/{split}-{lang}.* in {job}")
            units = family_units(task, split, lang, files[0], metric)
            expected = r["metrics"][split][lang][metric]
            if abs(units.metric - expected) > TOLERANCE:
                raise Unsupported(f"{lang}: the predictions score {units.metric:.4f}, results.json says {expected:.4f}")
            out[lang] = units
        return out
    except (XTransferError, OSError, ValueError, KeyError, IndexError, TypeError) as e:   # never fail the report
        raise Unsupported(f"{type(e).__name__}: {e}") from None


def family_units(task: TaskSpec, split: str, lang: str, predictions: Path, metric: str) -> Units:
    rows = gold_rows(task, split, lang)
    family = task.family
    if family == "classification":
        return _accuracy(_lines(predictions), [task.labels[row["label"]] for row in rows])
    if family == "multiple_choice":
        predicted = [json.loads(line)["label"] for line in _lines(predictions)]
        return _accuracy(predicted, [row["label"] for row in rows])
    if family == "tagging":
        return _tagging(predictions, [row["tags"] for row in rows], metric)
    if family == "span":
        return _span(json.loads(predictions.read_text(encoding="utf-8")), rows, task, lang, metric)
    if family == "retrieval" and task.options.get("scorer") == "tatoeba":
        return _accuracy([int(line) for line in _lines(predictions)], list(range(len(rows))))
    if family == "retrieval" and task.options.get("scorer") == "bucc":
        return _bucc(_lines(predictions), rows)
    raise Unsupported(f"no per-example scores for {family} task '{task.name}' ({metric})")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _accuracy(predicted: list, gold: list) -> Units:
    if len(predicted) != len(gold):
        raise Unsupported(f"{len(predicted)} predictions for {len(gold)} examples")
    right = np.array([p == g for p, g in zip(predicted, gold)], dtype=float)
    return Units(right, np.ones_like(right))


def _tagging(predictions: Path, gold: list[list[str]], metric: str) -> Units:
    from xtransfer.metrics.seqeval import chunks

    text = predictions.read_text(encoding="utf-8").rstrip("\n")
    predicted = [block.split("\n") for block in text.split("\n\n")] if text else []
    if len(predicted) != len(gold) or any(len(p) != len(g) for p, g in zip(predicted, gold)):
        raise Unsupported(f"{len(predicted)} predicted sentences for {len(gold)} (or their lengths differ)")
    if metric == "acc":
        a = [sum(x == y for x, y in zip(p, g)) for p, g in zip(predicted, gold)]
        return Units(np.array(a, dtype=float), np.array([len(g) for g in gold], dtype=float))
    if metric != "f1":
        raise Unsupported(f"no per-sentence decomposition of tagging metric '{metric}'")
    a, b = [], []
    for p, g in zip(predicted, gold):
        true, found = chunks([g]), chunks([p])
        a.append(2 * len(true & found))
        b.append(len(true) + len(found))
    return Units(np.array(a, dtype=float), np.array(b, dtype=float))


def _span(predicted: dict[str, str], rows: list[dict], task: TaskSpec, lang: str, metric: str) -> Units:
    from xtransfer.metrics.squad import example_scores, mlqa_tokens, squad_tokens

    kind = task.options.get("metric", "squad")
    if kind not in ("squad", "mlqa") or metric not in ("f1", "exact_match"):
        raise Unsupported(f"no per-question decomposition of {kind} '{metric}'")
    tokens = (lambda text: mlqa_tokens(text, lang)) if kind == "mlqa" else squad_tokens
    gold = {row["id"]: row["answers"]["text"] for row in rows}     # the scorer keys questions by id too
    values = [example_scores(predicted[i], answers, tokens)[1 if metric == "f1" else 0] if i in predicted else 0.0
              for i, answers in gold.items()]
    return Units(np.array(values, dtype=float), np.ones(len(values)))


def _bucc(lines: list[str], rows: list[dict]) -> Units:
    gold = {tuple(pair) for row in rows for pair in row["gold"]}
    predicted = {tuple(line.split("\t")) for line in lines if line}
    sources = sorted({i for row in rows for i in row["source_id"]} | {s for s, _ in gold} | {s for s, _ in predicted})
    index = {s: k for k, s in enumerate(sources)}
    a, b = np.zeros(len(sources)), np.zeros(len(sources))
    for s, _ in gold:
        b[index[s]] += 1
    for pair in predicted:
        b[index[pair[0]]] += 1
        a[index[pair[0]]] += 2 * (pair in gold)
    return Units(a, b)
