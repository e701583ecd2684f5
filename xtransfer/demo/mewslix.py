"""Demo Mewsli-X in the layout XTREME-R's download leaves (see xtransfer/data/formats/mewslix.py):

  mewslix/candidate_set_entities.jsonl                 every entity (Entity records)
  mewslix/wikipedia_pairs-{train,dev}.jsonl            English mention-entity pairs (MentionEntityPair)
  mewslix/wikinews_mentions/{dev,test}-<lang>.jsonl    documents with their mentions, 11 languages
  mewslix/wikinews_labels/{dev,test}-<lang>.json       {example_id: [entity_id]}; test mentions are blanked

An entity is a person, a first name and a surname ('Anna Novak'); its description is an English clause
about them. A mention is that full name in a document's sentence, in any language: names are written
the same in every language, so a dual encoder trained on English pairs can carry the link over.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from xtransfer.demo.grammar import random_clause, render_clause, rng_for, sentence, write_lines
from xtransfer.demo.lexicon import NAMES, NO_SPACES

MEWSLIX_LANGUAGES = ("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")
SURNAMES = ("Smith", "Garcia", "Novak", "Tanaka", "Okafor", "Rossi")


def _sentences(lang: str, texts: list[str]) -> tuple[str, list[dict[str, int]]]:
    """The texts joined into one, with their sentence spans."""
    sep = "" if lang in NO_SPACES else " "
    text, spans = "", []
    for t in texts:
        if text:
            text += sep
        spans.append({"start": len(text), "end": len(text) + len(t)})
        text += t
    return text, spans


def _about(lang: str, rng: random.Random, name: str) -> str:
    return sentence(lang, render_clause(lang, random_clause(rng, name)))[0]


def _entities(rng: random.Random) -> list[dict]:
    entities = []
    for k, (first, last) in enumerate((f, s) for f in NAMES for s in SURNAMES):
        name = f"{first} {last}"
        description, spans = _sentences("en", [_about("en", rng, name), _about("en", rng, first)])
        entities.append({"entity_id": f"Q{1000 + k}", "title": name, "description": description,
                         "sentence_spans": spans, "description_language": "en",
                         "description_url": f"https://en.wikipedia.org/wiki/{name.replace(' ', '_')}"})
    return entities


def _context(lang: str, rng: random.Random, entity: dict, doc: str) -> tuple[dict, dict]:
    """A two-sentence document mentioning the entity by name in one sentence, and that mention."""
    name = entity["title"]
    texts = [_about(lang, rng, name), _about(lang, rng, rng.choice(NAMES))]
    if rng.random() < 0.5:
        texts.reverse()
    text, spans = _sentences(lang, texts)
    start = text.index(name)
    context = {"document_title": doc, "document_url": f"https://{lang}.wikinews.org/wiki/{doc}", "document_id": doc,
               "language": lang, "text": text, "sentence_spans": spans}
    mention = {"example_id": f"{doc}-m0", "mention_span": {"start": start, "end": start + len(name), "text": name},
               "entity_id": entity["entity_id"]}
    return context, mention


def write_mewslix(root: Path, seed: int, train_size: int, eval_size: int) -> None:
    out = root / "mewslix"
    entities = _entities(rng_for(seed, "mewslix", "entities"))
    write_lines(out / "candidate_set_entities.jsonl", [json.dumps(e) for e in entities])
    for split, n in (("train", train_size), ("dev", eval_size)):
        rng = rng_for(seed, "mewslix", "pairs", split)
        lines = []
        for i in range(n):
            entity = rng.choice(entities)
            context, mention = _context("en", rng, entity, f"wiki-{split}-{i}")
            lines.append(json.dumps({"contextual_mention": {"context": context, "mention": mention}, "entity": entity}))
        write_lines(out / f"wikipedia_pairs-{split}.jsonl", lines)
    for split in ("dev", "test"):
        for lang in MEWSLIX_LANGUAGES:
            rng = rng_for(seed, "mewslix", "news", split, lang)
            lines, labels = [], {}
            for i in range(eval_size // 2):
                context, mention = _context(lang, rng, rng.choice(entities), f"news-{split}-{lang}-{i}")
                labels[mention["example_id"]] = [mention["entity_id"]]
                if split == "test":   # as utils_preprocess.py leaves the test set
                    mention = {**mention, "entity_id": ""}
                lines.append(json.dumps({"context": context, "mentions": [mention]}, ensure_ascii=False))
            write_lines(out / "wikinews_mentions" / f"{split}-{lang}.jsonl", lines)
            write_lines(out / "wikinews_labels" / f"{split}-{lang}.json", [json.dumps(labels)])
