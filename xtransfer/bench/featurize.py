"""Benchmark featurization at study scale: a synthetic MNLI-format train.tsv of N rows, tokenized by
xtransfer's streaming path (`engine.features.load_features`: rows read in chunks, each chunk tokenized
into Arrow on disk, by several processes on a large chunk) against the plain path (every row in a
Python list, `datasets.Dataset.from_list`, one `map`, `save_to_disk`).

    python -m xtransfer.bench.featurize --rows 1000000
    python -m xtransfer.bench.featurize --rows 200000 --json featurize.json

Each side runs in a fresh process, so its peak resident memory is its own; rows/s counts the
whole read + tokenize + write. Both write the same features (tests/test_featurize.py).
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [f"{a}{b}{c}" for a in "bdfgklmnprstvz" for b in "aeiou" for c in ("", "n", "s", "r", "l")]
HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
          "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
LABELS = ("entailment", "neutral", "contradiction")


def write_mnli(root: Path, rows: int, seed: int = 0) -> Path:
    """glue/MNLI/train.tsv (GLUE's layout) with premises of 8-40 words and hypotheses of 4-15."""
    rng = random.Random(seed)
    path = root / "glue" / "MNLI" / "train.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write("\t".join(HEADER) + "\n")
        for i in range(rows):
            premise = " ".join(rng.choices(WORDS, k=rng.randint(8, 40)))
            hypothesis = " ".join(rng.choices(WORDS, k=rng.randint(4, 15)))
            label = rng.choice(LABELS)
            f.write(f"{i}\t{i}\t{i}e\tfiction\t-\t-\t-\t-\t{premise}\t{hypothesis}\t{label}\t{label}\n")
    return path


def mnli_task(root: Path):
    from omegaconf import OmegaConf

    from xtransfer.config import CONF_DIR
    from xtransfer.config.build import build_task

    cfg = OmegaConf.create({"data": {"source": "local", "root": str(root)},
                            "task": OmegaConf.load(CONF_DIR / "task" / "mnli.yaml")})
    return build_task(OmegaConf.to_container(cfg, resolve=True)["task"])


def tokenizer_for(root: Path):
    from xtransfer.config.schema import TinySpec, spec_from_conf
    from xtransfer.engine.modeling import train_tiny_tokenizer

    corpus = root / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("\n".join(" ".join(WORDS[i:i + 12]) for i in range(0, len(WORDS), 3)) + "\n")
    return train_tiny_tokenizer(spec_from_conf(TinySpec, "model/tiny.yaml", "tiny", vocab_size=1000,
                                               tokenizer_files=str(corpus)))


def run_side(side: str, root: Path, out: Path) -> dict:
    """One side in this process: seconds and peak RSS of featurizing the whole file."""
    import datasets

    from xtransfer.data.sources import load_rows
    from xtransfer.engine.features import load_features
    from xtransfer.tasks import get_family

    task, tokenizer = mnli_task(root), tokenizer_for(root)
    start = time.perf_counter()
    if side == "xtransfer":
        features = load_features(task, "train", "en", tokenizer, out)
    else:
        family = get_family(task.family)
        ds = datasets.Dataset.from_list(load_rows(task, "train", "en", family.normalize))
        features = ds.map(family.featurize, batched=True, batch_size=1000, remove_columns=ds.column_names,
                          fn_kwargs={"tokenizer": tokenizer, "task": task})
        features.save_to_disk(str(out / "plain"))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024          # KiB on Linux
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # tokenizing processes
    return {"side": side, "rows": len(features), "seconds": seconds, "rows_per_s": len(features) / seconds,
            "peak_rss_mib": peak, "peak_rss_children_mib": children}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m xtransfer.bench.featurize", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--side", choices=["xtransfer", "plain"], help=argparse.SUPPRESS)   # one side, in a child
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(run_side(args.side, Path(args.root), Path(args.root) / f"out-{args.side}")))
        return
    with tempfile.TemporaryDirectory(prefix="xtransfer-bench-featurize-") as scratch:
        start = time.perf_counter()
        size = write_mnli(Path(scratch), args.rows).stat().st_size
        print(f"wrote {args.rows:,} MNLI-format rows ({size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s")
        results = []
        for side in ("plain", "xtransfer"):
            done = subprocess.run([sys.executable, "-m", "xtransfer.bench.featurize", "--side", side, "--root", scratch],
                                  capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    plain, ours = results
    for r in results:
        print(f"{r['side']:>9}: {r['rows']:,} rows in {r['seconds']:.0f} s = {r['rows_per_s']:,.0f} rows/s; peak RSS "
              f"{r['peak_rss_mib']:,.0f} MiB (largest child process {r['peak_rss_children_mib']:,.0f} MiB)")
    print(f"xtransfer vs plain: {ours['rows_per_s'] / plain['rows_per_s']:.2f}x rows/s, "
          f"{ours['peak_rss_mib'] / plain['peak_rss_mib']:.2f}x peak RSS")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": args.rows, "sides": results}, indent=1))


if __name__ == "__main__":
    main()
