"""Evaluating a trained checkpoint: every (split, language) of the eval task, metrics and prediction files."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from xtransfer.config.schema import RuntimeSpec, TaskSpec
from xtransfer.engine.batching import SortedBatches, loader
from xtransfer.engine.features import load_features
from xtransfer.engine.modeling import load_encoder, load_head
from xtransfer.engine.module import TransferModule
from xtransfer.engine.train import make_trainer
from xtransfer.metrics import mean
from xtransfer.tasks import get_family, main_metric


def evaluate(checkpoint: Path, head_task: TaskSpec, eval_task: TaskSpec, splits: list[str], languages: list[str],
             runtime: RuntimeSpec, cache_dir: str, out_dir: Path) -> dict[str, Any]:
    """Score the checkpoint's encoder + head_task head on every (split, language); write predictions."""
    encoder, tokenizer = load_encoder(str(checkpoint / "model"))
    family = get_family(eval_task.family)
    head = load_head(checkpoint, head_task.name, family.head_for(encoder, head_task))
    module = TransferModule(encoder, {head_task.name: head}, {head_task.name: head_task})
    module.eval()

    cells = [(split, lang) for split in splits for lang in languages]
    features = {c: load_features(eval_task, c[0], c[1], tokenizer, cache_dir) for c in cells}
    loaders = [loader(features[c], SortedBatches(features[c]["length"], runtime.eval_batch_size), family,
                      tokenizer.pad_token_id, head_task.name, runtime.num_workers) for c in cells]
    with tempfile.TemporaryDirectory(prefix="xtransfer-eval-") as scratch:
        outputs = make_trainer(runtime, None, scratch).predict(module, loaders)
    if len(loaders) == 1:
        outputs = [outputs]

    metrics: dict[str, dict[str, dict[str, float]]] = {}
    (out_dir / "predictions").mkdir(parents=True, exist_ok=True)
    for (split, lang), batches in zip(cells, outputs):
        pairs = sorted((p for batch in batches for p in batch), key=lambda p: p[0])
        predictions = family.decode([out for _, out in pairs], features[(split, lang)], eval_task)
        metrics.setdefault(split, {})[lang] = family.score(predictions, features[(split, lang)], eval_task)
        family.write_predictions(predictions, out_dir / "predictions" / f"{split}-{lang}{family.prediction_suffix}")
    averages = {split: {m: mean([per_lang[l][m] for l in languages]) for m in next(iter(per_lang.values()))}
                for split, per_lang in metrics.items()}
    return {"main_metric": main_metric(eval_task), "metrics": metrics, "averages": averages,
            "prediction_suffix": family.prediction_suffix}
