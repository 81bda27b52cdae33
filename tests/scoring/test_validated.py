"""Boxes rank only through a cheap box score the validation study supports (scoring/validated.py)."""

import json
import math

from bbselect.scoring import evidence, validated
from studies.validation import plan as within
from studies.validation import write
from studies.zoo import plan as across


def entry(label, box_auroc=0.7, probe=None, sep=0.3):
    e = {"label": label, "separation": {"mean": sep, "lo": sep - 0.01, "hi": sep + 0.01},
         "boxes": {"auroc": {"mean": box_auroc, "lo": box_auroc - 0.05, "hi": box_auroc + 0.05}}}
    if probe is not None:
        e["labels"] = {"linear_probe": {"mean": probe, "lo": probe - 0.05, "hi": probe + 0.05}}
    return e


def study(supported_auroc: bool, tau=(0.6, 0.4)):
    return {"boxes": {"scores": {
        "box_auroc": {"supported": supported_auroc, "tau": {"raccoon": tau[0], "coco128": tau[1]}},
        "pooled_logme": {"supported": True, "tau": {"raccoon": 0.9, "coco128": 0.9}},  # a baseline, not a score
        "mean.pointing": {"supported": True, "tau": {"raccoon": 0.9, "coco128": 0.9}},  # registered, not computed
        "roi_logme": {"supported": False, "tau": {"raccoon": 0.95, "coco128": 0.95}},
    }}}


def test_box_choice_takes_only_supported_registered_and_computed_scores():
    es = [entry("a"), entry("b", 0.6)]
    c = validated.box_choice(es, study(True))
    assert c["name"] == "box_auroc" and c["worst_tau"] == 0.4
    assert validated.box_choice(es, study(False)) is None
    assert validated.box_choice(es, {}) is None
    nan = [entry("a", math.nan), entry("b", math.nan)]
    assert validated.box_choice(nan, study(True)) is None


def test_supported_box_score_ranks_and_the_verdict_names_it_with_its_tau():
    es = [entry("a", 0.6, probe=0.9), entry("b", 0.8, probe=0.5)]
    used = evidence.choose_primary(es, study(True))
    assert used["evidence"] == "boxes" and used["metric"] == "box AUROC"
    assert "τ = 0.60 on raccoon" in used["why"] and "τ = 0.40 on coco128" in used["why"]
    assert "note" not in used
    assert es[0]["primary"]["mean"] == 0.6


def test_unsupported_boxes_do_not_rank_and_the_verdict_says_so():
    es = [entry("a", 0.6, probe=0.9), entry("b", 0.8, probe=0.5)]
    used = evidence.choose_primary(es, study(False))
    assert used["evidence"] == "labels"
    assert "no cheap box score is supported" in used["note"]
    assert es[0]["primary"]["mean"] == 0.9
    no_labels = [entry("a", 0.6), entry("b", 0.8)]
    used = evidence.choose_primary(no_labels, study(False))
    assert used["evidence"] == "label-free" and "note" in used


def label_free_study(supported: bool):
    return {"labels": {"scores": {"stability": {"supported": supported, "tau": {"trashnet": 0.7},
                                                "tau_nonrandom": {"trashnet": 0.74, "tiles": 0.55}}}}}


def stab_entry(label, stab, sep):
    e = {"label": label, "separation": {"mean": sep, "lo": sep - 0.01, "hi": sep + 0.01}}
    e["stability"] = {"mean": stab, "lo": stab - 0.02, "hi": stab + 0.02}
    return e


def test_stability_ranks_only_where_the_study_supports_it_and_quotes_its_measured_tau():
    es = [stab_entry("a", 0.3, 0.9), stab_entry("b", 0.6, 0.1)]
    used = evidence.choose_primary(es, label_free_study(True))
    assert used["metric"] == "neighbourhood stability" and used["supported"] is True
    assert es[1]["primary"]["mean"] == 0.6
    # the non-random τ (pretrained + degraded) is the one quoted, per data set
    assert "0.74 on trashnet, 0.55 on tiles" in used["how_sure"]
    es = [stab_entry("a", 0.3, 0.9), stab_entry("b", 0.6, 0.1)]
    used = evidence.choose_primary(es, label_free_study(False))
    assert used["metric"] == "separation" and used["supported"] is False and "how_sure" not in used
    used = evidence.choose_primary(es, {})  # study never run here: nothing label-free is supported
    assert used["metric"] == "separation" and used["supported"] is False


def test_an_unsupported_ranking_is_marked_unvalidated_in_every_headline():
    from bbselect.reports import headline as hl
    from bbselect.reports import page

    es = [stab_entry("a", 0.3, 0.9), stab_entry("b", 0.6, 0.1)]
    used = evidence.choose_primary(es, label_free_study(False))
    for i, e in enumerate(sorted(es, key=lambda e: -e["primary"]["mean"]), start=1):
        e["rank"] = i
    summary = {"run": {"n_images": 40}, "backbones": es, "evidence": used}
    text = hl.headline_text(hl.headline(summary))
    assert text.startswith("Recommended: a — separation") and "UNVALIDATED" in text
    assert "UNVALIDATED" in page.headline_html(summary)
    used = evidence.choose_primary(es, label_free_study(True))
    summary["evidence"] = used
    assert "UNVALIDATED" not in hl.headline_text(hl.headline(summary))


def test_a_data_set_at_its_floor_is_not_quoted_or_counted_for_the_box_choice():
    es = [entry("a"), entry("b", 0.6)]
    st = {"boxes": {"scores": {"box_auroc": {"supported": True, "counted": ["raccoon"],
                                             "tau": {"raccoon": 0.7, "coco128": 0.1}}}}}
    c = validated.box_choice(es, st)
    assert c["tau"] == {"raccoon": 0.7} and c["worst_tau"] == 0.7
    assert "coco128" not in validated.tau_text(c)


def test_a_supported_score_that_could_not_be_computed_is_named_with_its_reason():
    """Stability is supported but undefined here (too few images): the run falls back to separation, and
    the headline says why (the reason from the run), not that the study supports no label-free score."""
    from bbselect.reports import headline as hl

    es = [stab_entry("a", math.nan, 0.3), stab_entry("b", math.nan, 0.6)]
    for e in es:
        e["stability"]["reason"] = "8 images is fewer than 3 × k = 30"
    used = evidence.choose_primary(es, label_free_study(True))
    assert used["metric"] == "separation" and used["supported"] is False
    assert "neighbourhood stability" in used["unsupported"] and "8 images is fewer than 3 × k = 30" in used["unsupported"]
    for i, e in enumerate(sorted(es, key=lambda e: -e["primary"]["mean"]), start=1):
        e["rank"] = i
    text = hl.headline_text(hl.headline({"run": {"n_images": 8}, "backbones": es, "evidence": used}))
    assert "could not be computed here (8 images" in text and hl.UNSUPPORTED not in text
    # where the study supports nothing label-free, the general sentence stays
    used = evidence.choose_primary(es, label_free_study(False))
    assert "unsupported" not in used


def test_regenerating_validated_json_keeps_the_finetune_studys_key():
    """The fine-tuning study owns validated.json's "finetune" key: the validation study's writer keeps it
    (and the cross-family study's "zoo" key), while its own keys are replaced."""
    old = {"labels": {"scores": {"stability": {"supported": True}}}, "finetune": {"raccoon": {"tau": 0.4}},
           "zoo": {"scope": {"stability": "within"}}}
    new = {"labels": {"scores": {"stability": {"supported": False}}}, "boxes": {}}
    out = validated.merged(old, new)
    assert out["finetune"] == {"raccoon": {"tau": 0.4}} and out["zoo"] == old["zoo"]
    assert out["labels"]["scores"]["stability"]["supported"] is False
    assert "zoo" not in validated.merged(old, new, owns=("zoo",))  # a writer that owns a key drops the old one
    assert validated.merged({}, new) == new


def test_regenerating_the_page_keeps_the_finetune_block_in_place_or_appended():
    ft = "<!-- finetune:begin -->\n## Fine-tuning\n| a | 0.35 |\n<!-- finetune:end -->"
    old = "# Validation\n\nold tables\n\n" + ft + "\n\n## Boxes\nold box\n"
    fresh = "# Validation\n\nnew tables\n\n## Boxes\nnew box\n"
    out = validated.keep_blocks(old, fresh)
    assert "new tables" in out and "old tables" not in out and out.count(ft) == 1
    placed = "# Validation\n\nnew\n\n<!-- finetune:begin -->\nstale\n<!-- finetune:end -->\n\nrest\n"
    out = validated.keep_blocks(old, placed)
    assert ft in out and "stale" not in out and out.index(ft) < out.index("rest")
    assert validated.keep_blocks("no block here", fresh) == fresh


def test_the_study_writer_keeps_finetune_when_it_rewrites_validated_json(tmp_path):
    path = tmp_path / "validated.json"
    path.write_text(json.dumps({"finetune": {"ground_truth": "fine-tuned mAP"}, "labels": {"old": 1}}))
    write.write_validated(path, {}, {}, {"command": "x", "seconds": 1.0})
    doc = json.loads(path.read_text())
    assert doc["finetune"] == {"ground_truth": "fine-tuned mAP"} and doc["labels"] == {"old": 1}


def test_the_support_rule_lives_in_one_place_and_says_what_the_page_says():
    from bbselect.scoring import validated as v

    assert v.predicts({"tau": 0.3, "p": 0.01}) and not v.predicts({"tau": 0.3, "p": 0.06})
    assert not v.predicts({"tau": -0.4, "p": 0.001}) and v.inverted({"tau": -0.4, "p": 0.001})
    assert not v.predicts({"tau": float("nan"), "p": 0.01}) and not v.predicts({"tau": 0.5, "p": None})
    assert v.separates(0.8) and not v.separates(0.79) and not v.separates(float("nan"))
    assert f"p < {v.SUPPORT_P}" in v.RULE and f"{v.SUPPORT_SHARE:.0%}".replace("%", " %") in v.RULE


def test_each_study_writes_only_its_own_keys(tmp_path):
    from bbselect.scoring import validated as v

    path = tmp_path / "validated.json"
    v.write(path, {"labels": {"a": 1}, "boxes": None})
    v.write(path, {"zoo": {"z": 1}}, owns=("zoo",))
    v.write(path, {"finetune": {"f": 1}}, owns=("finetune",))
    assert json.loads(path.read_text()) == {"labels": {"a": 1}, "boxes": None, "zoo": {"z": 1}, "finetune": {"f": 1}}
    v.write(path, {"labels": {"a": 2}})  # the validation study regenerates its keys, keeps the others'
    assert json.loads(path.read_text()) == {"labels": {"a": 2}, "zoo": {"z": 1}, "finetune": {"f": 1}}


def test_every_score_key_of_validated_json_is_a_registered_score_or_a_named_baseline():
    """The studies write the registry's names (gate metrics: ``mean.mass_ratio``); anything else they
    evaluate is named once in their plan. A study key like the old ``retrieval`` fails here."""
    study = validated.load()
    assert study, "bbselect/scoring/validated.json is missing"
    for part, baselines in (("labels", {}), ("boxes", within.BASELINES), ("zoo", {})):
        keys = set(study[part]["scores"])
        assert keys, part
        assert not [k for k in keys if not validated.registered(k) and k not in baselines], part
    assert all(validated.registered(k) for k in study["zoo"]["random_level"])
    # the plans' score lists are the registry's, so each study tests what it says it tests
    assert set(study["labels"]["scores"]) == set(within.label_scores())
    assert set(study["boxes"]["scores"]) == set(within.box_scores())
    assert set(study["zoo"]["scores"]) == set(across.scores())
    # the check could fail: the old study keys are not registered names, per-map ones need a known map
    assert not any(validated.registered(k) for k in ("retrieval", "map_auroc", "mass_ratio", "sum.otsu", "max.knn"))
    assert all(validated.registered(k) for k in ("augmentation_retrieval", "box_auroc", "mean.mass_ratio", "max.otsu"))
