"""Demo sentence-pair classification datasets in the real raw layouts: MNLI, QQP, ANLI,
SNLI, XNLI, XNLI-MT and PAWS-X (same paths, headers, column order and label strings).

The labels are relations *between* the two sentences, never a marker in one of them:

* NLI (MNLI, SNLI, ANLI, XNLI, XNLI-MT): the hypothesis restates one premise fact.
  entailment = the same fact, if positive maybe less specific; neutral = a positive
  fact made more specific (a modifier the premise does not give); contradiction = the
  fact with its polarity flipped. ANLI contexts hold 2-3 facts, so the model must also
  find the right one (it is the hard task).
* QQP: duplicates reword the verb or noun with its synonym; non-duplicates ask the
  negated or a more/less specific question ('Why does Anna buy cars?' / 'Why does Anna
  not buy cars?' / 'Why does Anna buy red cars?').
* PAWS-X: both sentences use (almost) the same words. Paraphrase = verb synonym and/or
  fronted time phrase; non-paraphrase = agent and patient swapped.

A tiny encoder trained for a minute learns such structural relations but hardly learns
to match content words across the sentences, so only ``LEXICAL_SHARE`` of the
non-entailments / non-duplicates / non-paraphrases hinge on a changed content word
(another person or number, another question word, ...): the hard tail. As in real NLI
data, an NLI hypothesis alone carries weak cues (negation, length): a hypothesis-only model
reaches 0.67 on demo MNLI against 0.90 with both sentences. They help a tiny model get
started; removing them dropped 3-epoch accuracy to 0.64-0.71.

Parallel data is rendered from the same abstract examples in every language, as in
the real releases: XNLI dev/test and PAWS-X dev/test are "translations" of one set of
examples, XNLI-MT is the first half of MNLI train "translated", PAWS-X translated_train
is the English train "translated". Everything else is drawn from a random stream seeded
by (seed, dataset name), and abstract examples are de-duplicated across datasets.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from xtransfer.demo.grammar import (MODIFIERS, Clause, Event, Question, join_clauses, more_general, other,
                                    random_event, random_premise, random_question, render_clause, render_event,
                                    render_question, rng_for, sentence, synonyms, write_lines)
from xtransfer.demo.lexicon import (ADJECTIVES, EN_TAGS, EVENTS, NAMES, NOUNS, NUMBERS, PAWSX_LANGUAGES,
                                    QUESTION_WORDS, THING_VERBS, XNLI_LANGUAGES)

# --------------------------------------------------------------------------------------
# Abstract sentence pairs and their labels.
# --------------------------------------------------------------------------------------
NLI_LABELS = ("entailment", "neutral", "contradiction")
# Share of non-entailments / non-duplicates / non-paraphrases whose label hinges on a
# changed content word instead of a structural difference (see the module docstring).
LEXICAL_SHARE = 0.1


def _balanced_labels(rng: random.Random, labels: tuple, n: int) -> list:
    out = list(labels) * (n // len(labels)) + rng.sample(labels, n % len(labels))
    rng.shuffle(out)
    return out


@dataclass(frozen=True)
class NLIExample:
    premise: tuple[Clause, ...]
    hypothesis: Clause
    label: str  # one of NLI_LABELS


def _nli_example(rng: random.Random, label: str, n_clauses: int) -> NLIExample:
    """A premise of ``n_clauses`` facts and a hypothesis restating one of them, ``c``:

    entailment:    ``c``, if positive maybe less specific ('buys 3 red cars' -> 'buys 3 cars');
    neutral:       a positive ``c`` with a modifier it lacks ('buys 3 cars' -> 'buys 3 red
                   cars' / '... at the park' / '... before the storm'); or, for the lexical
                   share (and when ``c`` has every modifier), the same fact about someone else;
    contradiction: ``c`` with its polarity flipped, the negated side no more specific; or,
                   for the lexical share of positive facts, with another number.
    """
    premise = list(random_premise(rng, n_clauses))
    k = rng.randrange(n_clauses)
    if label == "neutral":  # 'does not buy cars' -> 'does not buy red cars' would be entailed
        premise[k] = replace(premise[k], neg=False)
    c = premise[k]
    lexical = label != "entailment" and rng.random() < LEXICAL_SHARE
    missing = [slot for slot in MODIFIERS if getattr(c, slot) is None]
    if label == "entailment":
        h = c if c.neg else more_general(rng, c)
    elif label == "neutral" and missing and not lexical:
        slot = rng.choice(missing)
        h = replace(c, **{slot: rng.choice(list(MODIFIERS[slot]))})
    elif label == "neutral":
        h = replace(c, name=rng.choice([n for n in NAMES if n not in {p.name for p in premise}]))
    elif c.neg:
        h = replace(c, neg=False)
    elif lexical:
        h = replace(more_general(rng, c), num=other(rng, NUMBERS, c.num))
    else:
        h = replace(more_general(rng, c), neg=True)
    # Which synonym a sentence uses is independent of the label.
    return NLIExample(tuple(premise), replace(h, syn=synonyms(rng, ("verb", "noun"))), label)


def _nli_examples(rng: random.Random, n: int, seen: set, clauses: tuple[int, int] = (1, 1)) -> list[NLIExample]:
    """``n`` NLI examples with balanced labels, none of them in ``seen`` (which is updated)."""
    out = []
    for label in _balanced_labels(rng, NLI_LABELS, n):
        ex = _nli_example(rng, label, rng.randint(*clauses))
        while (ex.premise, ex.hypothesis) in seen:
            ex = _nli_example(rng, label, rng.randint(*clauses))
        seen.add((ex.premise, ex.hypothesis))
        out.append(ex)
    return out


def _question_pair(rng: random.Random, duplicate: bool) -> tuple[Question, Question]:
    """Duplicates reword the verb or noun with its synonym; non-duplicates ask the negated
    or a more/less specific question, or (lexical share) one about another person/thing."""
    q1 = random_question(rng)
    reworded = replace(q1, syn=q1.syn ^ {rng.choice(("verb", "noun"))})
    if duplicate:
        return q1, reworded
    q2 = reworded if rng.random() < 0.25 else q1  # near-duplicates are mostly worded alike
    change = "lexical" if rng.random() < LEXICAL_SHARE else rng.choice(("neg", "adj", "time"))
    if change == "lexical":
        slot = rng.choice(("wh", "name", "verb", "noun"))
        pool = {"wh": QUESTION_WORDS, "name": NAMES, "verb": THING_VERBS, "noun": NOUNS}[slot]
        return q1, replace(q2, **{slot: other(rng, list(pool), getattr(q1, slot))})
    if change == "neg":
        return q1, replace(q2, neg=not q1.neg)
    pool = ADJECTIVES if change == "adj" else EVENTS
    return q1, replace(q2, **{change: None if getattr(q1, change) else rng.choice(list(pool))})


def _questions(rng: random.Random, n: int, seen: set) -> list[tuple[Question, Question, int]]:
    out = []
    for label in _balanced_labels(rng, (0, 1), n):
        pair = _question_pair(rng, bool(label))
        while pair in seen:
            pair = _question_pair(rng, bool(label))
        seen.add(pair)
        out.append((*pair, label))
    return out


def _reword(rng: random.Random, e: Event) -> Event:
    """Same meaning, different surface: the verb's synonym and/or the time phrase moved."""
    move = rng.choice(("verb", "front", "both"))
    if move != "front":
        e = replace(e, syn=e.syn ^ {"verb"})
    if move != "verb":
        e = replace(e, fronted=not e.fronted)
    return e


def _paws_pair(rng: random.Random, paraphrase: bool) -> tuple[Event, Event]:
    """Pairs with (nearly) the same words: paraphrases reword the sentence, non-paraphrases
    swap who does what to whom (for the lexical share: swap *and* reword)."""
    e1 = random_event(rng)
    if paraphrase:
        return e1, _reword(rng, e1)
    e2 = _reword(rng, e1) if rng.random() < LEXICAL_SHARE else e1
    return e1, replace(e2, agent=e1.patient, patient=e1.agent)


def _paws_pairs(rng: random.Random, n: int, seen: set) -> list[tuple[Event, Event, int]]:
    out = []
    for label in _balanced_labels(rng, (0, 1), n):
        pair = _paws_pair(rng, bool(label))
        while pair in seen:
            pair = _paws_pair(rng, bool(label))
        seen.add(pair)
        out.append((*pair, label))
    return out


# --------------------------------------------------------------------------------------
# Writers, one per raw format.
# --------------------------------------------------------------------------------------
def _tsv(path: Path, header: list[str], rows: list[list]) -> None:
    write_lines(path, ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows])



def _parses(tokenized: str) -> tuple[str, str]:
    """A right-branching binary parse and a flat Penn-style parse, like MNLI/SNLI's columns."""
    words = tokenized.split(" ")
    binary = " ".join(words[-2:])
    for w in reversed(words[:-2]):
        binary = f"{w} ( {binary} )"
    tags = " ".join(f"({EN_TAGS.get(w) or EN_TAGS.get(w.lower()) or ('CD' if w.isdigit() else 'NN')} {w})"
                    for w in words)
    return f"( {binary} )", f"(ROOT (S {tags}))"


def _nli_text(lang: str, ex: NLIExample) -> tuple[tuple[str, str], tuple[str, str]]:
    return sentence(lang, join_clauses(lang, ex.premise)), sentence(lang, render_clause(lang, ex.hypothesis))


def _annotator_labels(rng: random.Random, gold: str) -> list[str]:
    """Five annotator labels whose strict majority is ``gold`` (label1 = author's label)."""
    labels = [gold] + [gold if rng.random() < 0.8 else other(rng, NLI_LABELS, gold) for _ in range(4)]
    while labels.count(gold) < 3:
        labels[labels.index(next(x for x in labels if x != gold))] = gold
    return labels


def _no_consensus_labels(rng: random.Random, author: str) -> list[str]:
    """Five labels without a majority: the author's, then 2 + 1 + 1 votes in some order."""
    first, second = rng.sample([label for label in NLI_LABELS if label != author], 2)
    votes = [author, first, first, second]
    rng.shuffle(votes)
    return [author, *votes]


MNLI_GENRES = ("fiction", "government", "slate", "telephone", "travel")
_MNLI_HEAD = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
              "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]


def _write_mnli(root: Path, seed: int, train: list[NLIExample], dev_size: int, seen: set) -> None:
    dev = _nli_examples(rng_for(seed, "mnli", "dev"), dev_size, seen)
    for split, examples, n_labels in (("train", train, 1), ("dev_matched", dev, 5)):
        rng = rng_for(seed, "mnli", split, "meta")
        prompt_ids = rng.sample(range(1, 150_000), len(examples))
        rows = []
        for i, (ex, pid) in enumerate(zip(examples, prompt_ids)):
            (s1, t1), (s2, t2) = _nli_text("en", ex)
            (b1, p1), (b2, p2) = _parses(t1), _parses(t2)
            labels = _annotator_labels(rng, ex.label) if n_labels == 5 else [ex.label]
            rows.append([i, pid, f"{pid}{ex.label[0]}", rng.choice(MNLI_GENRES), b1, b2, p1, p2, s1, s2, *labels,
                         ex.label])
        header = _MNLI_HEAD + [f"label{k}" for k in range(1, n_labels + 1)] + ["gold_label"]
        _tsv(root / "glue" / "MNLI" / f"{split}.tsv", header, rows)


def _write_qqp(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    for split, n, first_id in (("train", train_size, 1), ("dev", eval_size, 500_001)):
        rows = []
        for i, (q1, q2, duplicate) in enumerate(_questions(rng_for(seed, "qqp", split), n, seen)):
            qid = 2 * (first_id + i)
            text1 = sentence("en", render_question("en", q1), question=True)[0]
            text2 = sentence("en", render_question("en", q2), question=True)[0]
            rows.append([first_id + i, qid - 1, qid, text1, text2, duplicate])
        _tsv(root / "glue" / "QQP" / f"{split}.tsv", ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"], rows)


ANLI_GENRES = {"R1": ("wikipedia",), "R2": ("wikipedia",), "R3": ("news", "fiction", "legal", "procedural", "wikipedia")}
ANLI_REASONS = {
    "entailment": "The context states this.",
    "neutral": "The context does not say this.",
    "contradiction": "The context says the opposite.",
}


def _write_anli(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    """ANLI is the 'adversarial' one: contexts of 2-3 facts, one sentence each."""
    for rnd in ("R1", "R2", "R3"):
        for split, n in (("train", train_size // 6), ("dev", eval_size // 2), ("test", eval_size // 2)):
            rng = rng_for(seed, "anli", rnd, split)
            lines = []
            for ex in _nli_examples(rng, n, seen, clauses=(2, 3)):
                gold = ex.label[0]
                fooled = rng.random() < 0.7  # the adversary model was usually wrong
                record = {
                    "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "context": " ".join(sentence("en", render_clause("en", c))[0] for c in ex.premise),
                    "hypothesis": sentence("en", render_clause("en", ex.hypothesis))[0],
                    "label": gold,
                    "model_label": other(rng, "enc", gold) if fooled else gold,
                    "emturk": rng.random() < 0.1,
                    "genre": rng.choice(ANLI_GENRES[rnd]),
                    "reason": "" if split == "train" else ANLI_REASONS[ex.label],
                    "tag": f"{rnd.lower()}_{split}",
                }
                lines.append(json.dumps(record))
            write_lines(root / "anli_v1.0" / rnd / f"{split}.jsonl", lines)


def _write_snli(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    header = ["gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "captionID", "pairID",
              "label1", "label2", "label3", "label4", "label5"]
    for split, n in (("train", train_size), ("dev", eval_size), ("test", eval_size)):
        examples = _nli_examples(rng_for(seed, "snli", split), n, seen)
        rng = rng_for(seed, "snli", split, "meta")
        # ~1.5% of pairs where the annotators did not agree: gold label '-', as in the real data
        no_consensus = set(rng.sample(range(n), max(1, round(0.015 * n))))
        rows = []
        for i, ex in enumerate(examples):
            (s1, t1), (s2, t2) = _nli_text("en", ex)
            (b1, p1), (b2, p2) = _parses(t1), _parses(t2)
            caption = f"{rng.randrange(10 ** 9, 10 ** 10)}.jpg#{rng.randrange(5)}"
            if i in no_consensus:  # these were all re-annotated, so they carry five labels
                gold, labels = "-", _no_consensus_labels(rng, ex.label)
            elif split == "train":  # real train rows carry only label1 (and no trailing empty columns)
                gold, labels = ex.label, [ex.label]
            else:
                gold, labels = ex.label, _annotator_labels(rng, ex.label)
            rows.append([gold, b1, b2, p1, p2, s1, s2, caption, f"{caption}r1{ex.label[0]}", *labels])
        _tsv(root / "snli_1.0" / f"snli_1.0_{split}.txt", header, rows)


XNLI_GENRES = ("facetoface", "fiction", "government", "nineeleven", "oup", "slate", "telephone", "travel",
               "verbatim", "letters")


def _write_xnli(root: Path, seed: int, eval_size: int, seen: set) -> None:
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre",
              "label1", "label2", "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match"]
    first_id = 1  # IDs continue from dev into test
    for split in ("dev", "test"):
        examples = _nli_examples(rng_for(seed, "xnli", split), eval_size, seen)
        rng = rng_for(seed, "xnli", split, "meta")
        meta = [(rng.choice(XNLI_GENRES), _annotator_labels(rng, ex.label)) for ex in examples]
        rows = []
        for lang in XNLI_LANGUAGES:  # grouped by language, then by pairID, like the real file
            for i, (ex, (genre, labels)) in enumerate(zip(examples, meta), start=first_id):
                (s1, t1), (s2, t2) = _nli_text(lang, ex)
                rows.append([lang, ex.label, "", "", "", "", s1, s2, i, i, genre, *labels, t1, t2, "True"])
        first_id += len(examples)
        _tsv(root / "XNLI-1.0" / f"xnli.{split}.tsv", header, rows)


def _write_xnli_mt(root: Path, mnli_train: list[NLIExample], size: int) -> None:
    """'Machine-translated' MNLI train: the first ``size`` MNLI train examples in every language."""
    names = {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradictory"}
    for lang in XNLI_LANGUAGES:
        rows = []
        for ex in mnli_train[:size]:
            (_, t1), (_, t2) = _nli_text(lang, ex)
            rows.append([t1, t2, names[ex.label]])
        _tsv(root / "XNLI-MT-1.0" / "multinli" / f"multinli.train.{lang}.tsv", ["premise", "hypo", "label"], rows)


def _write_pawsx(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    header = ["id", "sentence1", "sentence2", "label"]
    train = _paws_pairs(rng_for(seed, "pawsx", "train"), train_size, seen)
    dev = _paws_pairs(rng_for(seed, "pawsx", "dev"), eval_size, seen)
    test = _paws_pairs(rng_for(seed, "pawsx", "test"), eval_size, seen)

    def rows(lang: str, pairs: list) -> list[list]:
        return [[i, sentence(lang, render_event(lang, a))[0], sentence(lang, render_event(lang, b))[0], label]
                for i, (a, b, label) in enumerate(pairs, start=1)]

    for lang in PAWSX_LANGUAGES:
        out = root / "x-final" / lang
        _tsv(out / "dev_2k.tsv", header, rows(lang, dev))
        _tsv(out / "test_2k.tsv", header, rows(lang, test))
        _tsv(out / ("train.tsv" if lang == "en" else "translated_train.tsv"), header, rows(lang, train))


def write_classification(root: Path, seed: int, train_size: int, eval_size: int, seen: set) -> None:
    """MNLI, XNLI-MT, QQP, ANLI, SNLI, XNLI and PAWS-X, in this order: they share ``seen``."""
    mnli_train = _nli_examples(rng_for(seed, "mnli", "train"), train_size, seen)
    _write_mnli(root, seed, mnli_train, eval_size, seen)
    _write_xnli_mt(root, mnli_train, train_size // 2)
    _write_qqp(root, seed, train_size, eval_size, seen)
    _write_anli(root, seed, train_size, eval_size, seen)
    _write_snli(root, seed, train_size, eval_size, seen)
    _write_xnli(root, seed, eval_size, seen)
    _write_pawsx(root, seed, train_size, eval_size, seen)
