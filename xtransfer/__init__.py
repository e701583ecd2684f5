"""xtransfer: English intermediate-task training for zero-shot cross-lingual transfer, as Hydra grids."""
import os

# OpenMP threads that spin while waiting make every op slow on small, shared CPU machines
# (measured on 2 vCPUs: 1.7 s vs 0.03 s per tiny-model step). Passive waiting costs nothing
# on GPUs. Must be set before torch loads OpenMP; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
