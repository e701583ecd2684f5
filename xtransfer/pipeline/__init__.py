"""The cell: its chain of content-addressed stages, results.json, and experiment tracking."""
