"""The grid report: collect results, tables, plots, the W&B summary run, and the Hydra sweep callback."""
