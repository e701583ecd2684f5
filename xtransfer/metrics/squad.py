"""Extractive-QA metrics, equal to the official scorers (in percent):

* SQuAD v1.1 ``evaluate-v1.1.py`` (XQuAD, TyDiQA-GoldP in XTREME): EM / F1, max over gold answers.
* SQuAD v2.0 ``evaluate-v2.0.py``: the same plus HasAns/NoAns and the best no-answer threshold.
* MLQA ``mlqa_evaluation_v1.py``: language-aware normalisation (articles per language, every
  unicode punctuation mark, whitespace tokens or, for zh, CJK characters as tokens).
"""
from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from typing import Callable, Mapping, Sequence

Normalizer = Callable[[str], list[str]]  # answer text -> tokens


# ---- SQuAD v1.1 / v2.0 ---------------------------------------------------------------
_SQUAD_PUNCT = set(string.punctuation)


def squad_tokens(text: str) -> list[str]:
    """Lower, drop ASCII punctuation and English articles, split on whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCT)
    return re.sub(r"\b(a|an|the)\b", " ", text, flags=re.UNICODE).split()


# ---- MLQA ----------------------------------------------------------------------------
_MLQA_PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")} | _SQUAD_PUNCT
_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": r"\sال^|ال",
    "hi": None,  # no formal articles
    "zh": None,
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def _mixed_segmentation(text: str) -> list[str]:
    """zh: every CJK character and punctuation mark is a token; other runs split on whitespace."""
    tokens, run = [], ""
    for ch in text:
        if _CJK.search(ch) or ch in _MLQA_PUNCT:
            tokens += run.split()
            run = ""
            tokens.append(ch)
        else:
            run += ch
    return tokens + run.split()


def mlqa_tokens(text: str, lang: str) -> list[str]:
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA has no normalisation for language '{lang}' (known: {sorted(_MLQA_ARTICLES)})")
    text = "".join(ch for ch in text.lower() if ch not in _MLQA_PUNCT)
    if _MLQA_ARTICLES[lang]:
        text = re.sub(_MLQA_ARTICLES[lang], " ", text)
    tokens = _mixed_segmentation(text) if lang == "zh" else text.split()
    return [t for t in tokens if t.strip()]


# ---- scores --------------------------------------------------------------------------
def _f1(pred: list[str], gold: list[str], v2: bool) -> float:
    if v2 and (not pred or not gold):  # v2.0: a no-answer matches only a no-answer
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def example_scores(prediction: str, golds: Sequence[str], tokens: Normalizer, v2: bool = False) -> tuple[float, float]:
    """(exact match, F1) of one prediction, each the max over the gold answers."""
    pred = tokens(prediction)
    gold_tokens = [tokens(g) for g in golds] if golds else [[]]  # v2.0: no gold = the empty answer
    exact = max(float(" ".join(pred) == " ".join(g)) for g in gold_tokens)
    return exact, max(_f1(pred, g, v2) for g in gold_tokens)


def _check(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]], unanswered_zero: bool = False) -> None:
    missing = [i for i in gold if i not in predictions]
    if missing and not unanswered_zero:
        raise ValueError(f"{len(missing)} questions without a prediction, e.g. {missing[:3]}")
    if not gold:
        raise ValueError("EM/F1 of an empty set is undefined")


def squad_v1(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]],
             tokens: Normalizer = squad_tokens, unanswered_zero: bool = False) -> dict[str, float]:
    """{'f1', 'exact_match'} as evaluate-v1.1.py (tokens=squad_tokens) or MLQA (tokens=mlqa_tokens).
    A question without a prediction is an error, or with unanswered_zero scores 0 as the scripts do."""
    _check(predictions, gold, unanswered_zero)
    scores = [example_scores(predictions[i], golds, tokens) if i in predictions else (0.0, 0.0)
              for i, golds in gold.items()]
    return {"f1": 100.0 * sum(f for _, f in scores) / len(scores),
            "exact_match": 100.0 * sum(e for e, _ in scores) / len(scores)}


def mlqa(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]], lang: str,
         unanswered_zero: bool = False) -> dict[str, float]:
    return squad_v1(predictions, gold, lambda text: mlqa_tokens(text, lang), unanswered_zero)


def squad_v2(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]],
             null_margins: Mapping[str, float] | None = None) -> dict[str, float]:
    """evaluate-v2.0.py: f1/exact overall and on HasAns/NoAns questions; with null_margins (the
    no-answer score minus the best span's, the script's na_prob), the best threshold as well."""
    _check(predictions, gold)
    scores = {i: example_scores(predictions[i], golds, squad_tokens, v2=True) for i, golds in gold.items()}
    out = {"f1": _mean([f for _, f in scores.values()]), "exact_match": _mean([e for e, _ in scores.values()])}
    for name, ids in (("HasAns", [i for i in gold if gold[i]]), ("NoAns", [i for i in gold if not gold[i]])):
        if ids:
            out[f"{name}_f1"] = _mean([scores[i][1] for i in ids])
            out[f"{name}_exact"] = _mean([scores[i][0] for i in ids])
    if null_margins is not None:
        for k, metric in ((1, "f1"), (0, "exact")):
            best, thresh = _best_threshold({i: s[k] for i, s in scores.items()}, predictions, gold, null_margins)
            out[f"best_{metric}"], out[f"best_{metric}_thresh"] = best, thresh
    return out


def _mean(values: list[float]) -> float:
    return 100.0 * sum(values) / len(values)


def _best_threshold(scores: Mapping[str, float], predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]],
                    margins: Mapping[str, float]) -> tuple[float, float]:
    """evaluate-v2.0.py find_best_thresh: answer 'no answer' for every margin above the threshold."""
    current = best = sum(1.0 for i in gold if not gold[i])  # all predicted as no-answer
    thresh = 0.0
    for i in sorted(gold, key=lambda q: margins[q]):
        diff = scores[i] if gold[i] else (-1.0 if predictions[i] else 0.0)
        current += diff
        if current > best:
            best, thresh = current, margins[i]
    return 100.0 * best / len(gold), thresh
