"""Evaluating a retrieval target: embed every sentence with the upstream encoder, then score.

No training stage: BUCC and Tatoeba read the encoder that the previous stage produced (the
intermediate checkpoint, or the pretrained model). The task's `options.scorer` says how:

- `tatoeba`: line i of the source side translates line i of the target (English) side;
  accuracy of the nearest English neighbour (`acc`, XTREME's number) and the reverse
  (`acc_en2xx`). Predictions: the predicted English line per source line.
- `bucc`: margin-based mining; the F1-optimal threshold on `validation` (BUCC `sample`)
  is applied to `test` (BUCC `training`), per language, as XTREME does. Predictions:
  `source_id<TAB>target_id` per extracted pair.
- `lareqa` (XQuAD-R): each question ranks the answer sentences of all the task's languages
  (11 for XQuAD-R), the relevant ones being the sentences holding its answer in every
  language (questions share ids across languages); mAP@20 (`map`) as XTREME-R computes it.
  Sentences are embedded alone, not with their paragraph: XTREME-R's trained dual encoder
  reads (sentence, context), but a mean-pooled zero-shot encoder given the context would
  give every sentence of a paragraph nearly the same vector. Predictions: per question,
  `question_id` then its 20 best `<lang>_<paragraph>_<position>` candidates, tab-separated.
"""
from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import torch

from xtransfer.data.sources import describe_source
from xtransfer.engine import mining
from xtransfer.engine.batching import SortedBatches
from xtransfer.engine.features import load_features
from xtransfer.errors import ConfigError, DataError
from xtransfer.metrics import mean
from xtransfer.engine.modeling import load_encoder
from xtransfer.config.schema import EmbeddingSpec, RuntimeSpec, TargetSpec
from xtransfer.tasks import get_family
from xtransfer.tasks.retrieval import drop_layers_above, hidden_layer, pool

log = logging.getLogger(__name__)

MAIN_METRIC = {"tatoeba": "acc", "bucc": "f1", "lareqa": "map"}
LAREQA_K = 20


class Embedder:
    """Sentence vectors from one hidden state of an encoder: length-sorted batches, bf16 autocast on GPU."""

    def __init__(self, source: str, revision: str | None, spec: EmbeddingSpec, precision: str,
                 runtime: RuntimeSpec):
        self.encoder, self.tokenizer = load_encoder(source, revision)
        self.layer = hidden_layer(self.encoder.config.num_hidden_layers, spec)
        drop_layers_above(self.encoder, self.layer)
        self.pooling, self.batch_size = spec.pooling, runtime.eval_batch_size
        use_gpu = runtime.accelerator != "cpu" and torch.cuda.is_available()
        self.device = torch.device("cuda" if use_gpu else "cpu")
        self.bf16 = use_gpu and precision.startswith("bf16")
        self.encoder.to(self.device).eval()
        self.family = get_family("retrieval")

    @torch.no_grad()
    def __call__(self, input_ids: list[list[int]]) -> torch.Tensor:
        """L2-normalised embeddings, in the order of input_ids."""
        out = torch.empty((len(input_ids), self.encoder.config.hidden_size), device=self.device)
        for rows in SortedBatches([len(ids) for ids in input_ids], self.batch_size):
            batch = self.family.collate([{"input_ids": input_ids[r]} for r in rows], self.tokenizer.pad_token_id)
            mask = batch["attention_mask"].to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                states = self.encoder(input_ids=batch["input_ids"].to(self.device), attention_mask=mask,
                                      output_hidden_states=True).hidden_states
            out[torch.as_tensor(rows, device=self.device)] = pool(states[self.layer].float(), mask, self.pooling)
        return mining.normalize(out)


def retrieval_set(features) -> dict[str, Any]:
    """Both sides (texts, ids, token ids) and the gold pairs of one featurized split."""
    sides = features["side"]
    out: dict[str, Any] = {}
    for side in ("source", "target"):
        rows = [r for r, s in enumerate(sides) if s == side]
        part = features.select(rows)
        ids = part["id"]
        out[side] = {"text": part["text"], "input_ids": part["input_ids"],
                     "id": [i if i else str(k) for k, i in enumerate(ids)]}  # no ids: positions
    gold_rows = features.select([r for r, s in enumerate(sides) if s == "gold"])
    out["gold"] = set(zip(gold_rows["id"], gold_rows["link"]))
    return out


def score_tatoeba(embed: Embedder, data: dict[str, Any], state: dict, split: str, options: dict, pool):
    src, trg = data["source"], data["target"]
    if len(src["text"]) != len(trg["text"]):
        raise DataError(f"tatoeba: {len(src['text'])} source lines but {len(trg['text'])} English lines; "
                        f"line i of one side must translate line i of the other")
    acc, acc_back, predictions = mining.tatoeba_accuracy(embed(src["input_ids"]), embed(trg["input_ids"]))
    return {"acc": acc, "acc_en2xx": acc_back}, [str(p) for p in predictions]


def score_bucc(embed: Embedder, data: dict[str, Any], state: dict, split: str, options: dict, pool):
    if not data["gold"]:
        raise DataError(f"bucc: split '{split}' has no gold pairs (the .gold file, or the hub 'gold' column)")
    ids = {}
    vectors = {}
    for side in ("source", "target"):
        rows, ids[side] = mining.unique(data[side]["text"], data[side]["id"])
        vectors[side] = embed([data[side]["input_ids"][r] for r in rows])
    pairs = mining.margin_mine(vectors["source"], vectors["target"], k=int(options.get("k", 4)))
    candidates = mining.expand_to_ids(pairs, ids["source"], ids["target"])
    tune_split = split if options.get("oracle_threshold") else options.get("threshold_split", "validation")
    if split == tune_split:
        state["threshold"] = mining.best_threshold(candidates, data["gold"])
    if "threshold" not in state:
        raise ConfigError(f"bucc: the threshold is tuned on '{tune_split}'; list it before '{split}' in "
                          f"target.eval_splits")
    result = mining.bucc_extract(candidates, data["gold"], state["threshold"])
    return result.metrics, [f"{s}\t{t}" for s, t in result.pairs]


def candidate_pool(embed: Embedder, per_language: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every language's answer sentences, embedded once: ids `<lang>_<sentence id>` and, per
    question id, the positions of the sentences holding its answer in any language."""
    ids, input_ids, relevant = [], [], {}
    for lang, data in per_language.items():
        position = {tid: len(ids) + k for k, tid in enumerate(data["target"]["id"])}
        ids += [f"{lang}_{tid}" for tid in data["target"]["id"]]
        input_ids += data["target"]["input_ids"]
        for qid, tid in data["gold"]:
            relevant.setdefault(qid, set()).add(position[tid])
    if not relevant:
        raise DataError("lareqa: no question has an answer sentence. XQuAD-R needs the sentence_breaks of "
                        "google-research-datasets/lareqa xquad-r/<lang>.json (data=local); the hub copy "
                        "(google-research-datasets/xquad_r) has questions and contexts only")
    return {"ids": ids, "vectors": embed(input_ids), "relevant": relevant}


def score_lareqa(embed: Embedder, data: dict[str, Any], state: dict, split: str, options: dict, pool):
    candidates = pool()
    questions = data["source"]
    ranked = mining.top_k(embed(questions["input_ids"]), candidates["vectors"], LAREQA_K).tolist()
    precisions = [mining.average_precision_at_k(top, candidates["relevant"][qid], LAREQA_K)
                  for qid, top in zip(questions["id"], ranked)]
    lines = ["\t".join([qid, *(candidates["ids"][c] for c in top)]) for qid, top in zip(questions["id"], ranked)]
    return {"map": 100 * mean(precisions)}, lines


# scorer(embed, data, state, split, options, pool): pool() is LAReQA's multilingual candidate set
# (built on first use); the other scorers ignore it.
SCORERS = {"tatoeba": score_tatoeba, "bucc": score_bucc, "lareqa": score_lareqa}


def evaluate_retrieval(source: str, revision: str | None, target: TargetSpec, precision: str, runtime: RuntimeSpec,
                       cache_dir: str, out_dir: Path) -> dict[str, Any]:
    """Metrics split -> language -> metric (as train.evaluate returns them) and predictions/ files."""
    task = target.eval_task
    scorer_name = task.options.get("scorer")
    if scorer_name not in SCORERS:
        raise ConfigError(f"task '{task.name}': options.scorer must be one of {sorted(SCORERS)}, got {scorer_name!r}")
    embed = Embedder(source, revision, target.embedding, precision, runtime)
    log.info("%s: embedding hidden state %d of %d with %s pooling", task.name, embed.layer,
             embed.encoder.config.num_hidden_layers, embed.pooling)
    (out_dir / "predictions").mkdir(parents=True, exist_ok=True)
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    pools: dict[str, dict[str, Any]] = {}

    def pool(split: str) -> dict[str, Any]:
        """LAReQA's candidates: every language of the task (not only the evaluated ones), once per split."""
        if split not in pools:
            pools[split] = candidate_pool(embed, {l: retrieval_set(load_features(task, split, l, embed.tokenizer,
                                                                                 cache_dir)) for l in task.languages})
        return pools[split]

    options = {**task.options, "oracle_threshold": target.oracle_threshold}
    for lang in target.languages:
        state: dict[str, Any] = {}  # what one split hands to the next (BUCC: the dev threshold)
        for split in target.eval_splits:
            data = retrieval_set(load_features(task, split, lang, embed.tokenizer, cache_dir))
            values, lines = SCORERS[scorer_name](embed, data, state, split, options, partial(pool, split))
            metrics.setdefault(split, {})[lang] = values
            (out_dir / "predictions" / f"{split}-{lang}.tsv").write_text("".join(f"{x}\n" for x in lines),
                                                                        encoding="utf-8")
    averages = {split: {m: mean([per_lang[l][m] for l in target.languages]) for m in per_lang[target.languages[0]]}
                for split, per_lang in metrics.items()}
    return {"main_metric": MAIN_METRIC[scorer_name], "metrics": metrics, "averages": averages,
            "prediction_suffix": ".tsv", "layer": embed.layer}


def threshold_provenance(target: TargetSpec) -> dict[str, Any] | None:
    """Where BUCC's thresholds were tuned (results.json): the dev split, XTREME's protocol, or, with
    oracle_threshold, the test data itself. None for targets without a threshold."""
    task = target.eval_task
    if task.options.get("scorer") != "bucc":
        return None
    tuned_on = "the split it scores" if target.oracle_threshold else task.options.get("threshold_split", "validation")
    splits = target.eval_splits if target.oracle_threshold else [tuned_on]
    return {"tuned_on": tuned_on, "oracle": target.oracle_threshold,
            "data": {f"{split}/{lang}": describe_source(task, split, lang) for split in splits for lang in target.languages}}
