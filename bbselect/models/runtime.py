"""Import TensorFlow/Keras once, quietly.

TensorFlow's C++ layer prints start-up lines (oneDNN, CUDA probing) to file descriptor 2 before
its logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` alone does not silence them. bbselect
imports it with descriptor 2 pointed at /dev/null; Python-level errors during the import still
propagate as exceptions. Set ``BBSELECT_TF_VERBOSE=1`` to see TensorFlow's own output.
"""

from __future__ import annotations

import os
import sys

_keras = None


def keras():
    """Return the ``keras`` module, importing TensorFlow quietly on first use."""
    global _keras
    if _keras is not None:
        return _keras
    if os.environ.get("BBSELECT_TF_VERBOSE"):
        import keras as k

        _keras = k
        return k
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras as k
        import tensorflow as tf

        tf.config.list_physical_devices()  # CUDA probing happens here; keep it quiet too
        tf.get_logger().setLevel("ERROR")  # e.g. retracing notices when a sweep builds many models
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    _keras = k
    return k


def release() -> None:
    """Free the models of a finished run (a sweep builds many); a no-op if Keras was never loaded."""
    if _keras is not None:
        _keras.backend.clear_session()
