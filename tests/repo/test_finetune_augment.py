"""The fine-tuning study's augmentation moves boxes with the pixels (studies/finetune/train.py)."""

import numpy as np
import pytest

from studies.finetune import train as ft
from studies.finetune.plan import Schedule


def picture(box, size=64):
    img = np.zeros((size, size, 3), np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = 255
    return img


def white_inside(img, box):
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return img[y0 + 1:y1 - 1, x0 + 1:x1 - 1].mean()


def test_flip_mirrors_inside_the_letterboxed_content():
    box = (4, 10, 20, 30)
    s = Schedule(flip=1.0, scale=(1.0, 1.0))
    out, b, keep = ft.augment(picture(box), np.array([box], float), (64, 48), np.random.default_rng(0), s)
    assert keep.tolist() == [True]
    assert b[0].tolist() == [28.0, 10.0, 44.0, 30.0]  # x -> 48 - x within the 48 content columns
    assert white_inside(out, b[0]) == 255 and out[:, 48:].max() == 0


@pytest.mark.parametrize("factor", [0.75, 1.25])
def test_scale_jitter_keeps_boxes_on_their_pixels(factor):
    box = (20, 20, 44, 40)
    s = Schedule(flip=0.0, scale=(factor, factor))
    out, b, keep = ft.augment(picture(box), np.array([box], float), (64, 64), np.random.default_rng(1), s)
    assert keep.tolist() == [True]
    w, h = b[0, 2] - b[0, 0], b[0, 3] - b[0, 1]
    assert w == pytest.approx(24 * factor, abs=0.6) and h == pytest.approx(20 * factor, abs=0.6)
    assert white_inside(out, b[0]) > 250


def test_a_box_mostly_cropped_away_is_dropped():
    box = (0, 0, 10, 10)
    s = Schedule(flip=0.0, scale=(1.25, 1.25))
    rng = np.random.default_rng(3)
    dropped = False
    for _ in range(20):
        _, b, keep = ft.augment(picture(box), np.array([box], float), (64, 64), rng, s)
        if not keep[0]:
            dropped = True
            assert len(b) == 0
    assert dropped
