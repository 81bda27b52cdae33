"""The settings of one ``compare`` run: every key, its type, its default and its rules (the one schema).

The CLI fills a ``CompareConfig``; the run folder keeps it as ``config.yaml`` (``to_dict``), so a
run can be read back and repeated. Field names are the CLI option names with ``-`` → ``_``. Every
rule about a setting is declared on it (``setting(..., choices=, range=, check=, rules=)``, see
config/rules.py; the longer tests are in config/checks.py): ``values.check_value`` and
``validate.resolve`` loop over these declarations, so a value gets the same message from the command
line, a YAML file (with its line), ``--set`` and the Python API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bbselect.config import checks
from bbselect.config.checks import FIGURE_CHOICES, MAX_SHARDS
from bbselect.config.rules import Rule, setting
from bbselect.errors import InputError, WeightsUnavailable
from bbselect.inputs import decode as dec
from bbselect.models import registry
from bbselect.store.cache import DEFAULT_MAX_MB

STABILITY_CHOICES = ("auto", "on", "off")
PROBE_CHOICES = ("auto", "detection", "cheap", "none")
STABILITY_MAX_IMAGES = 300  # default of --stability-max-images: benchmarks/stability_sample.py, docs/performance.md
SEED_RANGE = (0, 2**32 - 1)
COUNT_RANGE = (0, 2_000_000_000)  # upper bounds keep a typo from asking for hundreds of GiB or overflowing


@dataclass
class CompareConfig:
    """Every setting of a run; one field per CLI option and YAML key (``-`` in options is ``_`` here)."""

    images: str = setting(
        "images", doc="Folder of images, searched recursively (default: ./images, else the bundled sample images). "
                      "Relative to the directory you run bbselect from.",
        rules=(Rule(lambda c: Path(c.images).expanduser().exists(), "the folder does not exist", error=InputError,
                    world=True),
               Rule.from_problem(lambda c: checks.special(c.images) and checks.special_message(c.images), world=True)))
    backbones: list[str] = setting(
        factory=lambda: list(registry.DEFAULT_BACKBONES), flags=("-b", "--backbone"), metavar="NAME|PATH.keras[:k=v,...]",
        check=checks.backbones,
        help="Backbone to compare; repeat for several: a registry NAME or a model file PATH.keras, options after "
             "a colon, e.g. mobilenet:alpha=0.25, resnet50:layer=c4, mobilenetv2:weights=W.h5,name=mine, "
             "net.keras:preprocess=tf (keys: layer, name, preprocess, weights, top1).")
    layer: str = setting(
        registry.DEFAULT_STAGE, metavar="STAGE|LAYER", check=checks.layer,
        help="Feature layer: a stage c2..c5 (stride 4..32, the last layer at that stride) or a raw Keras "
             "layer name (see `bbselect layers`).")
    weights: str = setting(
        "imagenet", metavar="imagenet|none|PATH",
        rules=(Rule(checks.weights_ok, "not 'imagenet', 'none', or an existing weights file", error=WeightsUnavailable,
                    world=True),),
        help="imagenet: Keras' pretrained weights ($KERAS_HOME/models, downloaded on first use); none: random "
             "init (outputs are marked RANDOM WEIGHTS); PATH: a local .h5 file.")
    input_size: int = setting(
        224, range=(32, 4096, 32), help="Network input side in pixels (multiple of 32).",
        rules=(Rule(lambda c: checks.smallest_input(c) is None, checks.input_size_message, uses=("backbones",)),))
    resize: str = setting(
        "stretch", choices=dec.RESIZE_MODES,
        help="stretch: squash to size x size (classifier style). letterbox: keep aspect ratio, longest side = "
             "size, pad (detector style); maps are cropped to the image area.")
    batch_size: int = setting(
        8, range=(1, 1024), help="Images per forward pass.",
        rules=(Rule.from_problem(checks.memory_problem, uses=("input_size",), world=True, tag="memory"),))
    output: str = setting("results", flags=("-o", "--output"), help="Folder that receives run folders.")
    name: str | None = setting(
        None, help="Run folder name [default: the images folder's name]. An existing run is never "
                   "overwritten: NAME-2, NAME-3... are used instead.")
    strict: bool = setting(False, help="Stop at the first unreadable image instead of skipping it.")
    overlay: bool = setting(False, help="Draw maps over the input image in per-image figures.")
    figures: str = setting(
        "12", metavar="all|none|N", check=checks.figures,
        help=f"Per-image figures to draw: {FIGURE_CHOICES}. Drawing is a fixed cost of every run (~0.3 s a "
             "figure), so the default is a sample; contact sheets (first 24 images) and charts are drawn "
             "unless none.")
    seed: int = setting(0, range=SEED_RANGE, help="Seed for random weights.")
    max_pixels: int = setting(dec.DEFAULT_MAX_PIXELS, range=(1, COUNT_RANGE[1]),
                              help="Skip images larger than this many pixels (decompression-bomb guard).")
    cache: bool = setting(True, help="Reuse maps computed earlier for the same image content and settings.",
                          rules=(Rule.from_problem(lambda c: checks.cache_problem(c, False), world=True),))
    cache_dir: str | None = setting(None, metavar="DIR",
                                    help="Cache folder [default: $BBSELECT_CACHE, else ~/.cache/bbselect].",
                                    rules=(Rule.from_problem(lambda c: checks.cache_problem(c, True), world=True),))
    cache_max_mb: int = setting(DEFAULT_MAX_MB, range=(0, 2**30),
                                help="Cache size cap; least recently used maps are deleted beyond it.")
    shard: str | None = setting(
        None, metavar="I/N|auto", check=checks.shard,
        help="Process only shard I of N (stable hash of each image's relative path), written to "
             "OUTPUT/NAME/shard-I-of-N; combine a set with `bbselect merge OUTPUT/NAME`. auto: I and N from "
             "the scheduler's array job (Slurm SLURM_ARRAY_TASK_*, Kubernetes JOB_COMPLETION_INDEX, AWS "
             "Batch AWS_BATCH_JOB_ARRAY_INDEX, or BBSELECT_SHARD=I/N).")
    shards: int = setting(
        0, metavar="N", range=(0, MAX_SHARDS),
        help="With --shard auto: the number of shards, for schedulers that give the task's index but not "
             "the array size (Kubernetes, AWS Batch; or set BBSELECT_SHARDS). 0 = from the environment.")
    mixed_precision: bool = setting(
        False, help="Compute the networks and maps in float16 (Keras mixed_float16; weights stay float32). "
                    "Faster on GPUs with float16 units, slower on a CPU; cached apart; stated in the report.")
    fail_under: list[str] = setting(
        factory=list, metavar="METRIC=VALUE", check=checks.fail_under,
        help="Quality gate (repeatable): exit 1 if the top-ranked backbone's METRIC is below VALUE. "
             "Metrics: primary, separation, linear_probe, max.otsu, ..., effective_rank.")
    expect_best: str | None = setting(
        None, metavar="BACKBONE", help="Quality gate: exit 1 unless BACKBONE is ranked first (or tied with the first).",
        rules=(Rule(lambda c: c.expect_best is None or c.expect_best in checks.labels_of(c), checks.expect_best_message,
                    uses=("backbones",)),))
    labels: str = setting(
        "auto", metavar="auto|none|FILE.csv",
        rules=(Rule.from_problem(lambda c: checks.special(checks.labels_file(c.labels))
                                 and checks.special_message(checks.labels_file(c.labels)), world=True),),
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
        1, metavar="M", range=(1, 16), help="Augmented views per image for stability; each view is one more forward pass.")
    stability_k: int = setting(10, metavar="K", range=(1, 10_000), help="Neighbours per image for stability (needs at least 3 K images).")
    stability_seed: int = setting(0, range=SEED_RANGE, help="Seed of the augmented views (crop, flip, brightness, contrast) and of "
                                          "the stability sample.")
    stability_max_images: int = setting(
        STABILITY_MAX_IMAGES, metavar="N", range=COUNT_RANGE,
        rules=(Rule(lambda c: not 0 < c.stability_max_images < 3 * c.stability_k,
                    lambda c: f"expected 0 (every image) or at least 3 × stability_k = {3 * c.stability_k} "
                              "(stability is not defined on fewer images)", uses=("stability_k",)),),
        help="At most N images for neighbourhood stability (a stratified deterministic sample by sub-folder beyond "
             "it, the same in every shard); bounds its second forward pass and neighbour search. 0 = every image.")
    probe: str = setting(
        "auto", choices=PROBE_CHOICES,
        rules=(Rule(lambda c: not (c.probe == "detection" and checks.is_none(c.boxes)),
                    "detection needs boxes, but boxes is none", uses=("boxes",)),),
        help="Detection probe (needs boxes): train a small detection head on each backbone's frozen features "
             "and the box prior, score held-out images with COCO mAP. auto = when boxes are found; detection = "
             "required (error without boxes); cheap = no head, only the training-free box scores (ROI-LogME, "
             "objectness; seconds); none = off. Seconds to minutes per backbone.")
    probe_max_images: int = setting(
        500, metavar="N", range=(2, COUNT_RANGE[1]),
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
