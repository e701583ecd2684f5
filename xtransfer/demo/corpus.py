"""The demo's monolingual corpus: corpus/<lang>.txt and corpus/valid/<lang>.txt for every demo language."""

from __future__ import annotations

import random
from pathlib import Path

from xtransfer.demo.grammar import (join_clauses, random_event, random_premise, random_question, render_event,
                                    render_question, rng_for, sentence, write_lines)
from xtransfer.demo.lexicon import DEMO_LANGUAGES


def _corpus_line(rng: random.Random, lang: str) -> str:
    kind = rng.random()
    if kind < 0.5:
        return sentence(lang, join_clauses(lang, random_premise(rng, rng.randint(1, 2))))[0]
    if kind < 0.75:
        return sentence(lang, render_event(lang, random_event(rng)))[0]
    return sentence(lang, render_question(lang, random_question(rng)), question=True)[0]


def write_corpus(root: Path, seed: int, n_lines: int = 2000, n_valid: int = 200) -> None:
    """Monolingual text for tokenizer training and MLM: statements, questions and events.

    corpus/<lang>.txt trains the tiny tokenizer and MLM; corpus/valid/<lang>.txt is MLM's
    validation split, lines not in the train file, in a subfolder so the tokenizer's
    corpus/*.txt glob leaves it out.
    """
    for lang in DEMO_LANGUAGES:
        rng = rng_for(seed, "corpus", lang)
        lines = [_corpus_line(rng, lang) for _ in range(n_lines)]
        write_lines(root / "corpus" / f"{lang}.txt", lines)
        rng, seen, valid = rng_for(seed, "corpus", lang, "valid"), set(lines), []
        while len(valid) < n_valid:
            line = _corpus_line(rng, lang)
            if line not in seen:
                seen.add(line)
                valid.append(line)
        write_lines(root / "corpus" / "valid" / f"{lang}.txt", valid)
