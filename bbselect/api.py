"""The Python API for notebooks and scripts: ``bbselect.compare(...)`` returns a ``Result``.

A thin layer over the same engine as ``bbselect compare``: every keyword is a config key (the CLI
option with ``-`` → ``_``), checked by the same schema and validation, and user errors are the same
``bbselect.errors`` exceptions the CLI turns into exit codes::

    import bbselect
    r = bbselect.compare("photos/", backbones=["resnet50", "mobilenetv2"], layer="c4")
    r.best, r.ranking, r.to_pandas(), r.run_dir
    r.figure("cat.jpg"); r.contact_sheet("mean")      # matplotlib Figures
    r                                                # in a notebook: the headline and the chart

Besides registry names, ``backbones`` takes model files (``"effl0.keras:layer=c4"``, a ``Path``) and
your own Keras models (``preprocess=`` says how to prepare their input), and ``images`` a folder or a
list of image arrays.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bbselect.common import did_you_mean
from bbselect.config.schema import CompareConfig, default_images_dir
from bbselect.config.values import KINDS, BadValue, check_value
from bbselect.errors import UsageError
from bbselect.models import preprocess as pp
from bbselect.models import registry, stages
from bbselect.report import headline as hl
from bbselect.report import ondemand, page
from bbselect.run import pipeline

ARRAY_FOLDER = ".arrays"  # in-memory images are written here (under ``output``), named by content


def compare(images=None, *, backbones=None, preprocess=None, quiet: bool = True, **options) -> "Result":
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
    **options   any ``bbselect compare`` option as a keyword: layer, weights, input_size, resize,
                figures, labels, boxes, output, name, ... (``bbselect config`` lists them)
    """
    values = {}
    for key, value in options.items():
        if key not in KINDS or key in ("images", "backbones"):
            raise UsageError(f"compare() got an unknown option {key!r}{did_you_mean(key, list(KINDS))}")
        if KINDS[key] in ("str", "optstr") and isinstance(value, (int, float, Path)) and not isinstance(value, bool):
            value = str(value)  # figures=12, output=Path(...): as YAML reads them
        try:
            values[key] = check_value(key, value)
        except BadValue as bad:
            raise UsageError(f"option {key}: {bad}") from None
    labels = []
    for b in backbones if backbones is not None else registry.DEFAULT_BACKBONES:
        if isinstance(b, (str, Path)):
            labels.append(str(b))
        else:
            stages.check_image_model(b)
            labels.append(registry.register_model(b, _preprocess_fn(preprocess), _preprocess_label(preprocess)))
            _match_input_size(b, values)
    arrays = _image_list(images)
    if arrays is not None:
        folder = _write_arrays(arrays, Path(values.get("output", CompareConfig.output)))
        values.setdefault("name", "arrays")
    else:
        folder = Path(os.fsdecode(images)) if images is not None else default_images_dir()
    cfg = CompareConfig(images=str(folder), backbones=labels, **values)
    outcome = pipeline.compare(cfg, quiet=quiet)
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


def _image_list(images) -> list | None:
    """The in-memory images ``images`` holds, as a list; None for a folder path or None.

    A list, tuple, generator or other iterable of arrays; an N×H×W×3 (or ×4, ×1) batch array; an
    N×H×W grayscale batch. A 3-D array ending in 3 or 4 is refused as ambiguous (one colour image, or
    a batch of N images 3 or 4 pixels wide?). Anything else is a ``UsageError``."""
    if images is None or isinstance(images, (str, bytes, os.PathLike)):
        return None
    if isinstance(images, np.ndarray):
        if images.dtype == object and images.ndim == 1:
            return list(images)
        if images.dtype == object:
            raise UsageError(f"images: an object array of shape {images.shape}; give a list of image arrays "
                             f"or a numeric N×H×W×3 batch")
        if images.ndim == 3 and images.shape[-1] in (3, 4):
            raise UsageError(f"images: a 3-D array of shape {images.shape} could be one image or a batch of "
                             f"grayscale images; for one image pass [image], for a batch an N×H×W×3 array")
        if images.ndim not in (3, 4):
            raise UsageError(f"images: a {images.ndim}-D array of shape {images.shape}; expected an N×H×W×3 "
                             f"or N×H×W batch")
        return list(images)
    if isinstance(images, (list, tuple)) or (hasattr(images, "__iter__") and not isinstance(images, (dict, set))):
        return list(images)
    raise UsageError(f"images: expected a folder, a list (or iterable, or N×H×W×3 batch) of image arrays, or "
                     f"None; got {type(images).__name__} {images!r:.60}")


def _as_uint8(a, i: int) -> np.ndarray:
    if isinstance(a, (str, bytes, os.PathLike)):
        raise UsageError(f"images[{i}]: {a!r:.80} is a path; give the folder as images=..., or every image as "
                         f"an array")
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as err:  # a ragged nested list
        raise UsageError(f"images[{i}]: not an image array ({err})") from None
    if arr.dtype.kind not in "buif":
        raise UsageError(f"images[{i}]: expected numbers (uint8, or floats in [0, 1]); got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))) or min(arr.shape[:2]) < 1:
        raise UsageError(f"images[{i}]: expected an H×W×3 or H×W array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise UsageError(f"images[{i}]: contains NaN or infinite values")
    scale = 255.0 if arr.max() <= 1.0 else 1.0
    return np.clip(arr * scale, 0, 255).round().astype(np.uint8)


def _write_arrays(images, output: Path) -> Path:
    """Save in-memory images as PNG files (lossless) in a folder named by their content, so the run,
    its cache and its figures treat them like any folder, and re-running the same arrays reuses it."""
    from PIL import Image

    if not images:
        raise UsageError("images: the list is empty")
    arrays = [_as_uint8(a, i) for i, a in enumerate(images)]
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    folder = output / ARRAY_FOLDER / h.hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        path = folder / f"image_{i:04d}.png"
        if not path.exists():
            Image.fromarray(a).save(path)
    return folder


def _shown(fig):
    """A Figure a notebook displays as a PNG without pyplot or ``%matplotlib inline`` (IPython looks
    for ``_repr_png_`` on the object)."""
    import io

    def png() -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        return buf.getvalue()

    fig._repr_png_ = png
    return fig


@dataclass
class Result:
    """A finished run: its folder and summary, with the views a notebook wants."""

    run_dir: Path
    summary: dict
    exit_code: int = 0

    @property
    def best(self) -> str | None:
        """The recommended backbone (rank 1), or None when no backbone could be scored."""
        return hl.headline(self.summary)["best"]

    @property
    def headline(self) -> str:
        return hl.headline_text(hl.headline(self.summary))

    @property
    def ranking(self) -> list[dict]:
        """One dict per backbone in rank order: rank, backbone, metric, value, lo, hi, tied_with,
        gflops, params, ms_per_image (with ms_lo / ms_hi), random_weights."""
        return hl.ranking_rows(self.summary)

    def to_pandas(self):
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Result.to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.ranking).set_index("rank")

    def _image(self, image) -> dict:
        images = self.summary.get("images") or []
        if isinstance(image, int) and not isinstance(image, bool):
            if not -len(images) <= image < len(images):
                raise UsageError(f"image {image}: the run has {len(images)} images")
            return images[image]
        for im in images:
            if str(image) in (im["rel"], im["id"], Path(im["rel"]).name):
                return im
        raise UsageError(f"image {image!r} is not in this run (its images: "
                         f"{', '.join(im['rel'] for im in images[:5])}{' ...' if len(images) > 5 else ''})")

    def figure(self, image=0, overlay: bool = False):
        """The per-image figure (rows = backbones; input | max | mean | sum) of ``image``: its index,
        relative path, file name or id. A matplotlib Figure."""
        return _shown(ondemand.image_figure_of(self.run_dir, self.summary, self._image(image)["id"], overlay=overlay))

    def contact_sheet(self, agg: str = "mean"):
        """The contact sheet of one map kind (``max`` or ``mean``) over the figure sample."""
        return _shown(ondemand.contact_sheet_of(self.run_dir, self.summary, agg))

    def _repr_html_(self) -> str:
        parts = [page.headline_html(self.summary)]
        chart = (self.summary.get("figures") or {}).get("overview_chart")
        if chart and (self.run_dir / chart).is_file():
            data = base64.b64encode((self.run_dir / chart).read_bytes()).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" style="max-width:100%" alt="overview chart">')
        parts.append(f'<p><small>report: {page.e(self.run_dir / "report.html")}</small></p>')
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"Result({self.headline!r}, run_dir={str(self.run_dir)!r})"
