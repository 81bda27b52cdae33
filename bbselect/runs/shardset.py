"""Which run folders ``bbselect merge`` was given, and whether they form one set of shards.

``find_runs`` turns the command line into run folders: a run folder itself; a parent folder,
whose ``shard-I-of-N`` sub-folders are taken; or a glob pattern the shell did not expand
(``'results/photos/shard-*'``). ``check_set`` is a pure function of the shards' manifests and
settings. It refuses, whatever the options:

- a run that is not a shard (no ``--shard``);
- shards of different sets (another N);
- one index twice;
- different settings (every config key but the output-only and cache ones, and the images path when
  both saw the same files), bbselect versions, backbones or weights files;
- shards that saw different folder contents;
- an image in two shards, or in a shard its path does not hash to.

Any of these would count some images twice or compare different things. A missing index is the one
thing ``--allow-partial`` overrides; the merged run is then marked partial in ``run.json``, the
reports and the JSON summary.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from bbselect.config.checks import parse_shard
from bbselect.errors import InputError
from bbselect.runs.shards import FOLDER, shard_of

# Config keys that may differ between shards of one set: where the output went, how it is drawn, and
# where maps were cached (a cache entry is verified and keyed by content, so it never changes a result:
# Slurm tasks cache on node-local scratch).
OUTPUT_ONLY = frozenset({"shard", "shards", "name", "output", "figures", "overlay", "quiet",
                         "cache", "cache_dir", "cache_max_mb"})


def find_runs(args: list[Path | str]) -> list[Path]:
    """Run folders named by ``args`` (run folders, parent folders of ``shard-I-of-N``, or globs)."""
    found: list[Path] = []
    for arg in args:
        text = str(arg)
        if any(c in text for c in "*?[") and not Path(text).exists():
            matches = sorted(Path(p) for p in glob.glob(text) if Path(p).is_dir())
            if not matches:
                raise InputError(f"merge: no folder matches {text}")
            found.extend(matches)
            continue
        path = Path(text)
        if not path.is_dir():
            raise InputError(f"merge: {path} is not a folder")
        if FOLDER.match(path.name) or (path / "run.json").exists() or (path / "config.yaml").exists():
            found.append(path)
            continue
        children = sorted((p for p in path.iterdir() if p.is_dir() and FOLDER.match(p.name)),
                          key=lambda p: tuple(int(x) for x in FOLDER.match(p.name).groups()))
        if not children:
            raise InputError(f"merge: {path} is neither a run folder nor a folder of shard-I-of-N runs")
        found.extend(children)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if len(unique) < len(found):
        raise InputError("merge: the same run folder was given twice")
    return [Path(p) for p in found]


@dataclass
class ShardPart:
    """What ``check_set`` needs of one run folder."""

    path: str
    shard: str | None  # "I/N" as the run recorded it
    settings: dict  # the run's config.yaml
    images: list[str]  # relative paths of the images it scored
    skipped: list[str] = field(default_factory=list)
    version: str | None = None  # bbselect version
    backbones: dict = field(default_factory=dict)  # label -> weights facts
    folder: dict | None = None  # {"files": n, "digest": ...} of the whole folder, before sharding


@dataclass
class SetCheck:
    count: int | None = None
    present: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # always fatal

    @property
    def complete(self) -> bool:
        return not self.problems and not self.missing

    def _missing(self, shown: int = 10) -> str:
        """The missing shards, the first ``shown`` of them by name: one short line whatever N is."""
        names = ", ".join(f"{i}/{self.count}" for i in self.missing[:shown])
        return names + (f" and {len(self.missing) - shown} more" if len(self.missing) > shown else "")

    def missing_text(self) -> str:
        return f"{len(self.present)} of {self.count}; missing {self._missing()}"

    def partial_note(self) -> str:
        return (f"PARTIAL: merged {len(self.present)} of {self.count} shards "
                f"(missing {self._missing()}); scores cover only the merged shards' images")


def _differences(a: ShardPart, b: ShardPart) -> list[str]:
    """Settings that differ. The images path may differ when both shards saw the same files (the same
    folder fingerprint): a folder staged to a local copy is the same input; what identifies an image is
    its relative path and content (the sha256 each maps file and ``run.json`` record), not where it sat."""
    keys = (set(a.settings) | set(b.settings)) - OUTPUT_ONLY
    if a.folder and b.folder and a.folder == b.folder:
        keys -= {"images"}
    return sorted(k for k in keys if a.settings.get(k) != b.settings.get(k))


def check_set(parts: list[ShardPart]) -> SetCheck:
    """Check that ``parts`` are shards of one run (see the module docstring)."""
    out = SetCheck()
    if not parts:
        out.problems.append("no run folders to merge")
        return out
    first = parts[0]
    for p in parts[1:]:
        diff = _differences(first, p)
        if diff:
            out.problems.append(f"{p.path}: its settings differ from {first.path} in {', '.join(diff)}")
        for what, mine, theirs in (("bbselect version", p.version, first.version),
                                   ("backbones or weights", p.backbones, first.backbones),
                                   ("image folder contents", p.folder, first.folder)):
            if mine and theirs and mine != theirs:  # empty = not recorded (an older run or an empty shard)
                out.problems.append(f"{p.path}: its {what} differ from {first.path}'s")
    by_index: dict[int, list[str]] = {}
    counts: dict[int, list[str]] = {}
    for p in parts:
        if not p.shard:
            out.problems.append(f"{p.path} is not a shard run (it was made without --shard)")
            continue
        i, n = parse_shard(p.shard, what=f"{p.path}: shard")
        counts.setdefault(n, []).append(f"{p.shard} ({p.path})")
        by_index.setdefault(i, []).append(p.path)
        wrong = [rel for rel in p.images if shard_of(rel, n) != i]
        if wrong:
            out.problems.append(f"{p.path}: {len(wrong)} images do not belong to shard {p.shard} "
                                f"(e.g. {wrong[0]})")
    if len(counts) > 1:
        out.problems.append("the runs are shards of different sets: " + "; ".join(
            f"N={n}: {', '.join(v)}" for n, v in sorted(counts.items())))
    for i, paths in sorted(by_index.items()):
        if len(paths) > 1:
            out.problems.append(f"shard {i} appears {len(paths)} times: {', '.join(paths)}")
    owner: dict[str, str] = {}
    for p in parts:
        for rel in [*p.images, *p.skipped]:
            if rel in owner and owner[rel] != p.path:
                out.problems.append(f"image {rel} is in both {owner[rel]} and {p.path}")
                break
            owner[rel] = p.path
    if len(counts) == 1:
        out.count = next(iter(counts))
        out.present = sorted(by_index)
        out.missing = [i for i in range(1, out.count + 1) if i not in by_index]
    return out
