"""The tests that config/schema.py declares on its settings, where they take more than a line.

Value checks (``check=``) take one value and raise ``BadValue``; rule tests (``Rule(ok, message)``) take
the whole config and return True when it holds. Their words are the core of the message: the caller
puts where the value came from in front (config/rules.py). Tests that read the file system or the
machine (``world=True`` rules) are here too, so every check a setting has is declared on it.
"""

from __future__ import annotations

from pathlib import Path

from bbselect.common import did_you_mean, special_file
from bbselect.config.rules import BadValue
from bbselect.errors import UsageError
from bbselect.models import selection
from bbselect.scoring.gates import parse_fail_under
from bbselect.store.cache import check_dir
from bbselect.store.rundir import safe_name

FIGURE_CHOICES = "all | N (first N images) | none (no figures at all, fastest)"
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
    """``all`` -> None, ``none`` -> 0, ``N`` -> N; UsageError otherwise."""
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


def figures(text: str) -> None:
    try:
        parse_figures(text)
    except UsageError:
        raise BadValue(f"expected {FIGURE_CHOICES}, got {text!r}") from None


def shard(text: str) -> None:
    if text.strip().lower() != "auto":
        try:
            parse_shard(text)
        except UsageError:
            raise BadValue(f"expected I/N with 1 <= I <= N <= {MAX_SHARDS:,} (e.g. 1/4) or auto, "
                           f"got {short(text)}") from None


def backbones(names: list[str]) -> None:
    """Each entry parses (registry name or model file, options); no label twice, no two maps folders alike."""
    if not names:
        raise BadValue("expected at least one backbone, got an empty list")
    labels = []
    for text in names:
        try:
            labels.append(selection.parse_selection(text).label)
        except UsageError as err:
            raise BadValue(str(err)) from None
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise BadValue(f"backbone listed twice: {', '.join(dupes)} (name=... tells two entries apart)")
    folders = [safe_name(x) for x in labels]  # each backbone's maps folder
    clash = sorted({x for x, f in zip(labels, folders) if folders.count(f) > 1})
    if clash:
        raise BadValue(f"backbones {', '.join(clash)} would share a folder name; give each a short name=...")


def labels_of(cfg) -> list[str]:
    return [selection.parse_selection(b).label for b in cfg.backbones]


def layer(text: str) -> None:
    if not text.strip():
        raise BadValue("expected a stage c2..c5 or a Keras layer name, got ''")


def fail_under(items) -> None:
    try:
        parse_fail_under(items)
    except UsageError as err:  # its words without its own "--fail-under" (the caller says where)
        raise BadValue(str(err).removeprefix("--fail-under").lstrip(": ")) from None


def is_none(text) -> bool:
    return str(text).strip().lower() == "none"


def smallest_input(cfg) -> tuple[str, int] | None:
    """(backbone, its smallest input side) of the first chosen backbone that ``input_size`` is below."""
    for text in cfg.backbones:
        spec = selection.parse_selection(text).spec
        if cfg.input_size < spec.min_size:
            return spec.name, spec.min_size
    return None


def input_size_message(cfg) -> str:
    name, side = smallest_input(cfg)
    return f"expected at least {side} for {name} (its smallest input), got {cfg.input_size}"


def expect_best_message(cfg) -> str:
    labels = labels_of(cfg)
    return (f"expected one of the chosen backbones ({', '.join(labels)}), got {cfg.expect_best!r}"
            f"{did_you_mean(cfg.expect_best, labels)}")


def weights_ok(cfg) -> bool:
    """imagenet, none, or a weights file that exists (a missing file is unavailable weights, exit 4)."""
    return cfg.weights.strip().lower() in ("imagenet", "none") or Path(cfg.weights).expanduser().is_file()


def cache_problem(cfg, given: bool) -> str | None:
    """Why the cache folder cannot be one (a file where a folder must be), for ``cache_dir`` when
    ``given`` (it names the folder) and for ``cache`` otherwise ($BBSELECT_CACHE or the default folder)."""
    if not cfg.cache or given != (cfg.cache_dir is not None):
        return None
    try:
        check_dir(cfg.cache_dir)
    except UsageError as err:
        text = str(err)
        return text.split(": ", 1)[1] if given else text
    return None


def special(path) -> str | None:
    """A named pipe, socket or device where a file or folder is expected: what it is, else None."""
    return special_file(Path(path).expanduser()) if path else None


def labels_file(labels) -> str | None:
    """The labels CSV a ``labels`` setting names, None for ``auto`` / ``none``."""
    text = str(labels or "auto").strip()
    return None if text.lower() in ("auto", "none") else text


def special_message(path) -> str:
    return f"not a regular file or folder ({special(path)}; reading it would block or never end)"


def memory_problem(cfg) -> str | None:
    """The memory estimate against the RAM available now (config/validate.py has both)."""
    from bbselect.config import validate  # the estimate lives with the pass that uses it

    return validate.memory_problem(cfg)
