"""SQuAD v1.1 / v2.0 and MLQA scores against hand-computed values."""
from __future__ import annotations

import pytest

from xtransfer.metrics import squad


def test_squad_v1_takes_the_best_gold_and_drops_articles_and_punctuation():
    gold = {"q1": ["the Eiffel Tower", "Eiffel Tower in Paris"], "q2": ["Marie Curie"], "q3": ["1923"]}
    predictions = {"q1": "Eiffel tower!", "q2": "Curie and Pierre", "q3": "in 1924"}
    # q1: 'eiffel tower' == normalised gold 1 -> EM 1, F1 1
    # q2: pred {curie, and, pierre} vs {marie, curie}: 1 common, P 1/3, R 1/2 -> F1 0.4
    # q3: nothing in common -> 0
    scores = squad.squad_v1(predictions, gold)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.4) / 3)


def test_squad_v1_counts_a_missing_prediction_as_an_error():
    with pytest.raises(ValueError, match="1 questions without a prediction"):
        squad.squad_v1({"q1": "x"}, {"q1": ["x"], "q2": ["y"]})


def test_squad_v1_tokens_keep_unicode_punctuation_and_chinese_is_one_token():
    assert squad.squad_tokens("The «Cat», a dog.") == ["«cat»", "dog"]
    assert squad.squad_tokens("北京大学") == ["北京大学"]


def test_mlqa_chinese_scores_characters():
    # gold 北京大学 -> 4 characters; prediction 北京 -> 2 in common: P 1, R 1/2, F1 2/3
    scores = squad.mlqa({"q": "北京。"}, {"q": ["北京大学"]}, "zh")
    assert scores["f1"] == pytest.approx(100 * 2 / 3)
    assert scores["exact_match"] == 0.0
    assert squad.mlqa_tokens("在 2019年，北京", "zh") == ["在", "2019", "年", "北", "京"]


@pytest.mark.parametrize("lang, text, tokens", [
    ("en", "The «Cat», a dog", ["cat", "dog"]),                   # unicode punctuation goes too
    ("es", "La casa de los Reyes", ["casa", "de", "reyes"]),
    ("de", "Der Hund und das Haus", ["hund", "und", "haus"]),
    ("vi", "những con mèo của tôi", ["con", "mèo", "tôi"]),
    ("ar", "الكتاب", ["كتاب"]),                                     # the article is a prefix
    ("hi", "एक किताब।", ["एक", "किताब"]),                              # no articles; danda is punctuation
])
def test_mlqa_normalises_per_language(lang, text, tokens):
    assert squad.mlqa_tokens(text, lang) == tokens


def test_mlqa_language_changes_the_score():
    # 'the' is an article in English only: EM in en, not in es
    assert squad.mlqa({"q": "the house"}, {"q": ["house"]}, "en")["exact_match"] == 100.0
    assert squad.mlqa({"q": "the house"}, {"q": ["house"]}, "es")["exact_match"] == 0.0
    with pytest.raises(ValueError, match="no normalisation for language 'xx'"):
        squad.mlqa_tokens("a", "xx")


def test_squad_v2_has_answer_and_no_answer_and_best_threshold():
    gold = {"a": ["Paris"], "b": [], "c": ["blue sky"], "d": []}
    predictions = {"a": "Paris", "b": "", "c": "sky", "d": "London"}
    margins = {"a": -5.0, "b": 3.0, "c": -1.0, "d": -2.0}  # null score - best span score
    scores = squad.squad_v2(predictions, gold, margins)
    # F1: a 1, b 1 (both empty), c P 1 R 1/2 -> 2/3, d 0 (an answer where there is none)
    assert scores["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3 + 0) / 4)
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert scores["NoAns_exact"] == pytest.approx(50.0)
    # Thresholds in margin order a(-5) d(-2) c(-1) b(3), start = 2 no-answers right:
    # +1 (a) -> 3, -1 (d answered) -> 2, +2/3 (c) -> 2.667, +0 (b: prediction empty) -> 2.667
    assert scores["best_f1"] == pytest.approx(100 * 3 / 4)
    assert scores["best_f1_thresh"] == -5.0
