"""The augmented view behind neighbourhood stability, made from an already decoded image.

One view = a random resized crop covering 40–80 % of the image's area (aspect ratio log-uniform in
[3/4, 4/3], clamped to fit), a horizontal flip with probability 1/2, brightness × U(0.8, 1.2) and
contrast × U(0.8, 1.2) about the view's mean grey. The view is then fitted to the network input like
any image (``fit_to_input``), by the caller.

The random draws depend only on ``(seed, image id, view index)`` — a generator seeded from those three,
the id hashed with sha256 — so a view is the same whatever order, thread, shard or resumed run makes it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bbselect.inputs import decode as dec
from bbselect.inputs import images as imgs

VERSION = 1  # bump when a view changes for the same (seed, id, index): part of the map cache key
AREA_RANGE = (0.4, 0.8)
RATIO_RANGE = (3 / 4, 4 / 3)
BRIGHTNESS = 0.2
CONTRAST = 0.2


@dataclass(frozen=True)
class ViewParams:
    """The drawn parameters of one view, in pixels of the source image."""

    left: int
    top: int
    width: int
    height: int
    flip: bool
    brightness: float
    contrast: float


def view_rng(seed: int, image_id: str, view: int) -> np.random.Generator:
    """A generator that depends on (seed, image id, view index) only."""
    h = int.from_bytes(hashlib.sha256(str(image_id).encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, h, int(view)])


def draw_params(size_wh: tuple[int, int], seed: int, image_id: str, view: int) -> ViewParams:
    """Draw one view's crop, flip and colour factors for an image of ``size_wh`` = (width, height)."""
    w, h = int(size_wh[0]), int(size_wh[1])
    if w < 1 or h < 1:
        raise ValueError(f"image size must be positive, got {size_wh}")
    rng = view_rng(seed, image_id, view)
    area = rng.uniform(*AREA_RANGE) * w * h
    ratio = math.exp(rng.uniform(math.log(RATIO_RANGE[0]), math.log(RATIO_RANGE[1])))
    cw = math.sqrt(area * ratio)
    ch = math.sqrt(area / ratio)
    # clamp to the image, keeping the area: area <= 0.8 w h, so the other side then fits
    if cw > w:
        cw, ch = w, area / w
    if ch > h:
        cw, ch = area / h, h
    cw = min(w, max(1, round(cw)))
    ch = min(h, max(1, round(ch)))
    left = int(rng.integers(0, w - cw + 1))
    top = int(rng.integers(0, h - ch + 1))
    flip = bool(rng.random() < 0.5)
    brightness = float(rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS))
    contrast = float(rng.uniform(1 - CONTRAST, 1 + CONTRAST))
    return ViewParams(left, top, cw, ch, flip, brightness, contrast)


def apply_params(img: Image.Image, p: ViewParams) -> Image.Image:
    """Crop, flip and recolour ``img`` (RGB) with drawn parameters; returns a new RGB image."""
    crop = img.crop((p.left, p.top, p.left + p.width, p.top + p.height))
    if p.flip:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    a = np.asarray(crop, np.float32) * p.brightness
    grey = float(a.mean())
    a = (a - grey) * p.contrast + grey
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "RGB")


def augmented_view(img: Image.Image, seed: int, image_id: str, view: int = 0) -> Image.Image:
    """View ``view`` of the decoded RGB image ``img`` (deterministic per seed, id and view index)."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    return apply_params(img, draw_params(img.size, seed, image_id, view))


def decode_with_views(ref: imgs.ImageRef, input_size: int, resize: str, max_pixels: int, m: int, seed: int,
                      data: bytes | None = None):
    """Decode one image once (from ``data`` when given) and fit it and its ``m`` views to the input:
    (uint8 [S,S,3], valid_hw, uint8 [m,S,S,3]). Raises ImageDecodeError."""
    img = dec.load_image(ref.path, max_pixels=max_pixels, draft_size=input_size, data=data)
    arr, valid = dec.fit_to_input(img, input_size, resize)
    views = np.stack([dec.fit_to_input(augmented_view(img, seed, ref.id, j), input_size, resize)[0]
                      for j in range(m)])
    return arr, valid, views


@dataclass(frozen=True)
class Views:
    """Augmented views for neighbourhood stability: ``m`` per image of the stability sample (``ids``; None
    = every image), made in the decode threads from the already decoded image (no second decode) and run
    through each backbone after its originals; only their pooled features are kept, as ``view_gap``
    [m, C] in the image's maps file."""

    m: int = 1
    seed: int = 0
    ids: frozenset[str] | None = None

    def key(self) -> str:
        """Part of the map cache key: a maps file with views is not the same file as one without."""
        return f"views={self.m}:seed={self.seed}:augment-v{VERSION}"

    def wants(self, image_id: str) -> bool:
        """Whether this image gets views (it is in the stability sample)."""
        return self.ids is None or image_id in self.ids
