"""Demo data for the retrieval targets, in the real raw layouts (see grammar.py's docstring).

- Tatoeba (LASER v1): `tatoeba/v1/tatoeba.<xxx>-eng.{<xxx>,eng}`, `eval_size // 2` line pairs for
  every language of `tatoeba` and `tatoeba112`.
- BUCC 2018: `bucc2018/<xx>-en/<xx>-en.{sample,training}.{<xx>,en,gold}`: `eval_size // 2`
  translation pairs hidden among `eval_size` other source and `2 * eval_size` other English
  sentences, a few exact duplicates on each side (mining removes them), ids in shuffled order.
- XQuAD-R (LAReQA): `xquad-r/<lang>.json`, SQuAD json with `sentence_breaks`: `eval_size // 10`
  paragraphs of 3 sentences, the same facts in all 11 languages, and 2 questions per
  paragraph (the answer sentence's fact asked back) sharing their ids across languages.

Sentences are the grammar's statements and events rendered per language. Languages without a
demo lexicon borrow one (a fixed pick per language): the data are synthetic anyway.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import yaml

from xtransfer.config import CONF_DIR
from xtransfer.demo.grammar import (join_clauses, random_event, random_premise, render_event, rng_for, sentence,
                                    write_lines)
from xtransfer.demo.lexicon import DEMO_LANGUAGES

# ISO 639-3 (Tatoeba's file names) -> the demo lexicon with that language, where there is one.
OWN_LEXICON = {"ara": "ar", "bul": "bg", "deu": "de", "ell": "el", "spa": "es", "fra": "fr", "hin": "hi",
               "jpn": "ja", "kor": "ko", "rus": "ru", "swh": "sw", "tha": "th", "tur": "tr", "urd": "ur",
               "vie": "vi", "cmn": "zh"}
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")
XQUAD_R_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


def _lexicon_language(code: str) -> str:
    if code in OWN_LEXICON or code in DEMO_LANGUAGES:
        return OWN_LEXICON.get(code, code)
    others = sorted(set(DEMO_LANGUAGES) - {"en"})
    return others[int(hashlib.sha256(code.encode()).hexdigest(), 16) % len(others)]


def _facts(rng: random.Random, n: int) -> list:
    """n distinct abstract sentences: one or two statements, or an event."""
    out, seen = [], set()
    while len(out) < n:
        fact = random_premise(rng, rng.randint(1, 2)) if rng.random() < 0.7 else random_event(rng)
        if fact not in seen:
            seen.add(fact)
            out.append(fact)
    return out


def _render(lang: str, fact, question: bool = False) -> str:
    words = join_clauses(lang, fact) if isinstance(fact, tuple) else render_event(lang, fact)
    return sentence(lang, words, question)[0]


def _tatoeba_languages() -> list[str]:
    """Every language of conf/task/tatoeba*.yaml (read from the configs so the two never drift)."""
    codes = set()
    for name in ("tatoeba", "tatoeba112"):
        codes |= set(yaml.safe_load((CONF_DIR / "task" / f"{name}.yaml").read_text())["languages"])
    return sorted(codes)


def write_tatoeba(root: Path, seed: int, size: int) -> None:
    """Each language draws its `size` sentences from one shared pool (English rendered once)."""
    pool = _facts(rng_for(seed, "tatoeba"), 4 * size)
    english = [_render("en", f) for f in pool]
    for code in _tatoeba_languages():
        chosen = rng_for(seed, "tatoeba", code).sample(range(len(pool)), size)
        lang = _lexicon_language(code)
        out = root / "tatoeba" / "v1" / f"tatoeba.{code}-eng"
        write_lines(out.with_name(out.name + f".{code}"), [_render(lang, pool[i]) for i in chosen])
        write_lines(out.with_name(out.name + ".eng"), [english[i] for i in chosen])


def write_bucc(root: Path, seed: int, eval_size: int) -> None:
    for lang in BUCC_LANGUAGES:
        for split in ("sample", "training"):
            rng = rng_for(seed, "bucc", lang, split)
            n_pairs = eval_size // 2
            facts = _facts(rng, n_pairs + eval_size + 2 * eval_size)
            pairs, source_only, english_only = facts[:n_pairs], facts[n_pairs:n_pairs + eval_size], facts[n_pairs + eval_size:]
            source = [(f, True) for f in pairs] + [(f, False) for f in source_only]
            english = [(f, True) for f in pairs] + [(f, False) for f in english_only]
            source += rng.sample(source, 3)   # exact duplicates under other ids, as the real corpora have
            english += rng.sample(english, 3)
            rng.shuffle(source)
            rng.shuffle(english)
            first_en: dict = {}
            for i, (fact, _) in enumerate(english, start=1):
                first_en.setdefault(fact, f"en-{i:09d}")
            gold, done = [], set()
            for i, (fact, parallel) in enumerate(source, start=1):
                if parallel and fact not in done:  # one gold pair per parallel sentence
                    done.add(fact)
                    gold.append(f"{lang}-{i:09d}\t{first_en[fact]}")
            base = root / "bucc2018" / f"{lang}-en" / f"{lang}-en.{split}"
            write_lines(base.with_name(base.name + f".{lang}"),
                        [f"{lang}-{i:09d}\t{_render(lang, fact)}" for i, (fact, _) in enumerate(source, start=1)])
            write_lines(base.with_name(base.name + ".en"),
                        [f"en-{i:09d}\t{_render('en', fact)}" for i, (fact, _) in enumerate(english, start=1)])
            write_lines(base.with_name(base.name + ".gold"), sorted(gold))


def _xquad_r_paragraph(lang: str, number: int, facts: list, asked: list[int]) -> dict:
    sentences = [_render(lang, f) for f in facts]
    starts = [sum(len(s) + 1 for s in sentences[:i]) for i in range(len(sentences))]
    qas = [{"id": f"lareqa{number:04d}{q}", "question": _render(lang, facts[i], question=True),
            "answers": [{"answer_start": starts[i], "text": sentences[i]}]} for q, i in enumerate(asked)]
    return {"context": " ".join(sentences), "sentence_breaks": [[s, s + len(t)] for s, t in zip(starts, sentences)],
            "qas": qas}


def write_xquad_r(root: Path, seed: int, n_paragraphs: int) -> None:
    rng = rng_for(seed, "xquad_r")
    facts = _facts(rng, 3 * n_paragraphs)
    asked = [rng.sample(range(3), 2) for _ in range(n_paragraphs)]
    for lang in XQUAD_R_LANGUAGES:
        paragraphs = [_xquad_r_paragraph(lang, p, facts[3 * p:3 * p + 3], asked[p]) for p in range(n_paragraphs)]
        write_lines(root / "xquad-r" / f"{lang}.json",
                    [json.dumps({"version": "1.1", "data": [{"title": "Demo", "paragraphs": paragraphs}]},
                                ensure_ascii=False)])


def write_retrieval(root: Path, seed: int, eval_size: int) -> None:
    write_tatoeba(root, seed, eval_size // 2)
    write_bucc(root, seed, eval_size)
    write_xquad_r(root, seed, max(2, eval_size // 10))
