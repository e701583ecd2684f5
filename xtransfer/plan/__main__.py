"""`python -m xtransfer.plan [-m] <the overrides of python -m xtransfer.run> [--gpus N] [--mfu F] ...`

Lists the cells of the grid, the unique stages they need (to train, already in the cache, shared by
how many cells), the data those stages read and whether it is here, and the compute the stages to
train would cost. Loads no model and trains nothing; only the demo's data is generated, as the run
would first do, because the tiny model's key hashes its corpus.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from xtransfer.errors import XTransferError
from xtransfer.plan.compute import ESTIMATES, load_assumptions
from xtransfer.plan.grid import make_plan
from xtransfer.plan.render import render, to_json


class _Once(logging.Filter):
    """Each warning once (a multi-task intermediate warns about a skipped task in every cell)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xtransfer.plan", description=__doc__.split("\n\n")[1],
                                epilog=f"Defaults of the options: {ESTIMATES}")
    p.add_argument("overrides", nargs="*", help="the overrides of `python -m xtransfer.run`, e.g. experiment=phang2020")
    p.add_argument("-m", "--multirun", action="store_true", help="a sweep, as `python -m xtransfer.run -m`")
    p.add_argument("--gpus", type=int, help="GPUs for the wall-time estimate")
    p.add_argument("--mfu", type=float, help="model FLOPs utilisation assumed (0-1)")
    p.add_argument("--peak-tflops", type=float, dest="peak_tflops", help="the GPU's dense bf16 peak")
    p.add_argument("--gpu", help="the GPU's name (printed)")
    p.add_argument("--on", choices=["here", "gpu", "cpu"], dest="precision_on",
                   help="where trainer.precision=auto resolves (it is part of every stage key): here, a GPU "
                        "(bf16-mixed) or a CPU (32-true)")
    p.add_argument("--json", type=Path, help="also write the plan as JSON to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Once())
    try:
        assumptions = load_assumptions(gpus=args.gpus, mfu=args.mfu, peak_tflops=args.peak_tflops, gpu=args.gpu,
                                       precision_on=args.precision_on)
        plan = make_plan(args.overrides, args.multirun, assumptions)
    except (XTransferError, HydraException, OmegaConfBaseException) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(render(plan), end="")
    if args.json:
        args.json.write_text(json.dumps(to_json(plan), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
