"""Benchmark BUCC mining (k-NN both ways, ratio margin, max retrieval) on random embeddings.

    python -m xtransfer.bench.mining                  # 100k x 100k, width 1024 (BUCC's scale)
    python -m xtransfer.bench.mining --n 20000 --block 4096

Reports wall time and peak memory (resident set size) of mining alone; the embeddings are
made first and their size is printed separately.
"""
from __future__ import annotations

import argparse
import resource
import time

import torch

from xtransfer.engine import mining


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="sentences per side")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--block", type=int, default=mining.BLOCK)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    g = torch.Generator().manual_seed(0)
    x = mining.normalize(torch.randn(args.n, args.dim, generator=g)).to(args.device)
    y = mining.normalize(torch.randn(args.n, args.dim, generator=g)).to(args.device)
    before = peak_rss_mib()
    start = time.perf_counter()
    pairs = mining.margin_mine(x, y, k=args.k, block=args.block)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"mining {args.n} x {args.n} (dim {args.dim}, k {args.k}, block {args.block}) on {args.device} "
          f"with {torch.get_num_threads()} threads: {seconds:.1f} s, {len(pairs)} pairs")
    print(f"embeddings: {2 * x.numel() * 4 / 2**20:.0f} MiB; peak RSS {peak_rss_mib():.0f} MiB "
          f"(before mining {before:.0f} MiB)")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
