"""Decode an image to upright 8-bit RGB and fit it to a square network input.

Colour conversion (``load_image``):

* The EXIF orientation is applied, so images are upright. Animated GIF, WebP and MPO files give
  their first frame.
* ``L``, ``1``, ``P``, ``CMYK`` and ``YCbCr`` are converted by Pillow. Grayscale is copied into
  all three channels.
* Transparency (alpha channels, and tRNS in ``P``, ``L``, ``RGB`` and 16-bit gray images) is
  composited over neutral mid-gray (128, 128, 128), not over white or black. Gray is close to
  the ImageNet mean, so transparent regions carry little signal after preprocessing.
* 16-bit integer modes (``I;16*``, and ``I`` whose values lie in 0..65535) are scaled
  linearly: ``round(v / 257)``, so 65535 -> 255 and 32768 -> 128. Values are never clipped.
* ``F`` (float), and ``I`` with values outside 0..65535, are stretched linearly from the
  image's own min..max to 0..255. A constant image becomes 0. NaN and inf become 0.
* ``LAB`` is converted to sRGB with a LittleCMS transform (``PIL.ImageCms``, D50 Lab).

Decoding errors become ``ImageDecodeError``, which carries a short human-readable ``.reason``.
Truncated data is never accepted: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left as it is.
Decompression-bomb guard: an image with more than ``max_pixels`` pixels is rejected from its
header, before its pixels are decoded (default ``DEFAULT_MAX_PIXELS`` = 100 megapixels).

Input-size policies (``fit_to_input``):

* ``stretch``: bilinear resize to ``size x size``. The aspect ratio is not kept.
* ``letterbox``: the aspect ratio is kept. The longest side becomes ``size``, and the image is
  placed at the top-left of a square canvas filled with ``PAD_RGB`` (the ImageNet mean, so the
  padding is about 0 after mean subtraction). This is how detectors such as YOLO and Detectron
  pad to a square. ``valid_map_region`` says which top-left part of a feature map covers image
  content.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bbselect.inputs.images import ImageRef

DEFAULT_MAX_PIXELS = 100_000_000
RESIZE_MODES = ("stretch", "letterbox")
PAD_RGB = (124, 116, 104)
TRANSPARENT_RGB = (128, 128, 128)


class ImageDecodeError(Exception):
    """The file cannot be decoded. ``reason`` is a short message for reports."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# decoding


def _open_error_reason(path: Path, exc: Exception) -> str:
    """Explain why Pillow could not identify a file by looking at its first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        head = b""
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF variant that Pillow cannot decode (e.g. float or planar multi-page data)"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "not an image: the file contains text"
        except UnicodeDecodeError:
            pass
    return f"unrecognised image format ({exc})"


def _over_gray(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, TRANSPARENT_RGB + (255,))
    return Image.alpha_composite(background, rgba.convert("RGBA")).convert("RGB")


def _gray_array_to_rgb(arr: np.ndarray, transparent_value: object = None) -> Image.Image:
    """Scale a 2-D integer/float array to 8-bit gray (rules in the module docstring) and make RGB."""
    raw = arr
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if np.issubdtype(raw.dtype, np.integer) and lo >= 0 and hi <= 65535:
        out = np.floor(arr / 257.0 + 0.5)
    elif hi > lo:
        out = np.floor((arr - lo) * (255.0 / (hi - lo)) + 0.5)
    else:
        out = np.zeros_like(arr)
    rgb = np.repeat(out.astype(np.uint8)[..., None], 3, axis=2)
    if isinstance(transparent_value, int):
        rgb[raw == transparent_value] = TRANSPARENT_RGB
    return Image.fromarray(rgb, "RGB")


def _lab_to_rgb(img: Image.Image) -> Image.Image:
    try:
        from PIL import ImageCms

        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return ImageCms.applyTransform(img, transform)
    except (ImportError, OSError, ValueError, ImageCms.PyCMSError):
        return img.convert("RGB")  # Pillow >= 11 converts LAB itself


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    has_trns = "transparency" in img.info
    if mode == "RGB" and not has_trns:
        return img
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode in ("P", "L", "RGB") and has_trns):
        return _over_gray(img.convert("RGBA"))
    if mode in ("L", "1", "P", "CMYK", "YCbCr", "HSV"):
        return img.convert("RGB")
    if mode == "LAB":
        return _lab_to_rgb(img)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _gray_array_to_rgb(np.asarray(img), img.info.get("transparency"))
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageDecodeError(f"unsupported pixel mode {mode!r}") from exc


def load_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: int | None = None,
               data: bytes | None = None) -> Image.Image:
    """Decode ``path`` into a fully loaded, upright ``RGB`` image. Raises ``ImageDecodeError``.

    ``draft_size``: the caller will resize to about this many pixels. JPEGs are then decoded at a
    reduced DCT scale, but both sides stay >= ``draft_size``. ``data``: the file's bytes, read once by
    the caller (who hashes exactly what is decoded); ``path`` then only names the image.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageDecodeError("is a directory")
        if path.stat().st_size == 0:
            raise ImageDecodeError("empty file (0 bytes)")
        if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
            # Pillow refuses images above 2x its own limit before we can look at them: raise that
            # limit to --max-pixels (only ever raised; it stays a bomb guard at 2x), ours applies below
            Image.MAX_IMAGE_PIXELS = max_pixels
        with warnings.catch_warnings():
            # max_pixels replaces Pillow's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data) if data is not None else path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageDecodeError(
                        f"image too large: {w}x{h} = {w * h:,} pixels exceeds the limit of "
                        f"{max_pixels:,} pixels (decompression-bomb guard)"
                    )
                if w <= 0 or h <= 0:
                    raise ImageDecodeError(f"invalid image size {w}x{h}")
                if draft_size and img.format in ("JPEG", "MPO"):
                    # Pillow picks the smallest DCT scale that keeps both sides >= draft_size
                    img.draft("RGB", (draft_size, draft_size))
                img.load()  # frame 0 of animated / multi-frame files
                try:
                    upright = ImageOps.exif_transpose(img)
                except Exception:  # noqa: BLE001 - broken EXIF data: keep the stored orientation
                    upright = img
                rgb = _to_rgb(upright)
                if rgb is img:
                    rgb = img.copy()  # keep the pixels after the file is closed
                rgb.load()
                return rgb
    except ImageDecodeError:
        raise
    except PermissionError as exc:
        raise ImageDecodeError("permission denied") from exc
    except FileNotFoundError as exc:
        raise ImageDecodeError("file not found") from exc
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image too large: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(_open_error_reason(path, exc)) from exc
    except MemoryError as exc:
        raise ImageDecodeError("out of memory while decoding") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error) as exc:
        raise ImageDecodeError(f"truncated or corrupt image data ({exc})") from exc


# ---------------------------------------------------------------------------------------------
# fitting to the network input


def fit_to_input(img: Image.Image, size: int, mode: str) -> tuple[np.ndarray, tuple[int, int]]:
    """Return (uint8 array of shape (size, size, 3), (valid_h, valid_w)). Content is at the top-left."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; expected one of {RESIZE_MODES}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    size = int(size)
    if img.mode != "RGB":
        img = _to_rgb(img)
    if mode == "stretch":
        out = img.resize((size, size), Image.Resampling.BILINEAR)
        return np.array(out, dtype=np.uint8), (size, size)
    w, h = img.size
    scale = size / max(w, h)
    new_w = size if w >= h else max(1, min(size, round(w * scale)))
    new_h = size if h >= w else max(1, min(size, round(h * scale)))
    canvas = Image.new("RGB", (size, size), PAD_RGB)
    canvas.paste(img.resize((new_w, new_h), Image.Resampling.BILINEAR), (0, 0))
    return np.array(canvas, dtype=np.uint8), (new_h, new_w)


def valid_map_region(valid_hw: tuple[int, int], input_size: int, map_hw: tuple[int, int]) -> tuple[int, int]:
    """Rows and columns of a feature map of shape ``map_hw`` that cover image content (ceil, at least 1)."""
    rows = -(-valid_hw[0] * map_hw[0] // input_size)
    cols = -(-valid_hw[1] * map_hw[1] // input_size)
    return max(1, min(map_hw[0], rows)), max(1, min(map_hw[1], cols))


def decode_input(ref: ImageRef, input_size: int, resize: str, max_pixels: int, data: bytes | None = None):
    """Decode and fit one image (from ``data`` when given): (uint8 [S,S,3], valid_hw). Raises ImageDecodeError."""
    img = load_image(ref.path, max_pixels=max_pixels, draft_size=input_size, data=data)
    return fit_to_input(img, input_size, resize)
