"""The cheap box-aware scores of one backbone (bbselect.scoring.roiscores) on synthetic maps with known answers."""

import json
import math

import numpy as np

from bbselect.inputs.boxmodel import Box
from bbselect.probes import objectness, roilogme
from bbselect.reports import content
from bbselect.scoring import registry, roiscores
from bbselect.scoring.boxscores import box_mask

SIZE = 64  # input px; 8x8 maps = stride 8


def square_maps(n=12, signal=True, seed=0):
    """8x8x4 maps of a full (stretched) input; one 3x3-cell box per image whose cells carry +3 on channel 0."""
    rng = np.random.default_rng(seed)
    feats, boxes = [], []
    for _ in range(n):
        f = rng.normal(size=(8, 8, 4)).astype(np.float32)
        r, c = rng.integers(0, 6, size=2)
        if signal:
            f[r:r + 3, c:c + 3, 0] += 3.0
        feats.append(f)
        boxes.append([Box(c / 8, r / 8, (c + 3) / 8, (r + 3) / 8, "thing")])
    return feats, [(SIZE, SIZE)] * n, boxes


def test_scores_are_the_probe_functions_on_the_same_tensors():
    feats, valid, boxes = square_maps()
    s = roiscores.backbone_scores(feats, valid, boxes, SIZE, seed=3)
    direct = roilogme.roi_scores(roilogme.collect(zip(feats, boxes, [SIZE] * 12, valid), seed=3))
    for k in roilogme.ROI_SCORE_NAMES:
        assert s[k] == direct[k] or (math.isnan(s[k]) and math.isnan(direct[k])), k
    obj = objectness.objectness_probe(feats, [box_mask((8, 8), b) for b in boxes], folds=5, seed=3)
    assert (s["objectness"], s["objectness_prior"], s["objectness_gain"]) == (obj["auroc"], obj["auroc_prior"], obj["gain"])
    assert s["n_objects"] == 12 and s["n_images"] == 12 and 0 < s["n_background"] <= 12
    assert roiscores.backbone_scores(feats, valid, boxes, SIZE, seed=3) == s  # deterministic for a seed


def test_informative_features_beat_noise_and_the_position_prior():
    good = roiscores.backbone_scores(*square_maps(signal=True), SIZE)
    noise = roiscores.backbone_scores(*square_maps(signal=False), SIZE)
    assert good["objectness"] > 0.9 and good["objectness_gain"] > 0.2  # the square is the box, anywhere
    assert abs(noise["objectness"] - 0.5) < 0.15
    assert good["roi_logme"] > noise["roi_logme"] and math.isfinite(good["tlogme"])
    assert math.isnan(good["roi_logme_cls"]) and "fewer than two object classes" in good["reasons"]["roi_logme_cls"]
    assert "roi_logme" not in good["reasons"]  # only the NaN ones have a reason


def test_letterbox_content_crop_drives_the_objectness_mask():
    """Letterbox: content is the top half of the input; cells below it are not samples."""
    feats, _valid, boxes = square_maps()
    half = [f.copy() for f in feats]
    s = roiscores.backbone_scores(half, [(SIZE // 2, SIZE)] * 12, boxes, SIZE)
    assert s["n_cells"] == 12 * 4 * 8  # 4 of 8 rows cover content


def test_too_few_images_is_nan_with_a_reason():
    feats, valid, boxes = square_maps(n=1)
    s = roiscores.backbone_scores(feats, valid, boxes, SIZE)
    assert math.isnan(s["objectness"]) and "1 image(s) with boxes" in s["reasons"]["objectness"]
    empty = roiscores.backbone_scores(feats, valid, [[]], SIZE)
    assert math.isnan(empty["roi_logme"]) and "no annotated object" in empty["reasons"]["roi_logme"]


def test_the_section_reads_json_nulls_as_nan_and_the_registry_finds_values():
    feats, valid, boxes = square_maps()
    s = roiscores.backbone_scores(feats, valid, boxes, SIZE)
    from bbselect.store.rundir import json_ready

    back = json.loads(json.dumps(json_ready({"bb": s})))
    assert roiscores.from_probe(back, "other") is None
    entries = [{"label": "bb", "roi": roiscores.from_probe(back, "bb")}]
    assert registry.value(entries[0], "roi_logme") == s["roi_logme"]
    assert registry.value(entries[0], "objectness_gain") == s["objectness_gain"]
    assert math.isnan(registry.value(entries[0], "roi_logme_cls"))
    cell = content.roi_cell(entries[0], "roi_logme_cls")
    assert cell.startswith("n/a (fewer than two object classes") and "0.000" not in cell
    assert content.roi_cell(entries[0], "roi_logme") == f"{s['roi_logme']:.3f}"


def test_registered_as_higher_is_better_box_scores_with_citations():
    for name in ("roi_logme", "tlogme", "objectness", "objectness_gain"):  # box scores the within-family study tests
        spec = registry.get(name)
        assert spec.tier == "boxes" and spec.higher_is_better and not spec.per_map
        assert name in registry.gate_metrics()
    for name in ("roi_logme", "tlogme"):
        assert "arXiv:2306.15306" in registry.get(name).doc and "arXiv:2403.09432" in registry.get(name).doc


def test_box_choice_finds_a_supported_roi_score_by_the_study_key():
    """validated.json names box scores by their registry names (studies/validation/plan.py box_scores);
    a supported one that the run computed is the one picked, an unsupported one never."""
    from bbselect.scoring import validated

    entries = [{"label": "a", "roi": {"roi_logme": -0.7, "objectness": 0.9}},
               {"label": "b", "roi": {"roi_logme": -0.6, "objectness": 0.8}}]
    study = {"boxes": {"scores": {"roi_logme": {"supported": True, "tau": {"raccoon": 0.5, "coco128": 0.3}},
                                  "objectness": {"supported": False, "tau": {"raccoon": 0.9, "coco128": 0.9}},
                                  "tlogme": {"supported": True, "tau": {"raccoon": 0.8, "coco128": 0.6}}}}}
    choice = validated.box_choice(entries, study)
    assert choice["name"] == "roi_logme" and choice["worst_tau"] == 0.3  # tlogme supported but not computed
