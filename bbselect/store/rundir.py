"""Run folders and atomic writes.

``claim_run_dir`` creates ``results/<name>``, or ``<name>-2``, ``<name>-3``… if taken. ``os.mkdir``
either creates the folder or fails, so two jobs started at the same moment can never get the same
folder, and an existing run is never overwritten. Every file is written to a temporary name in the
same folder and renamed into place, so a crash never leaves a half-written report posing as complete.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import yaml

from bbselect.common import readable
from bbselect.errors import InputError, OutputError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")  # what safe_name and image ids produce


def write_crash_log(err: BaseException, header: str) -> Path:
    """Write ``header`` and the traceback of an unexpected error to ``crash.log`` in the run folder
    it happened in (``err.run_dir``, see ``errors.mark_run_dir``), else to a temp file; return the path."""
    import traceback

    text = header + "\n\n" + "".join(traceback.format_exception(type(err), err, err.__traceback__))
    run_dir = getattr(err, "run_dir", None)
    if run_dir is not None:
        try:
            atomic_write_text(Path(run_dir) / "crash.log", text)
            return Path(run_dir) / "crash.log"
        except OutputError:
            pass
    fd, name = tempfile.mkstemp(prefix="bbselect-crash-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(readable(text))
    return Path(name)


def safe_name(name: str) -> str:
    """A run or file name made of safe characters (``a b/c`` -> ``a-b-c``)."""
    cleaned = _SAFE.sub("-", name).strip("-.")
    return cleaned[:80] or "run"


def is_safe_component(name) -> bool:
    """True for one file or folder name of letters, digits, ``.``, ``_`` and ``-`` that does not start
    with ``.`` or ``-``: no separator, never ``.`` or ``..``, so it names an entry of the folder it is
    joined to. Every name ``safe_name`` and ``inputs.images.image_id`` make passes."""
    return isinstance(name, str) and _COMPONENT.fullmatch(name) is not None


def inside(root: Path, *parts) -> Path:
    """``root / part / ...`` where every part is checked by ``is_safe_component``, so the path stays
    inside ``root`` whatever the parts were read from (a run folder's ``run.json`` is untrusted).
    InputError naming the bad part otherwise."""
    for part in parts:
        if not is_safe_component(part):
            raise InputError(f"{str(part)[:80]!r} is not a safe file name (one name of letters, digits, '.', "
                             f"'_' and '-'): refusing to use it as a path under {root}")
    return Path(root).joinpath(*parts)


def claim_exact_dir(path: Path) -> Path:
    """Atomically create exactly ``path`` (a shard's predictable folder); OutputError if it exists."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        raise OutputError(f"{path} exists already (another task running the same shard?)") from None
    except OSError as err:
        raise OutputError(f"cannot create run folder {path}: {err.strerror or err}") from None
    return path


def claim_run_dir(root: Path, name: str, max_tries: int = 10_000) -> Path:
    """Atomically create and return a new run folder under ``root``."""
    base = safe_name(name)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot create results folder {root}: it is a file, not a folder") from None
    except OSError as err:
        raise OutputError(f"cannot create results folder {root}: {err.strerror or err}") from None
    for i in range(1, max_tries + 1):
        candidate = root / (base if i == 1 else f"{base}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as err:
            raise OutputError(f"cannot create run folder {candidate}: {err.strerror or err}") from None
    raise OutputError(f"no free run folder name for {base!r} under {root}")


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; done once, at import
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file (mkstemp gives 0600)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), _FILE_MODE)
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8; bytes of a path that were not UTF-8 are written ``\\xNN`` (``readable``)."""
    atomic_write_bytes(path, readable(text).encode("utf-8"))


def json_ready(obj):
    """Plain JSON types only: numpy scalars/arrays converted, NaN and infinities become null."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(json_ready(obj), indent=2, allow_nan=False) + "\n")


def write_yaml(path: Path, obj) -> None:
    atomic_write_text(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def _literal_if_not_math(fig) -> None:
    """Draw a text literally if it would be parsed as mathtext but is not valid mathtext.

    Titles are file names: ``a $x^$.png`` has two ``$`` and would make ``savefig`` raise."""
    from matplotlib import cbook
    from matplotlib.mathtext import MathTextParser
    from matplotlib.text import Text

    parser = None
    for text in fig.findobj(Text):
        s = text.get_text()
        if "$" not in s or not cbook.is_math_text(s):
            continue
        parser = parser or MathTextParser("path")
        try:
            parser.parse(s)
        except ValueError:
            text.set_parse_math(False)


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Save a matplotlib Figure atomically as PNG (invalid mathtext in titles is drawn literally)."""
    import io
    import warnings

    _literal_if_not_math(fig)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # CJK / emoji file names: one warning per missing glyph per figure
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        # Figures lay themselves out: no second "tight" pass. zlib level 3 instead of 6: ~17% faster
        # to save, ~15% larger files.
        fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 3})
    atomic_write_bytes(path, buf.getvalue())
