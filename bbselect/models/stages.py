"""A backbone's layers as one flat graph at the run's input size, and its stages c2..c5.

``trace(model, size)`` calls the model's layers again on a new ``size × size × 3`` input, in the
model's own order, stepping *into* every nested model (a functional or ``Sequential`` model used as a
layer: ``inputs -> preprocessing -> base_model(x)``, the Keras transfer-learning pattern) instead of
calling it whole. The layers are the model's own objects (no weights are copied), so the result
computes exactly what the model computes, and every layer's output, nested or not, is a tensor of
that one graph: a feature map can be tapped anywhere. A model with a dynamic input ``(None, None, 3)``
gets its shapes from ``size``. A nested layer's name is its path, ``base_model/block_13_expand_relu``;
a name that is unique without its path may be given without it.

Stages follow the detector/FPN convention: stage ``cK`` is the *last* layer (in the order of the model's
``layers``, as Keras lists them) whose output has stride
``2**K`` relative to the input (c2 = stride 4 … c5 = stride 32), stride rounded to the nearest power
of two in log2 (so valid-padding networks, SqueezeNet's 13 × 13 at 224, get their nearest stride).
Zero-padding and input layers, and bare ops between layers (``x + y``), are never chosen (any of them
can still be tapped by name). A network whose deepest stride is below 32 (SqueezeNet
1.1: 16) gets its deepest stage when ``c5`` is asked; the choice carries a note with the stride, and
the report shows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from bbselect.common import did_you_mean
from bbselect.errors import UsageError
from bbselect.models.cost import layer_macs
from bbselect.models.registry import DEFAULT_STAGE, STAGES
from bbselect.models.runtime import keras

_NEVER = ("ZeroPadding2D", "InputLayer")


@dataclass(frozen=True)
class Tap:
    name: str  # unique: the layer's name, with the path of nested models before it
    tensor: object  # its output in the flat graph
    kind: str  # the layer's class name
    stride: int
    parent: str = ""  # the path of the nested model it is in ("" at the top), ending in "/"
    is_model: bool = False  # the output of a nested model as a whole (its layers are taps too)
    is_layer: bool = True  # a Keras layer, not a bare op of the graph (``x + y``): only layers are stages
    order: tuple = ()  # its place in its model's ``layers`` list (and its nested models'), for "last"


@dataclass(frozen=True)
class Graph:
    name: str
    input: object  # the new size × size × 3 input
    taps: tuple[Tap, ...]  # every 4-D layer output, in the model's order
    size: int
    macs: tuple[tuple[object, int], ...] = ()  # (layer, multiply-accumulates of its call) per layer call

    def gflops(self, model) -> float:
        """Analytic GFLOPs (``cost``'s convention) of the layer calls ``model`` (built on ``input``) needs."""
        needed = {id(layer) for layer in model.layers}
        return 2.0 * sum(m for op, m in self.macs if id(op) in needed) / 1e9


class Choice(NamedTuple):
    name: str  # tap name
    stage: str | None
    stride: int
    note: str | None = None  # set when c5 was asked of a network without stride 32


def layer_stride(input_size: int, out_size: int) -> int:
    """Stride of a layer as a power of two, rounding the input/output ratio in log2."""
    return 2 ** int(round(math.log2(input_size / max(out_size, 1))))


def check_image_model(model) -> None:
    """A functional (or Sequential) model with one RGB image input, or a clear UsageError."""
    name = getattr(model, "name", "?")
    if not _is_graph(model):
        raise UsageError(f"model {name!r}: expected a functional or Sequential Keras model (layers called on "
                         f"keras.Input); a subclassed model has no graph whose layers can be tapped")
    inputs = model.inputs if not isinstance(model, keras().Sequential) else [model.inputs[0]]
    if len(inputs) != 1:
        raise UsageError(f"model {name!r} has {len(inputs)} inputs; bbselect feeds one RGB image")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[3] != 3:
        raise UsageError(f"model {name!r}: expected one image input of shape (H, W, 3) (H, W may be None), "
                         f"got {shape[1:]}")


def fixed_size(model) -> int | None:
    """The side of a model's fixed square input, or None when its input is dynamic."""
    shape = tuple(model.inputs[0].shape)
    if shape[1] is None and shape[2] is None:
        return None
    if shape[1] != shape[2] or None in shape[1:3]:
        raise UsageError(f"model {model.name!r} takes {shape[1]}×{shape[2]} inputs; bbselect feeds square "
                         f"images (a dynamic (None, None, 3) input or a fixed square one)")
    return int(shape[1])


def trace(model, size: int | None = None) -> Graph:
    """The model's layers as one flat graph at ``size`` (default: its fixed input size)."""
    check_image_model(model)
    fixed = fixed_size(model)
    size = size or fixed
    if size is None:
        raise UsageError(f"model {model.name!r} has a dynamic input; give an input size")
    if fixed is not None and fixed != size:
        raise UsageError(f"{model.name} takes {fixed}×{fixed} inputs, not --input-size {size}")
    inp = keras().Input((size, size, 3), name="image")
    records: list[tuple] = []
    try:
        _call(model, (inp,), {}, None, records, ())
    except (ValueError, TypeError) as err:  # e.g. 'valid' convolutions that leave nothing at this size
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise UsageError(f"{model.name} cannot run at input size {size}: {first[:300]}") from None
    taps, seen, macs = [], {}, []
    for name, out, op, arg, parent, is_model, order in records:
        if not is_model and hasattr(arg, "shape") and hasattr(out, "shape") and None not in tuple(out.shape)[1:]:
            macs.append((op, layer_macs(op, arg, out)))
        shape = tuple(getattr(out, "shape", ()))
        if len(shape) != 4 or shape[1] is None:
            continue
        seen[name] = seen.get(name, 0) + 1
        unique = name if seen[name] == 1 else f"{name}#{seen[name]}"  # a layer called twice
        taps.append(Tap(unique, out, type(op).__name__, layer_stride(size, shape[1]), parent, is_model,
                        isinstance(op, keras().layers.Layer), order))
    return Graph(str(model.name), inp, tuple(taps), size, tuple(macs))


def _is_graph(model) -> bool:
    k = keras()
    return isinstance(model, k.Sequential) or (isinstance(model, k.Model) and hasattr(model, "_nodes_by_depth"))


def _call(op, args, kwargs, prefix: str | None, records: list, pos: tuple):
    """Call ``op`` on symbolic ``args``; step into nested models, record every layer's output (and every
    nested model's, as a whole)."""
    k = keras()
    inner = "" if prefix is None else f"{prefix}{op.name}/"
    arg = args[0] if args else None
    if isinstance(op, k.Sequential):
        out = args[0]
        for i, layer in enumerate(op.layers):
            out = _call(layer, (out,), {}, inner, records, (*pos, i))
    elif _is_graph(op):
        index = {id(layer): i for i, layer in enumerate(op.layers)}  # bare ops are not in it: after them

        def step(o):
            return lambda *a, **kw: _call(o, a, kw, inner, records, (*pos, index.get(id(o), len(index))))

        out = op._run_through_graph(list(args), operation_fn=step)
    else:
        out = op(*args, **kwargs)
        records.append(((prefix or "") + op.name, out, op, arg, prefix or "", False, pos))
        return out
    if prefix is not None:
        records.append((prefix + op.name, out, op, arg, prefix, True, pos))
    return out


def as_graph(model_or_graph, size: int | None = None) -> Graph:
    return model_or_graph if isinstance(model_or_graph, Graph) else trace(model_or_graph, size)


def spatial_layers(model_or_graph) -> list[tuple[str, tuple, int]]:
    """(name, output_shape, stride) of every 4-D layer output, in the model's order."""
    return [(t.name, tuple(t.tensor.shape), t.stride) for t in as_graph(model_or_graph).taps if not t.is_model]


def find_stages(model_or_graph) -> dict[str, str]:
    """Map c2..c5 to the last non-padding layer of each stride (see module docstring).

    Level by level: the last layer (or nested model, taken as a whole) of the stride at the top; a
    nested model found so is entered for its own last layer of that stride. Only when a level has none
    of the stride are its nested models searched (the base of ``inputs -> preprocessing -> base``), so a
    block nested for tidiness (ConvNeXt's Sequential down-sampling blocks) does not move a stage."""
    taps = [t for t in as_graph(model_or_graph).taps if t.kind not in _NEVER and t.is_layer]
    found = {stage: _last_at(taps, "", s) for stage, s in STAGES.items()}
    return {stage: name for stage, name in found.items() if name}


def _last_at(taps: list[Tap], parent: str, stride: int) -> str | None:
    here = sorted((t for t in taps if t.parent == parent), key=lambda t: t.order)  # the model's layer order
    direct = [t for t in here if t.stride == stride]
    if direct:
        t = direct[-1]
        return (_last_at(taps, t.name + "/", stride) or t.name) if t.is_model else t.name
    for m in reversed([t for t in here if t.is_model]):
        inside = _last_at(taps, m.name + "/", stride)
        if inside:
            return inside
    return None


def resolve_layer(model_or_graph, wanted: str | None) -> Choice:
    """The tap for a stage name, a layer name (with or without its nested path), or None (c5)."""
    g = as_graph(model_or_graph)
    stages = find_stages(g)
    by_name = {t.name: t for t in g.taps}
    wanted = wanted or DEFAULT_STAGE
    key = wanted.lower()
    if key in STAGES:
        if key in stages:
            return Choice(stages[key], key, STAGES[key])
        deepest = max((t.stride for t in g.taps if not t.is_model), default=0)
        if key == "c5" and stages and deepest < STAGES["c5"]:
            last = max(stages, key=STAGES.get)
            return Choice(stages[last], last, STAGES[last],
                          f"no stride-32 layer: c5 is its deepest stage, {last} (stride {STAGES[last]})")
        raise UsageError(
            f"{g.name} has no layer at stride {STAGES[key]} at input size {g.size} "
            f"(stages found: {', '.join(stages) or 'none'}); try a larger --input-size or another stage"
        )
    name = wanted if wanted in by_name else _by_last_part(wanted, by_name)
    if name is None:
        raise UsageError(
            f"{g.name} has no layer {wanted!r}{did_you_mean(wanted, list(by_name), n=3, quote=False)}"
            + " (`bbselect layers BACKBONE` lists them, or use a stage c2..c5)"
        )
    stage = next((k for k, v in stages.items() if v == name), None)
    return Choice(name, stage, by_name[name].stride)


def _by_last_part(wanted: str, by_name: dict) -> str | None:
    hits = [n for n in by_name if n.rsplit("/", 1)[-1] == wanted]
    if len(hits) > 1:
        raise UsageError(f"layer {wanted!r} is ambiguous: {', '.join(hits)}; give its full path")
    return hits[0] if hits else None
