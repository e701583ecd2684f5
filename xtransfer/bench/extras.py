"""Beyond training: evaluation throughput (sorted vs fixed-length batches) and the tokenisation cache."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from xtransfer.bench.measure import sync
from xtransfer.bench.sides import Setup, resolve
from xtransfer.bench.workloads import PAD_ID, lengths_of
from xtransfer.errors import DataError
from xtransfer.config.schema import TaskSpec


def eval_throughput(setup: Setup, module, features, batch_size: int) -> dict[str, Any]:
    """Inference over the same rows: length-sorted dynamic batches vs every row padded to max_length."""
    from xtransfer.engine.batching import SortedBatches, loader
    from xtransfer.tasks import get_family

    family, task = get_family(setup.workload.family), setup.workload.task()
    lengths = lengths_of(features)
    max_length = setup.workload.max_length

    def to_max_length(batch: dict) -> dict:
        width = max_length - batch["input_ids"].shape[1]
        batch["input_ids"] = torch.nn.functional.pad(batch["input_ids"], (0, width), value=PAD_ID)
        batch["attention_mask"] = torch.nn.functional.pad(batch["attention_mask"], (0, width))
        return batch

    sorted_batches = list(SortedBatches(lengths, batch_size))
    fixed_batches = [list(range(i, min(i + batch_size, len(lengths)))) for i in range(0, len(lengths), batch_size)]
    runs = {"sorted": (sorted_batches, lambda b: b), "fixed max_length": (fixed_batches, to_max_length)}
    module = module.to(setup.device).eval()
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(resolve(setup))
    out: dict[str, Any] = {}
    for name, (batches, reshape) in runs.items():
        rows = loader(features, batches, family, PAD_ID, task.name, 0, setup.on_gpu)
        padded = 0
        with torch.inference_mode(), torch.autocast(setup.device.type, dtype=dtype, enabled=dtype is not None):
            for i, batch in enumerate(rows):
                batch = reshape(batch)
                if i == 1:  # the first batch (the longest, for sorted) warms up
                    sync(setup.device)
                    start = time.perf_counter()
                if i >= 1:
                    padded += batch["input_ids"].numel()
                module({k: v.to(setup.device) if torch.is_tensor(v) else v for k, v in batch.items()})
        sync(setup.device)
        seconds = time.perf_counter() - start
        timed = [j for b in batches[1:] for j in b]
        real = sum(lengths[j] for j in timed)
        out[name] = {"examples_per_s": len(timed) / seconds, "real_tokens_per_s": real / seconds,
                     "padding_fraction": 1 - real / padded, "seconds": seconds}
    out["ratio"] = out["sorted"]["examples_per_s"] / out["fixed max_length"]["examples_per_s"]
    return out


def xnli_demo_task(root: Path) -> TaskSpec:
    from omegaconf import OmegaConf

    from xtransfer.config import CONF_DIR
    from xtransfer.config.build import build_task

    cfg = OmegaConf.create({"data": {"source": "local", "root": str(root)},
                            "task": OmegaConf.load(CONF_DIR / "task" / "xnli.yaml")})
    return build_task(OmegaConf.to_container(cfg, resolve=True)["task"])


def feature_cache(demo_root: str | None, eval_size: int) -> dict[str, Any]:
    """Seconds of the first (tokenize + save) and second (memory-map) load_features of XNLI test de."""
    from xtransfer.config.schema import TinySpec, spec_from_conf
    from xtransfer.demo import generate_demo_data
    from xtransfer.engine.features import load_features
    from xtransfer.engine.modeling import train_tiny_tokenizer

    with tempfile.TemporaryDirectory(prefix="xtransfer-bench-cache-") as scratch:
        root = Path(demo_root) if demo_root else generate_demo_data(Path(scratch) / "demo", train_size=6,
                                                                    eval_size=eval_size)
        if not (root / "XNLI-1.0" / "xnli.test.tsv").is_file():
            raise DataError(f"--demo-root {root}: no XNLI-1.0/xnli.test.tsv; point it at a demo data root "
                            "(<paths.outputs_root>/demo_data) or leave it out to generate one")
        tokenizer = train_tiny_tokenizer(spec_from_conf(TinySpec, "model/tiny.yaml", "tiny",
                                                        tokenizer_files=str(root / "corpus" / "*.txt")))
        task = xnli_demo_task(root)
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            rows = len(load_features(task, "test", "de", tokenizer, Path(scratch) / "cache"))
            seconds.append(time.perf_counter() - start)
    return {"rows": rows, "first_s": seconds[0], "second_s": seconds[1], "ratio": seconds[0] / seconds[1]}
