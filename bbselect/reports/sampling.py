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

from bbselect.common import finite
from bbselect.reports.content import image_separation


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


def representative(summary: dict, drawn: list[dict]) -> dict | None:
    """The per-image figure for the report's first screen: among the images that have one, the one
    whose separation under the recommended backbone is the median (a typical image, not the best or
    worst one); the first drawn image when that backbone has no per-image score."""
    if not drawn:
        return None

    best = next((b["label"] for b in sorted(summary["backbones"], key=lambda b: b.get("rank") or 10**9)), None)
    scored = [(image_separation((im.get("scores") or {}).get(best)), i, im) for i, im in enumerate(drawn)]
    scored = sorted((v, i, im) for v, i, im in scored if finite(v))
    if scored:
        im, why = scored[(len(scored) - 1) // 2][2], f"median separation under {best} among the drawn images"
    else:
        im, why = drawn[0], "the first drawn image"
    return {"image": im["rel"], "path": im["figure"], "why": why}
