"""The Python API for notebooks and scripts: every ``bbselect`` command as a function returning a ``Result``.

A thin layer over the same application as the CLI (``runs/app.py``): every keyword is a config key (the
CLI option with ``-`` → ``_``), checked by the same schema and validation, and user errors are the same
``bbselect.errors`` exceptions the CLI turns into exit codes::

    import bbselect
    r = bbselect.compare("photos/", backbones=["resnet50", "mobilenetv2"], layer="c4")
    r.best, r.ranking, r.to_pandas(), r.run_dir
    r.figure("cat.jpg"); r.contact_sheet("mean")      # matplotlib Figures
    r                                                # in a notebook: the headline and the chart
    bbselect.runs("detector-512", sets=["images=photos/"])   # a config (shipped or a file); a Sweep with sweeps
    bbselect.load("results/photos")                  # reopen a finished run (nothing recomputed)
    bbselect.reports("results/photos", figures="all") # re-render it from its saved maps
    bbselect.merge(["results/big"])                  # combine shard runs
    bbselect.compare(resume="results/photos")        # finish an interrupted run

Besides registry names, ``backbones`` takes model files (``"effl0.keras:layer=c4"``, a ``Path``) and
your own Keras models (``preprocess=`` says how to prepare their input), and ``images`` a folder or a
list of image arrays.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from bbselect import arrays as arr
from bbselect.common import did_you_mean
from bbselect.config.schema import CompareConfig, default_images_dir
from bbselect.config.values import KINDS, BadValue, check_value, locate
from bbselect.errors import UsageError
from bbselect.models import preprocess as pp
from bbselect.models import registry, stages
from bbselect.result import Result, Sweep
from bbselect.runs import app


def compare(images=None, *, backbones=None, preprocess=None, quiet: bool = True, resume=None,
            **options) -> Result:
    """Compare backbones on ``images`` and return a :class:`Result`.

    images      a folder (searched recursively), a list, tuple or iterable of image arrays (H×W×3 or
                H×W; uint8, or floats in [0, 1]), an N×H×W×3 or N×H×W batch array, or None for the
                bundled sample photos
    backbones   registry names with options (``"mobilenet:alpha=0.25,layer=c4"``), model files
                (``"x.keras:name=mine"`` or a Path) and/or Keras models (your own backbone: a functional
                or Sequential model with one (S, S, 3) or (None, None, 3) input; nested models are fine);
                default vgg16, resnet50, mobilenetv2
    preprocess  for your own models: a function from a float32 RGB batch in [0, 255] to the model's
                input, raw / tf / torch / caffe, or a registry name whose preprocessing the model was
                trained with ("mobilenetv2"); default: the batch as it is
    quiet       no progress output (default True; False shows the progress bars)
    resume      a run folder to finish with its saved settings (then nothing else may be given)
    **options   any ``bbselect compare`` option as a keyword: layer, weights, input_size, resize,
                figures, labels, boxes, output, name, ... (``bbselect config`` lists them)
    """
    if resume is not None:
        if images is not None or backbones is not None or preprocess is not None or options:
            raise UsageError(f"resume={resume!s} continues that run with its saved settings; give nothing else")
        return _result(app.resume(Path(resume), quiet=quiet))
    values = checked_options(options, "compare")
    labels = []
    for b in backbones if backbones is not None else registry.DEFAULT_BACKBONES:
        if isinstance(b, (str, Path)):
            labels.append(str(b))
        else:
            stages.check_image_model(b)
            labels.append(registry.register_model(b, _preprocess_fn(preprocess), _preprocess_label(preprocess)))
            _match_input_size(b, values)
    in_memory = arr.image_list(images)
    if in_memory is not None:
        folder = arr.write_arrays(in_memory, Path(values.get("output", CompareConfig.output)))
        values.setdefault("name", "arrays")
    else:
        folder = Path(os.fsdecode(images)) if images is not None else default_images_dir()
    cfg = CompareConfig(images=str(folder), backbones=labels, **values)
    given = {*values, *["backbones"] * (backbones is not None), *["images"] * (images is not None and in_memory is None)}
    origins = {k: "api:compare" if k in given else "default" for k in CompareConfig.keys()}
    return _result(app.compare(cfg, quiet=quiet, origins=origins))


def run(config, *, sets=(), quiet: bool = True, **options) -> Result | Sweep:
    """Run a YAML config (a file, or a shipped config's name: ``default``, ``detector-512``, ...), as
    ``bbselect run``. ``sets``: ``"KEY=VALUE"`` strings (values parsed as YAML, ``--set``); ``options``:
    config keys that override both. A ``Result``, or a ``Sweep`` (one ``Result`` per point) when the
    config has a ``sweep:``."""
    if isinstance(sets, str):
        sets = [sets]
    overrides = checked_options(options, "run")
    done = app.run_config(config, list(sets), overrides, quiet=quiet, given_as="api:run")
    if done.parent is None:
        return _result(done.outcomes[0])
    return Sweep(Path(done.parent).resolve(), [_result(o) for o in done.outcomes])


def report(run_dir, *, figures=None, overlay: bool | None = None, quiet: bool = True) -> Result:
    """Re-render a finished run's figures and reports from its saved maps (no model), as ``bbselect report``."""
    return _result(app.report(Path(run_dir), figures=None if figures is None else str(figures), overlay=overlay,
                              quiet=quiet))


def merge(shards, *, output=CompareConfig.output, name: str | None = None, allow_partial: bool = False,
          fail_under=None, expect_best: str | None = None, figures=None, quiet: bool = True) -> Result:
    """Combine shard runs into one run, as ``bbselect merge``: ``shards`` is a folder holding them, or a
    list of shard folders (or a glob)."""
    shards = [shards] if isinstance(shards, (str, os.PathLike)) else list(shards)
    overrides = {k: v for k, v in (("fail_under", list(fail_under or [])), ("expect_best", expect_best),
                                   ("figures", None if figures is None else str(figures))) if v}
    return _result(app.merge(shards, Path(output), name, overrides=overrides, allow_partial=allow_partial,
                             quiet=quiet))


def load(run_dir) -> Result:
    """Reopen a finished run as a ``Result`` from what it wrote (``scores.json``): nothing is recomputed."""
    return _result(app.load(Path(run_dir)))


def checked_options(options: dict, function: str) -> dict:
    """API keywords as config values, checked by the schema: a UsageError ``bbselect.compare(key=value):
    ...`` in the words the CLI, a YAML file and ``--set`` use for the same value."""
    values = {}
    for key, value in options.items():
        if key not in KINDS or key in ("images", "backbones"):
            raise UsageError(f"{function}() got an unknown option {key!r}{did_you_mean(key, list(KINDS))}")
        if KINDS[key] in ("str", "optstr") and isinstance(value, (int, float, Path)) and not isinstance(value, bool):
            value = str(value)  # figures=12, output=Path(...): as YAML reads them
        try:
            values[key] = check_value(key, value)
        except BadValue as bad:
            raise UsageError(f"{locate(key, value, 'api:' + function)}: {bad}") from None
    return values


def _result(outcome) -> Result:
    return Result(Path(outcome.run_dir).resolve(), outcome.summary, outcome.exit_code)


def _preprocess_label(preprocess) -> str | None:
    """How the reports name the API's ``preprocess=``: a generic name as given, a registry family with
    its module, a function by its name."""
    if preprocess is None:
        return None
    if callable(preprocess):
        return f"your function {getattr(preprocess, '__qualname__', type(preprocess).__name__)}"
    if preprocess.lower() in pp.GENERIC:
        return preprocess.lower()
    spec = registry.get_spec(preprocess)
    return f"{spec.name} ({spec.preprocess_module}.preprocess_input)"


def _preprocess_fn(preprocess):
    if preprocess is None or callable(preprocess):
        return preprocess
    if isinstance(preprocess, str) and preprocess.lower() in pp.GENERIC:
        return functools.partial(pp.apply, preprocess.lower())
    if isinstance(preprocess, str):
        return registry.get_spec(preprocess).preprocess
    raise UsageError(f"preprocess: expected a function or a backbone name, got {type(preprocess).__name__}")


def _match_input_size(model, values: dict) -> None:
    """A model built for a fixed input size fixes ``input_size`` (an explicit other value is an error);
    a dynamic one takes ``input_size``."""
    side = stages.fixed_size(model)
    if side is None:
        return
    if "input_size" in values and values["input_size"] != side:
        raise UsageError(f"model {model.name} takes {side}×{side} inputs, but input_size={values['input_size']}")
    values["input_size"] = side


