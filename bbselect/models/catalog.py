"""What each registered backbone costs, and whether its ImageNet weights are already on this machine.

``describe(name)`` builds the backbone with random weights at 224 × 224 (nothing is downloaded) and
returns its parameters, analytic GFLOPs of the whole ``include_top=False`` network (``cost.gflops``),
and the file name Keras would download for ImageNet weights (asked of Keras itself: its download
function is intercepted before it fetches anything). ``weights_cached(fname)`` says whether that
file is in the local Keras cache (``$KERAS_HOME/models``). The CLI caches ``describe``'s answers
per Keras version, since building a large backbone takes seconds.
"""

from __future__ import annotations

import contextlib

from bbselect.models import runtime
from bbselect.models.cost import count_params, gflops
from bbselect.models.selection import parse_selection
from bbselect.models.weights import keras_models_dir

SIZE = 224


class _Stop(Exception):
    """Raised by the intercepted download function once Keras has named its file."""


@contextlib.contextmanager
def _name_only(seen: list):
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def record(fname=None, origin=None, *args, **kwargs):
        seen.append(fname or (origin or "").rsplit("/", 1)[-1])
        raise _Stop

    file_utils.get_file = record
    try:
        yield
    finally:
        file_utils.get_file = original


def weights_file(name: str) -> str | None:
    """The file name Keras downloads for ``name``'s ImageNet weights (include_top=False, 224)."""
    sel = parse_selection(name)
    runtime.keras()
    seen: list = []
    try:
        with _name_only(seen):
            sel.spec.keras_constructor()(weights="imagenet", include_top=False,
                                         input_shape=(SIZE, SIZE, 3), **sel.kwargs())
    except _Stop:
        pass
    except (ImportError, ValueError):  # a Keras without these private names, or no ImageNet weights
        return None
    finally:
        runtime.release()
    return seen[0] if seen else None


def describe(name: str) -> dict:
    """``{"params", "gflops", "weights_file"}`` of a backbone at 224 × 224 (whole network, no top)."""
    from bbselect.models.weights import build_backbone

    sel = parse_selection(name)
    model, _ = build_backbone(sel, "none", SIZE)
    out = {"params": count_params(model), "gflops": round(gflops(model), 4)}
    runtime.release()
    out["weights_file"] = weights_file(name)
    return out


def weights_cached(fname: str | None) -> bool:
    return bool(fname) and (keras_models_dir() / fname).is_file()
