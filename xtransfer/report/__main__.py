"""`python -m xtransfer.report DIR [DIR ...] [--out OUT_DIR] [--wandb]` (see build.py)."""
import sys

from xtransfer.report.build import main

if __name__ == "__main__":
    sys.exit(main())
