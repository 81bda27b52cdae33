"""bbselect — pick the CNN backbone that suits your images before training a detector on it.

The package reads as the pipeline it runs, one room per stage (each ``__init__`` says what the room
is for and what it may import; ``tests/repo/test_layout.py`` enforces that no import goes upward):

    inputs/    find and decode images, read box annotations and label files
    models/    the backbone registry, weights, the map extractor, the runtime, cost
    store/     run folders and atomic writes, the map cache, maps on disk
    probes/    fitted evaluators on features (LogME, linear probe, kNN)
    scoring/   the score registry, map scores, statistics, evidence, ranking, the run summary, gates
    reports/   HTML / Markdown / CSV / JSON outputs, figures and charts
    config/    the settings schema, value checks, YAML files and sweeps, whole-config validation
    runs/      the engine (one pass over the images), compare / report / merge, sweeps
    cli.py     the thin click layer

Base modules every room may use: ``errors`` (user errors and exit codes), ``progress``, ``common``.
"""

import os as _os

# TensorFlow prints C++ start-up chatter on import; keep the terminal for bbselect's own messages.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

# The Python API (``bbselect.compare`` / ``run`` / ``report`` / ``merge`` / ``load``, ``Result``) lives in the top layer
# (``api``); it is loaded on first use, so importing bbselect stays cheap and lower layers that
# import ``bbselect`` (for ``__version__``) never pull in the pipeline.
_API = {**{f: "bbselect.api" for f in ("compare", "run", "report", "merge", "load")},
        "Result": "bbselect.result", "Sweep": "bbselect.result", "sample_images": "bbselect.config.shipped"}
__all__ = ["compare", "run", "report", "merge", "load", "Result", "Sweep", "sample_images", "__version__"]


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'bbselect' has no attribute {name!r}")
