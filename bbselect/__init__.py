"""bbselect — pick the CNN backbone that suits your images before training a detector on it.

The package reads as the pipeline it runs:

    images.py     find and decode image files, fit them to the network input
    registry.py   the one list of Keras backbones, their stages and preprocessing
    weights.py    resolve ``--weights`` (imagenet | none | PATH) and build the backbone
    extractor.py  wrap a backbone so channel max / mean / sum maps are computed next to the model
    engine.py     stream a folder through all backbones in one pass, saving maps as it goes
    scores.py     label-free map scores, bootstrap CIs, channel statistics (pure numpy)
    cost.py       parameters, analytic GFLOPs, measured speed
    ranking.py    rank backbones, mark ties, write the plain-language verdict
    figures.py    matplotlib figures (return a Figure; the caller saves it)
    report_*.py   HTML / Markdown reports of the run summary (content, html, markdown)
    rundir.py     run folders that never collide, atomic writes
    pipeline.py   ``compare``: glue of the above for one run
    cli.py        the thin click layer
"""

import os as _os

# TensorFlow prints C++ start-up chatter on import; keep the terminal for bbselect's own messages.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
