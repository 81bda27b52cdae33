"""The static prior beside the ranking, the scope of the evidence across families, untrained-looking features."""

import math
from types import SimpleNamespace

from bbselect.models import top1
from bbselect.models.selection import parse_selection
from bbselect.reports.headline import headline, headline_text
from bbselect.scoring import crossfamily


def test_documented_top1_matches_the_published_tables():
    # independent values: zoo.json / TF-slim row MobileNet_v1_0.25_224 = 49.8; Keras table VGG16 = 71.3
    assert top1.documented("mobilenet", (("alpha", 0.25),))["value"] == 49.8
    assert top1.documented("vgg16")["value"] == 71.3
    assert top1.documented("mobilenetv2", (("alpha", 1.0),))["value"] == 71.3  # default alpha = the table row
    assert top1.documented("mobilenet", (("alpha", 0.6),)) is None


def test_top1_is_known_only_for_the_weights_it_describes():
    sel = parse_selection("vgg16")
    assert top1.top1_of(sel, "imagenet")["value"] == 71.3
    for kind in ("none", "file"):  # random weights or a weights file: the table says nothing about them
        assert top1.top1_of(sel, kind)["value"] is None
    own = SimpleNamespace(spec=sel.spec, options=sel.options, top1=58.2)  # a per-backbone top1= (issue 21)
    assert top1.top1_of(own, "file") == {"value": 58.2, "source": "top1= given for this backbone"}


def entry(label, name, stab, t1, tied=()):
    return {"label": label, "name": name, "tied_with": list(tied), "top1": {"value": t1},
            "stability": {"mean": stab, "lo": stab - 0.02, "hi": stab + 0.02},
            "primary": {"metric": "neighbourhood stability", "mean": stab, "lo": stab - 0.02, "hi": stab + 0.02},
            "rank": None, "cost": {"gflops": 1.0}}


def study(scope, level=0.12):
    return {"labels": {"scores": {"stability": {"supported": True, "tau_nonrandom": {"trashnet": 0.7}}}},
            "zoo": {"scores": {"stability": {"scope": scope}},
                    "random_level": {"stability": {"flag_below": level}}}}


def summary_of(entries, cf):
    for i, e in enumerate(entries, 1):
        e["rank"] = i
    return {"run": {"n_images": 40}, "backbones": entries, "cross_family": cf,
            "evidence": {"evidence": "label-free", "metric": "neighbourhood stability", "supported": True}}


USED = {"evidence": "label-free", "score": "stability"}


def test_a_within_family_score_ranking_families_is_not_called_validated_and_names_the_prior():
    es = [entry("mobilenet:alpha=0.25", "mobilenet", 0.40, 49.8), entry("vgg16", "vgg16", 0.30, 71.3),
          entry("resnet50", "resnet50", 0.20, 74.9)]
    cf = crossfamily.assess(es, USED, study("within"))
    assert cf["within_only"] and cf["prior"]["label"] == "resnet50" and cf["prior"]["agrees"] is False
    text = headline_text(headline(summary_of(es, cf)))
    assert "NOT VALIDATED ACROSS FAMILIES" in text and "Recommended" not in text
    assert "picks resnet50 (74.9 %)" in text and "evidence disagrees" in text
    assert text.count("74.9") == 1  # the prior is said once, not once per clause


def test_one_family_or_a_score_supported_across_families_gets_no_scope_warning():
    same = [entry("mobilenet:alpha=0.25,layer=c5", "mobilenet", 0.4, 49.8),
            entry("mobilenet:alpha=0.25,layer=c4", "mobilenet", 0.3, 49.8)]
    cf = crossfamily.assess(same, USED, study("within"))
    assert not cf["within_only"]
    assert headline_text(headline(summary_of(same, cf))).startswith("Recommended")
    mixed = [entry("vgg16", "vgg16", 0.4, 71.3), entry("resnet50", "resnet50", 0.3, 74.9, tied=["vgg16"])]
    mixed[0]["tied_with"] = ["resnet50"]
    cf = crossfamily.assess(mixed, USED, study("across"))
    assert not cf["within_only"] and cf["prior"]["agrees"] is True  # the prior's pick is tied with the best
    # MobileNet v1 and V2 share a registry family but are different families for the study
    assert crossfamily.family_of({"name": "mobilenet"}) != crossfamily.family_of({"name": "mobilenetv2"})


def test_a_never_studied_score_across_families_is_within_only_but_ground_truths_are_not():
    es = [entry("vgg16", "vgg16", 0.4, 71.3), entry("resnet50", "resnet50", 0.3, 74.9)]
    assert crossfamily.assess(es, USED, {})["within_only"]
    assert not crossfamily.assess(es, {"evidence": "labels", "score": "linear_probe"}, {})["within_only"]


def test_features_at_the_random_init_level_are_flagged_whatever_their_top1():
    es = [entry("resnet50", "resnet50", 0.40, 74.9), entry("vgg16", "vgg16", 0.11, 71.3)]
    cf = crossfamily.assess(es, USED, study("within", level=0.12))
    assert cf["untrained"] == ["vgg16"]
    assert "vgg16: features look untrained or off-task" in headline_text(headline(summary_of(es, cf)))
    assert crossfamily.assess(es, USED, study("within", level=0.05))["untrained"] == []
    assert crossfamily.assess(es, USED, {})["untrained"] == []  # no study: no level, no flag


def test_unknown_top1_is_said_and_never_guessed():
    es = [entry("a", "vgg16", 0.4, None), entry("b", "resnet50", 0.3, None)]
    cf = crossfamily.assess(es, USED, study("within"))
    assert cf["prior"]["label"] is None and crossfamily.prior_text(cf) is None
    es[1]["top1"] = {"value": 74.9}
    cf = crossfamily.assess(es, USED, study("within"))
    assert cf["prior"]["agrees"] is None  # one known value is no comparison
    assert "top-1 unknown for a" in crossfamily.prior_text(cf)
    assert not math.isnan(cf["prior"]["value"])


def test_the_terminal_table_and_ranking_rows_show_each_backbones_top1():
    from rich.console import Console

    from bbselect.reports.terminal import ranking_table

    es = [entry("vgg16", "vgg16", 0.4, 71.3), entry("mine", "mine", 0.3, None)]
    s = summary_of(es, crossfamily.assess(es, USED, study("within")))
    console = Console(record=True, width=160)
    console.print(ranking_table(s))
    out = console.export_text()
    assert "top-1 %" in out and "71.3" in out and "?" in out
