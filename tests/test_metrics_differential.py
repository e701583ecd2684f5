"""Metrics against their references: entity P/R/F1 against the seqeval 1.2.2 package on thousands
of seeded random tag sequences; SQuAD v1.1 / v2.0 and MLQA against hand-computed fixtures that
reach every branch of the official scripts (evaluate-v1.1.py, evaluate-v2.0.py, mlqa_evaluation_v1.py)."""
from __future__ import annotations

import random
import warnings

import pytest

from xtransfer.metrics import mean, squad
from xtransfer.metrics.ranking import mrr_at_k, pair_f1
from xtransfer.metrics.seqeval import chunks, entity_scores

seqeval_metrics = pytest.importorskip("seqeval.metrics")

TYPES = ["PER", "LOC", "ORG"]
IOB2 = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]
IOBES = IOB2 + [f"{p}-{t}" for t in [*TYPES, "GEO-LOC"] for p in "BIES"]  # a type may hold a '-'
UPOS = ["NOUN", "VERB", "ADJ", "ADP", "SCONJ", "SYM", "X", "PUNCT", "PROPN", "DET", "."]  # PTB's '.' too


# ---- entity P/R/F1 against seqeval -------------------------------------------------------
def _corpus(rng: random.Random, tags: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    """Gold sentences and a prediction: random, gold with a few tags changed, or nothing predicted."""
    gold = [[rng.choice(tags) for _ in range(rng.randint(0, 9))] for _ in range(rng.randint(1, 4))]
    kind = rng.random()
    if kind < 0.4:
        pred = [[rng.choice(tags) for _ in s] for s in gold]
    elif kind < 0.9:
        pred = [[rng.choice(tags) if rng.random() < 0.2 else t for t in s] for s in gold]
    else:  # nothing predicted (or, swapped below, nothing gold)
        pred = [["O"] * len(s) for s in gold]
    return (pred, gold) if rng.random() < 0.5 and kind >= 0.9 else (gold, pred)


def _seqeval(gold, pred) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning: seqeval then returns 0
        return {"f1": 100 * seqeval_metrics.f1_score(gold, pred),
                "precision": 100 * seqeval_metrics.precision_score(gold, pred),
                "recall": 100 * seqeval_metrics.recall_score(gold, pred)}


def _i_then_b_of_same_type(sentences) -> bool:
    return any(a[:2] == "I-" and b[:2] == "B-" and a[2:] == b[2:] for s in sentences for a, b in zip(s, s[1:]))


UNTYPED = ["O", "B", "I", "E", "S"]  # chunking without types: every chunk has the type '_'


@pytest.mark.parametrize("tags, n", [(IOB2, 3000), (IOBES, 500), (UPOS, 500), (UNTYPED, 300)],
                         ids=["iob2", "iobes", "upos", "untyped"])
def test_entity_scores_equal_seqeval_on_random_sequences(tags, n):
    rng = random.Random(f"seqeval-{len(tags)}")
    seen = {"i_then_b": 0, "no_pred": 0, "no_gold": 0, "partial": 0}
    for _ in range(n):
        gold, pred = _corpus(rng, tags)
        ours, reference = entity_scores(gold, pred), _seqeval(gold, pred)
        assert ours == reference, (gold, pred)  # all three figures, to the last bit
        seen["i_then_b"] += _i_then_b_of_same_type(gold) or _i_then_b_of_same_type(pred)
        seen["no_pred"] += not chunks(pred) and bool(chunks(gold))
        seen["no_gold"] += not chunks(gold) and bool(chunks(pred))
        seen["partial"] += 0 < ours["f1"] < 100 and ours["precision"] != ours["recall"]
    # the generator reaches every branch the issue names, in many corpora each
    if tags is IOB2:
        assert seen["i_then_b"] > n // 4
    assert min(seen["no_pred"], seen["no_gold"]) > n // 100 and seen["partial"] > n // 4


def test_i_followed_by_b_of_the_same_type_closes_the_chunk():
    gold = [["B-PER", "I-PER", "B-PER", "O"]]
    assert chunks(gold) == {("PER", 0, 1), ("PER", 2, 2)}
    merged = [["B-PER", "I-PER", "I-PER", "O"]]  # one 3-token chunk: nothing right
    assert entity_scores(gold, merged) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert entity_scores(gold, gold) == {"f1": 100.0, "precision": 100.0, "recall": 100.0}
    # an I- at the start opens a chunk, and the B- after it opens the next one
    assert chunks([["I-LOC", "B-LOC"]]) == chunks([["B-LOC", "B-LOC"]]) == {("LOC", 0, 0), ("LOC", 1, 1)}


def test_chunk_types_as_seqeval_reads_them():
    # the type is everything after the first '-'; a tag without one has the type '_' ('X') or its tail
    assert chunks([["B-GEO-LOC", "I-GEO-LOC", "X", "NOUN"]]) == {("GEO-LOC", 0, 1), ("_", 2, 2), ("OUN", 3, 3)}


def test_precision_and_recall_are_zero_where_nothing_is_predicted_or_gold():
    gold, nothing = [["B-PER", "I-PER", "O", "B-LOC"]], [["O", "O", "O", "O"]]
    zero = {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert entity_scores(gold, nothing) == zero == _seqeval(gold, nothing)
    assert entity_scores(nothing, gold) == zero == _seqeval(nothing, gold)
    assert entity_scores(nothing, nothing) == zero == _seqeval(nothing, nothing)


def test_accuracies_of_nothing_are_refused():
    from xtransfer.metrics import accuracy
    from xtransfer.metrics.seqeval import token_accuracy

    for score in (lambda: accuracy([], []), lambda: token_accuracy([[]], [[]])):
        with pytest.raises(ValueError, match="^accuracy of an empty set is undefined$"):
            score()
    assert token_accuracy([["A", "B"], ["C"]], [["A", "X"], ["C"]]) == pytest.approx(200 / 3)


def test_precision_recall_and_f1_are_each_their_own_figure():
    # gold PER(0-1) LOC(3) ORG(5); predicted PER(0-1) ORG(3): 1 right of 2 predicted, of 3 gold
    gold, pred = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG"]], [["B-PER", "I-PER", "O", "B-ORG"], ["O"]]
    assert entity_scores(gold, pred) == pytest.approx({"precision": 50.0, "recall": 100 / 3, "f1": 40.0})
    with pytest.raises(ValueError, match="1 predicted sentences for 2 gold sentences"):
        entity_scores(gold, pred[:1])
    with pytest.raises(ValueError, match="sentence 1: 2 predicted tags for 1 gold tags"):
        entity_scores(gold, [pred[0], ["O", "O"]])


# ---- SQuAD v1.1 ----------------------------------------------------------------------------
def test_squad_v1_every_branch_hand_computed():
    gold = {
        "overlap": ["The Eiffel Tower", "Eiffel Tower in Paris"],  # max over golds: the second
        "empty": ["Curie"],                                        # empty prediction
        "repeats": ["cat cat dog"],                                # a token counts min(pred, gold) times
        "exact": ["two cities"],                                   # case and punctuation normalised away
        "article": ["The"],                                        # gold normalises to nothing
        "missing": ["Rome"],                                       # no prediction
    }
    predictions = {"overlap": "eiffel tower in", "empty": "", "repeats": "the cat cat cat", "exact": "Two Cities!",
                   "article": "", "extra id": "ignored"}
    # overlap: vs gold 1 P 2/3 R 1 -> .8; vs gold 2 P 1 R 3/4 -> 6/7. repeats: 2 common of 3 and 3 -> 2/3.
    # article: '' == '' is an exact match, but no common token gives F1 0 (evaluate-v1.1.py does the same).
    f1 = [6 / 7, 0, 2 / 3, 1, 0, 0]
    em = [0, 0, 0, 1, 1, 0]
    scores = squad.squad_v1(predictions, gold, unanswered_zero=True)
    assert scores == pytest.approx({"f1": 100 * sum(f1) / 6, "exact_match": 100 * sum(em) / 6})
    with pytest.raises(ValueError, match=r"1 questions without a prediction, e.g. \['missing'\]"):
        squad.squad_v1(predictions, gold)
    with pytest.raises(ValueError, match="^EM/F1 of an empty set is undefined$"):
        squad.squad_v1({}, {})
    with pytest.raises(ValueError, match=r"^4 questions without a prediction, e.g. \['a', 'b', 'c'\]$"):
        squad.squad_v1({}, {q: ["x"] for q in "abcd"})


def test_squad_tokens_normalise_like_the_official_script():
    assert squad.squad_tokens("  The  ANSWER, isn't an apple!  ") == ["answer", "isnt", "apple"]
    assert squad.squad_tokens("theatre another") == ["theatre", "another"]  # articles only as whole words


# ---- SQuAD v2.0 ----------------------------------------------------------------------------
V2_GOLD = {"h1": ["Paris"], "h2": ["blue sky"], "h3": ["Marie Curie"], "h4": ["Rome", "Roma"],
           "n1": [], "n2": [], "n3": []}
V2_PRED = {"h1": "Paris", "h2": "the sky", "h3": "", "h4": "Rome", "n1": "", "n2": "London", "n3": ""}
# null score - best span score; h3 abstains wrongly, n1/n3 abstain rightly, n2 answers a no-answer
V2_MARGINS = {"h1": -3.0, "h2": -1.0, "h3": 2.0, "h4": -0.5, "n1": 1.5, "n2": -2.0, "n3": 0.5}


def test_squad_v2_scores_abstentions_right_and_wrong():
    scores = squad.squad_v2(V2_PRED, V2_GOLD)
    # (exact, f1): h1 (1, 1), h2 (0, 2/3), h3 (0, 0), h4 (1, 1), n1 (1, 1), n2 (0, 0), n3 (1, 1)
    assert scores == pytest.approx({
        "exact_match": 100 * 4 / 7, "f1": 100 * (4 + 2 / 3) / 7,
        "HasAns_exact": 100 * 2 / 4, "HasAns_f1": 100 * (2 + 2 / 3) / 4,
        "NoAns_exact": 100 * 2 / 3, "NoAns_f1": 100 * 2 / 3,
    })


def test_squad_v2_best_thresholds_exact_and_f1_separately():
    scores = squad.squad_v2(V2_PRED, V2_GOLD, V2_MARGINS)
    # Start: all 3 no-answers right = 3. In margin order, f1 (exact) running sums:
    #   h1 -3.0: +1 -> 4 (4)     best so far for both, threshold -3.0
    #   n2 -2.0: -1 -> 3 (3)     an answer to a no-answer question costs 1
    #   h2 -1.0: +2/3 -> 3.67 (+0 -> 3)
    #   h4 -0.5: +1 -> 4.67 (4)  a new best for f1; for exact a tie, and the search is strict '>'
    #   n3, n1 (abstained): +0; h3 (abstained, wrong): +0
    assert scores["best_f1"] == pytest.approx(100 * (4 + 2 / 3) / 7)
    assert scores["best_f1_thresh"] == -0.5
    assert scores["best_exact"] == pytest.approx(100 * 4 / 7)
    assert scores["best_exact_thresh"] == -3.0


def test_squad_v2_threshold_stays_at_zero_when_answering_never_helps():
    scores = squad.squad_v2({"n": "yes", "h": "wrong"}, {"n": [], "h": ["right"]}, {"n": -1.0, "h": 1.0})
    assert (scores["best_f1"], scores["best_f1_thresh"]) == (50.0, 0.0)
    assert (scores["best_exact"], scores["best_exact_thresh"]) == (50.0, 0.0)


def test_squad_v2_threshold_search_costs_nothing_for_an_abstention_on_a_no_answer():
    # start 1 (one no-answer); n abstains (+0), then h is right (+1): best 2 of 2 at h's margin
    scores = squad.squad_v2({"n": "", "h": "yes"}, {"n": [], "h": ["yes"]}, {"n": -5.0, "h": -1.0})
    assert (scores["best_f1"], scores["best_f1_thresh"]) == (100.0, -1.0)
    assert (scores["best_exact"], scores["best_exact_thresh"]) == (100.0, -1.0)


def test_squad_v2_groups_only_what_exists_and_thresholds_only_with_margins():
    only_answerable = squad.squad_v2({"a": "x"}, {"a": ["x"]})
    assert only_answerable == {"f1": 100.0, "exact_match": 100.0, "HasAns_f1": 100.0, "HasAns_exact": 100.0}
    only_unanswerable = squad.squad_v2({"a": ""}, {"a": []}, {"a": 0.3})
    assert only_unanswerable == {"f1": 100.0, "exact_match": 100.0, "NoAns_f1": 100.0, "NoAns_exact": 100.0,
                                 "best_f1": 100.0, "best_f1_thresh": 0.0, "best_exact": 100.0, "best_exact_thresh": 0.0}
    with pytest.raises(ValueError, match="1 questions without a prediction"):
        squad.squad_v2({}, {"a": []})


# ---- MLQA ------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang, prediction, gold, em, f1", [
    ("en", "the «House»", "house", 1, 1),                 # article and unicode punctuation
    ("es", "La casa", "casa", 1, 1),
    ("es", "the casa", "casa", 0, 2 / 3),                 # 'the' is no Spanish article
    ("de", "Der Hund", "hund", 1, 1),
    ("vi", "những con mèo", "con mèo", 1, 1),
    ("ar", "الكتاب", "كتاب", 1, 1),
    ("hi", "किताब।", "किताब", 1, 1),                         # no articles; the danda is punctuation
    ("zh", "北京。", "北京大学", 0, 2 / 3),                  # characters are tokens: 2 of 4
    ("zh", "北京 university", "北京university", 1, 1),      # latin runs are one token beside CJK
    ("zh", "\u9fa6\u9fa6 x", "\u9fa6", 0, 0),             # U+9FA6 is past the script's CJK range
    ("en", "北京", "北京大学", 0, 0),                         # only zh splits CJK characters
])
def test_mlqa_normalises_per_language(lang, prediction, gold, em, f1):
    scores = squad.mlqa({"q": prediction}, {"q": [gold]}, lang)
    assert scores == pytest.approx({"exact_match": 100.0 * em, "f1": 100.0 * f1})


def test_mlqa_scores_a_set_with_an_unanswered_question_as_zero():
    gold = {"a": ["el perro"], "b": ["una casa roja"], "c": ["gato"]}
    predictions = {"a": "perro", "b": "casa"}  # b: 1 of 2 gold tokens, P 1 R 1/2
    assert squad.mlqa(predictions, gold, "es", unanswered_zero=True) == pytest.approx(
        {"exact_match": 100 / 3, "f1": 100 * (1 + 2 / 3) / 3})
    with pytest.raises(ValueError, match="1 questions without a prediction"):
        squad.mlqa(predictions, gold, "es")


# ---- ranking ---------------------------------------------------------------------------------
def test_pair_f1_counts_each_pair_once_and_each_figure_separately():
    gold = [("s1", "t1"), ("s2", "t2"), ("s3", "t3"), ("s3", "t3")]   # 3 distinct gold pairs
    predicted = [("s1", "t1"), ("s1", "t1"), ("s2", "t9")]              # 2 distinct, 1 right
    assert pair_f1(gold, predicted) == pytest.approx({"precision": 50.0, "recall": 100 / 3, "f1": 40.0})
    zero = {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert pair_f1(gold, [("s2", "t9")]) == pair_f1(gold, []) == pair_f1([], predicted) == zero


def test_mrr_at_k_hand_computed():
    gold = {"e1": "a", "e2": "b", "e3": "c", "e4": "d"}
    ranked = {"e1": ["a", "x"], "e2": ["x", "y", "b"], "e3": ["x", "c"], "other": ["d"]}
    # e1 rank 1; e2 rank 3 (past k = 2); e3 rank 2; e4 unpredicted
    assert mrr_at_k(gold, ranked, 2) == pytest.approx((1 + 0 + 1 / 2 + 0) / 4)
    assert mrr_at_k(gold, ranked, 3) == pytest.approx((1 + 1 / 3 + 1 / 2 + 0) / 4)
    assert mrr_at_k({}, ranked, 3) == 0.0


def test_mean_of_per_language_scores():
    assert mean([50.0, 70.0, 75.0]) == 65.0
