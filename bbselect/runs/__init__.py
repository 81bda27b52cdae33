"""Runs: the application (app.py: every command), the engine (one pass over the images), compare /
report / merge, sweeps.

The top of the pipeline: may import every other room. Only cli.py and api.py import it (through app.py)."""
