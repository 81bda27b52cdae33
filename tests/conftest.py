"""Shared fixtures. ``../shared`` (beside the repo root) holds real data and the one pretrained
backbone; tests that need it skip cleanly when it is absent. Override with BBSELECT_SHARED."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(os.environ.get("BBSELECT_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
MOBILENET_FILE = SHARED / "weights" / "keras" / "mobilenet_2_5_224_tf_no_top.h5"


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} not present")
    return SHARED


@pytest.fixture
def pretrained_mobilenet(shared) -> Path:
    if not MOBILENET_FILE.is_file():
        pytest.skip(f"{MOBILENET_FILE} not present")
    return MOBILENET_FILE


def make_images(folder: Path, n: int = 3, size=(80, 60)) -> list[Path]:
    """Small synthetic RGB images: a bright square on a dark textured background, at varying places."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        arr = (rng.random((size[1], size[0], 3)) * 60).astype(np.uint8)
        y, x = (5 + 7 * i) % (size[1] - 20), (10 + 9 * i) % (size[0] - 20)
        arr[y : y + 20, x : x + 20] = (230, (200 - 30 * i) % 256, (40 + 50 * i) % 256)
        p = folder / f"img{i}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "imgs"
    make_images(folder)
    return folder


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty map cache (never the user's ~/.cache/bbselect)."""
    monkeypatch.setenv("BBSELECT_CACHE", str(tmp_path / "bbselect-cache"))
    return tmp_path / "bbselect-cache"


def refuse_model_builds(monkeypatch) -> None:
    """From here on, building a backbone fails the test (a run that must come from the cache or saved maps)."""
    from bbselect.runs import pipeline

    def refuse(*a, **k):
        raise AssertionError("a model was built")

    monkeypatch.setattr(pipeline, "build_backbone", refuse)


def read_scores(run_dir: Path) -> tuple[list, list]:
    """A run folder's scores.json as (backbone entries, image entries)."""
    doc = json.loads((Path(run_dir) / "scores.json").read_text())
    return doc["backbones"], doc["images"]
