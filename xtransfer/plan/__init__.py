"""`python -m xtransfer.plan [-m] <overrides>`: what a grid will train, read and cost, before it runs.

A tool above the core (it imports config, data, pipeline.keys; nothing in the core imports it).
"""
