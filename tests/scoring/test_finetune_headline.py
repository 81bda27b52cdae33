"""The detection headline quotes the fine-tuning study (validated.json's "finetune") and says nothing of
the sort when the study never ran (scoring/validated.py, scoring/evidence.py, reports/headline.py); its
predictors read under the score registry's names whenever the key was written (scoring/studytables.py)."""

import json
import math

from bbselect.reports import headline as hl
from bbselect.scoring import evidence, registry, studytables, validated

FIXTURE = {
    "boxes": {"scores": {}},
    "finetune": {"generated_by": "python -m studies.finetune", "dataset": "raccoon",
                 "probe": {"tau": 0.6428, "ci": [0.214, 0.929], "p": 0.03, "n": 8},
                 "supported": True},
}


def fixture_file(tmp_path, study):
    path = tmp_path / "validated.json"
    path.write_text(json.dumps(study, indent=1))
    return json.loads(path.read_text())


def det_entry(label, m):
    return {"label": label, "separation": {"mean": 0.3, "lo": 0.29, "hi": 0.31},
            "detection": {"map50": {"mean": m, "lo": m - 0.05, "hi": m + 0.05}}}


def summary(used, entries):
    for rank, e in enumerate(sorted(entries, key=lambda e: -e["primary"]["mean"]), 1):
        e["rank"] = rank
        e["tied_with"] = []
    return {"run": {"n_images": 200}, "evidence": used, "backbones": entries}


def test_reader_returns_tau_interval_and_n_from_a_fixture_file(tmp_path):
    study = fixture_file(tmp_path, FIXTURE)
    info = validated.finetune(study)
    assert info == {"tau": 0.6428, "lo": 0.214, "hi": 0.929, "n": 8, "supported": True, "pretrained": None}
    assert validated.finetune({}) is None
    assert validated.finetune({"finetune": {"probe": {"tau": math.nan, "n": 8}}}) is None
    assert validated.finetune({"finetune": {"probe": {"tau": 0.5, "n": 2}}}) is None  # τ over 2 networks says nothing


def test_detection_headline_quotes_the_fine_tuning_tau(tmp_path):
    study = fixture_file(tmp_path, FIXTURE)
    es = [det_entry("a", 0.58), det_entry("b", 0.40)]
    used = evidence.choose_primary(es, study)
    assert used["evidence"] == "detection"
    text = hl.headline_text(hl.headline(summary(used, es)))
    assert ("frozen-backbone detection quality; in bbselect's study it orders fine-tuned detectors with "
            "τ = 0.64 [0.21, 0.93], n = 8 networks") in text
    assert "not shown to predict" not in text


def test_a_pretrained_only_interval_through_zero_is_said(tmp_path):
    probe = {**FIXTURE["finetune"]["probe"], "tau_pretrained": 0.467, "ci_pretrained": [-0.23, 1.0], "n_pretrained": 6}
    study = fixture_file(tmp_path, {**FIXTURE, "finetune": {**FIXTURE["finetune"], "probe": probe}})
    assert validated.finetune(study)["pretrained"] == {"tau": 0.467, "lo": -0.23, "hi": 1.0, "n": 6}
    es = [det_entry("a", 0.58), det_entry("b", 0.40)]
    text = hl.headline_text(hl.headline(summary(evidence.choose_primary(es, study), es)))
    assert "n = 8 networks (among the 6 pretrained ones alone τ = 0.47 [-0.23, 1.00]: not shown" in text
    sure = {**probe, "ci_pretrained": [0.1, 1.0]}
    study = fixture_file(tmp_path, {**FIXTURE, "finetune": {**FIXTURE["finetune"], "probe": sure}})
    assert "pretrained ones alone" not in validated.finetune_text(study)


def test_unsupported_study_says_the_probe_is_not_shown_to_predict_fine_tuning(tmp_path):
    study = fixture_file(tmp_path, {**FIXTURE, "finetune": {**FIXTURE["finetune"], "supported": False,
                                                             "probe": {"tau": 0.07, "ci": [-0.5, 0.6], "n": 8}}})
    es = [det_entry("a", 0.58), det_entry("b", 0.40)]
    text = hl.headline_text(hl.headline(summary(evidence.choose_primary(es, study), es)))
    assert "τ = 0.07 [-0.50, 0.60], n = 8 networks" in text and "not shown to predict" in text


def test_no_fine_tuning_claim_without_the_key(tmp_path):
    study = fixture_file(tmp_path, {"boxes": {"scores": {}}})
    es = [det_entry("a", 0.58), det_entry("b", 0.40)]
    used = evidence.choose_primary(es, study)
    assert used["evidence"] == "detection" and "finetune" not in used
    text = hl.headline_text(hl.headline(summary(used, es)))
    assert "fine-tuned" not in text and "τ =" not in text


def test_other_evidence_never_quotes_the_fine_tuning_study(tmp_path):
    study = fixture_file(tmp_path, FIXTURE)
    es = [{"label": "a", "separation": {"mean": 0.3, "lo": 0.2, "hi": 0.4},
           "labels": {"linear_probe": {"mean": 0.9, "lo": 0.85, "hi": 0.95}}}]
    used = evidence.choose_primary(es, study)
    assert used["evidence"] == "labels" and "finetune" not in used


SCORE = {"tau": 0.71, "ci": [0.18, 1.0], "n": 8, "tau_pretrained": 0.47, "ci_pretrained": [-0.23, 1.0]}


def test_the_packaged_finetune_key_names_its_predictors_by_the_registry():
    """Every predictor the fine-tuning study wrote is a registered score or one of its named baselines
    (top-1, the short and proxy schedules), so every reader finds it under the registry's name."""
    from studies.finetune import plan

    part = validated.finetune_part()
    assert part["scores"], "validated.json lost its fine-tuning key"
    baselines = {k for k, _ in plan.PREDICTORS} - set(registry.names())
    for k in part["scores"]:
        assert k in registry.names() or k in baselines, k
    assert "det_map50" in part["scores"] and "`det_map50`" in studytables.finetune_table(validated.load())
