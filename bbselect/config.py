"""The settings of one ``compare`` run, validated in one place.

The CLI fills a ``CompareConfig``; the run folder keeps it as ``config.yaml`` (``to_dict``), so a
run can be read back and repeated. Field names are the CLI option names with ``-`` → ``_``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from . import images as imgs
from . import registry
from .cache import DEFAULT_MAX_MB
from .errors import InputError, UsageError
from .weights import parse_weights

FIGURE_CHOICES = "all | N (first N images) | none (no figures at all, fastest)"


@dataclass
class CompareConfig:
    images: str = "images"
    backbones: list[str] = field(default_factory=lambda: list(registry.DEFAULT_BACKBONES))
    layer: str = registry.DEFAULT_STAGE
    weights: str = "imagenet"
    input_size: int = 224
    resize: str = "stretch"
    batch_size: int = 8
    output: str = "results"
    name: str | None = None
    strict: bool = False
    overlay: bool = False
    figures: str = "12"  # per-image figures for the first 12 images; "all" for every one
    seed: int = 0
    max_pixels: int = imgs.DEFAULT_MAX_PIXELS
    cache: bool = True
    cache_dir: str | None = None
    cache_max_mb: int = DEFAULT_MAX_MB
    shard: str | None = None
    fail_under: list[str] = field(default_factory=list)
    expect_best: str | None = None
    labels: str = "auto"
    boxes: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class Resolved:
    """A validated config with parsed values the pipeline uses directly."""

    config: CompareConfig
    images_dir: Path
    selections: list[registry.Selection]
    weights: str
    figure_limit: int | None  # None = all


def default_images_dir() -> Path:
    """``./images`` if present, else the ``images/`` folder of the source checkout."""
    here = Path("images")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[1] / "images"


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


def resolve(cfg: CompareConfig) -> Resolved:
    """Check every setting; raise UsageError / InputError with a message naming the option."""
    if not cfg.backbones:
        raise UsageError("no backbone chosen (use --backbone NAME)")
    selections = [registry.parse_selection(b) for b in cfg.backbones]
    labels = [s.label for s in selections]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise UsageError(f"backbone listed twice: {', '.join(dupes)}")
    if cfg.resize not in imgs.RESIZE_MODES:
        raise UsageError(f"--resize {cfg.resize!r}: expected one of {', '.join(imgs.RESIZE_MODES)}")
    if cfg.input_size < 32 or cfg.input_size % 32:
        raise UsageError(f"--input-size {cfg.input_size}: expected a multiple of 32, at least 32")
    if cfg.batch_size < 1:
        raise UsageError(f"--batch-size {cfg.batch_size}: expected at least 1")
    if cfg.cache_max_mb < 0:
        raise UsageError(f"--cache-max-mb {cfg.cache_max_mb}: expected at least 0")
    if cfg.max_pixels < 1:
        raise UsageError(f"--max-pixels {cfg.max_pixels}: expected at least 1")
    if not cfg.layer:
        raise UsageError("--layer: expected a stage c2..c5 or a Keras layer name")
    figure_limit = parse_figures(cfg.figures)
    weights = parse_weights(cfg.weights)
    images_dir = Path(cfg.images).expanduser()
    if not images_dir.exists():
        raise InputError(f"images folder {cfg.images} does not exist")
    return Resolved(cfg, images_dir, selections, weights, figure_limit)
