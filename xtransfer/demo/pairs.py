"""The abstract sentence pairs of the demo's classification datasets, and their labels.

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
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from xtransfer.demo.grammar import (MODIFIERS, Clause, Event, Question, more_general, other,
                                    random_event, random_premise, random_question, synonyms)
from xtransfer.demo.lexicon import (ADJECTIVES, EVENTS, NAMES, NOUNS, NUMBERS, QUESTION_WORDS, THING_VERBS)

# --------------------------------------------------------------------------------------
# Abstract sentence pairs and their labels.
# --------------------------------------------------------------------------------------
NLI_LABELS = ("entailment", "neutral", "contradiction")
# Share of non-entailments / non-duplicates / non-paraphrases whose label hinges on a
# changed content word instead of a structural difference (see the module docstring).
LEXICAL_SHARE = 0.1


def balanced_labels(rng: random.Random, labels: tuple, n: int) -> list:
    out = list(labels) * (n // len(labels)) + rng.sample(labels, n % len(labels))
    rng.shuffle(out)
    return out


@dataclass(frozen=True)
class NLIExample:
    premise: tuple[Clause, ...]
    hypothesis: Clause
    label: str  # one of NLI_LABELS


def nli_example(rng: random.Random, label: str, n_clauses: int) -> NLIExample:
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


def nli_examples(rng: random.Random, n: int, seen: set, clauses: tuple[int, int] = (1, 1)) -> list[NLIExample]:
    """``n`` NLI examples with balanced labels, none of them in ``seen`` (which is updated)."""
    out = []
    for label in balanced_labels(rng, NLI_LABELS, n):
        ex = nli_example(rng, label, rng.randint(*clauses))
        while (ex.premise, ex.hypothesis) in seen:
            ex = nli_example(rng, label, rng.randint(*clauses))
        seen.add((ex.premise, ex.hypothesis))
        out.append(ex)
    return out


def question_pair(rng: random.Random, duplicate: bool) -> tuple[Question, Question]:
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


def question_pairs(rng: random.Random, n: int, seen: set) -> list[tuple[Question, Question, int]]:
    out = []
    for label in balanced_labels(rng, (0, 1), n):
        pair = question_pair(rng, bool(label))
        while pair in seen:
            pair = question_pair(rng, bool(label))
        seen.add(pair)
        out.append((*pair, label))
    return out


def reword(rng: random.Random, e: Event) -> Event:
    """Same meaning, different surface: the verb's synonym and/or the time phrase moved."""
    move = rng.choice(("verb", "front", "both"))
    if move != "front":
        e = replace(e, syn=e.syn ^ {"verb"})
    if move != "verb":
        e = replace(e, fronted=not e.fronted)
    return e


def paws_pair(rng: random.Random, paraphrase: bool) -> tuple[Event, Event]:
    """Pairs with (nearly) the same words: paraphrases reword the sentence, non-paraphrases
    swap who does what to whom (for the lexical share: swap *and* reword)."""
    e1 = random_event(rng)
    if paraphrase:
        return e1, reword(rng, e1)
    e2 = reword(rng, e1) if rng.random() < LEXICAL_SHARE else e1
    return e1, replace(e2, agent=e1.patient, patient=e1.agent)


def paws_pairs(rng: random.Random, n: int, seen: set) -> list[tuple[Event, Event, int]]:
    out = []
    for label in balanced_labels(rng, (0, 1), n):
        pair = paws_pair(rng, bool(label))
        while pair in seen:
            pair = paws_pair(rng, bool(label))
        seen.add(pair)
        out.append((*pair, label))
    return out


# --------------------------------------------------------------------------------------
# Writers, one per raw format.
# --------------------------------------------------------------------------------------
