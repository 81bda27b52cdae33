"""The one registry of scores, in the spirit of timm's ``register_model``.

Each score is one ``ScoreSpec``, registered next to the function that computes it. Everything that
lists or explains scores reads this registry: the CSV header and per-map columns, the reports' score
docs and ranking notes, chart captions, the ``--fail-under`` metric names and their look-up, and the
tests. Adding a score = one ``register(ScoreSpec(...))`` beside its function + its test.

Tiers say which kind of evidence a score is (the verdict uses the strongest the data allows):

    detection   a detector trained on frozen features, evaluated on held-out images (needs boxes)
    boxes       cheap box-aware scores, no training (needs boxes)
    labels      label-aware scores of the pooled features (needs class labels)
    label-free  label-free scores of a backbone over the images
    health      sanity checks: dead channels, effective rank (can demote a backbone, never promote it)
    map         per-map shape scores of one collapsed map (describe the figures)

A score's value for one backbone is found in the run summary's backbone entry by ``path`` (a dict
with a ``mean`` at the end of the path counts as its mean). Per-map scores (``per_map=True``) live
under ``scores.<map>.<name>`` and are gate metrics as ``<map>.<name>`` for every scored map.

A spec also says how its value is made. ``compute`` builds the whole *section* of the backbone entry
its path starts with (``path[0]``: several scores computed together, like the label scores, share one
section and one compute) from a ``scoring.inputs.BackboneInputs``; ``needs`` names what it reads
(``NEEDS``: which setting makes it available). ``scoring/summarize.py`` loops over ``sections()``: a
section whose needs a run lacks is left out (or is what ``missing`` says). ``ranks`` is why the score may
rank the backbones; ``ranking_order()`` is those scores, strongest tier first.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import sys
from dataclasses import dataclass
from typing import Callable

from bbselect.common import did_you_mean, finite
from bbselect.errors import UsageError

TIERS = ("detection", "boxes", "labels", "label-free", "health", "map")
SCORED_MAPS = ("max", "mean")  # sum = C × mean: every scale-free map score is identical (see mapscores)
PRIMARY = "primary"  # the gate metric that means "whatever the verdict ranked by"

# What a score's compute may read (``ScoreSpec.needs``) -> the setting that makes it available ("" = every
# run has it) and what it is. ``scoring.inputs.BackboneInputs.available`` says which a run has.
NEEDS = {
    "maps": ("", "every image's collapsed maps and their per-map shape scores"),
    "pooled": ("", "the pooled features of every image (global average and max pool of the layer)"),
    "views": ("stability", "pooled features of augmented views of each image (--stability)"),
    "labels": ("labels", "class labels of the images (--labels: class sub-folders or a CSV)"),
    "boxes": ("boxes", "box annotations of the images (--boxes: YOLO, VOC or COCO)"),
    "probe": ("probe", "the probe run's results on the boxes (--probe: probe.json)"),
}


@dataclass(frozen=True)
class ScoreSpec:
    name: str  # the metric name: JSON key, CSV column, --fail-under METRIC
    title: str  # short human name for tables, chart axes and the verdict
    doc: str  # what it measures and how to read it (the reports' score docs)
    tier: str  # one of TIERS
    higher_is_better: bool = True
    range: tuple[float | None, float | None] = (None, None)  # None = unbounded on that side
    path: tuple[str, ...] = ()  # where a backbone's summary entry keeps it ("{map}" for per-map scores)
    per_map: bool = False  # computed on each collapsed map (max, mean)
    method: str = ""  # how the backbone-level value and its interval are made (ranking notes)
    axis: str = ""  # chart axis caption ("{map_scores}" = the shape scores); default "<title> (mean, 95% interval)"
    kind: str = "interval"  # how its value reads in the reports: a kind of number of reports/formats.py
    fn: Callable | None = None  # the pure function of one image/map/feature set behind it, where there is one
    needs: tuple[str, ...] = ()  # keys of NEEDS its compute reads
    compute: Callable | None = None  # BackboneInputs -> the section ``path[0]`` of the entry (None: not computed)
    missing: Callable | None = None  # BackboneInputs -> what the section holds when a need is absent (None: absent)
    paired: bool = False  # compute returns (section, {image id: value}); backbones are compared on the same images
    ranks: str = ""  # why this score may rank the backbones ("" = it never ranks)
    last_resort: bool = False  # ranks after every other score of its tier; always available
    studied: tuple[str, ...] = ()  # the validation studies that test it: "validation" (within a family), "zoo" (across)

    def __post_init__(self):
        if self.tier not in TIERS:
            raise ValueError(f"score {self.name!r}: tier {self.tier!r} is not one of {TIERS}")
        if not self.path:
            raise ValueError(f"score {self.name!r}: needs a path into the backbone summary")
        if unknown := set(self.needs) - set(NEEDS):
            raise ValueError(f"score {self.name!r}: needs {sorted(unknown)}, not among {sorted(NEEDS)}")


_SCORES: dict[str, ScoreSpec] = {}
_PLACE: dict[str, tuple[str, int]] = {}  # name -> (registering module, its position there): a stable order
_loaded = False


def _load_all() -> None:
    """Import every module of the scoring room once, so every ``register`` beside its function has run
    (no list of score modules to keep in step)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = __name__.rpartition(".")[0]
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{info.name}")


def register(spec: ScoreSpec) -> ScoreSpec:
    """Add a score; a second spec with the same name is a programming error, and so is a second compute
    for a section that already has one."""
    if spec.name in _SCORES and _SCORES[spec.name] != spec:
        raise ValueError(f"score {spec.name!r} is registered twice")
    other = next((s for s in _SCORES.values() if s.compute and s.path[0] == spec.path[0] and s.name != spec.name), None)
    if spec.compute and other and other.compute is not spec.compute:
        raise ValueError(f"score {spec.name!r}: section {spec.path[0]!r} is already computed by {other.name!r}")
    if spec.name not in _SCORES:
        module = sys._getframe(1).f_globals.get("__name__", "")
        _PLACE[spec.name] = (module, sum(1 for m, _ in _PLACE.values() if m == module))
    _SCORES[spec.name] = spec
    return spec


def specs(tier: str | None = None, per_map: bool | None = None) -> list[ScoreSpec]:
    """Registered scores, strongest tier first; within a tier a last resort last, then by the module that
    registers them and their order there — the same in every process, whatever was imported first."""
    _load_all()
    out = sorted(_SCORES.values(), key=lambda s: (TIERS.index(s.tier), s.last_resort, _PLACE.get(s.name, ("", 0))))
    return [s for s in out if (tier is None or s.tier == tier) and (per_map is None or s.per_map == per_map)]


def names(tier: str | None = None, per_map: bool | None = None) -> tuple[str, ...]:
    return tuple(s.name for s in specs(tier, per_map))


def sections() -> list[ScoreSpec]:
    """One spec per computed section of a backbone entry (the first registered with a ``compute``), in
    tier order: what ``scoring/summarize.py`` runs for every backbone."""
    seen, out = set(), []
    for s in specs():
        if s.compute is not None and s.path[0] not in seen:
            seen.add(s.path[0])
            out.append(s)
    return out


def ranking_order() -> list[tuple[str, str]]:
    """(name, why) of every score that may rank, strongest tier first and a tier's last resort after the
    rest of it; the last entry always exists for every backbone."""
    ranked = [s for s in specs(per_map=False) if s.ranks]
    ranked.sort(key=lambda s: (TIERS.index(s.tier), s.last_resort))
    return [(s.name, s.ranks) for s in ranked]


def enabled_by(spec: ScoreSpec) -> tuple[str, ...]:
    """The settings (config keys) a score needs to be computed at all: from its ``needs``."""
    return tuple(NEEDS[n][0] for n in spec.needs if NEEDS[n][0])


def get(name: str) -> ScoreSpec:
    _load_all()
    try:
        return _SCORES[name]
    except KeyError:
        raise UsageError(f"unknown score {name!r}{did_you_mean(name, _SCORES)}") from None


def by_title(title: str) -> ScoreSpec | None:
    _load_all()
    return next((s for s in _SCORES.values() if s.title == title), None)


def axis_label(title: str) -> str:
    """The chart caption of the score whose title is ``title`` (what the verdict's metric is called)."""
    spec = by_title(title)
    if spec and spec.axis:
        return spec.axis.format(map_scores=", ".join(map_score_names()))
    return f"{title} (mean, 95% interval)"


def backbone_names() -> tuple[str, ...]:
    """Every backbone-level score (not per map), by tier, then by name: the CSV's and JSON's score columns
    (registration order follows import order; a CSV header must not)."""
    _load_all()
    return tuple(sorted((s.name for s in _SCORES.values() if not s.per_map),
                        key=lambda n: (TIERS.index(_SCORES[n].tier), n)))


def map_score_names() -> tuple[str, ...]:
    """The per-map label-free shape scores (tier "map"): the CSV's score columns."""
    return names("map", per_map=True)


def docs(tiers=("map",)) -> dict[str, str]:
    """``{name: doc}`` of the per-map scores in ``tiers`` (the reports' "how to read the scores")."""
    return {s.name: s.doc for t in tiers for s in specs(t, per_map=True)}


def gate_metrics() -> tuple[str, ...]:
    """Every ``--fail-under`` metric name: ``primary``, each backbone-level score, ``<map>.<score>``."""
    whole = tuple(s.name for s in specs(per_map=False) if s.tier != "map")
    per_map = tuple(f"{m}.{n}" for m in SCORED_MAPS for n in map_score_names())
    return (PRIMARY, *whole, *per_map)


def at(entry: dict, spec: ScoreSpec, agg: str | None = None):
    """What a backbone entry holds at a score's path (its summary dict, or a bare number), or None;
    ``agg`` fills ``{map}`` for a per-map score."""
    for key in spec.path:
        entry = entry.get(agg if key == "{map}" else key) if isinstance(entry, dict) else None
    return entry


def gate_metrics_markdown() -> str:
    """docs/ci.md's table of the ``gate_metrics()`` by kind of evidence (a test keeps the page current)."""
    names = {"detection": "detection probe", "map": "map shape"}
    rows = ["| evidence | metrics |", "|---|---|", f"| any | `{PRIMARY}` |"]
    for tier in TIERS:
        shown = [f"`{m}`" + ("" if _SCORES[n].higher_is_better else " (lower is better)")
                 for m in gate_metrics() if m != PRIMARY and _SCORES[n := m.rpartition(".")[2]].tier == tier]
        if shown:
            rows.append(f"| {names.get(tier, tier)} | {', '.join(shown)} |")
    return "\n".join(rows) + "\n"


def higher_is_better(metric: str, entry: dict | None = None) -> bool:
    """The declared direction of a gate metric (``gate_metrics()``). ``primary`` takes the direction of
    whatever score the verdict ranked by (``entry["primary"]["higher_is_better"]``, default higher)."""
    _load_all()
    if metric == PRIMARY:
        return bool(((entry or {}).get(PRIMARY) or {}).get("higher_is_better", True))
    name = metric if metric in _SCORES else metric.partition(".")[2]
    return _SCORES[name].higher_is_better if name in _SCORES else True


def value(entry: dict, metric: str) -> float:
    """A backbone's value for a gate metric (``gate_metrics()``); NaN when it does not exist."""
    _load_all()
    if metric == PRIMARY:
        v = (entry.get(PRIMARY) or {}).get("mean")
    else:
        agg, _, name = metric.rpartition(".")
        spec = _SCORES.get(name)
        v = None if spec is None or spec.per_map != bool(agg) else at(entry, spec, agg or None)
        v = v.get("mean") if isinstance(v, dict) else v
    return float(v) if finite(v) else math.nan
