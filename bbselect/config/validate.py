"""The one validation pass over a whole ``CompareConfig``, before any work starts.

``compare`` runs it before it scans a folder, builds a model or claims a run folder, and ``bbselect
run`` runs it on every point of a sweep before the first point starts. In order: every value's type,
choices and range (``values.check_value``: the same check a YAML value gets, there with its file and
line), the weights, ``--expect-best`` among the chosen backbones, the images folder, and a memory
estimate against the RAM available now. It returns a ``Resolved`` with the parsed values the
pipeline uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bbselect.common import did_you_mean, special_file
from bbselect.config import values
from bbselect.config.schema import (
    PROBE_CHOICES,
    STABILITY_CHOICES,
    CompareConfig,
    check_shard_count,
    parse_figures,
    parse_shard,
    short,
)
from bbselect.errors import InputError, UsageError
from bbselect.models import selection
from bbselect.models.weights import parse_weights
from bbselect.scoring.gates import parse_fail_under
from bbselect.store.cache import check_dir as check_cache_dir
from bbselect.store.rundir import safe_name

DECODE_AHEAD = 2  # the engine decodes up to two batches ahead of the networks (engine.run_backbones)
GIB = 2**30


@dataclass(frozen=True)
class Resolved:
    """A validated config with parsed values the pipeline uses directly."""

    images_dir: Path
    selections: list[selection.Selection]
    weights: str
    shard: tuple[int, int] | None = None
    fail_under: dict[str, float] = field(default_factory=dict)


def option(key: str) -> str:
    return "--" + key.replace("_", "-")


def resolve(cfg: CompareConfig, *, check_memory: bool = True) -> Resolved:
    """Check every setting; raise UsageError / InputError / WeightsUnavailable naming the option."""
    for key in CompareConfig.keys():
        v = getattr(cfg, key)
        try:
            setattr(cfg, key, values.check_value(key, v))
        except values.BadValue as bad:
            shown = v if isinstance(v, (int, str)) and not isinstance(v, bool) else values.show_value(v)
            shown = short(shown)[1:-1]  # one short line, whatever was typed
            raise UsageError(f"{option(key)} {shown}: {bad}") from None
    selections = [selection.parse_selection(b) for b in cfg.backbones]
    labels = [s.label for s in selections]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise UsageError(f"backbone listed twice: {', '.join(dupes)} (name=... tells two entries apart)")
    folders = [safe_name(x) for x in labels]  # each backbone's maps folder
    clash = sorted({x for x, f in zip(labels, folders) if folders.count(f) > 1})
    if clash:
        raise UsageError(f"backbones {', '.join(clash)} would share a folder name; give each a short name=...")
    if cfg.stability not in STABILITY_CHOICES:
        raise UsageError(f"--stability {cfg.stability!r}: expected one of {', '.join(STABILITY_CHOICES)}")
    for sel in selections:
        if cfg.input_size < sel.spec.min_size:
            raise UsageError(f"{sel.spec.name} needs --input-size >= {sel.spec.min_size} (got {cfg.input_size})")
    if not cfg.layer:
        raise UsageError("--layer: expected a stage c2..c5 or a Keras layer name")
    if cfg.probe not in PROBE_CHOICES:
        raise UsageError(f"--probe {cfg.probe!r}: expected one of {', '.join(PROBE_CHOICES)}")
    if 0 < cfg.stability_max_images < 3 * cfg.stability_k:
        raise UsageError(f"--stability-max-images {cfg.stability_max_images}: expected 0 (every image) or at least "
                         f"3 × --stability-k = {3 * cfg.stability_k} (stability is not defined on fewer images)")
    if cfg.probe_max_images < 2:
        raise UsageError(f"--probe-max-images {cfg.probe_max_images}: expected at least 2")
    if cfg.probe == "detection" and str(cfg.boxes).strip().lower() == "none":
        raise UsageError("--probe detection needs boxes, but --boxes is none")
    if cfg.shards < 0:
        raise UsageError(f"--shards {cfg.shards}: expected a number of shards (0 = from the environment)")
    check_shard_count(cfg.shards, f"--shards {short(cfg.shards)}")
    shard = None
    if cfg.shard and str(cfg.shard).strip().lower() != "auto":
        shard = parse_shard(cfg.shard)  # auto is read from the environment when the run starts
    if cfg.expect_best is not None and cfg.expect_best not in labels:
        raise UsageError(f"--expect-best {cfg.expect_best!r} is not one of the chosen backbones "
                         f"({', '.join(labels)}){did_you_mean(cfg.expect_best, labels)}")
    parse_figures(cfg.figures)  # a check here; the figures step parses it for use
    if cfg.cache:
        check_cache_dir(cfg.cache_dir)  # a file named as the cache folder: exit 2 now, not 70 mid-run
    resolved = Resolved(Path(cfg.images).expanduser(), selections, parse_weights(cfg.weights),
                        shard, parse_fail_under(cfg.fail_under))
    if check_memory:
        check_memory_estimate(cfg)
    if not resolved.images_dir.exists():
        raise InputError(f"images folder {cfg.images} does not exist")
    for what, path in (("images", cfg.images), ("--labels", _labels_file(cfg.labels))):
        kind = special_file(Path(path).expanduser()) if path else None
        if kind:
            raise UsageError(f"{what} {path}: not a regular file or folder ({kind}; reading it would block "
                             f"or never end)")
    return resolved


def _labels_file(labels) -> str | None:
    """The labels CSV a ``labels`` setting names, None for ``auto`` / ``none``."""
    text = str(labels or "auto").strip()
    return None if text.lower() in ("auto", "none") else text


def estimate_memory(cfg: CompareConfig) -> int:
    """Bytes the pass needs at least, before any network layer: per image of a batch, the decoded
    uint8 input, the float32 copy the network makes of it and a first feature map at least as large
    (3 + 12 + 12 bytes a pixel), plus the images decoded ahead (3 bytes a pixel). A lower bound: the
    deeper activations and the weights come on top. ``--input-size 96000`` at batch 8 needs over a
    TiB; its first allocation alone (the uint8 batch) was the 206 GiB the issue saw."""
    pixels = cfg.input_size ** 2
    return cfg.batch_size * pixels * (3 + 12 + 12) + DECODE_AHEAD * cfg.batch_size * pixels * 3


def available_memory() -> int | None:
    """Bytes of RAM available now (``MemAvailable``, capped by a cgroup v2 limit); None if unknown."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max" and avail is not None:
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return avail


def check_memory_estimate(cfg: CompareConfig) -> None:
    need, have = estimate_memory(cfg), available_memory()
    if have is not None and need > have:
        raise UsageError(
            f"not enough memory: --input-size {cfg.input_size} with --batch-size {cfg.batch_size} needs at "
            f"least {need / GIB:.2f} GiB, but {max(have, 0) / GIB:.2f} GiB is available; lower --batch-size "
            "or --input-size")
