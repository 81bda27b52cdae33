"""Tests for bbselect.inputs.images: discovery, decoding of awkward files, and fitting to the input size."""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from bbselect.inputs import decode as decode_mod
from bbselect.inputs import images as images_mod
from bbselect.inputs.decode import (
    DEFAULT_MAX_PIXELS,
    PAD_RGB,
    RESIZE_MODES,
    ImageDecodeError,
    fit_to_input,
    load_image,
    valid_map_region,
)
from bbselect.inputs.images import IMAGE_EXTENSIONS, ImageRef, Skipped, discover_images

SHARED = Path(os.environ.get("BBSELECT_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
ODD = SHARED / "data" / "odd-formats"
ODD_FILES = sorted(p.name for p in ODD.iterdir() if p.suffix != ".md") if ODD.is_dir() else []
# Expected to fail, each for a reason that does not depend on our code:
#  - corrupt_truncated.jpg: SOURCES.md says it is truncated on purpose.
#  - tiff_multipage_rgb.tif: SOURCES.md says Pillow cannot open it (float64, planar).
#  - large_ultrahdr_1512x2688.jpg: Pillow's test copy has its scan data stripped; the file ends
#    right after a start-of-scan header with no end-of-image marker (checked below).
EXPECTED_UNDECODABLE = {"corrupt_truncated.jpg", "tiff_multipage_rgb.tif", "large_ultrahdr_1512x2688.jpg"}

needs_shared = pytest.mark.skipif(not ODD.is_dir(), reason=f"shared test data not found at {ODD}")


def _odd_params():
    if not ODD_FILES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"shared test data not found at {ODD}"))]
    return ODD_FILES


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(np.float64)


def _hopper_reference() -> np.ndarray:
    return _arr(Image.open(ODD / "tiff_rgb_hopper.tif").convert("RGB"))


# ------------------------------------------------------------------------------- discovery


def _touch(path: Path, data: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    _touch(root / "a.jpg")
    _touch(root / "B.JPG")
    _touch(root / "notes.txt")
    _touch(root / ".hidden.png")
    _touch(root / ".hiddendir" / "x.png")
    _touch(root / "sub" / "c.png")
    _touch(root / "sub" / "deeper" / "d.Jpeg")
    _touch(root / "fake.jpg" / "inside.png")  # a directory named like an image is a directory
    os.symlink(root, root / "loop")  # symlink loop back to the root
    os.symlink(root / "sub" / "self.jpg", root / "sub" / "self.jpg")  # link to itself (ELOOP)
    os.symlink(root / "missing.png", root / "broken.png")
    os.symlink(root / "missing.txt", root / "broken.txt")  # not an image name: ignored silently
    os.symlink(root / "a.jpg", root / "link_to_a.jpg")  # file symlinks are followed
    return root


def test_discover_exact_rels_and_skips(tree: Path):
    refs, skipped = discover_images(tree)
    assert [r.rel for r in refs] == [
        "B.JPG",
        "a.jpg",
        "fake.jpg/inside.png",
        "link_to_a.jpg",
        "sub/c.png",
        "sub/deeper/d.Jpeg",
    ]
    assert [(s.rel, s.reason) for s in skipped if s.rel != "sub/self.jpg"] == [
        ("broken.png", "broken symlink"),
        ("loop", "symlink to a directory (not followed)"),
    ]
    self_loop = [s for s in skipped if s.rel == "sub/self.jpg"]
    assert len(self_loop) == 1 and self_loop[0].reason.startswith("cannot follow symlink")
    for r in refs:
        assert isinstance(r, ImageRef) and r.path.is_absolute()
        assert r.path == Path(os.path.abspath(tree)) / r.rel


def test_discover_is_deterministic_and_ids_unique(tree: Path):
    first = discover_images(tree)
    second = discover_images(tree)
    assert first == second
    ids = [r.id for r in first[0]]
    assert len(set(ids)) == len(ids)


def test_discover_unreadable_subdirectory_is_reported(tree: Path, monkeypatch):
    locked = tree / "locked"
    _touch(locked / "e.png")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    # Root ignores permission bits, so simulate the failure instead of chmod 000.
    monkeypatch.setattr(images_mod.os, "scandir", scandir)
    refs, skipped = discover_images(tree)
    assert "locked/e.png" not in [r.rel for r in refs]
    assert Skipped("locked", "permission denied (directory not readable)") in skipped
    assert "sub/c.png" in [r.rel for r in refs]  # the rest of the walk continued


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_discover_unreadable_subdirectory_real_chmod(tree: Path):
    locked = tree / "locked"
    _touch(locked / "e.png")
    locked.chmod(0)
    try:
        refs, skipped = discover_images(tree)
    finally:
        locked.chmod(0o755)
    assert Skipped("locked", "permission denied (directory not readable)") in skipped


def test_discover_fifo_is_skipped_not_opened(tmp_path: Path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(tmp_path / "pipe.png")
    refs, skipped = discover_images(tmp_path)
    assert refs == [] and skipped == [Skipped("pipe.png", "not a regular file")]


def test_discover_single_file_root(tmp_path: Path):
    _touch(tmp_path / "dir" / "photo.PNG")
    refs, skipped = discover_images(tmp_path / "dir" / "photo.PNG")
    assert [(r.rel, r.path) for r in refs] == [("photo.PNG", tmp_path / "dir" / "photo.PNG")]
    assert skipped == []


def test_extensions_list():
    assert IMAGE_EXTENSIONS == (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
    assert RESIZE_MODES == ("stretch", "letterbox")
    assert DEFAULT_MAX_PIXELS == 100_000_000


@pytest.mark.parametrize(
    "rel",
    ["sub/c.png", "Ünïcødé/фото 1.jpg", "<b>x</b>.png", "фото.jpg", "фильм.jpg", "a" * 200 + ".jpg", "-_.jpg", "日本.png"],
)
def test_ids_filesystem_safe_stable_unique(tmp_path: Path, rel: str):
    _touch(tmp_path / "t" / rel)
    (ref,) = discover_images(tmp_path / "t")[0]
    assert ref.rel == rel
    digest = hashlib.sha1(rel.encode("utf-8")).hexdigest()[:8]
    assert ref.id.endswith("-" + digest)
    assert re.fullmatch(r"[a-z0-9._-]+", ref.id), ref.id
    assert len(ref.id) <= 60 + 1 + 8
    assert not ref.id.startswith((".", "-"))
    (tmp_path / "ids").mkdir(exist_ok=True)
    (tmp_path / "ids" / ref.id).write_text("ok")  # usable as a file name


def test_ids_exact_value_and_uniqueness_across_lookalikes(tmp_path: Path):
    names = ["фото.jpg", "фильм.jpg", "A.jpg", "a.jpg", "sub/c.png", "sub-c.png"]
    for n in names:
        _touch(tmp_path / n)
    refs, _ = discover_images(tmp_path)
    ids = {r.rel: r.id for r in refs}
    assert len(set(ids.values())) == len(names)
    # slug of "sub/c.png" is "sub-c.png"; suffix is sha1 of the UTF-8 rel
    assert ids["sub/c.png"] == "sub-c.png-" + hashlib.sha1(b"sub/c.png").hexdigest()[:8]
    assert ids["фото.jpg"] == "jpg-" + hashlib.sha1("фото.jpg".encode()).hexdigest()[:8]


# ------------------------------------------------------------------------------- shared odd formats


@pytest.mark.integration
@pytest.mark.parametrize("name", _odd_params())
def test_odd_format_decodes_or_fails_cleanly(name: str):
    try:
        img = load_image(ODD / name, draft_size=224)
    except ImageDecodeError as exc:
        assert exc.reason.strip(), "empty reason"
        assert name in EXPECTED_UNDECODABLE, f"{name} unexpectedly failed: {exc.reason}"
        return
    assert name not in EXPECTED_UNDECODABLE, f"{name} should not decode"
    assert img.mode == "RGB" and img.width > 0 and img.height > 0
    a = np.asarray(img)
    assert a.dtype == np.uint8 and a.shape == (img.height, img.width, 3)


@needs_shared
def test_expected_failures_have_specific_reasons():
    with pytest.raises(ImageDecodeError) as e:
        load_image(ODD / "corrupt_truncated.jpg")
    assert e.value.reason.startswith("truncated or corrupt image data (image file is truncated")
    with pytest.raises(ImageDecodeError) as e:
        load_image(ODD / "tiff_multipage_rgb.tif")
    assert "TIFF" in e.value.reason
    # independent evidence that these JPEGs really are cut short: no end-of-image marker
    for name in ("corrupt_truncated.jpg", "large_ultrahdr_1512x2688.jpg"):
        assert not (ODD / name).read_bytes().rstrip(b"\x00").endswith(b"\xff\xd9")
    assert (ODD / "tiff_rgb_hopper.tif").exists()
    # we never flipped Pillow's global switches
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@needs_shared
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation: int):
    path = ODD / f"exif_orient{orientation}_hopper.jpg"
    ref = _hopper_reference()
    got = _arr(load_image(path))
    raw = _arr(Image.open(path).convert("RGB"))  # stored pixels, not transposed
    assert got.shape == ref.shape
    assert np.abs(got - ref).mean() < 12  # JPEG tolerance
    assert np.abs(raw - ref).mean() > 30  # so the check above can fail


@needs_shared
def test_lab_tiff_looks_like_rgb_twin():
    ref = _hopper_reference()
    got = _arr(load_image(ODD / "tiff_lab_hopper.tif"))
    naive = np.asarray(Image.open(ODD / "tiff_lab_hopper.tif")).astype(np.float64)[..., :3]  # L,a,b read as R,G,B
    assert np.abs(got - ref).mean() < 6
    assert np.abs(naive - ref).mean() > 20


@needs_shared
def test_cmyk_jpeg_colours():
    got = np.asarray(load_image(ODD / "cmyk_pil_sample.jpg")).astype(int)
    # red "RED" sample: the top-left block is CMYK (0, ~95%, ~90%, 0), i.e. red; the background is black
    r, g, b = got[0, 0]
    assert r > 200 and g < 60 and b < 60
    assert got[-1, -1].max() < 30
    pil = np.asarray(Image.open(ODD / "cmyk_pil_sample.jpg").convert("RGB")).astype(int)
    assert np.abs(got - pil).max() <= 1


@needs_shared
def test_grayscale_becomes_three_equal_channels():
    a = np.asarray(load_image(ODD / "grayscale_hopper.jpg"))
    assert a.shape == (128, 128, 3)
    assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2])
    assert a.std() > 10


@needs_shared
@pytest.mark.parametrize("name", ["animated_no_time_for_that_tiny.gif", "animated_iss634.webp", "mpo_sugarshack.mpo"])
def test_animated_returns_first_frame(name: str):
    got = np.asarray(load_image(ODD / name))
    with Image.open(ODD / name) as im:
        im.seek(0)
        frame0 = np.asarray(im.convert("RGB"))
        others = []
        for k in range(1, im.n_frames):
            im.seek(k)
            others.append(np.asarray(im.convert("RGB")))
    assert np.array_equal(got, frame0)
    assert any(o.shape != frame0.shape or not np.array_equal(o, frame0) for o in others)


@needs_shared
def test_draft_decodes_big_jpeg_at_reduced_scale():
    path = ODD / "large_5120x2880_plasma_honeywave.jpg"
    # 5120x2880 / 8 = 640x360, both sides still >= 224, so the 1/8 DCT scale is allowed
    assert load_image(path, draft_size=224).size == (640, 360)
    # 2880 / 4 = 720 >= 500 but 2880 / 8 = 360 < 500, so the 1/4 scale is used
    assert load_image(path, draft_size=500).size == (1280, 720)
    assert load_image(ODD / "webp_flower.webp", draft_size=100).size == (480, 360)  # not JPEG: untouched


# ------------------------------------------------------------------------------- self-made files


def _save(tmp_path: Path, name: str, img: Image.Image, **kw) -> Path:
    p = tmp_path / name
    img.save(p, **kw)
    return p


def test_16bit_png_scaling(tmp_path: Path):
    values = np.array([[0, 1, 128, 129, 257, 32768, 40000, 65280, 65535]], dtype=np.uint16)
    p = _save(tmp_path, "ramp16.png", Image.fromarray(values))
    assert Image.open(p).mode.startswith("I")  # really stored and reopened as 16-bit
    got = np.asarray(load_image(p))[0, :, 0].tolist()
    # round(v / 257): 32768/257 = 127.5019 -> 128; 40000/257 = 155.64 -> 156 (not clipped to 255)
    assert got == [0, 0, 0, 1, 1, 128, 156, 254, 255]


def test_16bit_full_ramp_is_monotonic_and_spans_range(tmp_path: Path):
    ramp = np.arange(0, 65536, 64, dtype=np.uint16).reshape(32, 32)
    p = _save(tmp_path, "full16.png", Image.fromarray(ramp))
    got = np.asarray(load_image(p))[..., 0].ravel().astype(int)
    assert got[0] == 0 and got[-1] == 255  # 65472/257 = 254.75 -> 255
    assert np.all(np.diff(got) >= 0)
    assert len(np.unique(got)) == 256  # every 8-bit level is used: no clipping, no banding


def test_16bit_big_endian_and_int32_and_float_modes():
    be = Image.frombytes("I;16B", (3, 1), np.array([0, 32768, 65535], dtype=">u2").tobytes())
    assert np.asarray(decode_mod._to_rgb(be))[0, :, 0].tolist() == [0, 128, 255]
    wide = Image.fromarray(np.array([[-1000, 0, 1000]], dtype=np.int32), mode="I")
    assert np.asarray(decode_mod._to_rgb(wide))[0, :, 0].tolist() == [0, 128, 255]  # min..max stretch
    f = Image.fromarray(np.array([[-1.0, 0.0, 1.0, np.nan]], dtype=np.float32), mode="F")
    assert np.asarray(decode_mod._to_rgb(f))[0, :, 0].tolist() == [0, 128, 255, 128]  # NaN -> 0.0 -> 128


def test_transparency_composited_over_mid_gray(tmp_path: Path):
    px = np.array([[[255, 0, 0, 0], [10, 20, 30, 255], [255, 255, 255, 128]]], dtype=np.uint8)
    p = _save(tmp_path, "alpha.png", Image.fromarray(px, "RGBA"))
    got = np.asarray(load_image(p))[0].astype(int)
    assert got[0].tolist() == [128, 128, 128]
    assert got[1].tolist() == [10, 20, 30]
    expected = 128 + (255 - 128) * 128 / 255  # alpha blend by hand: ~191.7
    assert np.all(np.abs(got[2] - expected) <= 1)


def test_palette_transparency_composited(tmp_path: Path):
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    p = _save(tmp_path, "pal.png", pal, transparency=0)
    got = np.asarray(load_image(p))[0].tolist()
    assert got == [[128, 128, 128], [0, 0, 255]]


def test_zero_byte_text_and_directory(tmp_path: Path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "readme.jpg"
    text.write_text("this is not a JPEG\n")
    (tmp_path / "dir.jpg").mkdir()
    cases = {
        empty: "empty file (0 bytes)",
        text: "not an image: the file contains text",
        tmp_path / "dir.jpg": "is a directory",
        tmp_path / "missing.jpg": "file not found",
    }
    for path, reason in cases.items():
        with pytest.raises(ImageDecodeError) as e:
            load_image(path)
        assert e.value.reason == reason


def test_random_binary_is_unrecognised(tmp_path: Path):
    p = tmp_path / "noise.png"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ImageDecodeError) as e:
        load_image(p)
    assert e.value.reason.startswith("unrecognised image format")


def test_truncated_self_made_jpeg(tmp_path: Path):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError) as e:
        load_image(p)
    assert e.value.reason.startswith("truncated or corrupt image data")
    (tmp_path / "whole.jpg").write_bytes(data)
    assert load_image(tmp_path / "whole.jpg").size == (64, 64)  # the intact file decodes
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_decompression_bomb_limit(tmp_path: Path):
    p = _save(tmp_path, "bomb.png", Image.new("RGB", (20, 20), (1, 2, 3)))
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageDecodeError) as e:
        load_image(p, max_pixels=100)
    assert "20x20" in e.value.reason and "400" in e.value.reason and "100" in e.value.reason
    assert load_image(p, max_pixels=400).size == (20, 20)  # exactly at the limit is allowed
    assert Image.MAX_IMAGE_PIXELS == before


def test_pillow_bomb_warning_not_leaked(tmp_path: Path, monkeypatch):
    p = _save(tmp_path, "warn.png", Image.new("RGB", (20, 20)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # Pillow would warn for 400 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(p, max_pixels=1000).size == (20, 20)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's own limit now follows --max-pixels (issue 13)
    assert load_image(p, max_pixels=1000).size == (20, 20)
    with pytest.raises(ImageDecodeError) as e:  # the bomb guard is --max-pixels itself
        load_image(p, max_pixels=300)
    assert e.value.reason.startswith("image too large")


def test_permission_denied(tmp_path: Path, monkeypatch):
    p = _save(tmp_path, "secret.png", Image.new("RGB", (4, 4)))
    if os.name == "posix" and os.geteuid() != 0:
        p.chmod(0)
    else:  # root reads anything: simulate the failure at open time

        def deny(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(p))

        monkeypatch.setattr(decode_mod.Image, "open", deny)
    with pytest.raises(ImageDecodeError) as e:
        load_image(p)
    assert e.value.reason == "permission denied"


# ------------------------------------------------------------------------------- fit_to_input


def _two_colour(w: int, h: int) -> Image.Image:
    """Left half red, right half blue."""
    a = np.zeros((h, w, 3), dtype=np.uint8)
    a[:, : w // 2] = (255, 0, 0)
    a[:, w // 2 :] = (0, 0, 255)
    return Image.fromarray(a)


def test_stretch():
    out, valid = fit_to_input(_two_colour(200, 100), 64, "stretch")
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert valid == (64, 64)
    assert out[:, :28].tolist() == [[[255, 0, 0]] * 28] * 64
    assert out[:, 36:].tolist() == [[[0, 0, 255]] * 28] * 64


def test_letterbox_wide_image():
    out, valid = fit_to_input(_two_colour(200, 100), 64, "letterbox")
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert valid == (32, 64)  # 100 * 64/200 = 32
    assert np.all(out[32:] == PAD_RGB)
    assert np.all(out[:32, :30] == (255, 0, 0))  # content at top-left, not centred
    assert np.all(out[:32, 34:] == (0, 0, 255))


def test_letterbox_tall_and_degenerate_images():
    out, valid = fit_to_input(Image.new("RGB", (100, 200), (9, 9, 9)), 64, "letterbox")
    assert valid == (64, 32)
    assert np.all(out[:, :32] == 9) and np.all(out[:, 32:] == PAD_RGB)
    out, valid = fit_to_input(Image.new("RGB", (1000, 1), (9, 9, 9)), 64, "letterbox")
    assert valid == (1, 64)  # round(0.064) = 0, kept at least 1
    assert np.all(out[0] == 9) and np.all(out[1:] == PAD_RGB)
    out, valid = fit_to_input(Image.new("L", (10, 10), 50), 32, "letterbox")
    assert valid == (32, 32) and np.all(out == 50)


def test_fit_rejects_unknown_mode_and_bad_size():
    with pytest.raises(ValueError):
        fit_to_input(Image.new("RGB", (4, 4)), 32, "crop")
    with pytest.raises(ValueError):
        fit_to_input(Image.new("RGB", (4, 4)), 0, "stretch")


@pytest.mark.parametrize(
    "valid_hw, size, map_hw, expected",
    [
        ((32, 64), 64, (7, 7), (4, 7)),  # 32*7/64 = 3.5 -> 4
        ((112, 224), 224, (14, 14), (7, 14)),  # exact: 7, not 8
        ((224, 100), 224, (7, 7), (7, 4)),  # 100*7/224 = 3.125 -> 4
        ((1, 64), 64, (2, 2), (1, 2)),  # 1*2/64 -> 1 (at least one row)
        ((64, 64), 64, (8, 10), (8, 10)),
    ],
)
def test_valid_map_region(valid_hw, size, map_hw, expected):
    assert valid_map_region(valid_hw, size, map_hw) == expected
