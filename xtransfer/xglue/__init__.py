"""XGLUE's benchmark: its task names, languages and file layouts (benchmark.py), submissions (export.py), scoring (score.py)."""
