"""Training and evaluation throughput: xtransfer's training path against transformers.Trainer.

Run it as `python -m xtransfer.bench` (see `__main__.py` for the method and the options).
Modules: `workloads` (model shapes, MNLI-/SQuAD-like rows), `measure` (step clock, FLOPs/MFU,
padding, memory, device peaks), `sides` (the two training sides), `extras` (evaluation
throughput, tokenisation cache), `__main__` (the CLI, the run and its table).
"""
