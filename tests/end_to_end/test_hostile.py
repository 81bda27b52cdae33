"""Hostile inputs and output safety, end to end through the CLI where it matters.

* a folder full of bad and oddly named files: the run finishes, each bad file is skipped with its
  own reason, every good file is scored, and HTML / Markdown / CSV keep the names exact and inert;
* run folders and atomic writes: concurrent claims never collide, failed writes leave the old file,
  an unwritable output folder is exit code 5 with a one-line message;
* determinism: the same run twice gives bit-identical maps and scores;
* EXIF orientation reaches the network (maps of an EXIF-rotated file equal its upright twin's).

The tests run as root, which can read mode-000 files, so unreadable files are simulated by making
``open`` raise PermissionError for one file name (Pillow and the cache both go through it).
"""

from __future__ import annotations

import builtins
import csv
import errno
import json
import multiprocessing as mp
import os
import re
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_images
from PIL import Image

from bbselect.cli import main
from bbselect.errors import OutputError
from bbselect.reports.machine import csv_header
from bbselect.store import rundir

FAST = ["-b", "mobilenet:alpha=0.25", "--weights", "none", "--input-size", "64", "--batch-size", "2"]
LABEL = "mobilenet:alpha=0.25"


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _png(path: Path, size=(30, 30), seed=0) -> None:
    """A textured RGB image of ``size`` (w, h); 30x30 = 900 pixels stays under --max-pixels 1000."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


def _deny_open(monkeypatch, name: str) -> None:
    """Make ``open`` of any file called ``name`` fail as an unreadable file would (root ignores mode 000)."""
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file).name == name:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)


# ------------------------------------------------------------------------- the hostile folder

GOOD = [
    "good1.png", "good2.jpg",
    "L" * 200 + ".png",  # 204 characters (the limit is 255 bytes)
    "фото.png", "写真.jpg", "😀🎉.png",
    "a|b.png", 'x,"y".png', "<i>z<.png", "`tick`.png", "[link](x).png", "*b*_u_\\.png",
    "a $x^$.png",  # two "$": matplotlib would parse the title as (invalid) mathtext
    "new\nline.png", "tab\there.png", "amp&lt;.png",
    # a name cannot hold "/", but a relative path can: folder "<i>x<" holding "i>.png" is "<i>x</i>.png"
    "<i>x</i>.png", "<script>alert(1)</script>.png",
    "photo.jpg/inner.png",  # a directory named like an image is searched like any other
]

SKIPPED = {  # rel -> regular expression for the reason
    "zero.jpg": r"^empty file \(0 bytes\)$",
    "notes.jpg": r"^not an image: the file contains text$",
    "loop": r"^symlink to a directory \(not followed\)$",
    "self.jpg": r"^cannot follow symlink \(Too many levels of symbolic links\)$",
    "gone.jpg": r"^broken symlink$",
    "pipe.jpg": r"^not a regular file$",
    "big.png": r"^image too large: 100x100 = 10,000 pixels exceeds the limit of 1,000 pixels",
    "cut.png": r"^truncated or corrupt image data",
    "locked.png": r"^permission denied$",
}


def build_hostile(root: Path) -> None:
    for i, rel in enumerate(GOOD):
        _png(root / rel, seed=i)
    (root / "zero.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("hello, this is not a picture\n")
    (root / ".jpg").write_text("a hidden text file called .jpg\n")  # hidden: ignored, not listed
    (root / "empty.jpg").mkdir()  # an empty directory named like an image: nothing to list
    os.symlink("..", root / "loop")  # a directory symlink pointing to its parent
    os.symlink("self.jpg", root / "self.jpg")  # a link to itself (ELOOP)
    os.symlink("missing.png", root / "gone.jpg")
    os.mkfifo(root / "pipe.jpg")  # opening it would block forever
    _png(root / "big.png", size=(100, 100), seed=99)  # 10,000 pixels > --max-pixels 1000
    _png(root / "cut.png", seed=98)
    data = (root / "cut.png").read_bytes()
    (root / "cut.png").write_bytes(data[: len(data) // 2])
    _png(root / "locked.png", seed=97)  # made unreadable by _deny_open


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    build_hostile(tmp / "imgs")
    with pytest.MonkeyPatch.context() as mp_:
        _deny_open(mp_, "locked.png")
        res = CliRunner().invoke(main, ["compare", str(tmp / "imgs"), "-o", str(tmp / "out"), "--max-pixels", "1000",
                                        "--figures", "all", "--no-cache", "-q", *FAST], catch_exceptions=False)
    return res, tmp / "out" / "imgs"


def test_hostile_folder_run_succeeds_with_specific_skip_reasons(hostile_run):
    res, out = hostile_run
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    summary = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    skipped = {s["rel"]: s["reason"] for s in summary["skipped"]}
    assert set(skipped) == set(SKIPPED)  # no hidden file, no empty directory, no good image
    for rel, pattern in SKIPPED.items():
        assert re.search(pattern, skipped[rel]), (rel, skipped[rel])
    assert summary["run"]["n_skipped"] == len(SKIPPED)


def test_hostile_folder_good_images_are_all_scored(hostile_run):
    _res, out = hostile_run
    summary = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    assert sorted(im["rel"] for im in summary["images"]) == sorted(GOOD)
    assert summary["run"]["n_images"] == len(GOOD)
    ids = set()
    for im in summary["images"]:
        assert set(im["scores"][LABEL]) >= {"max", "mean"}, im["rel"]
        assert (out / "maps" / rundir.safe_name(LABEL) / f"{im['id']}.npz").is_file(), im["rel"]
        # every figure was drawn, including the one whose name is invalid mathtext
        assert (out / im["figure"]).is_file(), im["rel"]
        ids.add(im["id"])
    assert len(ids) == len(GOOD)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.data, self.urls = set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.urls += [v for k, v in attrs if k in ("href", "src")]
        # a long name is shown shortened at the end, with the whole name in its tooltip (issue 12)
        self.data += [v for k, v in attrs if k == "title"]

    def handle_data(self, data):
        self.data.append(data)


def test_hostile_names_are_inert_and_exact_in_html(hostile_run):
    _res, out = hostile_run
    page = (out / "report.html").read_text(encoding="utf-8")
    p = _Collect()
    p.feed(page)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "small", "br", "span",
               "a", "ul", "li", "div", "table", "thead", "tbody", "tr", "th", "td", "figure", "img", "figcaption",
               "dl", "dt", "dd", "details", "summary"}  # details: the report folds long parts (issue 12)
    assert p.tags <= allowed, p.tags - allowed  # no <i>, no <script> from file names
    assert "<script" not in page and "<i>" not in page
    # each name is one exact text node after unescaping: nothing of it was taken as markup
    for rel in GOOD + list(SKIPPED):
        assert rel in p.data, rel
    for url in p.urls:  # links and images stay inside the run folder
        assert "://" not in url and not url.startswith(("/", "javascript:")), url
        assert (out / unquote(url)).is_file(), url


_MD_UNESCAPE = re.compile(r"\\(.)|&lt;|&gt;|&amp;")


def _md_unescape(text: str) -> str:
    return _MD_UNESCAPE.sub(lambda m: m.group(1) or {"&lt;": "<", "&gt;": ">", "&amp;": "&"}[m.group(0)], text)


def _md_cells(line: str) -> list[str]:
    """Split a GFM table row on unescaped pipes (a backslash escapes the next character)."""
    cells, cur, i = [], "", 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            cur += line[i : i + 2]
            i += 2
            continue
        if line[i] == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += line[i]
        i += 1
    cells.append(cur)
    assert cells[0].strip() == "" and cells[-1].strip() == "", line  # leading and trailing pipe
    return [c.strip() for c in cells[1:-1]]


def _md_tables(text: str) -> list[list[list[str]]]:
    tables, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(_md_cells(line))
        elif cur:
            tables.append(cur)
            cur = []
    return tables


def test_hostile_names_are_inert_and_exact_in_markdown(hostile_run):
    _res, out = hostile_run
    md = (out / "report.md").read_text(encoding="utf-8")
    tables = _md_tables(md)
    assert len(tables) >= 4
    for table in tables:
        header, rule, *rows = table
        assert all(set(c) <= {"-", ":"} for c in rule) and len(rule) == len(header)
        for row in rows:
            assert len(row) == len(header), (header, row)
    assert re.search(r"<[A-Za-z/]", md) is None  # no raw HTML at all
    assert re.search(r"(?<!\\)\$", md) is None  # no math for GitHub to render
    by_head = {tuple(t[0]): t[2:] for t in tables}
    skipped_rows = by_head[("file", "reason")]
    assert {_md_unescape(r[0]) for r in skipped_rows} == set(SKIPPED)
    image_rows = by_head[("image", LABEL)]
    names = set()
    for row in image_rows:
        link = re.fullmatch(r"\[((?:\\.|[^\\\]])*)\]\(([^()\s]+)\)", row[0])
        assert link, row[0]
        names.add(_md_unescape(link.group(1)))
        assert (out / unquote(link.group(2))).is_file()
    assert names == {" ".join(g.splitlines()) for g in GOOD}  # a newline in a name becomes a space


def test_hostile_names_round_trip_through_csv(hostile_run):
    _res, out = hostile_run
    with open(out / "scores.csv", newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    assert header == csv_header()
    assert all(len(r) == len(header) for r in rows)
    per_image = {}
    for r in rows:
        assert r[1] == LABEL
        per_image.setdefault(r[0], set()).add(r[3])
    assert set(per_image) == set(GOOD)  # exact names: commas, quotes, newlines, tabs and all
    assert all(aggs >= {"max", "mean"} for aggs in per_image.values())


def test_unreadable_file_is_skipped_with_the_cache_on(tmp_path, monkeypatch):
    make_images(tmp_path / "imgs", n=2)
    _png(tmp_path / "imgs" / "locked.png")
    _deny_open(monkeypatch, "locked.png")
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "imgs"), "-o", str(tmp_path / "out"),
                                    "--figures", "none", "-q", *FAST])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "imgs" / "scores.json").read_text())
    assert summary["skipped"] == [{"rel": "locked.png", "reason": "permission denied"}]


# ------------------------------------------------------------------------- run folders and writes


def test_claim_run_dir_is_atomic_across_threads(tmp_path):
    n = 24
    barrier = threading.Barrier(n)
    got, errors = [], []

    def claim():
        try:
            barrier.wait()
            got.append(rundir.claim_run_dir(tmp_path / "results", "same"))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=claim) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = [p.name for p in got]
    assert len(set(names)) == n
    assert set(names) == {"same"} | {f"same-{i}" for i in range(2, n + 1)}
    assert all(p.is_dir() for p in got)


def test_claim_run_dir_is_atomic_across_processes(tmp_path):
    n = 32
    with mp.get_context("spawn").Pool(8) as pool:
        got = pool.starmap(rundir.claim_run_dir, [(tmp_path / "results", "same")] * n)
    names = [p.name for p in got]
    assert len(set(names)) == n
    assert set(names) == {"same"} | {f"same-{i}" for i in range(2, n + 1)}
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == sorted(names)


def test_claim_run_dir_when_the_results_path_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(OutputError, match=r"^cannot create results folder .*taken: it is a file, not a folder$"):
        rundir.claim_run_dir(tmp_path / "taken", "x")
    assert (tmp_path / "taken").read_text() == "not a folder"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_keeps_old_content_when_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("old report")

    def boom(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(rundir.os, "replace", boom)
    with pytest.raises(OutputError, match=r"^cannot write .*report\.md: Input/output error$"):
        rundir.atomic_write_text(target, "new report")
    assert target.read_text() == "old report"
    assert _leftovers(tmp_path) == ["report.md"]  # no temp file left behind


class _HalfWriter:
    """A file object that writes half of what it is given, then fails like a full disk."""

    def __init__(self, f, exc):
        self.f, self.exc = f, exc

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()

    def fileno(self):
        return self.f.fileno()

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise self.exc


@pytest.mark.parametrize("exc, expected", [
    (OSError(errno.ENOSPC, "No space left on device"), OutputError),
    (KeyboardInterrupt(), KeyboardInterrupt),  # Ctrl-C mid-write: cleaned up, then re-raised as is
])
def test_atomic_write_never_leaves_a_half_written_file(tmp_path, monkeypatch, exc, expected):
    target = tmp_path / "scores.json"
    target.write_text('{"old": true}\n')
    real_fdopen = os.fdopen
    partial = []

    def fdopen(fd, *args, **kwargs):
        partial.append(os.readlink(f"/proc/self/fd/{fd}"))
        return _HalfWriter(real_fdopen(fd, *args, **kwargs), exc)

    monkeypatch.setattr(rundir.os, "fdopen", fdopen)
    with pytest.raises(expected) as info:
        rundir.write_json(target, {"new": list(range(1000))})
    if expected is OutputError:
        assert str(info.value) == f"cannot write {target}: No space left on device"
    assert partial and Path(partial[0]).parent == tmp_path  # the temp file really was written to
    assert target.read_text() == '{"old": true}\n'
    assert _leftovers(tmp_path) == ["scores.json"]


def test_atomic_write_replaces_content_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "report.html"  # the parent is created
    rundir.atomic_write_text(target, "first")
    rundir.atomic_write_text(target, "second — ünïcode")
    assert target.read_text(encoding="utf-8") == "second — ünïcode"
    assert _leftovers(target.parent) == ["report.html"]
    mask = os.umask(0o022)
    os.umask(mask)
    # mkstemp creates 0600 files: reports must be readable like any other file the user writes
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_write_into_a_file_instead_of_a_folder_is_an_output_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"^cannot write .*f/report\.md: "):
        rundir.atomic_write_text(tmp_path / "f" / "report.md", "r")


def _assert_output_error(res, *fragments):
    assert res.exit_code == 5, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("Error: ")]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("Error: cannot "), lines[0]
    for frag in fragments:
        assert frag in lines[0], lines[0]


def test_cli_output_below_a_file_is_exit_5(tmp_path, image_folder):
    (tmp_path / "afile").write_text("x")
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "afile" / "results"), "-q", *FAST])
    _assert_output_error(res, "cannot create results folder", "afile")


def test_cli_output_that_is_a_file_is_exit_5(tmp_path, image_folder):
    (tmp_path / "afile").write_text("x")
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "afile"), "-q", *FAST])
    _assert_output_error(res, "it is a file")


@pytest.mark.parametrize("exc, text", [
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
])
def test_cli_unwritable_output_folder_is_exit_5(tmp_path, image_folder, monkeypatch, exc, text):
    out = tmp_path / "results"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(out)):
            raise exc
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    res = run(["compare", str(image_folder), "-o", str(out), "-q", *FAST])
    _assert_output_error(res, "cannot create results folder", text)
    assert not out.exists()


def test_cli_disk_full_while_writing_reports_is_exit_5(tmp_path, image_folder, monkeypatch):
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, prefix="", **kwargs):
        if prefix.startswith(".scores.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_mkstemp(*args, prefix=prefix, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    res = run(["compare", str(image_folder), "-o", str(tmp_path / "r"), "--figures", "none", "-q", *FAST])
    _assert_output_error(res, "cannot write", "scores.json", "No space left on device")
    run_dir = tmp_path / "r" / "imgs"
    assert not (run_dir / "scores.json").exists()
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_cli_disk_full_while_saving_maps_is_exit_5(tmp_path, image_folder, monkeypatch):
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(".npz"):  # the rename that puts a maps file in place
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    res = CliRunner().invoke(main, ["compare", str(image_folder), "-o", str(tmp_path / "r"), "--figures", "none",
                                    "--no-cache", "-q", *FAST])
    assert not isinstance(res.exception, OSError), repr(res.exception)
    _assert_output_error(res, "cannot write", ".npz", "No space left on device")
    maps = tmp_path / "r" / "imgs" / "maps"
    assert not [p for p in maps.rglob("*") if p.is_file()]  # no half-written map or temp file left


# ------------------------------------------------------------------------- determinism


def _strip(summary: dict) -> dict:
    summary = dict(summary)
    summary.pop("timing")
    summary["run"] = {k: v for k, v in summary["run"].items() if k != "name"}
    return summary


def test_same_compare_twice_is_bit_identical(tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, n=5)  # 5 images, batch 2: the last batch is padded
    out = tmp_path / "r"
    for _ in range(2):
        res = run(["compare", str(folder), "-o", str(out), "--no-cache", "--figures", "none", "-q", *FAST])
        assert res.exit_code == 0, res.output
    a, b = out / "imgs", out / "imgs-2"
    maps_a = sorted(p.relative_to(a) for p in (a / "maps").rglob("*.npz"))
    assert len(maps_a) == 5 and maps_a == sorted(p.relative_to(b) for p in (b / "maps").rglob("*.npz"))
    for rel in maps_a:
        with np.load(a / rel) as x, np.load(b / rel) as y:
            assert x.files == y.files and len(x.files) >= 5
            for k in x.files:
                assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]), (rel, k)
    sa, sb = (json.loads((d / "scores.json").read_text()) for d in (a, b))
    assert sa["run"]["name"] != sb["run"]["name"] and "timing" in sa  # what _strip removes is really there
    assert _strip(sa) == _strip(sb)
    assert (a / "scores.csv").read_bytes() == (b / "scores.csv").read_bytes()


# ------------------------------------------------------------------------- EXIF through the pipeline


def test_exif_orientation_reaches_the_network(tmp_path):
    """A 60x30 PNG tagged "rotate 90" is the same picture as its 30x60 upright twin: same maps, bit for bit."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(3)
    stored = Image.fromarray((rng.random((30, 60, 3)) * 255).astype(np.uint8))  # w=60, h=30
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    stored.save(folder / "a_tagged.png", exif=exif)
    stored.transpose(Image.Transpose.ROTATE_270).save(folder / "b_upright.png")  # what a viewer shows
    with Image.open(folder / "a_tagged.png") as im:
        assert im.getexif().get(0x0112) == 6 and im.size == (60, 30)
    res = run(["compare", str(folder), "-o", str(tmp_path / "r"), "--resize", "letterbox", "--no-cache",
               "--figures", "none", "-q", *FAST])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "r" / "imgs" / "scores.json").read_text())
    ids = {im["rel"]: im["id"] for im in summary["images"]}
    maps_dir = tmp_path / "r" / "imgs" / "maps" / rundir.safe_name(LABEL)
    with np.load(maps_dir / f"{ids['a_tagged.png']}.npz") as a, np.load(maps_dir / f"{ids['b_upright.png']}.npz") as b:
        assert a["valid_hw"].tolist() == [64, 32]  # upright: tall, not the stored wide 32x64
        for k in ("max", "mean", "sum", "gap", "gmp"):
            assert np.array_equal(a[k], b[k]), k
