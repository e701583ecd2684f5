"""Training and evaluation throughput: xtransfer's training path against transformers.Trainer.

    python -m xtransfer.bench                                     # tiny model, MNLI-like pairs (CPU, ~1 min)
    python -m xtransfer.bench --model xlmr_large --workload squad --steps 50 --json bench.json   # on a GPU
    python -m xtransfer.bench --model xlmr_base --max-tokens 8192  # token-budget batches on our side

Both sides train the same architecture (random init: a step costs what it costs with
pretrained weights) on the same examples, batch size, learning rate, schedule, clipping and
precision, back to back in one process. Ours is what `train.fit_stage` runs: TransferModule,
the family's collate/forward/loss, `batching.train_batches` and `train.make_trainer`. Theirs
is `transformers.Trainer` with its best flags: group_by_length, dynamic padding
(DataCollatorWithPadding), bf16/fp16 and fused AdamW on a GPU, no per-step NaN check.
The first `--warmup` steps are not timed; the clock syncs the device only where it starts
and stops.

MFU (model FLOPs utilisation) counts the FLOPs of real (non-pad) tokens only:

    FLOPs = 6 * N * T  +  12 * L * H * sum_i s_i^2        (forward + backward)

N: non-embedding parameters (encoder layers + task head); T: real tokens trained; L: layers;
H: hidden size; s_i: real length of sequence i (attention scores and their weighted sum are
two s x s x H matmuls per layer: 4 s^2 H FLOPs forward, x3 with backward). MFU = FLOPs /
seconds / the device's dense bf16 peak (PEAK_TFLOPS, or --peak-tflops); n/a on a CPU.

Also: evaluation throughput (length-sorted batches vs padding every row to max_length) and
the tokenisation cache (first vs second `load_features` of the demo XNLI test split).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from xtransfer.bench.extras import eval_throughput, feature_cache
from xtransfer.bench.measure import SideResult, device_name, device_peak
from xtransfer.bench.sides import Setup, resolve, run_transformers, run_xtransfer
from xtransfer.bench.workloads import SHAPES, WORKLOADS, local_features, synthetic_features
from xtransfer.errors import XTransferError


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def table(setup: Setup, results: dict[str, Any], peak_name: str) -> str:
    ours, theirs = results["train"]["xtransfer"], results["train"]["transformers.Trainer"]
    budget = f"max {setup.max_tokens} tokens" if setup.max_tokens else f"{setup.batch_size} examples"
    lines = [
        f"model {setup.model} ({results['non_embedding_params'] / 1e6:.2f}M non-embedding params), "
        f"workload {setup.workload.name}, {results['examples']} examples, batches of {budget} (HF: "
        f"{setup.batch_size}), {setup.steps} timed steps after {setup.warmup} (best of {results['setup']['repeats']}), "
        f"precision {resolve(setup)}, "
        f"attention {setup.attn}{', compiled' if setup.compile else ''}{', LoRA' if setup.lora else ''}",
        f"device {results['device']}; MFU peak: {peak_name}",
        "",
        f"{'training':<22}{'examples/s':>12}{'real tok/s':>12}{'padding':>9}{'epoch pad':>10}{'peak MiB':>10}"
        f"{'MFU':>8}",
    ]
    for r in (ours, theirs):
        lines.append(f"{r['name']:<22}{r['examples_per_s']:>12.1f}{r['real_tokens_per_s']:>12.0f}"
                     f"{r['padding_fraction']:>9.1%}{r['extra']['epoch_padding_fraction']:>10.1%}"
                     f"{fmt(r['peak_memory_mib'], '.0f'):>10}"
                     f"{fmt(r['mfu'], '.1%'):>8}")
    ratio = results["train"]["ratio"]
    lines.append(f"{'ratio xtransfer/HF':<22}{ratio['examples_per_s']:>11.2f}x{ratio['real_tokens_per_s']:>11.2f}x")
    if setup.device.type == "cpu":
        lines.append("(CPU peak memory is the process's peak RSS, cumulative: HF's figure includes ours)")
    ev = results.get("eval")
    if ev:
        lines += ["", f"{'evaluation':<22}{'examples/s':>12}{'real tok/s':>12}{'padding':>9}"]
        for name in ("sorted", "fixed max_length"):
            lines.append(f"{name:<22}{ev[name]['examples_per_s']:>12.1f}{ev[name]['real_tokens_per_s']:>12.0f}"
                         f"{ev[name]['padding_fraction']:>9.1%}")
        lines.append(f"{'ratio sorted/fixed':<22}{ev['ratio']:>11.2f}x")
    cache = results.get("feature_cache")
    if cache:
        lines += ["", f"tokenisation cache (xnli test de, {cache['rows']} rows): first load_features "
                      f"{cache['first_s']:.2f} s, second {cache['second_s']:.3f} s ({cache['ratio']:.0f}x)"]
    return "\n".join(lines)


def quiet() -> None:
    """The table is the output: no Lightning banners, HF log dicts or progress bars."""
    import logging
    import warnings

    import datasets
    import pytorch_lightning  # noqa: F401  (imported first: its loggers exist from then on)
    import transformers

    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("pytorch_lightning", "lightning")):
            logging.getLogger(name).setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message=".*(does not have many workers|val_dataloader|LeafSpec|litlogger).*")


def run(args: argparse.Namespace) -> dict[str, Any]:
    quiet()
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise XTransferError("--device cuda: no CUDA device is visible; use --device cpu")
    if args.attn == "flash_attention_2" and device.type != "cuda":
        raise XTransferError("--attn flash_attention_2 needs a CUDA device; use sdpa (the default) on a CPU")
    peak, peak_name = device_peak(device, args.peak_tflops)
    workload = WORKLOADS[args.workload]
    setup = Setup(args.model, workload, args.batch_size, args.max_tokens, args.steps, args.warmup, args.lr,
                  args.precision, device, args.num_workers, args.attn, args.compile, peak, args.lora)
    # HF groups lengths in pools of min(rows // (4 x batch), 50) batches: 200 batches' rows make both pool 50.
    n = args.examples or max(setup.total, 200) * args.batch_size
    vocab = SHAPES[args.model]["vocab_size"]
    features = local_features(args.data, workload, n, vocab) if args.data else synthetic_features(workload, n, vocab)

    runs: dict[str, list[SideResult]] = {"xtransfer": [], "transformers.Trainer": []}
    for _ in range(args.repeats):  # alternating, so a burst of load on a shared machine hits both sides
        ours, module = run_xtransfer(setup, features)
        runs["xtransfer"].append(ours)
        runs["transformers.Trainer"].append(run_transformers(setup, features))
    ours, theirs = (max(r, key=lambda x: x.real_tokens_per_s) for r in runs.values())
    ratio = {k: getattr(ours, k) / getattr(theirs, k) for k in ("examples_per_s", "real_tokens_per_s")}
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"), "command": " ".join(["python -m xtransfer.bench", *sys.argv[1:]]),
        "device": device_name(device), "peak": peak_name, "setup": {**vars(args)},
        "examples": len(features), "non_embedding_params": ours.extra["non_embedding_params"],
        "train": {"xtransfer": asdict(ours), "transformers.Trainer": asdict(theirs), "ratio": ratio,
                  "real_tokens_per_s_of_each_repeat": {k: [x.real_tokens_per_s for x in r] for k, r in runs.items()}},
    }
    if not args.skip_eval:
        results["eval"] = eval_throughput(setup, module, features, args.eval_batch_size)
    if not args.skip_cache:
        results["feature_cache"] = feature_cache(args.demo_root, args.cache_rows)
    results["table"] = table(setup, results, peak_name)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m xtransfer.bench", description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(SHAPES), default="tiny")
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="mnli")
    p.add_argument("--data", help="a featurized split saved by the feature cache (default: generated rows)")
    p.add_argument("--examples", type=int, help="rows to draw batches from (default: max(steps + warmup, 200) "
                   "x batch size, so that HF's length grouping pools 50 batches as ours does)")
    p.add_argument("--steps", type=int, default=50, help="timed optimizer steps per side (50: HF walks one "
                   "whole length-sorted pool, longest to shortest, so its steps see every length)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-tokens", type=int, help="token-budget batches on xtransfer's side (padded tokens)")
    p.add_argument("--repeats", type=int, default=1, help="alternate the sides this many times, keep each "
                   "side's best run (steadier figures on a shared machine)")
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--precision", choices=["auto", "32-true", "bf16-mixed", "16-mixed"], default="auto",
                   help="auto: bf16-mixed on a GPU that has it, else 32-true (as the pipeline)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--num-workers", type=int, default=0, help="dataloader workers, both sides")
    p.add_argument("--attn", choices=["sdpa", "eager", "flash_attention_2"], default="sdpa",
                   help="attention implementation, both sides (flash_attention_2: CUDA and the flash-attn package; "
                   "it drops padding inside attention)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model, both sides")
    p.add_argument("--lora", action="store_true", help="LoRA adapters (peft, conf/model/<model>.yaml's lora: "
                   "block) on both sides; the base is frozen (MFU still counts 6·N·T of all its parameters)")
    p.add_argument("--peak-tflops", type=float, help="the device's peak for MFU (default: the built-in table)")
    p.add_argument("--eval-batch-size", type=int, default=128)
    p.add_argument("--skip-eval", action="store_true")
    p.add_argument("--skip-cache", action="store_true")
    p.add_argument("--demo-root", help="an existing demo data root for the cache benchmark (default: generate one)")
    p.add_argument("--cache-rows", type=int, default=500, help="XNLI test rows per language when generating")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "eval_batch_size", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        results = run(args)
    except XTransferError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(results["table"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
