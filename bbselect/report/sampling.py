"""Which images get figures: a deterministic sample stratified by class, images with boxes first.

Runs draw per-image figures for a sample (``--figures 12``) and contact sheets for the first 24 of
it. Taking the first images in path order shows only the first class of a class-folder dataset
(trashnet: 12 figures and 24 sheet rows, all cardboard). The order here deals images out class by
class in turn (classes sorted by name), so any prefix of it covers the classes as evenly as it can;
within a class, images that have box annotations come first (they show the boxes over the maps),
then the rest, each in path order. No randomness: the same run always shows the same images.
"""

from __future__ import annotations

from itertools import zip_longest


def figure_order(images: list[dict], boxes: dict | None = None) -> list[dict]:
    """``images`` (dicts with ``rel`` and optional ``class``) reordered for drawing; all kept."""
    boxes = boxes or {}
    groups: dict[str, list[dict]] = {}
    for im in images:
        cls = im.get("class")
        groups.setdefault("" if cls is None else str(cls), []).append(im)
    for members in groups.values():
        members.sort(key=lambda im: (0 if boxes.get(im.get("rel")) else 1, str(im.get("rel"))))
    dealt = zip_longest(*(groups[c] for c in sorted(groups)))
    return [im for round_ in dealt for im in round_ if im is not None]
