"""The one validation pass over a whole ``CompareConfig``, before any work starts.

``compare`` runs it before it scans a folder, builds a model or claims a run folder, and ``bbselect
run`` runs it on every point of a sweep before the first point starts. It loops over what the schema
declares (config/schema.py): first every value alone (``values.check_value``: type, choices, range,
check -- the same check a YAML value gets, there with its file and line), then every setting's rules
against the other settings, then the rules that look at the world (the images folder, the weights
file, the cache folder, a memory estimate against the RAM available now). A broken one raises its
error class with ``WHERE: CORE`` (config/rules.py): ``origins`` says where each value came from
(``LoadedConfig.origins``; none: the command line). It returns a ``Resolved`` with the parsed values
the pipeline uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bbselect.config import values
from bbselect.config.checks import parse_shard
from bbselect.config.rules import place
from bbselect.config.schema import CompareConfig
from bbselect.errors import BBSelectError, UsageError
from bbselect.models import selection
from bbselect.models.weights import parse_weights
from bbselect.scoring.gates import parse_fail_under

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


def resolve(cfg: CompareConfig, *, check_memory: bool = True, origins: Mapping[str, str] | None = None) -> Resolved:
    """Check every declared value and rule; raise the rule's error (UsageError, InputError,
    WeightsUnavailable) with where the value came from."""
    origins = origins or {}
    for key in CompareConfig.keys():
        try:
            setattr(cfg, key, values.check_value(key, getattr(cfg, key)))
        except values.BadValue as bad:
            raise _error(cfg, key, str(bad), origins) from None
    for world in (False, True):
        for key in CompareConfig.keys():
            for rule in values.DECLARED[key]["rules"]:
                if rule.world != world or (rule.tag == "memory" and not check_memory):
                    continue
                problem = rule.problem(cfg)
                if problem:
                    raise _error(cfg, key, problem, origins, rule.uses, rule.error)
    shard = None
    if cfg.shard and str(cfg.shard).strip().lower() != "auto":
        shard = parse_shard(cfg.shard)  # auto is read from the environment when the run starts
    return Resolved(Path(cfg.images).expanduser(), [selection.parse_selection(b) for b in cfg.backbones],
                    parse_weights(cfg.weights), shard, parse_fail_under(cfg.fail_under))


def _error(cfg, key: str, core: str, origins: Mapping[str, str], uses=(), error=UsageError) -> BBSelectError:
    """``WHERE: CORE``, plus where the other settings a rule names came from when that is elsewhere
    (another line of the file, a ``--set`` against a file...)."""
    mine = origins.get(key, "cli")
    others = [f"{k}: {place(k, getattr(cfg, k), origins.get(k), values.DECLARED[k].get('flags') or ())}"
              for k in uses if origins.get(k, "cli") not in (mine, "default")]
    tail = f" ({'; '.join(others)})" if others else ""
    return error(f"{values.locate(key, getattr(cfg, key), mine)}: {core}{tail}")


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


def memory_problem(cfg: CompareConfig) -> str | None:
    """Why ``batch_size`` × ``input_size`` will not fit in the RAM available now; None if it may."""
    need, have = estimate_memory(cfg), available_memory()
    if have is not None and need > have:
        return (f"not enough memory: input_size {cfg.input_size} with batch_size {cfg.batch_size} needs at "
                f"least {need / GIB:.2f} GiB, but {max(have, 0) / GIB:.2f} GiB is available; lower batch_size "
                "or input_size")
    return None
