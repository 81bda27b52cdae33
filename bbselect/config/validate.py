"""Check a whole ``CompareConfig`` before any work starts, and give the pipeline parsed values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bbselect.config.schema import PROBE_CHOICES, STABILITY_CHOICES, CompareConfig, parse_figures, parse_shard
from bbselect.errors import InputError, UsageError
from bbselect.inputs import images as imgs
from bbselect.models import registry
from bbselect.models.weights import parse_weights


@dataclass(frozen=True)
class Resolved:
    """A validated config with parsed values the pipeline uses directly."""

    images_dir: Path
    selections: list[registry.Selection]
    weights: str


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
    if cfg.stability not in STABILITY_CHOICES:
        raise UsageError(f"--stability {cfg.stability!r}: expected one of {', '.join(STABILITY_CHOICES)}")
    if not 1 <= cfg.stability_views <= 16:
        raise UsageError(f"--stability-views {cfg.stability_views}: expected 1 to 16")
    if cfg.stability_k < 1:
        raise UsageError(f"--stability-k {cfg.stability_k}: expected at least 1")
    if cfg.cache_max_mb < 0:
        raise UsageError(f"--cache-max-mb {cfg.cache_max_mb}: expected at least 0")
    if cfg.max_pixels < 1:
        raise UsageError(f"--max-pixels {cfg.max_pixels}: expected at least 1")
    if not cfg.layer:
        raise UsageError("--layer: expected a stage c2..c5 or a Keras layer name")
    if cfg.probe not in PROBE_CHOICES:
        raise UsageError(f"--probe {cfg.probe!r}: expected one of {', '.join(PROBE_CHOICES)}")
    if cfg.probe_max_images < 2:
        raise UsageError(f"--probe-max-images {cfg.probe_max_images}: expected at least 2")
    if cfg.probe == "detection" and str(cfg.boxes).strip().lower() == "none":
        raise UsageError("--probe detection needs boxes, but --boxes is none")
    parse_figures(cfg.figures)  # a check here; the figures step parses it for use
    if cfg.shards < 0:
        raise UsageError(f"--shards {cfg.shards}: expected a number of shards (0 = from the environment)")
    if cfg.shard and str(cfg.shard).strip().lower() != "auto":
        parse_shard(cfg.shard)  # auto is read from the environment when the run starts
    weights = parse_weights(cfg.weights)
    images_dir = Path(cfg.images).expanduser()
    if not images_dir.exists():
        raise InputError(f"images folder {cfg.images} does not exist")
    return Resolved(images_dir, selections, weights)
