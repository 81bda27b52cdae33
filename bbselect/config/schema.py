"""The settings of one ``compare`` run: every key, its type and its default (the one schema).

The CLI fills a ``CompareConfig``; the run folder keeps it as ``config.yaml`` (``to_dict``), so a
run can be read back and repeated. Field names are the CLI option names with ``-`` → ``_``.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from bbselect.errors import UsageError
from bbselect.inputs import decode as dec
from bbselect.models import registry
from bbselect.store.cache import DEFAULT_MAX_MB

STABILITY_CHOICES = ("auto", "on", "off")
PROBE_CHOICES = ("auto", "detection", "cheap", "none")
STABILITY_MAX_IMAGES = 300  # default of --stability-max-images: benchmarks/stability_sample.py, docs/performance.md
FIGURE_CHOICES = "all | N (first N images) | none (no figures at all, fastest)"


def setting(default=MISSING, *, help: str = "", metavar: str | None = None, flags: tuple[str, ...] = (),
            choices: tuple[str, ...] | None = None, factory=None, doc: str | None = None):
    """A ``CompareConfig`` field with what the CLI, ``bbselect config`` and the docs say about it.

    ``help`` is the option's meaning (a field without help has no command-line option: ``images`` is
    the argument); ``flags`` replaces the default ``--field-name``; ``choices`` makes a closed choice;
    ``doc`` is the meaning for config files when ``help`` is not (config/starter.py)."""
    meta = {"help": help, "metavar": metavar, "flags": flags, "choices": choices, "doc": doc}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class CompareConfig:
    """Every setting of a run; one field per CLI option and YAML key (``-`` in options is ``_`` here)."""

    images: str = setting("images", doc="Folder of images, searched recursively (default: ./images, else the "
                                         "bundled sample images). Relative to the directory you run bbselect from.")
    backbones: list[str] = setting(
        factory=lambda: list(registry.DEFAULT_BACKBONES), flags=("-b", "--backbone"), metavar="NAME|PATH.keras[:k=v,...]",
        help="Backbone to compare; repeat for several: a registry NAME or a model file PATH.keras, options after "
             "a colon, e.g. mobilenet:alpha=0.25, resnet50:layer=c4, mobilenetv2:weights=W.h5,name=mine, "
             "net.keras:preprocess=tf (keys: layer, name, preprocess, weights, top1).")
    layer: str = setting(
        registry.DEFAULT_STAGE, metavar="STAGE|LAYER",
        help="Feature layer: a stage c2..c5 (stride 4..32, the last layer at that stride) or a raw Keras "
             "layer name (see `bbselect layers`).")
    weights: str = setting(
        "imagenet", metavar="imagenet|none|PATH",
        help="imagenet: Keras' pretrained weights ($KERAS_HOME/models, downloaded on first use); none: random "
             "init (outputs are marked RANDOM WEIGHTS); PATH: a local .h5 file.")
    input_size: int = setting(224, help="Network input side in pixels (multiple of 32).")
    resize: str = setting(
        "stretch", choices=dec.RESIZE_MODES,
        help="stretch: squash to size x size (classifier style). letterbox: keep aspect ratio, longest side = "
             "size, pad (detector style); maps are cropped to the image area.")
    batch_size: int = setting(8, help="Images per forward pass.")
    output: str = setting("results", flags=("-o", "--output"), help="Folder that receives run folders.")
    name: str | None = setting(
        None, help="Run folder name [default: the images folder's name]. An existing run is never "
                   "overwritten: NAME-2, NAME-3... are used instead.")
    strict: bool = setting(False, help="Stop at the first unreadable image instead of skipping it.")
    overlay: bool = setting(False, help="Draw maps over the input image in per-image figures.")
    figures: str = setting(
        "12", metavar="all|none|N",
        help=f"Per-image figures to draw: {FIGURE_CHOICES}. Drawing is a fixed cost of every run (~0.3 s a "
             "figure), so the default is a sample; contact sheets (first 24 images) and charts are drawn "
             "unless none.")
    seed: int = setting(0, help="Seed for random weights.")
    max_pixels: int = setting(dec.DEFAULT_MAX_PIXELS,
                              help="Skip images larger than this many pixels (decompression-bomb guard).")
    cache: bool = setting(True, help="Reuse maps computed earlier for the same image content and settings.")
    cache_dir: str | None = setting(None, metavar="DIR",
                                    help="Cache folder [default: $BBSELECT_CACHE, else ~/.cache/bbselect].")
    cache_max_mb: int = setting(DEFAULT_MAX_MB,
                                help="Cache size cap; least recently used maps are deleted beyond it.")
    shard: str | None = setting(
        None, metavar="I/N|auto",
        help="Process only shard I of N (stable hash of each image's relative path), written to "
             "OUTPUT/NAME/shard-I-of-N; combine a set with `bbselect merge OUTPUT/NAME`. auto: I and N from "
             "the scheduler's array job (Slurm SLURM_ARRAY_TASK_*, Kubernetes JOB_COMPLETION_INDEX, AWS "
             "Batch AWS_BATCH_JOB_ARRAY_INDEX, or BBSELECT_SHARD=I/N).")
    shards: int = setting(
        0, metavar="N",
        help="With --shard auto: the number of shards, for schedulers that give the task's index but not "
             "the array size (Kubernetes, AWS Batch; or set BBSELECT_SHARDS). 0 = from the environment.")
    mixed_precision: bool = setting(
        False, help="Compute the networks and maps in float16 (Keras mixed_float16; weights stay float32). "
                    "Faster on GPUs with float16 units, slower on a CPU; cached apart; stated in the report.")
    fail_under: list[str] = setting(
        factory=list, metavar="METRIC=VALUE",
        help="Quality gate (repeatable): exit 1 if the top-ranked backbone's METRIC is below VALUE. "
             "Metrics: primary, separation, linear_probe, max.otsu, ..., effective_rank.")
    expect_best: str | None = setting(
        None, metavar="BACKBONE", help="Quality gate: exit 1 unless BACKBONE is ranked first (or tied with the first).")
    labels: str = setting(
        "auto", metavar="auto|none|FILE.csv",
        help="Class labels for label-aware scores: auto = class sub-folders if every image is in one; "
             "FILE.csv with columns image,label; none = off.")
    boxes: str = setting(
        "auto", metavar="auto|none|PATH",
        help="Box annotations for box-aware scores: auto = YOLO .txt / VOC .xml / COCO .json found next to "
             "the images; PATH = a COCO file or a folder of per-image files.")
    stability: str = setting(
        "auto", choices=STABILITY_CHOICES,
        help="Neighbourhood stability under augmentation, the label-free score the verdict rests on without "
             "labels or boxes: auto = on when there are neither; on; off (skips the augmented views' "
             "forward passes, one per image of the stability sample).")
    stability_views: int = setting(
        1, metavar="M", help="Augmented views per image for stability; each view is one more forward pass.")
    stability_k: int = setting(10, metavar="K", help="Neighbours per image for stability (needs at least 3 K images).")
    stability_seed: int = setting(0, help="Seed of the augmented views (crop, flip, brightness, contrast) and of "
                                          "the stability sample.")
    stability_max_images: int = setting(
        STABILITY_MAX_IMAGES, metavar="N",
        help="At most N images for neighbourhood stability (a stratified deterministic sample by sub-folder beyond "
             "it, the same in every shard); bounds its second forward pass and neighbour search. 0 = every image.")
    probe: str = setting(
        "auto", choices=PROBE_CHOICES,
        help="Detection probe (needs boxes): train a small detection head on each backbone's frozen features "
             "and the box prior, score held-out images with COCO mAP. auto = when boxes are found; detection = "
             "required (error without boxes); cheap = no head, only the training-free box scores (ROI-LogME, "
             "objectness; seconds); none = off. Seconds to minutes per backbone.")
    probe_max_images: int = setting(
        500, metavar="N",
        help="At most N annotated images for the detection probe (stratified deterministic sample beyond it); "
             "bounds its memory and time.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def default_images_dir() -> Path:
    """``./images`` if present, else the sample images shipped with bbselect (``shipped``): so a
    plain ``bbselect compare`` works from any directory after ``pip install``."""
    from bbselect.config.shipped import sample_images

    here = Path("images")
    if here.is_dir():
        return here
    return sample_images() or here


MAX_SHARDS = 10_000  # a set of shards is at most this many tasks (merge lists the missing ones)


def short(value, limit: int = 40) -> str:
    """``repr`` of a user's value cut to ``limit`` characters, so an error message stays one short line."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def check_shard_count(n: int, what: str) -> int:
    """``n``, or UsageError when a set would have more than ``MAX_SHARDS`` shards."""
    if n > MAX_SHARDS:
        raise UsageError(f"{what}: N must be at most {MAX_SHARDS:,} shards")
    return n


def parse_shard(text: str, what: str = "--shard") -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 1 <= I <= N <= ``MAX_SHARDS``; UsageError naming ``what`` (and the
    value, cut short) otherwise (``auto`` is the pipeline's to resolve: see runs/shards.py)."""
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise UsageError(f"{what} {short(text)}: expected I/N, e.g. 1/4, or auto") from None
    check_shard_count(n, f"{what} {short(text)}")
    if not 1 <= i <= n:
        raise UsageError(f"{what} {short(text)}: I must be between 1 and N")
    return i, n


def parse_figures(text: str) -> int | None:
    low = str(text).strip().lower()
    if low == "all":
        return None
    if low == "none":
        return 0
    try:
        n = int(low)
    except ValueError:
        raise UsageError(f"--figures {text!r}: expected {FIGURE_CHOICES}") from None
    if n < 0:
        raise UsageError(f"--figures {text!r}: expected {FIGURE_CHOICES}")
    return n
