"""Which shard is this process? ``I/N`` typed by the user, or read from the scheduler that started it.

bbselect has no scheduler of its own: a big folder is split into N shards by a stable hash of each
image's relative path (``shard_of``), each shard runs as one task of the array job the user's
cluster already knows, and ``bbselect merge`` combines them. ``--shard auto`` reads the task's
index (and, where the scheduler exports it, the array size) from the environment:

    scheduler              index variable (base)            shard count N from
    Slurm job array        SLURM_ARRAY_TASK_ID              SLURM_ARRAY_TASK_MIN with _MAX or _COUNT
                                                            (and _STEP for a stepped range)
    Kubernetes Indexed Job JOB_COMPLETION_INDEX (0-based)   --shards N, else BBSELECT_SHARDS
    AWS Batch array job    AWS_BATCH_JOB_ARRAY_INDEX (0)    --shards N, else BBSELECT_SHARDS
    anything else, e.g. a  BBSELECT_SHARD=I/N (explicit)    the value itself
    GitHub Actions matrix

Every function here is pure (the environment is passed in as a mapping), so each scheduler's
parsing is tested without one. ``Shard.variables`` names the variables read, with their values;
the pipeline logs them and keeps them in ``run.json``. A shard's run folder is
``<output>/<name>/shard-I-of-N`` (``Shard.folder``), so a merge step finds a set by a glob.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Mapping

from bbselect.config.checks import check_shard_count, parse_shard, short
from bbselect.errors import UsageError

SLURM_ID = "SLURM_ARRAY_TASK_ID"
SLURM_MIN, SLURM_MAX = "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX"
SLURM_COUNT, SLURM_STEP = "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_STEP"
K8S_INDEX = "JOB_COMPLETION_INDEX"
AWS_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"
EXPLICIT = "BBSELECT_SHARD"  # I/N, for schedulers without an index variable (GitHub Actions matrix)
COUNT = "BBSELECT_SHARDS"  # N, where the scheduler exports an index but not the array size

INDEX_VARIABLES = {
    SLURM_ID: "Slurm job array",
    K8S_INDEX: "Kubernetes Indexed Job",
    AWS_INDEX: "AWS Batch array job",
    EXPLICIT: "explicit I/N, e.g. from a GitHub Actions matrix",
}
FOLDER = re.compile(r"^shard-(\d+)-of-(\d+)$")


@dataclass(frozen=True)
class Shard:
    index: int  # 1..count
    count: int
    source: str  # "option", "slurm", "kubernetes", "aws-batch", "env"
    variables: dict[str, str] = field(default_factory=dict)  # environment variables read -> value

    @property
    def text(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def folder(self) -> str:
        """The shard's run folder name under ``<output>/<name>/``."""
        return f"shard-{self.index}-of-{self.count}"

    def describe(self) -> str:
        read = ", ".join(f"{k}={v}" for k, v in self.variables.items())
        return f"shard {self.text}" + (f" (from {self.source}: {read})" if read else "")

    def as_dict(self) -> dict:
        return {"index": self.index, "count": self.count, "source": self.source, "variables": dict(self.variables)}


def shard_of(rel: str, n: int) -> int:
    """Stable shard number (1..n) of an image from its relative path."""
    return int(hashlib.sha1(rel.encode("utf-8")).hexdigest(), 16) % n + 1


def folder_fingerprint(rels: list[str]) -> dict:
    """What a shard saw of the whole folder before sharding: the number of files and a digest of their
    relative paths. Shards of one set must agree on it (``shardset.check_set``)."""
    digest = hashlib.sha256("\n".join(sorted(rels)).encode("utf-8")).hexdigest()
    return {"files": len(rels), "digest": digest}


def _int(env: Mapping[str, str], name: str) -> int:
    raw = env[name]
    try:
        return int(str(raw).strip())
    except ValueError:
        raise UsageError(f"--shard auto: {name}={short(raw)} is not an integer") from None


def _slurm(env: Mapping[str, str]) -> tuple[int, int, list[str]]:
    read = [SLURM_ID]
    task = _int(env, SLURM_ID)
    if SLURM_MIN not in env or (SLURM_MAX not in env and SLURM_COUNT not in env):
        raise UsageError(f"--shard auto: {SLURM_ID} is set but not {SLURM_MIN} with {SLURM_MAX} or "
                         f"{SLURM_COUNT}, so the array size is unknown; pass --shard I/N")
    lo = _int(env, SLURM_MIN)
    step = _int(env, SLURM_STEP) if SLURM_STEP in env else 1
    read += [SLURM_MIN] + ([SLURM_STEP] if SLURM_STEP in env else [])
    if step < 1:
        raise UsageError(f"--shard auto: {SLURM_STEP}={step} must be at least 1")
    counts = {}
    if SLURM_MAX in env:
        counts[SLURM_MAX] = (_int(env, SLURM_MAX) - lo) // step + 1
        read.append(SLURM_MAX)
    if SLURM_COUNT in env:
        counts[SLURM_COUNT] = _int(env, SLURM_COUNT)
        read.append(SLURM_COUNT)
    if len(set(counts.values())) > 1:
        raise UsageError(f"--shard auto: the Slurm array is not one contiguous range "
                         f"({', '.join(f'{k}={env[k]}' for k in read[1:])}); "
                         f"submit it as --array=1-N (or 0-(N-1)) so each task is one shard")
    n = next(iter(counts.values()))
    if (task - lo) % step or not 0 <= (task - lo) // step < n:
        raise UsageError(f"--shard auto: {SLURM_ID}={task} is not in the array "
                         f"{lo}..{lo + (n - 1) * step} (step {step})")
    return (task - lo) // step + 1, n, read


def _count(env: Mapping[str, str], shards: int, index_var: str, scheduler: str) -> tuple[int, list[str]]:
    if COUNT in env:
        n = _int(env, COUNT)
        if n < 1:
            raise UsageError(f"--shard auto: {COUNT}={n} must be at least 1")
        return n, [COUNT]  # a different --shards is refused by the caller
    if shards:
        return shards, []
    raise UsageError(f"--shard auto: {index_var} ({scheduler}) gives this task's index but not the number "
                     f"of shards; pass --shards N (or set {COUNT}=N) with N = the job's completions / array size")


def from_environment(env: Mapping[str, str], shards: int = 0) -> Shard:
    """The shard of a task started by a scheduler (see the module docstring); ``shards`` = --shards N
    (0 = not given). UsageError when no index variable, or more than one, is set."""
    found = [v for v in INDEX_VARIABLES if v in env]
    if not found:
        hint = (f" GitHub Actions has no array index: set {EXPLICIT}: ${{{{ matrix.shard }}}}/N in the step's env, "
                f"or pass --shard ${{{{ matrix.shard }}}}/N." if env.get("GITHUB_ACTIONS") == "true" else "")
        looked = "; ".join(f"{v} ({what})" for v, what in INDEX_VARIABLES.items())
        raise UsageError(f"--shard auto: no array-job index in the environment (looked for {looked}). "
                         f"Outside an array job pass --shard I/N.{hint}")
    if len(found) > 1:
        raise UsageError(f"--shard auto: several schedulers' index variables are set ({', '.join(found)}); "
                         f"pass --shard I/N to say which shard this is")
    var = found[0]
    if var == EXPLICIT:
        i, n = parse_shard(env[EXPLICIT], what=EXPLICIT)
        source, read = "env", [EXPLICIT]
    elif var == SLURM_ID:
        i, n, read = _slurm(env)
        source = "slurm"
    else:
        source, what = ("kubernetes", INDEX_VARIABLES[K8S_INDEX]) if var == K8S_INDEX else \
            ("aws-batch", INDEX_VARIABLES[AWS_INDEX])
        index = _int(env, var)
        n, count_read = _count(env, shards, var, what)
        if not 0 <= index < n:
            raise UsageError(f"--shard auto: {var}={index} is outside 0..{n - 1} for {n} shards "
                             f"(is --shards / {COUNT} the job's completions / array size?)")
        i, read = index + 1, [var, *count_read]
    if shards and shards != n:
        raise UsageError(f"--shard auto: --shards {shards} contradicts the {n} shards the environment gives "
                         f"({', '.join(f'{k}={env[k]}' for k in read)})")
    check_shard_count(n, "--shard auto")
    return Shard(i, n, source, {k: str(env[k]) for k in read})


def resolve_shard(spec: str | None, shards: int, env: Mapping[str, str]) -> Shard | None:
    """``--shard`` (None, ``auto`` or ``I/N``) and ``--shards`` -> the shard this run processes."""
    if shards < 0:
        raise UsageError(f"--shards {shards}: expected a positive number of shards (0 = not given)")
    check_shard_count(shards, "--shards")
    if spec is None or str(spec).strip() == "":
        if shards:
            raise UsageError(f"--shards {shards} needs --shard auto (or --shard I/{shards})")
        return None
    if str(spec).strip().lower() == "auto":
        return from_environment(env, shards)
    i, n = parse_shard(spec)
    if shards and shards != n:
        raise UsageError(f"--shard {spec} contradicts --shards {shards}")
    return Shard(i, n, "option")
